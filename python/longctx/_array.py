"""NumPy arrays as the library's views: storage dtypes, lc_tensor from strides, and the
checks of arrays handed to the entry points that take plain pointers (internal)."""
import ctypes

import numpy as np

from ._lib import call, fn, refuse
from ._structs import P_f32, Tensor

try:  # optional: NumPy's bfloat16 from ml_dtypes, when installed
    import ml_dtypes as _ml_dtypes

    BFLOAT16 = np.dtype(_ml_dtypes.bfloat16)
except Exception:  # pragma: no cover - depends on the machine
    BFLOAT16 = None

F32, F16, BF16, INT8, FP8, INT4 = range(6)
DTYPE_NAMES = ("f32", "f16", "bf16", "int8", "fp8", "int4")
_parse = fn("lc_dtype_parse", ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)])


def dtype_code(name, what="dtype"):
    """lc_dtype of a name ("f32", "bf16", "int8", ...), an int code, or a NumPy float dtype."""
    if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
        if 0 <= int(name) < len(DTYPE_NAMES):
            return int(name)
        refuse("%s=%d is not an lc_dtype (0..5)" % (what, name))
    if isinstance(name, str):  # the library's names and aliases (lc_dtype_parse)
        out = ctypes.c_int()
        call(_parse, name.encode(), ctypes.byref(out))
        return out.value
    try:
        dt = np.dtype(name)
    except TypeError:
        refuse("%s=%r is not a dtype" % (what, name))
    if dt == np.float32:
        return F32
    if dt == np.float16:
        return F16
    if BFLOAT16 is not None and dt == BFLOAT16:
        return BF16
    if dt == np.int8:
        return INT8
    refuse("%s %s is not a storage dtype of longctx (float32, float16, bfloat16, int8)" % (what, dt))


def array_dtype(a, name, dtype=None):
    """The lc_dtype of a float array: float32, float16 or ml_dtypes.bfloat16 by its own dtype;
    uint16 bit patterns as `dtype` ("bf16" or "f16"), which the caller must give."""
    dt = a.dtype
    if dt == np.float32:
        return F32
    if dt == np.float16:
        return F16
    if BFLOAT16 is not None and dt == BFLOAT16:
        return BF16
    if dt == np.uint16 or dt == np.int16:
        if dtype is None:
            refuse("%s is %s: pass dtype='bf16' to read it as bfloat16 bits (or dtype='f16')" % (name, dt))
        want = dtype_code(dtype)
        if want not in (BF16, F16):
            refuse("%s is %s bit patterns; dtype must be 'bf16' or 'f16', not '%s'" % (name, dt, DTYPE_NAMES[want]))
        return want
    refuse("%s has dtype %s; longctx takes float32, float16 or bfloat16 (ml_dtypes.bfloat16, or uint16 "
           "bits with dtype='bf16')" % (name, dt))


def numpy_dtype(code):
    """The NumPy dtype that stores lc_dtype `code`: bf16 is ml_dtypes.bfloat16 when
    installed, else uint16 bit patterns."""
    if code == F32:
        return np.dtype(np.float32)
    if code == F16:
        return np.dtype(np.float16)
    if code == BF16:
        return BFLOAT16 if BFLOAT16 is not None else np.dtype(np.uint16)
    refuse("dtype %s is not a tensor dtype (f32, f16, bf16)" % DTYPE_NAMES[code])


def as_array(x, name):
    if not isinstance(x, np.ndarray):
        if hasattr(x, "__array_interface__") or hasattr(x, "__array__"):
            return np.asarray(x)
        refuse("%s must be a NumPy array, not %s" % (name, type(x).__name__))
    return x


def tensor(a, name, code, writable=False):
    """An lc_tensor viewing a 4-D array in place: data at a[0,0,0,0], strides in elements,
    capacity the elements the view spans."""
    if a.ndim != 4:
        refuse("%s must have 4 dims [batch, seq, heads, dim], has %d" % (name, a.ndim))
    item = a.itemsize
    if writable and not a.flags.writeable:
        refuse("%s is read-only; the library writes it" % name)
    t = Tensor()
    t.data = a.ctypes.data
    t.dtype = code
    span = 0
    for d in range(4):
        st = a.strides[d]
        if st % item:
            refuse("%s.strides[%d]=%d bytes is not a multiple of its %d-byte elements" % (name, d, st, item))
        if st < 0:
            refuse("%s.strides[%d]=%d is negative; the library takes non-negative strides (copy it: "
                   "np.ascontiguousarray)" % (name, d, st // item))
        t.shape[d] = a.shape[d]
        t.stride[d] = st // item
        span += (a.shape[d] - 1) * (st // item) if a.shape[d] > 0 else 0
    t.capacity = span + 1  # an empty array gets 1, so that the library names its zero size
    return t


def empty_tensor():
    return Tensor()


def f32(x, name, shape=None, writable=False, optional=False):
    """A C-contiguous float32 array for an entry point that takes a plain pointer; shape, when
    given, is checked (None entries match any size). A strided input is copied (the C entry
    point has no strides); a strided output is refused. Returns (array, pointer)."""
    if x is None:
        if optional:
            return None, None
        refuse("%s is required" % name)
    x = as_array(x, name)
    if x.dtype != np.float32:
        refuse("%s has dtype %s; this entry point takes float32" % (name, x.dtype))
    if not x.flags.c_contiguous:
        if writable:
            refuse("%s must be C-contiguous: the library writes it through a plain pointer (no strides)" % name)
        x = np.ascontiguousarray(x)  # this entry point takes no strides: the one copy it needs
    if writable and not x.flags.writeable:
        refuse("%s is read-only; the library writes it" % name)
    if shape is not None:
        if x.ndim != len(shape) or any(s is not None and s != g for s, g in zip(shape, x.shape)):
            want = "[%s]" % ", ".join("?" if s is None else str(s) for s in shape)
            refuse("%s has shape %s, expected %s" % (name, list(x.shape), want))
    return x, x.ctypes.data_as(P_f32)


def ptr(x):
    return None if x is None else x.ctypes.data_as(P_f32)


def void_p(x):
    return None if x is None else ctypes.c_void_p(x.ctypes.data)


def as_4d(a, name):
    """[seq, heads, dim] arrays are accepted as batch 1: returns (4-D view, was 3-D)."""
    a = as_array(a, name)
    if a.ndim == 3:
        return a[None], True
    if a.ndim != 4:
        refuse("%s must be [batch, seq, heads, dim] (or [seq, heads, dim]), has %d dims" % (name, a.ndim))
    return a, False

