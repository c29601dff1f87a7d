"""Each script in examples/ runs against the test server (as it would against `make run`) and must
exit 0."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT, Server

EXAMPLES = sorted(f for f in os.listdir(os.path.join(ROOT, "examples")) if f.endswith(".py") and not f.startswith("_"))


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs(server: Server, name: str) -> None:
    env = {**os.environ, "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(server.port)}
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name)], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, f"examples/{name} failed:\n{out.stdout}\n{out.stderr}"
