"""The README's "Python" section runs: each ```python block (which tests/readme.rs runs too) and each
```py block (the feature-store methods and the async client, which readme.rs cannot point at its
server), each on a fresh server; a block needing what the server lacks fails, naming it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import List, Tuple

import pytest

from conftest import ROOT, Server, server_features

PRELUDE = """
import os, redis, redis.asyncio
_port = int(os.environ["README_PORT"])
for _cls in (redis.Redis, redis.asyncio.Redis):
    def _patch(cls):
        init = cls.__init__
        def __init__(self, *args, **kwargs):
            if len(args) < 2 and "port" not in kwargs:
                kwargs["port"] = _port
            init(self, *args, **kwargs)
        cls.__init__ = __init__
    _patch(_cls)
exec(compile("\\n" * (int(os.environ["README_LINE"]) - 1) + open(os.environ["README_SNIPPET"]).read(), "README.md", "exec"),
     {"__name__": "__main__"})
"""

# What a ```py block may use that the server may lack, by the call that needs it.
NEEDS = {
    "nd.mset(": "NDARRAY.MSETEX", "nd.stack(": "NDARRAY.STACK numkeys", "attrs=": "NDARRAY.SET ATTR",
    "set_attrs(": "NDARRAY.ATTRSET", "nd.attrs(": "NDARRAY.ATTRGET", "del_attrs(": "NDARRAY.ATTRDEL",
    "probe(": "NDARRAY.PROBE", '"zstd"': "COMPRESS zstd", '"bit"': "SHUFFLE bit",
}


def python_section_blocks() -> List[Tuple[str, int, str]]:
    with open(os.path.join(ROOT, "README.md")) as f:
        lines = f.read().split("\n")
    start = lines.index("## Python")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("## "))
    blocks = []
    i = start
    while i < end:
        m = re.match(r"^```(python|py)$", lines[i])
        if m:
            j = lines.index("```", i + 1)
            blocks.append((m.group(1), i + 2, "\n".join(lines[i + 1:j]) + "\n"))
            i = j
        i += 1
    return blocks


BLOCKS = python_section_blocks()


@pytest.mark.parametrize("lang,line,text", BLOCKS, ids=[f"README.md:{b[1]}" for b in BLOCKS])
def test_readme_python_block_runs(lang: str, line: int, text: str, tmp_path: "os.PathLike[str]") -> None:
    server = Server()
    try:
        server.wait()
        if lang == "py":
            import redis
            have = server_features(redis.Redis(port=server.port))
            missing = sorted({f for call, f in NEEDS.items() if call in text and not have.get(f)})
            if missing:
                pytest.fail(f"README.md:{line}: server lacks {', '.join(missing)}: is NDARRAY_MODULE an older build?")
        snippet = os.path.join(tmp_path, "snippet.py")
        with open(snippet, "w") as f:
            f.write(text)
        env = {**os.environ, "README_PORT": str(server.port), "README_SNIPPET": snippet, "README_LINE": str(line)}
        out = subprocess.run([sys.executable, "-c", PRELUDE], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"README.md:{line} failed:\n{out.stderr[-3000:]}"
    finally:
        server.stop()
