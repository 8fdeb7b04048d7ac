"""The package's surface: every status maps to its exception, every public name is exported
and documented, the GIL is released, the library is found the documented ways."""
import ctypes
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import longctx as lc
from longctx import _lib

PYTHON_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)


@pytest.mark.parametrize("code,cls,builtin", [
    (1, lc.InvalidArgument, ValueError), (2, lc.OutOfMemory, MemoryError), (3, lc.Unsupported, NotImplementedError),
    (4, lc.OutOfRange, IndexError), (5, lc.InvalidState, RuntimeError), (6, lc.IOError, OSError),
    (7, lc.FormatError, ValueError), (8, lc.InternalError, RuntimeError)])
def test_every_status_has_its_exception(code, cls, builtin):
    name = _lib.lib.lc_status_str(code).decode()
    # lc_error sets this thread's sentence, as every failing call does
    assert _lib.set_error(code, "the sentence") == code
    with pytest.raises(cls) as e:
        _lib.raise_for(code)
    assert isinstance(e.value, lc.Error) and isinstance(e.value, builtin)
    assert e.value.status == name == cls.status and str(e.value) == "the sentence" == e.value.sentence


def test_public_names_are_exported_and_documented():
    for name in lc.__all__:
        obj = getattr(lc, name)
        if callable(obj):
            assert obj.__doc__, name
    assert lc.version() == lc.__version__
    assert lc.isa_best() in ("portable", "avx2", "avx512") and lc.isa_supported("portable")
    assert lc.threads_default() >= 1
    assert lc.dtype_name("bfloat16") == "bf16" and lc.dtype_name(np.float16) == "f16"
    x = np.array([1.0, -2.5, 448.0, 1000.0, 0.1], np.float32)
    np.testing.assert_array_equal(lc.from_fp8(lc.to_fp8(x))[:4], [1.0, -2.5, 448.0, 448.0])
    np.testing.assert_array_equal(lc.from_bf16(lc.to_bf16(x))[:4], x[:4])
    a, b = lc.rng_normal(1000, seed=3), lc.rng_normal(1000, seed=3, threads=1)
    np.testing.assert_array_equal(a, b)
    assert abs(a.mean()) < 0.15 and abs(a.std() - 1) < 0.1
    u = lc.rng_uniform(5, seed=1, lo=2, hi=3)
    assert ((u >= 2) & (u < 3)).all()


def test_calls_release_the_gil():
    q = np.random.default_rng(0).standard_normal((1, 1024, 4, 64), dtype=np.float32)
    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)
    t = threading.Thread(target=tick)
    t.start()
    t0 = time.perf_counter()
    lc.attention(q, q, q, method="naive", threads=1)
    t1 = time.perf_counter()
    done.set()
    t.join()
    during = [x for x in ticks if t0 < x < t1]
    assert t1 - t0 < 0.05 or len(during) >= 3, (t1 - t0, len(during))


def test_library_found_by_env_and_refused_with_a_sentence(tmp_path):
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR, LONGCTX_LIBRARY=lc.library_path)
    out = subprocess.run([sys.executable, "-c", "import longctx; print(longctx.library_path)"], env=env,
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == lc.library_path
    env["LONGCTX_LIBRARY"] = str(tmp_path / "missing.so")
    r = subprocess.run([sys.executable, "-c", "import longctx"], env=env, capture_output=True, text=True)
    assert r.returncode != 0 and "cannot load liblongctx from $LONGCTX_LIBRARY" in r.stderr


def test_missing_symbols_are_unsupported_not_import_errors():
    f = _lib.fn(("lc_no_such_function",), ctypes.c_int, [])
    assert not f
    with pytest.raises(lc.Unsupported, match="exports none of lc_no_such_function"):
        f()
