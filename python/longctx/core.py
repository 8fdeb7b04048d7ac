"""Core: version, thread and CPU-path choices, dtypes and the f16 / bf16 / fp8 conversions
(include/longctx/core.h)."""
import ctypes

import numpy as np

from . import _array
from ._lib import fn, refuse
from ._structs import c_int, c_uint64, c_float, c_double, c_void_p

_version = fn("lc_version", ctypes.c_char_p, [])
_threads_default = fn("lc_threads_default", c_int, [])
_isa_best = fn("lc_isa_best", c_int, [])
_isa_supported = fn("lc_isa_supported", c_int, [c_int])
_convert = fn("lc_convert", None, [c_void_p, c_int, c_void_p, c_int, ctypes.c_size_t])
_rng_uniform = fn("lc_rng_uniform", c_double, [c_uint64, c_uint64])
_fill_uniform = fn("lc_rng_fill_uniform", None, [c_void_p, ctypes.c_size_t, c_uint64, c_uint64, c_float, c_float, c_int])
_fill_normal = fn("lc_rng_fill_normal", None, [c_void_p, ctypes.c_size_t, c_uint64, c_uint64, c_float, c_float, c_int])
_fp8_to_f32 = fn("lc_fp8e4m3_to_f32", c_float, [ctypes.c_uint8])
_f32_to_fp8 = fn("lc_f32_to_fp8e4m3", ctypes.c_uint8, [c_float])

ISAS = ("auto", "portable", "avx2", "avx512")


def version():
    """The liblongctx version string (lc_version)."""
    return _version().decode()


def threads_default():
    """Threads a call with threads=0 uses: $LONGCTX_THREADS, else OpenMP's processor count."""
    return int(_threads_default())


def isa_code(isa):
    if isinstance(isa, int):
        return isa
    try:
        return ISAS.index(str(isa).lower())
    except ValueError:
        refuse("isa '%s' is not one of %s" % (isa, ", ".join(ISAS)))


def isa_best():
    """The best vector path this CPU runs: 'avx512', 'avx2' or 'portable'."""
    return ISAS[_isa_best()]


def isa_supported(isa):
    """Whether this CPU (and build) runs the vector path `isa` ('portable', 'avx2', 'avx512')."""
    return bool(_isa_supported(isa_code(isa)))


def dtype_name(dtype):
    """The library's name of a dtype: 'f32', 'f16', 'bf16', 'int8', 'fp8' or 'int4'."""
    return _array.DTYPE_NAMES[_array.dtype_code(dtype)]


def _convert_array(x, src, dst, out_dtype):
    x = np.ascontiguousarray(x)
    out = np.empty(x.shape, dtype=out_dtype)
    if x.size:
        _convert(out.ctypes.data, dst, x.ctypes.data, src, x.size)
    return out


def to_bf16(x):
    """float32 values -> bfloat16 bit patterns (uint16), rounded to nearest even (lc_convert)."""
    x = np.asarray(x, dtype=np.float32)
    return _convert_array(x, _array.F32, _array.BF16, np.uint16)


def from_bf16(bits):
    """bfloat16 bit patterns (uint16, or ml_dtypes.bfloat16) -> float32."""
    b = np.asarray(bits)
    if b.dtype != np.uint16 and not (_array.BFLOAT16 is not None and b.dtype == _array.BFLOAT16):
        refuse("from_bf16 takes uint16 bit patterns (or ml_dtypes.bfloat16), not %s" % b.dtype)
    return _convert_array(b.view(np.uint16), _array.BF16, _array.F32, np.float32)


def to_fp8(x):
    """float32 values -> fp8 e4m3 bytes (uint8), round to nearest even, saturating at +-448."""
    x = np.asarray(x, dtype=np.float32)
    return np.vectorize(lambda v: _f32_to_fp8(float(v)), otypes=[np.uint8])(x) if x.size else x.astype(np.uint8)


_FP8_TABLE = None


def from_fp8(bits):
    """fp8 e4m3 bytes (uint8) -> float32."""
    global _FP8_TABLE
    if _FP8_TABLE is None:
        _FP8_TABLE = np.array([_fp8_to_f32(i) for i in range(256)], dtype=np.float32)
    b = np.asarray(bits)
    if b.dtype != np.uint8:
        refuse("from_fp8 takes uint8 bytes, not %s" % b.dtype)
    return _FP8_TABLE[b]


def rng_uniform(n, seed, offset=0, lo=0.0, hi=1.0, threads=0):
    """n float32 draws in [lo, hi) from the library's counter-based Philox RNG: draw number
    offset+i, the same on every machine and thread count (lc_rng_fill_uniform)."""
    out = np.empty(int(n), dtype=np.float32)
    _fill_uniform(out.ctypes.data, out.size, seed, offset, lo, hi, threads)
    return out


def rng_normal(n, seed, offset=0, mean=0.0, std=1.0, threads=0):
    """n float32 standard-normal draws (times std, plus mean) from Philox (lc_rng_fill_normal)."""
    out = np.empty(int(n), dtype=np.float32)
    _fill_normal(out.ctypes.data, out.size, seed, offset, mean, std, threads)
    return out


__all__ = ["version", "threads_default", "isa_best", "isa_supported", "dtype_name", "to_bf16", "from_bf16",
           "to_fp8", "from_fp8", "rng_uniform", "rng_normal"]
