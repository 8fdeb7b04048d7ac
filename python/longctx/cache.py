"""KV caches of every layout and storage type, and decode attention over them
(include/longctx/cache.h, include/longctx/decode.h, docs/kv-cache.md)."""
import ctypes

import numpy as np

from . import _array
from ._lib import Handle, InvalidState, call, fn, refuse
from ._structs import CDecode, CKvConfig, CKvSpan, P_f32, POINTER, c_int, c_int64, c_size_t, c_void_p
from .core import from_fp8, isa_code

_config_check = fn("lc_kv_config_check", c_int, [POINTER(CKvConfig)])
_slots = fn("lc_kv_slots", c_int64, [POINTER(CKvConfig)])
_slot_bytes = fn("lc_kv_slot_bytes", c_size_t, [POINTER(CKvConfig)])
_footprint = fn("lc_kv_footprint", c_size_t, [POINTER(CKvConfig)])
_create = fn("lc_kv_create", c_int, [POINTER(CKvConfig), POINTER(c_void_p)])
_destroy = fn("lc_kv_destroy", None, [c_void_p])
_bytes = fn("lc_kv_bytes", c_size_t, [c_void_p])
_seq_new = fn("lc_kv_seq_new", c_int, [c_void_p, POINTER(c_int)])
_seq_fork = fn("lc_kv_seq_fork", c_int, [c_void_p, c_int, POINTER(c_int)])
_seq_remove = fn("lc_kv_seq_remove", c_int, [c_void_p, c_int])
_seq_len = fn("lc_kv_seq_len", c_int64, [c_void_p, c_int])
_seq_kept = fn("lc_kv_seq_kept", c_int64, [c_void_p, c_int])
_append = fn("lc_kv_append", c_int, [c_void_p, c_int, c_int64, P_f32, P_f32, c_int64])
_max_spans = fn("lc_kv_max_spans", c_int64, [c_void_p, c_int])
_spans = fn("lc_kv_spans", c_int, [c_void_p, c_int, POINTER(CKvSpan), c_int64, POINTER(c_int64)])
_free_blocks = fn("lc_kv_free_blocks", c_int64, [c_void_p])
_store_row = fn("lc_kv_store_row", None, [c_void_p, P_f32, c_int, P_f32, c_int])
_load_row = fn("lc_kv_load_row", None, [P_f32, c_void_p, ctypes.c_float, c_int, c_int])
_dec_check = fn("lc_decode_check", c_int, [POINTER(CDecode)])
_dec_ws = fn("lc_decode_workspace_size", c_size_t, [POINTER(CDecode)])
_dec_attention = fn("lc_decode_attention", c_int, [POINTER(CDecode), c_void_p, c_size_t])
_dec_alloc = fn("lc_decode_attention_alloc", c_int, [POINTER(CDecode)])
_dec_rounds = fn("lc_decode_rounds_query", c_int, [POINTER(CDecode)])
_dec_bytes = fn("lc_decode_bytes_read", c_size_t, [POINTER(CDecode)])

LAYOUTS = ("contiguous", "paged", "ring", "sinks")
_STORE = {0: np.float32, 1: np.float16, 2: np.uint16, 3: np.int8, 4: np.uint8}


