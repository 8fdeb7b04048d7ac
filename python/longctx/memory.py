"""Memory-augmented attention: a kNN memory of past (key, value) pairs searched through FAISS
(Memorizing Transformers) and block retrieval with landmark keys (Landmark Attention)
(include/longctx/memory.h, docs/memory.md)."""
import ctypes
import os

import numpy as np

from . import _array
from ._lib import Handle, InvalidState, call, fn, refuse
from ._structs import (CBlockAttention, CKnnAttention, CKnnMemoryConfig, P_f32, POINTER, Tensor, c_int,
                       c_int64, c_size_t, c_void_p)
from .attention import _describe as _attention_describe

_cfg_check = fn("lc_knn_memory_config_check", c_int, [POINTER(CKnnMemoryConfig)])
_create = fn("lc_knn_memory_create", c_int, [POINTER(CKnnMemoryConfig), POINTER(c_void_p)])
_destroy = fn("lc_knn_memory_destroy", None, [c_void_p])
_config_of = fn("lc_knn_memory_config_of", POINTER(CKnnMemoryConfig), [c_void_p])
_size = fn("lc_knn_memory_size", c_int64, [c_void_p])
_first = fn("lc_knn_memory_first", c_int64, [c_void_p])
_bytes = fn("lc_knn_memory_bytes", c_size_t, [c_void_p])
_append = fn("lc_knn_memory_append", c_int, [c_void_p, POINTER(Tensor), POINTER(Tensor)])
_get = fn("lc_knn_memory_get", c_int, [c_void_p, c_int64, c_int64, P_f32, P_f32])
_search = fn("lc_knn_memory_search", c_int, [c_void_p, POINTER(Tensor), c_int64, POINTER(c_int64), P_f32])
_save = fn("lc_knn_memory_save", c_int, [c_void_p, ctypes.c_char_p])
_load = fn("lc_knn_memory_load", c_int, [ctypes.c_char_p, c_int, POINTER(c_void_p)])
_knn_check = fn("lc_knn_attention_check", c_int, [POINTER(CKnnAttention)])
_knn_retrieve = fn("lc_knn_attention_retrieve", c_int, [POINTER(CKnnAttention)])
_blk_check = fn("lc_block_attention_check", c_int, [POINTER(CBlockAttention)])
_blk_ws = fn("lc_block_attention_workspace_size", c_size_t, [POINTER(CBlockAttention)])
_blk_retrieve = fn("lc_block_attention_retrieve", c_int,
              [POINTER(CBlockAttention), c_void_p, c_size_t])
_blk_alloc = fn("lc_block_attention_retrieve_alloc", c_int, [POINTER(CBlockAttention)])

INDEXES = ("exact", "hnsw", "ivf")


