"""Loading liblongctx, its status codes as exceptions, and the call helper.

Internal: the public names are re-exported by the package.
"""
import ctypes
import ctypes.util
import os

__all__ = ["lib", "library_path", "call", "fn", "Error", "InvalidArgument", "OutOfMemory", "Unsupported",
           "OutOfRange", "InvalidState", "IOError", "FormatError", "InternalError", "raise_for", "refuse",
           "set_error", "last_error"]

_builtin_oserror = OSError


class Error(Exception):
    """A longctx failure: `status` is the C status name ("LC_EINVAL"), `sentence` the library's
    explanation (lc_last_error()), which is also str(error)."""

    status = "LC_ERROR"
    code = -1

    def __init__(self, sentence, status=None):
        super().__init__(sentence)
        self.sentence = sentence
        if status is not None:
            self.status = status


class InvalidArgument(Error, ValueError):
    """LC_EINVAL: an argument or descriptor field is invalid (also a wrongly typed array)."""
    status, code = "LC_EINVAL", 1


class OutOfMemory(Error, MemoryError):
    """LC_ENOMEM: an allocation failed or would pass a caller-set limit."""
    status, code = "LC_ENOMEM", 2


class Unsupported(Error, NotImplementedError):
    """LC_EUNSUPPORTED: valid, but not supported by this build or kernel."""
    status, code = "LC_EUNSUPPORTED", 3


class OutOfRange(Error, IndexError):
    """LC_ERANGE: an index, position or capacity is out of range."""
    status, code = "LC_ERANGE", 4


class InvalidState(Error, RuntimeError):
    """LC_ESTATE: the call is not valid in the object's current state."""
    status, code = "LC_ESTATE", 5


class IOError(Error, _builtin_oserror):  # noqa: A001 - the library's name for LC_EIO
    """LC_EIO: reading or writing a file failed."""
    status, code = "LC_EIO", 6

    def __init__(self, sentence, status=None):
        Error.__init__(self, sentence, status)

    def __str__(self):
        return self.sentence


class FormatError(Error, ValueError):
    """LC_EFORMAT: a file or text is not in the expected format."""
    status, code = "LC_EFORMAT", 7


class InternalError(Error, RuntimeError):
    """LC_EINTERNAL: a bug in longctx (please report it)."""
    status, code = "LC_EINTERNAL", 8


class Handle:
    """A library object owned by Python: `_h` holds its pointer, and `close()` (also run on
    leaving a `with` block and on garbage collection) destroys it once. Subclasses name
    what they are (`_what`, for the error once closed) and their lc_*_destroy (`_destroy`)."""

    _h = None
    _what = "object"
    _destroy = None

    def _handle(self):
        if self._h is None or not self._h.value:
            raise InvalidState(f"the {self._what} was closed")
        return self._h

    def close(self):
        """Frees the object now (also done when it is garbage-collected)."""
        if self._h is not None and self._h.value:
            type(self)._destroy(self._h)
        self._h = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


_BY_CODE = {c.code: c for c in (InvalidArgument, OutOfMemory, Unsupported, OutOfRange, InvalidState, IOError,
                                 FormatError, InternalError)}


# ---- finding the library -------------------------------------------------------------------

def _candidates():
    env = os.environ.get("LONGCTX_LIBRARY")
    if env:
        return [env], True
    here = os.path.dirname(os.path.abspath(__file__))
    out = []
    # python/longctx/_lib.py in the source tree: the build tree is ../../build
    p = os.path.join(here, os.pardir, os.pardir, "build", "liblongctx.so")
    if os.path.exists(p):
        out.append(os.path.normpath(p))
    found = ctypes.util.find_library("longctx")
    if found:
        out.append(found)
    out += ["liblongctx.so.0", "liblongctx.so", "/usr/local/lib/liblongctx.so", "/usr/local/lib64/liblongctx.so"]
    return out, False


def _load():
    names, from_env = _candidates()
    errors = []
    for name in names:
        try:
            return ctypes.CDLL(name), name  # CDLL (not PyDLL): every call releases the GIL
        except _builtin_oserror as e:
            errors.append("%s: %s" % (name, e))
            if from_env:
                break
    where = "$LONGCTX_LIBRARY=%s" % names[0] if from_env else "the build tree, find_library('longctx') or the loader's path"
    raise ImportError("longctx: cannot load liblongctx from %s (%s); build it with cmake (build/liblongctx.so) "
                      "or set LONGCTX_LIBRARY to its path" % (where, "; ".join(errors)))


lib, library_path = _load()

lib.lc_last_error.restype = ctypes.c_char_p
lib.lc_last_error.argtypes = []
lib.lc_status_str.restype = ctypes.c_char_p
lib.lc_status_str.argtypes = [ctypes.c_int]


lib.lc_error.restype = ctypes.c_int
lib.lc_error.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p]  # always called as ("%s", sentence)


def set_error(status, sentence):
    """Sets this thread's sentence as the library does (lc_error) and returns status: for
    callbacks written in Python that the library calls."""
    return lib.lc_error(int(status), b"%s", str(sentence).encode("utf-8", "replace"))


def last_error():
    s = lib.lc_last_error()
    return s.decode("utf-8", "replace") if s else ""


def raise_for(status, what=None):
    """Raises the exception of a non-zero lc_status with the library's sentence."""
    if status == 0:
        return
    sentence = last_error() or (what or "") or lib.lc_status_str(status).decode()
    cls = _BY_CODE.get(status, Error)
    raise cls(sentence, lib.lc_status_str(status).decode())


def refuse(sentence, cls=InvalidArgument):
    """Raises a refusal found on the Python side (an array's dtype, rank or contiguity), in
    the library's style."""
    raise cls(sentence)


# ---- binding functions -------------------------------------------------------------------------

class _Missing:
    """A C function this liblongctx does not export (older or newer than the package)."""

    def __init__(self, names):
        self.names = names

    def __call__(self, *a):
        raise Unsupported("this liblongctx (%s) exports none of %s" % (library_path, ", ".join(self.names)))

    def __bool__(self):
        return False


def fn(names, restype, argtypes):
    """The first of `names` (a name or a tuple of names, newest first) the library exports,
    with its prototype; a _Missing stand-in when none is."""
    if isinstance(names, str):
        names = (names,)
    for n in names:
        f = getattr(lib, n, None)
        if f is not None:
            f.restype = restype
            f.argtypes = argtypes
            return f
    return _Missing(names)


def call(f, *args):
    """Calls a C function that returns lc_status and raises on failure."""
    raise_for(f(*args))
