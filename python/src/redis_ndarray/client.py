"""The client classes: `NDArray` (sync), `AsyncNDArray` (asyncio), and their pipelines.

Each method is one builder of `_commands` run by the class's executor: the sync one calls
`execute_command`, the async one awaits it, a pipeline queues it. So every class has the same
methods with the same arguments, and only the result differs (a value, an awaitable, the pipeline).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from typing import (
    Any, AsyncIterator, Callable, Coroutine, Iterator, Dict, List, Mapping, MutableMapping, Optional, Sequence, TypeVar, Union,
)

from typing import Concatenate, ParamSpec

import redis
import redis.asyncio
from redis.typing import KeyT

from . import _commands as c
from ._commands import Cmd
from ._errors import CrossSlotKeysError, classify, code_of

P = ParamSpec("P")

# The module's type name, as TYPE and SCAN … TYPE know it.
TYPE_NAME = "ndarray01"
T = TypeVar("T")
PipeT = TypeVar("PipeT", bound="_PipelineBase")

AnyClient = Union[redis.Redis, "redis.RedisCluster", redis.asyncio.Redis, "redis.asyncio.RedisCluster"]


def _name(method: Callable[..., Any], builder: Callable[..., Any], returns: Callable[[str], str]) -> None:
    """Gives `method` the builder's name, docs and signature, `self` first and the result type the
    front end returns (`returns` of the builder's `T` in `Cmd[T]`), so help() shows the call as
    the user makes it."""
    name = builder.__name__.rstrip("_")
    method.__name__ = name
    method.__qualname__ = name
    method.__doc__ = builder.__doc__
    signature = inspect.signature(builder)
    result = str(signature.return_annotation)
    if result.startswith("Cmd[") and result.endswith("]"):
        result = result[4:-1]
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[self_param, *signature.parameters.values()], return_annotation=returns(result))


def _is_missing(error: redis.ResponseError) -> bool:
    return code_of(error) == "NOKEY"


def _none_if_missing(cmd: Cmd[Any], error: redis.ResponseError) -> Any:
    """None for a missing key's error where the call allows it; the mapped error otherwise."""
    if cmd.none_if_missing and _is_missing(error):
        return None
    raise classify(error) from None


def _part_outcome(part: Cmd[Any], result: Any) -> tuple[bool, Any]:
    """A split batch's call as its pipeline returned it: (send it again?, its value); raises its
    error (mapped) unless it was redirected or is a missing key the call allows."""
    if isinstance(result, BaseException) and _is_redirect(result):
        return True, None
    if isinstance(result, redis.ResponseError):
        return False, _none_if_missing(part, result)
    if isinstance(result, BaseException):
        raise result
    return False, result


def _is_redirect(error: BaseException) -> bool:
    """A cluster's answer that the slot is (being) served elsewhere: worth sending again."""
    return isinstance(error, (redis.exceptions.MovedError, redis.exceptions.AskError,
                              redis.exceptions.TryAgainError, redis.exceptions.ClusterDownError))


def _callbacks_of(client: Any) -> MutableMapping[str, Any]:
    callbacks = getattr(client, "cluster_response_callbacks", None)  # sync RedisCluster
    if callbacks is None:
        callbacks = client.response_callbacks
    return callbacks  # type: ignore[no-any-return]


def _register_callbacks(client: Any) -> None:
    callbacks = _callbacks_of(client)
    for name in c.COMMAND_NAMES:
        previous = callbacks.get(name)
        if getattr(previous, "_redis_ndarray", False):
            continue
        parse = c.callback(previous)
        parse._redis_ndarray = True  # type: ignore[attr-defined]
        client.set_response_callback(name, parse)


def _as_text(value: Any, encoding: str) -> Any:
    """A raw command's binary result as a `decode_responses` client would have returned it."""
    if isinstance(value, bytes):
        return value.decode(encoding)
    if isinstance(value, list):
        return [_as_text(v, encoding) for v in value]
    if isinstance(value, tuple):
        return tuple(_as_text(v, encoding) for v in value)
    if isinstance(value, dict):
        return {_as_text(k, encoding): _as_text(v, encoding) for k, v in value.items()}
    if isinstance(value, set):
        return {_as_text(v, encoding) for v in value}
    return value


def _encoding_of(client: Any) -> str:
    get_encoder = getattr(client, "get_encoder", None)
    encoder = get_encoder() if get_encoder is not None else getattr(client, "encoder", None)
    return str(getattr(encoder, "encoding", "utf-8"))


def _decodes_responses(client: Any) -> bool:
    get_encoder = getattr(client, "get_encoder", None)
    encoder = get_encoder() if get_encoder is not None else getattr(client, "encoder", None)
    return bool(getattr(encoder, "decode_responses", False))


class _Base:
    """What every front end shares: the client, its callbacks, and cluster routing."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.is_cluster = isinstance(client, (redis.RedisCluster, redis.asyncio.RedisCluster))
        self.decode_responses = _decodes_responses(client)
        self._binary: Any = None
        _register_callbacks(client)

    def _binary_twin(self) -> Any:
        """A client of the same server that does not decode replies (its own pool, made on first
        use): MULTI/EXEC pipelines of a `decode_responses` client run on it, since redis-py decodes a
        whole EXEC reply as text, arrays too."""
        if self._binary is None:
            pool = self.client.connection_pool
            kwargs = {**pool.connection_kwargs, "decode_responses": False}
            pool_class = type(pool)
            twin_pool = pool_class(connection_class=pool.connection_class, **kwargs)
            self._binary = type(self.client)(connection_pool=twin_pool)
            _register_callbacks(self._binary)
        return self._binary

    def _pipeline_client(self, transaction: bool) -> Any:
        if transaction and self.decode_responses and not self.is_cluster:
            return self._binary_twin()
        return self.client

    def _split(self, cmd: Cmd[Any]) -> Optional[c.Split[Any]]:
        """On a cluster, a batch whose keys span slots cut into one call per slot (None: send it
        whole). Slots keep the order of their first key; keys keep the caller's order in each."""
        if not (self.is_cluster and cmd.split is not None and cmd.route_keys):
            return None
        groups: Dict[int, List[int]] = {}
        for i, key in enumerate(cmd.route_keys):
            groups.setdefault(self.client.keyslot(key), []).append(i)
        if len(groups) < 2:
            return None
        split = cmd.split(list(groups.values()))
        split.slots = list(groups)
        return split

    def _reads_from_replicas(self) -> bool:
        """Whether the cluster client sends reads to replicas (as redis-py decides for its own)."""
        return bool(getattr(self.client, "read_from_replicas", False)
                    or getattr(self.client, "load_balancing_strategy", None) is not None)

    def _options(self, cmd: Cmd[Any], slot: Optional[int] = None) -> Dict[str, Any]:
        """redis-py's options for `cmd`; on a cluster, the node it goes to: multi-key commands by
        their first key's slot (after checking every key has it; `slot` when the caller knows it,
        as for a split batch's parts), reads to a replica when the client reads from replicas
        (redis-py would send a module's reads to the primary)."""
        if not self.is_cluster:
            return cmd.options
        read = c.name_of(cmd).upper() in c.READ_COMMANDS and self._reads_from_replicas()
        keys: Sequence[Any] | None = cmd.route_keys
        if not keys:
            if not (read and len(cmd.args) > 1):
                return cmd.options
            keys = [cmd.args[1]]  # every single-key command has its key first
        known = slot is not None
        if slot is None:
            slot = self.client.keyslot(keys[0])
        for key in () if known else keys[1:]:
            if self.client.keyslot(key) != slot:
                raise CrossSlotKeysError(
                    f"{c.name_of(cmd)}: keys {keys[0]!r} and {key!r} hash to different cluster slots; "
                    "keys read or written together must share a hash tag, e.g. '{user:42}:emb' and "
                    "'{user:42}:meta' (only the part in braces is hashed)"
                )
        if read:
            try:
                node = self.client.nodes_manager.get_node_from_slot(
                    slot, True, getattr(self.client, "load_balancing_strategy", None))
            except redis.exceptions.SlotNotCoveredError:
                # No slot map yet (an async cluster client's pipeline before its first command):
                # redis-py routes it, to the primary.
                return cmd.options if not cmd.route_keys else {
                    **cmd.options, "target_nodes": self.client.get_node_from_key(keys[0])}
        else:
            node = self.client.nodes_manager.get_node_from_slot(slot)
        return {**cmd.options, "target_nodes": node}


# ---- method factories: one builder, one method per front end ----

def _sync(builder: Callable[P, Cmd[T]]) -> Callable[Concatenate["NDArray", P], T]:
    def method(self: NDArray, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(builder(*args, **kwargs))
    _name(method, builder, lambda result: result)
    return method


def _async(builder: Callable[P, Cmd[T]]) -> Callable[Concatenate["AsyncNDArray", P], Coroutine[Any, Any, T]]:
    async def method(self: AsyncNDArray, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._run(builder(*args, **kwargs))
    _name(method, builder, lambda result: f"Awaitable[{result}]")
    return method


def _queued(builder: Callable[P, Cmd[Any]]) -> Callable[Concatenate[PipeT, P], PipeT]:
    def method(self: PipeT, /, *args: P.args, **kwargs: P.kwargs) -> PipeT:
        self._queue(builder(*args, **kwargs))
        return self
    _name(method, builder, lambda _result: "Pipeline (the result comes from execute())")
    return method


class NDArray(_Base):
    """NumPy arrays in Redis, one line per operation, on a redis-py client (`redis.Redis` or
    `redis.RedisCluster`, any protocol, `decode_responses` or not)::

        nd = NDArray(redis.Redis())
        nd.set("img", a)
        b = nd.get("img")

    Arrays read back view the reply's bytes (no copy) and are read-only; pass `copy=True` for a
    writable one. Server errors are raised as `NDArrayError`s (a `redis.ResponseError`), also
    `IndexError`, `ValueError` or `KeyError` where NumPy would raise those.
    """

    client: Any

    def __init__(self, client: Union[redis.Redis, "redis.RedisCluster"]) -> None:
        super().__init__(client)

    def _run(self, cmd: Cmd[T]) -> T:
        if cmd.local is not None:
            return cmd.local()
        split = self._split(cmd)
        if split is not None:
            return split.merge(self._run_parts(split))  # type: ignore[no-any-return]
        try:
            return self.client.execute_command(  # type: ignore[no-any-return]
                *cmd.args, **(self._options(cmd) if self.is_cluster else cmd.options))
        except redis.ResponseError as e:
            if cmd.none_if_missing and _is_missing(e):
                return None  # type: ignore[return-value]
            raise classify(e) from None

    def _run_parts(self, split: c.Split[Any]) -> List[Any]:
        """The calls of a split batch, sent together (a cluster pipeline: one round trip per node,
        the nodes in parallel). A call redirected meanwhile (its slot moved: MOVED, ASK, TRYAGAIN)
        is sent again through redis-py's own routing, which follows redirections."""
        pipe = self.client.pipeline(transaction=False)
        for part, slot in zip(split.parts, split.slots):
            pipe.execute_command(*part.args, **self._options(part, slot))
        results = pipe.execute(raise_on_error=False)
        for i, (part, result) in enumerate(zip(split.parts, results)):
            again, results[i] = _part_outcome(part, result)
            if again:
                try:
                    results[i] = self.client.execute_command(*part.args, **part.options)
                except redis.ResponseError as e:
                    results[i] = _none_if_missing(part, e)
        return results  # type: ignore[no-any-return]

    set = _sync(c.set_)
    get = _sync(c.get)
    slice = _sync(c.slice_)
    setslice = _sync(c.setslice)
    append = _sync(c.append)
    reshape = _sync(c.reshape)
    info = _sync(c.info)
    mget = _sync(c.mget)
    mset = _sync(c.mset)
    stack = _sync(c.stack)
    attrs = _sync(c.attrs)
    attr_values = _sync(c.attr_values)
    set_attrs = _sync(c.set_attrs)
    del_attrs = _sync(c.del_attrs)
    probe = _sync(c.probe)
    reduce = _sync(c.reduce)
    apply = _sync(c.apply)

    def scan_iter(self, match: Optional[str] = None, count: Optional[int] = None) -> Iterator[Any]:
        """The keys that hold arrays (SCAN with the module's type), optionally matching a glob
        pattern; on a cluster, every primary's."""
        return self.client.scan_iter(match=match, count=count, _type=TYPE_NAME)  # type: ignore[no-any-return]

    def pipeline(self, transaction: Optional[bool] = None) -> Pipeline:
        """A pipeline with the same methods, queued; `execute()` returns the parsed results. A MULTI/EXEC
        transaction by default on a single server (as redis-py), not on a cluster."""
        if transaction is None:
            transaction = not self.is_cluster
        return Pipeline(self, self._pipeline_client(transaction).pipeline(transaction=transaction), transaction)


class AsyncNDArray(_Base):
    """`NDArray` for `redis.asyncio.Redis` and `redis.asyncio.RedisCluster`: every method a coroutine."""

    client: Any

    def __init__(self, client: Union[redis.asyncio.Redis, "redis.asyncio.RedisCluster"]) -> None:
        super().__init__(client)

    async def _run(self, cmd: Cmd[T]) -> T:
        if cmd.local is not None:
            return cmd.local()
        if self.is_cluster and not self.client.nodes_manager.slots_cache:
            await self.client.initialize()  # the slot map routes our commands (see _options)
        split = self._split(cmd)
        if split is not None:
            return split.merge(await self._run_parts(split))  # type: ignore[no-any-return]
        try:
            return await self.client.execute_command(*cmd.args, **self._options(cmd))  # type: ignore[no-any-return]
        except redis.ResponseError as e:
            if cmd.none_if_missing and _is_missing(e):
                return None  # type: ignore[return-value]
            raise classify(e) from None

    async def _run_parts(self, split: c.Split[Any]) -> List[Any]:
        """As `NDArray._run_parts`, the calls awaited together (asyncio.gather)."""
        results = await asyncio.gather(
            *(self.client.execute_command(*part.args, **self._options(part, slot))
              for part, slot in zip(split.parts, split.slots)),
            return_exceptions=True)
        out = list(results)
        for i, (part, result) in enumerate(zip(split.parts, results)):
            again, out[i] = _part_outcome(part, result)
            if again:
                try:
                    out[i] = await self.client.execute_command(*part.args, **part.options)
                except redis.ResponseError as e:
                    out[i] = _none_if_missing(part, e)
        return out

    set = _async(c.set_)
    get = _async(c.get)
    slice = _async(c.slice_)
    setslice = _async(c.setslice)
    append = _async(c.append)
    reshape = _async(c.reshape)
    info = _async(c.info)
    mget = _async(c.mget)
    mset = _async(c.mset)
    stack = _async(c.stack)
    attrs = _async(c.attrs)
    attr_values = _async(c.attr_values)
    set_attrs = _async(c.set_attrs)
    del_attrs = _async(c.del_attrs)
    probe = _async(c.probe)
    reduce = _async(c.reduce)
    apply = _async(c.apply)

    def scan_iter(self, match: Optional[str] = None, count: Optional[int] = None) -> AsyncIterator[Any]:
        """The keys that hold arrays (SCAN with the module's type), as an async iterator."""
        return self.client.scan_iter(match=match, count=count, _type=TYPE_NAME)  # type: ignore[no-any-return]

    def pipeline(self, transaction: Optional[bool] = None) -> AsyncPipeline:
        """An async pipeline with the same methods, queued; `await p.execute()` returns the results."""
        if transaction is None:
            transaction = not self.is_cluster
        return AsyncPipeline(self, self._pipeline_client(transaction).pipeline(transaction=transaction),
                             transaction)


class _PipelineBase:
    """Queues this package's commands (and any raw ones) on a redis-py pipeline and maps the results."""

    def __init__(self, nd: _Base, inner: Any, transaction: bool) -> None:
        self.nd = nd
        self.inner = inner  # the redis-py pipeline: plain commands can be queued on it too
        self.transaction = transaction
        self._ours: Dict[int, Cmd[Any]] = {}
        self._splits: Dict[int, c.Split[Any]] = {}

    def __len__(self) -> int:
        return len(self.inner)

    def _queue(self, cmd: Cmd[Any], slot: Optional[int] = None) -> None:
        split = None if slot is not None else self.nd._split(cmd)
        if split is not None:
            # A batch spanning slots: its calls are queued in its place and merged back at execute().
            self._splits[len(self.inner)] = split
            for part, part_slot in zip(split.parts, split.slots):
                self._queue(part, part_slot)
            return
        options = self.nd._options(cmd, slot)
        self._ours[len(self.inner)] = cmd
        self.inner.execute_command(*cmd.args, **options)

    def _merge_splits(self, results: List[Any], splits: Mapping[int, c.Split[Any]]) -> List[Any]:
        """One result per call made: each split batch's part results merged (or its first error)."""
        if not splits:
            return results
        out: List[Any] = []
        i = 0
        while i < len(results):
            split = splits.get(i)
            if split is None:
                out.append(results[i])
                i += 1
                continue
            parts = results[i:i + len(split.parts)]
            error = next((r for r in parts if isinstance(r, Exception)), None)
            if error is None:
                try:
                    out.append(split.merge(parts))
                except Exception as e:  # e.g. arrays that do not stack
                    out.append(e)
            else:
                out.append(error)
            i += len(split.parts)
        return out

    def execute_command(self: PipeT, *args: Any, **options: Any) -> PipeT:
        """Queues a raw command (its result is returned as redis-py returns it)."""
        self.inner.execute_command(*args, **options)
        return self

    def _finish(self, results: List[Any], ours: Mapping[int, Cmd[Any]], splits: Mapping[int, c.Split[Any]],
                raise_on_error: bool) -> List[Any]:
        first_error: Optional[BaseException] = None
        if self.transaction and self.nd.decode_responses and not self.nd.is_cluster:
            # Ran on the binary twin: raw commands' results decoded as the caller's client would.
            encoding = _encoding_of(self.nd.client)
            results = [r if i in ours or isinstance(r, Exception) else _as_text(r, encoding)
                       for i, r in enumerate(results)]
        for i, queued in ours.items():
            if queued.local is not None and i < len(results):
                results[i] = queued.local()
        for i, result in enumerate(results):
            if not isinstance(result, redis.ResponseError):
                continue
            cmd = ours.get(i)
            if cmd is not None:
                if cmd.none_if_missing and _is_missing(result):
                    results[i] = None
                    continue
                result = results[i] = classify(result)
            if first_error is None:
                first_error = result
        results = self._merge_splits(results, splits)
        if raise_on_error:
            error = first_error or next((r for r in results if isinstance(r, Exception)), None)
            if error is not None:
                raise error
        return results

    set = _queued(c.set_)
    get = _queued(c.get)
    slice = _queued(c.slice_)
    setslice = _queued(c.setslice)
    append = _queued(c.append)
    reshape = _queued(c.reshape)
    info = _queued(c.info)
    mget = _queued(c.mget)
    mset = _queued(c.mset)
    stack = _queued(c.stack)
    attrs = _queued(c.attrs)
    attr_values = _queued(c.attr_values)
    set_attrs = _queued(c.set_attrs)
    del_attrs = _queued(c.del_attrs)
    probe = _queued(c.probe)
    reduce = _queued(c.reduce)
    apply = _queued(c.apply)


class Pipeline(_PipelineBase):
    """`NDArray.pipeline()`: the same methods, queued; `execute()` returns the parsed results in order.
    With `raise_on_error=False` a failed command's place holds its (mapped) exception."""

    def execute(self, raise_on_error: bool = True) -> List[Any]:
        ours, self._ours = self._ours, {}
        splits, self._splits = self._splits, {}
        return self._finish(self.inner.execute(raise_on_error=False), ours, splits, raise_on_error)

    def reset(self) -> None:
        self._ours = {}
        self._splits = {}
        self.inner.reset()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.reset()


class AsyncPipeline(_PipelineBase):
    """`AsyncNDArray.pipeline()`: methods queue (no await); `await p.execute()` returns the results."""

    async def execute(self, raise_on_error: bool = True) -> List[Any]:
        ours, self._ours = self._ours, {}
        splits, self._splits = self._splits, {}
        return self._finish(await self.inner.execute(raise_on_error=False), ours, splits, raise_on_error)

    async def reset(self) -> None:
        self._ours = {}
        self._splits = {}
        result = self.inner.reset()
        if hasattr(result, "__await__"):
            await result

    async def __aenter__(self) -> AsyncPipeline:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.reset()