class KnnMemory(Handle):
    """A kNN memory (lc_knn_memory): per key/value head, a FIFO ring of `capacity` float32
    (key, value) rows, searched by inner product through FAISS. Positions count every token
    ever appended, from 0.

      heads, d_k, d_v   key/value heads and widths
      capacity          tokens kept per head; appending more evicts the oldest
      segment           tokens per FAISS index segment (0: min(capacity, 16384))
      index             "exact" (IndexFlatIP), "hnsw" (approximate; hnsw_m, hnsw_ef_search)
                        or "ivf" (approximate; ivf_lists, ivf_probe)

    append(k, v) adds tokens; search(q, top_k) returns positions and scores; get(head,
    position) one stored pair; save(path) / KnnMemory.load(path)."""

    _what = "knn memory"
    _destroy = _destroy

    def __init__(self, heads, d_k, d_v, capacity, *, segment=0, index="exact", hnsw_m=0, hnsw_ef_search=0,
                 ivf_lists=0, ivf_probe=0, threads=0):
        self._h = None
        if index not in INDEXES:
            refuse("memory index '%s' is not one of %s" % (index, ", ".join(INDEXES)))
        c = CKnnMemoryConfig()
        c.heads, c.d_k, c.d_v, c.capacity, c.segment = int(heads), int(d_k), int(d_v), int(capacity), int(segment)
        c.index = INDEXES.index(index)
        c.hnsw_m, c.hnsw_ef_search, c.ivf_lists, c.ivf_probe, c.threads = (int(hnsw_m), int(hnsw_ef_search),
                                                                          int(ivf_lists), int(ivf_probe), int(threads))
        h = c_void_p()
        call(_create, ctypes.byref(c), ctypes.byref(h))
        self._h = h

    @classmethod
    def load(cls, path, threads=0):
        """A memory saved by save(); refuses (FormatError) a file that is not one, is of another
        version or byte order, truncated, or fails its checksum."""
        m = cls.__new__(cls)
        m._h = None
        h = c_void_p()
        call(_load, os.fsencode(path), int(threads), ctypes.byref(h))
        m._h = h
        return m


    @property
    def config(self):
        """The configuration with defaults resolved, as a dict."""
        c = _config_of(self._handle()).contents
        d = {f[0]: getattr(c, f[0]) for f in CKnnMemoryConfig._fields_}
        d["index"] = INDEXES[d["index"]]
        return d

    def __len__(self):
        """Tokens held (per head)."""
        return int(_size(self._handle()))

    @property
    def first(self):
        """Position of the oldest token held."""
        return int(_first(self._handle()))

    @property
    def nbytes(self):
        """Bytes held: the key/value ring and the FAISS indexes (estimated from their layout)."""
        return int(_bytes(self._handle()))

    def append(self, k, v, dtype=None):
        """Appends n tokens: k [n, heads, d_k], v [n, heads, d_v] (or [1, n, ...]), float32,
        float16 or bfloat16, any strides. All appended, or on any error (a non-finite key, a
        bad shape) none: the memory is left as it was."""
        k4, _ = _array.as_4d(_array.as_array(k, "k"), "k")
        v4, _ = _array.as_4d(_array.as_array(v, "v"), "v")
        tk = _array.tensor(k4, "k", _array.array_dtype(k4, "k", dtype))
        tv = _array.tensor(v4, "v", _array.array_dtype(v4, "v", dtype))
        call(_append, self._handle(), ctypes.byref(tk), ctypes.byref(tv))

    def get(self, head, position):
        """The stored (key float32 [d_k], value float32 [d_v]) of one held position."""
        c = self.config
        key, val = np.empty(c["d_k"], np.float32), np.empty(c["d_v"], np.float32)
        call(_get, self._handle(), int(head), int(position), _array.ptr(key), _array.ptr(val))
        return key, val

    def search(self, q, top_k, dtype=None):
        """Top-k maximum inner product search: q [n_q, heads_q, d_k] (or [1, n_q, ...]) with
        heads_q a multiple of the memory's heads (query head h reads memory head
        h // (heads_q // heads)). Returns (positions int64 [heads_q, n_q, top_k], scores
        float32 [heads_q, n_q, top_k]) of q . key, best first (ties: lower position first)."""
        q4, _ = _array.as_4d(_array.as_array(q, "q"), "q")
        tq = _array.tensor(q4, "q", _array.array_dtype(q4, "q", dtype))
        n_q, hq = q4.shape[1], q4.shape[2]
        top_k = int(top_k)
        pos = np.empty((hq, n_q, max(top_k, 0)), np.int64)
        sc = np.empty((hq, n_q, max(top_k, 0)), np.float32)
        call(_search, self._handle(), ctypes.byref(tq), top_k, pos.ctypes.data_as(POINTER(c_int64)), _array.ptr(sc))
        return pos, sc

    def save(self, path):
        """Writes the memory to a file (format in docs/memory.md, with a checksum)."""
        call(_save, self._handle(), os.fsencode(path))

    def __repr__(self):
        if self._h is None:
            return "<KnnMemory closed>"
        c = self.config
        return "<KnnMemory %s heads=%d d_k=%d d_v=%d: %d of %d tokens from position %d>" % (
            c["index"], c["heads"], c["d_k"], c["d_v"], len(self), c["capacity"], self.first)


def knn_attention(q, k, v, memory, *, top_k, gate, mask=None, causal=False, scale=0.0, out=None, lse=False,
                  dtype=None, threads=0, isa="auto"):
    """kNN memory attention (Memorizing Transformers, Wu et al. 2022), per query row i and head h:

        mem_i = softmax over the top_k memory positions p by q_i . key_p of scale q_i . key_p, times value_p
        loc_i = attention over the local k, v under `mask` (e.g. a sliding window)
        out_i = g_h mem_i + (1 - g_h) loc_i

    q [n_q, heads_q, d_k], k [n_kv, heads_kv, d_k], v [n_kv, heads_kv, d_v] (or with a batch of
    1 in front), float32 / float16 / bfloat16, any strides; memory a KnnMemory with the same
    d_k, d_v and heads dividing heads_q; gate float32 [heads_q] in [0, 1]. Returns out (and,
    with lse=True, (out, lse) where lse is the local branch's log-sum-exp)."""
    if not isinstance(memory, KnnMemory):
        refuse("memory must be a longctx.KnnMemory, not %s" % type(memory).__name__)
    a_local, o, l, keep, _ = _attention_describe(q, k, v, mask, causal, scale, 0.0, out, bool(lse), dtype, threads, isa)
    hq = a_local.q.shape[2]
    g, _ = _array.f32(np.asarray(gate, dtype=np.float32).reshape(-1) if not isinstance(gate, np.ndarray) else gate,
                      "gate", shape=(hq,))
    a = CKnnAttention()
    a.local = a_local
    a.memory = memory._handle()
    a.top_k = int(top_k)
    a.gate = _array.ptr(g)
    call(_knn_retrieve, ctypes.byref(a))
    del keep
    return (o, l) if lse else o


