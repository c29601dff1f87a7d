# redis-ndarray: `make help` lists the targets.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
CARGO ?= cargo
PYTHON ?= python3
REDIS_SERVER ?= redis-server
PORT ?= 6379
MODULE := $(ROOT)/target/release/libredis_ndarray.so
VENV := $(ROOT)/.venv
INTEROP_TEST := $(ROOT)/tests/interop/numpy_interop.py
# make fuzz: seconds per target, and the targets (fuzz/fuzz_targets/).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= npy selection set_args chunk rdb payload

# The tests find the module and the Redis binaries through these.
NDARRAY_MODULE ?= $(MODULE)
REDIS_CLI ?= redis-cli
export NDARRAY_MODULE REDIS_CLI
export REDIS_SERVER

MAKE_VENV = echo "Creating $(VENV)" && $(PYTHON) -m venv "$(VENV)" \
	&& "$(VENV)/bin/pip" install -q numpy redis ml_dtypes "maturin>=1.7,<2" && touch "$(VENV)/.installed"
# The Python client (python/), installed editable into the venv with its test tools: Python changes
# are live; a change to python/pyproject.toml or to the Rust of its extension (crates/ndarray-python
# and the core crate it compiles) rebuilds and reinstalls it (maturin, from the venv).
PY_CLIENT_STAMP := $(VENV)/.redis_ndarray
PY_EXTENSION_SOURCES := $(shell find "$(ROOT)/crates/ndarray-python" "$(ROOT)/crates/ndarray-core" \
	-name '*.rs' -o -name Cargo.toml 2>/dev/null)
PYTEST_ARGS ?= -q -rs

.PHONY: help deps build run test test-compat venv lint fmt bench fuzz clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-6s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

deps: ## Check redis-server, redis-tools, libclang (as bindgen loads it), a C compiler and python3-venv; install what is missing (root) or print the command
	@"$(ROOT)/scripts/deps.sh"

build: deps ## Build the module (target/release/libredis_ndarray.so)
	cd "$(ROOT)" && $(CARGO) build --release

run: build ## Run redis-server with the module on 127.0.0.1:$(PORT) (redis.conf.example), in the foreground; make run PORT=6380
	cd "$(ROOT)" && $(REDIS_SERVER) ./redis.conf.example --port $(PORT)

test: build venv ## Build the module, run every Rust test (the README test runs its Python snippets in .venv), the NumPy interop test, then the Python client's pytest suite (and examples/)
	cd "$(ROOT)" && $(CARGO) test --workspace --no-fail-fast
	@if [ -f "$(INTEROP_TEST)" ]; then \
	  echo "Running $(INTEROP_TEST)"; \
	  "$(VENV)/bin/python" "$(INTEROP_TEST)"; \
	else echo "No $(INTEROP_TEST): skipping the NumPy interop test"; fi
	cd "$(ROOT)/python" && "$(VENV)/bin/python" -m pytest $(PYTEST_ARGS)

# make test-compat SERVERS="redis-8.2 valkey-9.1": the servers to test against (scripts/fetch-servers.sh).
SERVERS ?= redis-7.0 redis-7.4 redis-8.2 valkey-8.1 valkey-9.1

test-compat: build venv ## Run every test against each of SERVERS (Redis 7.0, 7.4, 8.2, Valkey 8.1, 9.1; fetched into .cache/)
	@CARGO="$(CARGO)" INTEROP_PYTHON="$(VENV)/bin/python" INTEROP_TEST="$(INTEROP_TEST)" \
	  PYTEST_DIR="$(ROOT)/python" "$(ROOT)/scripts/test-compat.sh" $(SERVERS)

venv: $(PY_CLIENT_STAMP) ## Create .venv with numpy, redis, ml_dtypes, and the Python client (editable, its Rust extension built by maturin) with pytest and mypy

$(VENV)/.installed:
	@$(MAKE_VENV)

$(PY_CLIENT_STAMP): $(VENV)/.installed $(ROOT)/python/pyproject.toml $(PY_EXTENSION_SOURCES)
	PATH="$(VENV)/bin:$$PATH" "$(VENV)/bin/pip" install -q --no-build-isolation pytest mypy -e "$(ROOT)/python"
	@touch "$@"

lint: venv ## cargo fmt --check, clippy with warnings as errors, mypy --strict on the Python client
	cd "$(ROOT)" && $(CARGO) fmt --all -- --check
	cd "$(ROOT)" && $(CARGO) clippy --workspace --all-targets -- -D warnings
	cd "$(ROOT)/python" && "$(VENV)/bin/mypy"

fmt: ## Format the code
	cd "$(ROOT)" && $(CARGO) fmt --all

bench: build venv ## Run the benchmarks (benches/ndarray_bench.rs, then benches/server_load.rs: stalls, server time, small ops (beside a module-API floor and, from redis-stack, RedisTimeSeries and RedisBloom), lazy free; benches/small_ops_instructions.sh: instructions per small command (callgrind); benches/random_access.rs: 10-element slices of arrays up to 1 GiB and 256-row gathers against GETRANGE; benches/shuffle_bench.rs: byte and bit shuffle per core; benches/compression.py: codecs on real data against blosc2; benches/network.py: store + read back over loopback and, as root, 1 and 10 Gbit/s links (network namespaces + tc tbf) against blosc2, and REDUCE against nd.get + NumPy there; python/bench: the Python client against hand-written redis-py, computing in the server (REDUCE, STACK ... REDUCE, concurrent APPLY) against the client-side code it replaces, and STACK across a 3-node cluster's shards)
	cd "$(ROOT)" && $(CARGO) bench --bench ndarray_bench
	cd "$(ROOT)" && $(CARGO) bench --bench server_load
	@if command -v valgrind >/dev/null; then "$(ROOT)/benches/small_ops_instructions.sh"; \
	  else echo "Skipping benches/small_ops_instructions.sh: no valgrind (apt-get install valgrind)"; fi
	cd "$(ROOT)" && $(CARGO) bench --bench random_access
	cd "$(ROOT)" && $(CARGO) bench --bench shuffle_bench
	@"$(VENV)/bin/python" -c 'import blosc2, sklearn, PIL, hiredis' 2>/dev/null || \
	  { echo "Installing blosc2, scikit-learn, pillow and hiredis (redis-py's fast reply parser) into $(VENV) for benches/compression.py"; \
	    "$(VENV)/bin/pip" install -q blosc2 scikit-learn pillow hiredis; }
	cd "$(ROOT)" && "$(VENV)/bin/python" benches/compression.py
	cd "$(ROOT)" && "$(VENV)/bin/python" benches/network.py
	"$(VENV)/bin/python" "$(ROOT)/python/bench/bench_client.py"
	"$(VENV)/bin/python" "$(ROOT)/python/bench/bench_compute.py"
	"$(VENV)/bin/python" "$(ROOT)/python/bench/bench_cluster.py"

fuzz: ## Fuzz every target for FUZZ_SECONDS each (default 60; CI: FUZZ_SECONDS=30), installing cargo-fuzz if missing; fails on a crash
	@FUZZ_SECONDS="$(FUZZ_SECONDS)" FUZZ_TARGETS="$(FUZZ_TARGETS)" CARGO="$(CARGO)" "$(ROOT)/scripts/fuzz.sh"

clean: ## Remove build outputs and the venv
	cd "$(ROOT)" && $(CARGO) clean
	rm -rf "$(VENV)"
