"""Tests of the longctx package. Run from anywhere: the package is taken from this source
tree (python/longctx) and the library from $LONGCTX_LIBRARY or ../build/liblongctx.so.
Random inputs come from a seed printed in the header; LONGCTX_TEST_SEED=S repeats a run."""
import os
import sys

import numpy as np
import pytest

# idle OpenMP workers sleep rather than spin (read when liblongctx loads libgomp): the tests
# share small machines with other work, as ctest's other tests do
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SEED = int(os.environ.get("LONGCTX_TEST_SEED", "0") or 0) or int.from_bytes(os.urandom(4), "little")


def pytest_report_header(config):
    import longctx
    return "longctx %s from %s; seed %d (LONGCTX_TEST_SEED=%d repeats it)" % (
        longctx.version(), longctx.library_path, SEED, SEED)


@pytest.fixture
def rng(request):
    """A generator seeded from the run's seed and the test's name (so each test draws the
    same inputs whatever runs before it)."""
    h = sum(ord(c) * (i + 1) for i, c in enumerate(request.node.nodeid)) & 0xFFFFFFFF
    return np.random.default_rng([SEED, h])