def _config(layout, dtype, heads_kv, head_dim, max_seqs, capacity, num_blocks, block_size, window, sinks):
    if layout not in LAYOUTS:
        refuse("kv layout '%s' is not one of %s" % (layout, ", ".join(LAYOUTS)))
    c = CKvConfig()
    c.layout = LAYOUTS.index(layout)
    c.dtype = _array.dtype_code(dtype)
    c.heads_kv, c.head_dim, c.max_seqs = int(heads_kv), int(head_dim), int(max_seqs)
    c.capacity, c.block_size = int(capacity), int(block_size)
    if layout == "paged" and not num_blocks and c.block_size > 0 and c.capacity > 0:
        num_blocks = c.max_seqs * -(-c.capacity // c.block_size)
    c.num_blocks, c.window, c.sinks = int(num_blocks), int(window), int(sinks)
    return c


class KVCache(Handle):
    """A KV cache (lc_kv_cache): one pool of slots, each holding a token's K and V rows
    ([heads_kv, head_dim]) and, for int8 / fp8, one float32 scale per head for each.

      layout      "contiguous" (capacity tokens per sequence), "paged" (blocks of
                  block_size slots from a pool of num_blocks, a block table per sequence,
                  copy-on-write fork: vLLM), "ring" (the last `window` tokens), "sinks"
                  (the first `sinks` tokens and the last `window`: StreamingLLM)
      dtype       storage: "f32", "f16", "bf16", "int8", "fp8" (e4m3; int8 / fp8 keep
                  scale = max|x| / 127 or / 448 per token and head)
      heads_kv, head_dim, max_seqs (sequences alive at once)
      capacity    contiguous: tokens per sequence; paged: max tokens per sequence
      num_blocks  paged: pool size (0: enough for max_seqs full sequences)

    KVCache(layout="paged", dtype="int8", heads_kv=8, head_dim=128, block_size=16)

    Sequences are small integer ids: new_seq(), fork(src), remove(seq); append() to an id
    that is not alive starts it. nbytes is exactly what the cache allocated, known before
    creating it through KVCache.footprint(...)."""

    _what = "kv cache"
    _destroy = _destroy

    def __init__(self, layout="contiguous", dtype="f32", *, heads_kv, head_dim, max_seqs=1, capacity=4096,
                 num_blocks=0, block_size=16, window=0, sinks=0):
        self._h = None
        self._cfg = _config(layout, dtype, heads_kv, head_dim, max_seqs, capacity, num_blocks, block_size, window,
                            sinks)
        h = c_void_p()
        call(_create, ctypes.byref(self._cfg), ctypes.byref(h))
        self._h = h

    @staticmethod
    def footprint(layout="contiguous", dtype="f32", *, heads_kv, head_dim, max_seqs=1, capacity=4096, num_blocks=0,
                  block_size=16, window=0, sinks=0):
        """Exact bytes a cache of this configuration allocates (lc_kv_footprint), and its
        slots and bytes per slot: returns (bytes, slots, slot_bytes)."""
        c = _config(layout, dtype, heads_kv, head_dim, max_seqs, capacity, num_blocks, block_size, window, sinks)
        call(_config_check, ctypes.byref(c))
        return int(_footprint(ctypes.byref(c))), int(_slots(ctypes.byref(c))), int(_slot_bytes(ctypes.byref(c)))


    # ---- configuration
    layout = property(lambda self: LAYOUTS[self._cfg.layout])
    dtype = property(lambda self: _array.DTYPE_NAMES[self._cfg.dtype])
    heads_kv = property(lambda self: self._cfg.heads_kv)
    head_dim = property(lambda self: self._cfg.head_dim)
    max_seqs = property(lambda self: self._cfg.max_seqs)
    capacity = property(lambda self: self._cfg.capacity)
    window = property(lambda self: self._cfg.window)
    sinks = property(lambda self: self._cfg.sinks)
    block_size = property(lambda self: self._cfg.block_size)
    num_blocks = property(lambda self: self._cfg.num_blocks)

    @property
    def nbytes(self):
        """Bytes the cache allocated (lc_kv_bytes == KVCache.footprint)."""
        return int(_bytes(self._handle()))

    @property
    def slot_bytes(self):
        return int(_slot_bytes(ctypes.byref(self._cfg)))

    @property
    def free_blocks(self):
        """Paged: blocks free in the pool; other layouts: 0."""
        return int(_free_blocks(self._handle()))

    # ---- sequences
    def new_seq(self):
        """Starts a sequence and returns its id (the lowest free one)."""
        s = c_int()
        call(_seq_new, self._handle(), ctypes.byref(s))
        return s.value

    def fork(self, src):
        """A new sequence holding src's tokens (paged: sharing its blocks until one writes)."""
        s = c_int()
        call(_seq_fork, self._handle(), int(src), ctypes.byref(s))
        return s.value

    def remove(self, seq):
        """Ends a sequence and releases its slots (paged: blocks no other sequence holds)."""
        call(_seq_remove, self._handle(), int(seq))

    def alive(self, seq):
        return int(_seq_len(self._handle(), int(seq))) >= 0

    def seq_len(self, seq=0):
        """Tokens written to seq so far (its next position); -1 if it is not alive."""
        return int(_seq_len(self._handle(), int(seq)))

    def kept(self, seq=0):
        """Tokens of seq the cache keeps (ring: at most window; sinks: sinks + window)."""
        return int(_seq_kept(self._handle(), int(seq)))

    def _start(self, seq):
        """Starts sequence `seq` if it is not alive (ids are handed out lowest first). An id
        outside [0, max_seqs) is left to lc_kv_append, which names it."""
        if not 0 <= seq < self.max_seqs or self.alive(seq):
            return
        taken = []
        try:
            while True:
                s = self.new_seq()
                if s == seq:
                    break
                taken.append(s)
        finally:
            for s in taken:
                self.remove(s)

    def append(self, seq=0, k=None, v=None, pos=None):
        """Appends n tokens to seq: k, v float32 [n, heads_kv, head_dim] (or [heads_kv, head_dim]
        for one token), converted or quantised into the cache's dtype, at positions
        pos .. pos+n-1 (pos: the sequence's length, the only position the cache accepts).
        A sequence id that is not alive is started. Returns the new length."""
        seq = int(seq)
        H, D = self.heads_kv, self.head_dim
        ka, _ = _array.f32(k, "k")
        va, _ = _array.f32(v, "v")
        if ka.ndim == 2:
            ka, va = ka.reshape(1, *ka.shape), va.reshape(1, *va.shape) if va.ndim == 2 else va
        for name, a in (("k", ka), ("v", va)):
            if a.ndim != 3 or a.shape[1:] != (H, D):
                refuse("%s has shape %s, expected [n, %d, %d] (n tokens, heads_kv, head_dim)" % (name, list(a.shape), H, D))
        if ka.shape[0] != va.shape[0]:
            refuse("k has %d tokens and v has %d" % (ka.shape[0], va.shape[0]))
        self._start(seq)
        p = self.seq_len(seq) if pos is None else int(pos)
        call(_append, self._handle(), seq, p, _array.ptr(ka), _array.ptr(va), ka.shape[0])
        return self.seq_len(seq)

    def spans(self, seq=0):
        """The kept tokens of seq as the cache stores them: a list of (pos0, k, v, k_scale,
        v_scale) in increasing position order, k and v read-only NumPy views of the pool
        ([n, heads_kv, head_dim] of float32, float16, uint16 bf16 bits, int8 or uint8 fp8
        bytes), the scales float32 [n, heads_kv] views (int8 / fp8) or None. The views are
        valid until the cache is next written or closed."""
        h = self._handle()
        m = int(_max_spans(h, int(seq)))
        if m < 0:
            call(_spans, h, int(seq), None, 0, ctypes.byref(c_int64()))
        arr = (CKvSpan * max(m, 1))()
        cnt = c_int64()
        call(_spans, h, int(seq), arr, m, ctypes.byref(cnt))
        H, D = self.heads_kv, self.head_dim
        st = np.dtype(_STORE[self._cfg.dtype])
        out = []
        for sp in arr[:cnt.value]:
            n = sp.n

            def view(addr, dt, shape):
                buf = (ctypes.c_char * (int(np.prod(shape)) * dt.itemsize)).from_address(addr)
                a = np.frombuffer(buf, dtype=dt).reshape(shape)
                a.flags.writeable = False
                return a
            k = view(sp.k, st, (n, H, D))
            v = view(sp.v, st, (n, H, D))
            ks = vs = None
            if sp.k_scale:
                ks = view(ctypes.addressof(sp.k_scale.contents), np.dtype(np.float32), (n, H))
                vs = view(ctypes.addressof(sp.v_scale.contents), np.dtype(np.float32), (n, H))
            out.append((sp.pos0, k, v, ks, vs))
        return out

    def read(self, seq=0):
        """The kept tokens of seq as float32: (positions int64 [kept], k [kept, heads_kv,
        head_dim], v [kept, heads_kv, head_dim]), dequantised as decode reads them
        (int8 / fp8: stored value times its scale)."""
        H, D = self.heads_kv, self.head_dim
        pos, ks, vs = [], [], []
        for pos0, k, v, k_scale, v_scale in self.spans(seq):
            pos.append(np.arange(pos0, pos0 + k.shape[0], dtype=np.int64))
            ks.append(self._widen(k, k_scale))
            vs.append(self._widen(v, v_scale))
        if not pos:
            return np.zeros(0, np.int64), np.zeros((0, H, D), np.float32), np.zeros((0, H, D), np.float32)
        return np.concatenate(pos), np.concatenate(ks), np.concatenate(vs)

    def _widen(self, x, scale):
        t = self._cfg.dtype
        if t == 0:
            return x.copy()
        if t == 1:
            return x.astype(np.float32)
        if t == 2:
            return (x.astype(np.uint32) << 16).view(np.float32)
        if t == 3:
            return x.astype(np.float32) * scale[..., None]
        return from_fp8(x) * scale[..., None]

    def __repr__(self):
        if self._h is None:
            return "<KVCache closed>"
        return "<KVCache %s %s heads_kv=%d head_dim=%d max_seqs=%d, %d bytes>" % (
            self.layout, self.dtype, self.heads_kv, self.head_dim, self.max_seqs, self.nbytes)


def _describe(q, cache, seq, scale, split, threads, isa, query_f32, out, lse):
    if not isinstance(cache, KVCache):
        refuse("cache must be a longctx.KVCache, not %s" % type(cache).__name__)
    qa = _array.as_array(q, "q")
    one = qa.ndim == 2
    qa, _ = _array.f32(qa[None] if one else qa, "q")
    if qa.ndim != 3:
        refuse("q must be [n_q, heads_q, head_dim] (or [heads_q, head_dim]), has %d dims" % qa.ndim)
    n_q, heads_q, D = qa.shape
    if D != cache.head_dim:
        refuse("q.shape[-1]=%d must equal the cache's head_dim=%d" % (D, cache.head_dim))
    if out is None:
        o = np.empty((n_q, heads_q, D), np.float32)
        user_out = o[0] if one else o
    else:
        user_out = out
        o, _ = _array.f32(out[None] if one and np.ndim(out) == 2 else out, "out", shape=(n_q, heads_q, D),
                          writable=True)
    l = np.empty((heads_q, n_q), np.float32) if lse else None
    d = CDecode()
    d.cache = cache._handle()
    d.seq, d.q, d.n_q, d.heads_q = int(seq), _array.ptr(qa), n_q, heads_q
    d.out, d.lse = _array.ptr(o), _array.ptr(l)
    d.scale, d.split, d.threads, d.isa = float(scale), int(split), int(threads), isa_code(isa)
    d.query_f32 = 1 if query_f32 else 0
    return d, user_out, (l[:, 0] if one and l is not None else l), (qa, o, l)


def decode(q, cache, seq=0, *, scale=0.0, lse=False, query_f32=False, split=0, threads=0, isa="auto", out=None,
           workspace=None):
    """Decode attention (flash-decoding): the last n_q positions of seq attend to the kept
    tokens of a KVCache of any layout and dtype.

        out[i, h] = sum_j softmax_j(scale q[i, h] . k_j) v_j   over kept keys j of seq with
                    position <= the query's (len - n_q + i); K/V head h // (heads_q // heads_kv)

    q      float32 [n_q, heads_q, head_dim] (or [heads_q, head_dim] for one token)
    scale  0: 1/sqrt(head_dim).    split: keys per task (0: chosen)
    query_f32  int8 / fp8 / bf16 caches: False lets the AVX-512 path round the query once per
           call as llama.cpp does (int8 with VNNI, bf16 with AVX512-BF16); True keeps it float32
    lse    True: also return lse float32 [heads_q, n_q] (-inf where no key is visible)
    Returns out float32 [n_q, heads_q, head_dim] (or (out, lse))."""
    d, o, l, keep = _describe(q, cache, seq, scale, split, threads, isa, query_f32, out, lse)
    if workspace is None:
        call(_dec_alloc, ctypes.byref(d))
    else:
        ws = _array.as_array(workspace, "workspace")
        if not ws.flags.c_contiguous or not ws.flags.writeable:
            refuse("workspace must be a writable C-contiguous array")
        call(_dec_attention, ctypes.byref(d), ws.ctypes.data, ws.nbytes)
    del keep
    return (o, l) if lse else o


def decode_workspace_size(q, cache, seq=0, *, threads=0, split=0):
    """Bytes of workspace decode needs for this call (it depends on the cache's length)."""
    d, *_ = _describe(q, cache, seq, 0.0, split, threads, "auto", False, None, False)
    call(_dec_check, ctypes.byref(d))
    return int(_dec_ws(ctypes.byref(d)))


def decode_info(q, cache, seq=0, *, query_f32=False, isa="auto"):
    """{"bytes_read": bytes of cache one call reads, "rounds_query": whether the call takes
    the rounded-query path} for this query and cache."""
    d, *_ = _describe(q, cache, seq, 0.0, 0, 0, isa, query_f32, None, False)
    call(_dec_check, ctypes.byref(d))
    return {"bytes_read": int(_dec_bytes(ctypes.byref(d))), "rounds_query": bool(_dec_rounds(ctypes.byref(d)))}


def _cache_dtype(dtype):
    t = _array.dtype_code(dtype)
    if t not in _STORE:
        refuse("dtype %s is not a cache dtype (f32, f16, bf16, int8, fp8)" % _array.DTYPE_NAMES[t])
    return t


def kv_quantize(x, dtype):
    """Rows as a KV cache stores them (lc_kv_store_row): x float32 [..., n] -> (stored [..., n]
    of float32, float16, uint16 bf16 bits, int8 or uint8 fp8 e4m3; scale float32 [...] for
    int8 / fp8 (max|row| / 127 or / 448), else None)."""
    t = _cache_dtype(dtype)
    xa, _ = _array.f32(x, "x")
    rows = xa.reshape(-1, xa.shape[-1]) if xa.ndim else xa.reshape(1, 1)
    out = np.empty(rows.shape, _STORE[t])
    sc = np.zeros(rows.shape[0], np.float32)
    for r in range(rows.shape[0]):
        _store_row(out[r].ctypes.data, sc[r:].ctypes.data_as(P_f32), t, _array.ptr(rows[r]), rows.shape[1])
    return out.reshape(xa.shape), (sc.reshape(xa.shape[:-1]) if t in (3, 4) else None)


def kv_dequantize(stored, scale, dtype):
    """The float32 values of stored rows (lc_kv_load_row): stored x scale for int8 / fp8."""
    t = _cache_dtype(dtype)
    q = np.ascontiguousarray(stored)
    if q.dtype != np.dtype(_STORE[t]):
        refuse("stored has dtype %s; %s rows are %s" % (q.dtype, _array.DTYPE_NAMES[t], np.dtype(_STORE[t])))
    rows = q.reshape(-1, q.shape[-1])
    sc = np.ones(rows.shape[0], np.float32) if scale is None else np.ascontiguousarray(scale, np.float32).reshape(-1)
    if sc.size != rows.shape[0]:
        refuse("scale has %d values for %d rows" % (sc.size, rows.shape[0]))
    out = np.empty(rows.shape, np.float32)
    for r in range(rows.shape[0]):
        _load_row(_array.ptr(out[r]), rows[r].ctypes.data, float(sc[r]), t, rows.shape[1])
    return out.reshape(q.shape)
