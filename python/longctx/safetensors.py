"""safetensors checkpoints read by the library (include/longctx/safetensors.h): one file or
the shards of an index, mmap'd read-only and validated whole; tensors come back as read-only
NumPy views of the mapping (no copy)."""
import ctypes
import os

import numpy as np

from . import _array
from ._lib import Handle, InvalidState, call, fn
from ._structs import CStTensor, POINTER, c_int, c_int64, c_size_t, c_void_p

_open = fn("lc_safetensors_open", c_int, [ctypes.c_char_p, POINTER(c_void_p)])
_destroy = fn("lc_safetensors_destroy", None, [c_void_p])
_count = fn("lc_safetensors_count", c_int64, [c_void_p])
_at = fn("lc_safetensors_at", POINTER(CStTensor), [c_void_p, c_int64])
_find = fn("lc_safetensors_find", POINTER(CStTensor), [c_void_p, ctypes.c_char_p])
_files = fn("lc_safetensors_file_count", c_int, [c_void_p])
_mapped = fn("lc_safetensors_mapped_bytes", c_size_t, [c_void_p])
_metadata = fn("lc_safetensors_metadata", ctypes.c_char_p, [c_void_p, ctypes.c_char_p])


class SafeTensors(Handle):
    """A safetensors set: a .safetensors file, a *.safetensors.index.json, or a directory
    holding model.safetensors.index.json or model.safetensors. Everything is validated when
    it opens (header, dtypes F32 / F16 / BF16, shapes, offsets covering the data exactly
    once, names unique across shards); a bad set is a FormatError / Unsupported naming the
    file and the field.

    A mapping of name -> read-only NumPy array viewing the file (float32, float16, or bf16
    as ml_dtypes.bfloat16 when installed, else uint16 bits): st["model.embed_tokens.weight"],
    len(st), st.keys(), st.metadata("format"), st.files, st.mapped_bytes. The views are
    valid while the set is open."""

    _what = "safetensors set"
    _destroy = _destroy

    def __init__(self, path):
        self._h = None
        h = c_void_p()
        call(_open, os.fsencode(path), ctypes.byref(h))
        self._h = h


    def __len__(self):
        return int(_count(self._handle()))

    def keys(self):
        """Tensor names, in name order."""
        h = self._handle()
        return [_at(h, i).contents.name.decode() for i in range(len(self))]

    def __iter__(self):
        return iter(self.keys())

    def __contains__(self, name):
        return bool(_find(self._handle(), name.encode()))

    def items(self):
        return [(k, self[k]) for k in self.keys()]

    def __getitem__(self, name):
        p = _find(self._handle(), name.encode())
        if not p:
            raise KeyError(name)
        t = p.contents
        dt = _array.numpy_dtype(t.dtype)
        shape = tuple(t.shape[i] for i in range(t.ndim))
        buf = (ctypes.c_char * t.bytes).from_address(t.data) if t.bytes else b""
        a = np.frombuffer(buf, dtype=dt, count=t.numel).reshape(shape)
        a.flags.writeable = False
        return a

    def file_of(self, name):
        """The file a tensor lies in."""
        p = _find(self._handle(), name.encode())
        if not p:
            raise KeyError(name)
        return p.contents.file.decode()

    def metadata(self, key):
        """The value of key in the __metadata__ of the first file that has it, or None."""
        v = _metadata(self._handle(), key.encode())
        return None if v is None else v.decode()

    @property
    def files(self):
        return int(_files(self._handle()))

    @property
    def mapped_bytes(self):
        return int(_mapped(self._handle()))

    def __repr__(self):
        if self._h is None:
            return "<SafeTensors closed>"
        return "<SafeTensors %d tensors in %d files, %d bytes mapped>" % (len(self), self.files, self.mapped_bytes)
