"""liblongctx_cuda: the CUDA kernels' entry points (include/longctx/cuda.h), loaded beside
liblongctx (internal; longctx.torch is what users call).

Importing this module raises ImportError, with a sentence saying why, when no
liblongctx_cuda can be loaded (a library built without nvcc, or LONGCTX_CUDA=OFF)."""
import ctypes
import ctypes.util
import os

from . import _lib
from ._structs import CAttention, CCudaDecode, POINTER, c_int, c_size_t, c_void_p

PATHS = ("auto", "mma", "sm90")  # lc_cuda_path: LC_CUDA_PATH_AUTO, _MMA, _SM90


def _candidates():
    """liblongctx_cuda.so beside the liblongctx that was loaded (the build tree or the
    installed prefix: CMake puts both in one folder), then the loader's search."""
    out = []
    loaded = _lib.library_path
    if os.path.dirname(loaded):
        for d in (os.path.dirname(os.path.abspath(loaded)), os.path.dirname(os.path.realpath(loaded))):
            for name in ("liblongctx_cuda.so", "liblongctx_cuda.so.0"):
                p = os.path.join(d, name)
                if os.path.exists(p) and p not in out:
                    out.append(p)
    found = ctypes.util.find_library("longctx_cuda")
    if found:
        out.append(found)
    return out + ["liblongctx_cuda.so.0", "liblongctx_cuda.so"]


def _load():
    errors = []
    for name in _candidates():
        try:
            return ctypes.CDLL(name), name
        except OSError as e:
            errors.append("%s: %s" % (name, e))
    raise ImportError("longctx.torch needs liblongctx_cuda, the library's CUDA kernels, beside %s; this liblongctx "
                      "was built without them (configure with cmake -DLONGCTX_CUDA=ON where nvcc is, and build "
                      "the target longctx_cuda_shared). Tried: %s" % (_lib.library_path, "; ".join(errors)))


lib, library_path = _load()


def _bind(name, restype, argtypes):
    f = getattr(lib, name, None)
    if f is None:
        raise ImportError("%s does not export %s (a liblongctx_cuda older than the package)" % (library_path, name))
    f.restype, f.argtypes = restype, argtypes
    return f


attention_check = _bind("lc_cuda_attention_check", c_int, [POINTER(CAttention)])
attention_workspace_size = _bind("lc_cuda_attention_workspace_size", c_size_t, [POINTER(CAttention)])
attention_flash_path = _bind("lc_cuda_attention_flash_path", c_int,
                             [POINTER(CAttention), c_int, c_void_p, c_size_t, c_void_p])
decode_check = _bind("lc_cuda_decode_check", c_int, [POINTER(CCudaDecode)])
decode_workspace_size = _bind("lc_cuda_decode_workspace_size", c_size_t, [POINTER(CCudaDecode)])
decode_attention = _bind("lc_cuda_decode_attention", c_int, [POINTER(CCudaDecode), c_void_p, c_size_t, c_void_p])

# The kernels' sentences must reach the liblongctx this package reads them from: a
# liblongctx_cuda linked to another copy would leave every refusal without its sentence.
if decode_check(None) != _lib.InvalidArgument.code or _lib.last_error() != "decode descriptor is NULL":
    raise ImportError("%s uses another liblongctx than %s (its error sentences would be lost): load the pair "
                      "from one build or prefix" % (library_path, _lib.library_path))