def block_attention(q, k, v, *, block, top_blocks, window, sinks=0, landmarks=None, q_offset=None, scale=0.0,
                    out=None, dtype=None, threads=0, workspace=None):
    """Block retrieval (Landmark Attention), causal; query row i sits at position p = q_offset + i:

        local  = keys [b floor(w0 / b), p] with w0 = max(0, p - window + 1)
        blocks = the complete blocks j (keys [j b, j b + b)) before local, scored by q . L_j with
                 L_j the landmark key (landmarks) or the mean of the block's keys
        out    = softmax attention over sinks + local + the top_blocks best blocks' tokens

    q [batch, n_q, heads_q, d_k], k [batch, n_kv, heads_kv, d_k], v [batch, n_kv, heads_kv, d_v]
    (or 3-D for batch 1), any float dtype and strides; landmarks [batch, n_kv // block,
    heads_kv, d_k] or None; q_offset default n_kv - n_q (the queries are the last tokens).
    With every block chosen this is exactly causal attention. Returns out [.., d_v]."""
    q4, sq = _array.as_4d(q, "q")
    k4, _ = _array.as_4d(k, "k")
    v4, _ = _array.as_4d(v, "v")
    if out is None:
        o4 = np.empty(q4.shape[:3] + v4.shape[3:], dtype=q4.dtype)
        user = o4[0] if sq else o4
    else:
        user = _array.as_array(out, "out")
        o4 = user[None] if sq and user.ndim == 3 else user
    a = CBlockAttention()
    a.q = _array.tensor(q4, "q", _array.array_dtype(q4, "q", dtype))
    a.k = _array.tensor(k4, "k", _array.array_dtype(k4, "k", dtype))
    a.v = _array.tensor(v4, "v", _array.array_dtype(v4, "v", dtype))
    a.out = _array.tensor(o4, "out", _array.array_dtype(o4, "out", dtype), writable=True)
    keep = [q4, k4, v4, o4]
    if landmarks is not None:
        L4, _ = _array.as_4d(landmarks, "landmarks")
        a.landmarks = _array.tensor(L4, "landmarks", _array.array_dtype(L4, "landmarks", dtype))
        keep.append(L4)
    a.q_offset = k4.shape[1] - q4.shape[1] if q_offset is None else int(q_offset)
    a.block, a.top_blocks, a.window, a.sinks = int(block), int(top_blocks), int(window), int(sinks)
    a.scale, a.threads = float(scale), int(threads)
    if workspace is None:
        call(_blk_alloc, ctypes.byref(a))
    else:
        ws = _array.as_array(workspace, "workspace")
        if not ws.flags.c_contiguous or not ws.flags.writeable:
            refuse("workspace must be a writable C-contiguous array")
        call(_blk_retrieve, ctypes.byref(a), ws.ctypes.data, ws.nbytes)
    del keep
    return user


def block_attention_workspace_size(q, k, v, *, block, top_blocks, window, sinks=0, q_offset=None, dtype=None,
                                   threads=0):
    """Bytes of workspace block_attention needs for this call."""
    q4, _ = _array.as_4d(q, "q")
    k4, _ = _array.as_4d(k, "k")
    v4, _ = _array.as_4d(v, "v")
    o4 = np.empty(q4.shape[:3] + v4.shape[3:], np.float32)
    a = CBlockAttention()
    a.q = _array.tensor(q4, "q", _array.array_dtype(q4, "q", dtype))
    a.k = _array.tensor(k4, "k", _array.array_dtype(k4, "k", dtype))
    a.v = _array.tensor(v4, "v", _array.array_dtype(v4, "v", dtype))
    a.out = _array.tensor(o4, "out", 0, writable=True)
    a.q_offset = k4.shape[1] - q4.shape[1] if q_offset is None else int(q_offset)
    a.block, a.top_blocks, a.window, a.sinks, a.threads = int(block), int(top_blocks), int(window), int(sinks), int(threads)
    call(_blk_check, ctypes.byref(a))
    return int(_blk_ws(ctypes.byref(a)))



