"""Multi-head latent attention (DeepSeek-V2): the latent cache, prefill and absorbed decode
(include/longctx/mla.h, docs/mla.md)."""
import ctypes

import numpy as np

from . import _array
from ._lib import Handle, InvalidState, call, fn, refuse
from ._structs import CMla, CMlaAttention, P_f32, POINTER, c_int, c_int64, c_size_t, c_void_p

_check = fn("lc_mla_check", c_int, [POINTER(CMla)])
_footprint = fn("lc_mla_cache_footprint", c_size_t, [POINTER(CMla), c_int64])
_create = fn("lc_mla_cache_create", c_int, [POINTER(CMla), c_int64, POINTER(c_void_p)])
_destroy = fn("lc_mla_cache_destroy", None, [c_void_p])
_len = fn("lc_mla_cache_len", c_int64, [c_void_p])
_rows = fn("lc_mla_cache_rows", c_int64, [c_void_p])
_reset = fn("lc_mla_cache_reset", None, [c_void_p])
_copy = fn("lc_mla_cache_copy", c_int, [c_void_p, c_void_p])
_bytes = fn("lc_mla_cache_bytes", c_size_t, [c_void_p])
_append = fn("lc_mla_cache_append", c_int, [c_void_p, c_int64, P_f32, P_f32, c_int64])

_att_check = fn("lc_mla_attention_check", c_int, [POINTER(CMlaAttention)])
_prefill = fn("lc_mla_prefill", c_int, [POINTER(CMlaAttention)])
_dec_ws = fn("lc_mla_decode_workspace_size", c_size_t, [POINTER(CMlaAttention)])
_decode = fn("lc_mla_decode", c_int, [POINTER(CMlaAttention), c_void_p, c_size_t])
_decode_alloc = fn("lc_mla_decode_alloc", c_int, [POINTER(CMlaAttention)])


class MLA:
    """One MLA layer's attention (lc_mla). Per head h, with the cached latent c_j [rank] and the
    shared rotary key k_rope_j [rope]:

        k_j^h = [W_UK[h] c_j ; k_rope_j],  v_j^h = W_UV[h] c_j,  q^h = [q_nope^h ; q_rope^h]
        out^h = sum_j softmax_j(scale q^h . k_j^h) v_j^h       (scale 0: 1/sqrt(nope + rope))

      w_uk  float32 [heads, nope, rank]     w_uv float32 [heads, v_dim, rank]
      rope  qk_rope_head_dim (the rotary part of q and k; 0 for none)
      dtype latent cache storage: "f32", "f16", "bf16", "int8" or "fp8" (one scale per token
            for c_kv and one for k_rope)
      fast_prefill  f32 k, v and the flash kernel instead of float64 tiles
      fast_decode   f32 tiles over all heads, split-key across threads, instead of float64 rows
      window, sinks each query sees the last `window` positions (0: all) and the first `sinks`;
                    the cache drops the latents no later query sees (StreamingLLM)
      block_size    > 0: caches hold their rows in blocks allocated as rows come (paged)

    mla.cache(capacity) makes its latent cache; prefill(cache, q_nope, q_rope) and
    decode(cache, q_nope, q_rope) compute the same attention (decode through the absorbed
    weights, reading only the latents)."""

    def __init__(self, w_uk, w_uv, *, rope, scale=0.0, dtype="f32", fast_prefill=False, fast_decode=False,
                 threads=0, window=0, sinks=0, block_size=0):
        self.w_uk, _ = _array.f32(w_uk, "w_uk", shape=(None, None, None))
        self.heads, self.nope, self.rank = self.w_uk.shape
        self.w_uv, _ = _array.f32(w_uv, "w_uv", shape=(self.heads, None, self.rank))
        self.v_dim = self.w_uv.shape[1]
        self.rope = int(rope)
        self.scale, self.threads = float(scale), int(threads)
        self.dtype = _array.DTYPE_NAMES[_array.dtype_code(dtype)]
        self.fast_prefill, self.fast_decode = bool(fast_prefill), bool(fast_decode)
        self.window, self.sinks, self.block_size = int(window), int(sinks), int(block_size)
        call(_check, ctypes.byref(self._c()))

    def _c(self):
        m = CMla()
        m.heads, m.rank, m.nope, m.rope, m.v_dim = self.heads, self.rank, self.nope, self.rope, self.v_dim
        m.w_uk = _array.ptr(self.w_uk) if self.w_uk.size else None
        m.w_uv = _array.ptr(self.w_uv)
        m.scale, m.threads, m.dtype = self.scale, self.threads, _array.dtype_code(self.dtype)
        m.fast_prefill, m.fast_decode = int(self.fast_prefill), int(self.fast_decode)
        m.window, m.sinks, m.block_size = self.window, self.sinks, self.block_size
        return m

    def cache(self, capacity):
        """A latent cache for `capacity` tokens (MLACache)."""
        return MLACache(self, capacity)

    def footprint(self, capacity):
        """Exact bytes of a cache for `capacity` tokens: capacity (rank + rope) bytes per value + header."""
        return int(_footprint(ctypes.byref(self._c()), int(capacity)))

    def _queries(self, cache, q_nope, q_rope, out):
        if not isinstance(cache, MLACache):
            refuse("cache must be a longctx.MLACache, not %s" % type(cache).__name__)
        qn = _array.as_array(q_nope, "q_nope") if q_nope is not None else None
        one = qn is not None and qn.ndim == 2
        qn, _ = _array.f32(qn[None] if one else qn, "q_nope", shape=(None, self.heads, self.nope),
                           optional=self.nope == 0)
        n_q = qn.shape[0] if qn is not None else None
        qr = _array.as_array(q_rope, "q_rope") if q_rope is not None else None
        if qr is not None and qr.ndim == 2:
            one, qr = True, qr[None]
        qr, _ = _array.f32(qr, "q_rope", shape=(n_q, self.heads, self.rope), optional=self.rope == 0)
        if n_q is None:
            n_q = qr.shape[0]
        if out is None:
            o = np.empty((n_q, self.heads, self.v_dim), np.float32)
            user = o[0] if one else o
        else:
            user = out
            o, _ = _array.f32(out[None] if one and np.ndim(out) == 2 else out, "out",
                              shape=(n_q, self.heads, self.v_dim), writable=True)
        return qn, qr, n_q, o, user

    def _desc(self, m, cache, qn, qr, n_q, o):
        a = CMlaAttention()
        a.mla = ctypes.pointer(m)
        a.cache = cache._handle()
        a.q_nope, a.q_rope, a.n_q, a.out = _array.ptr(qn), _array.ptr(qr), n_q, _array.ptr(o)
        return a

    def prefill(self, cache, q_nope, q_rope, out=None):
        """The queries of the last n_q cached positions, causal among themselves: q_nope
        float32 [n_q, heads, nope], q_rope [n_q, heads, rope] (already rotated) -> out float32
        [n_q, heads, v_dim]. k and v are up-projected tile by tile (lc_mla_prefill)."""
        qn, qr, n_q, o, user = self._queries(cache, q_nope, q_rope, out)
        m = self._c()
        call(_prefill, ctypes.byref(self._desc(m, cache, qn, qr, n_q, o)))
        return user

    def decode(self, cache, q_nope, q_rope, out=None, workspace=None):
        """The same attention through the absorbed weights (q_lat = W_UK^T q_nope, out =
        W_UV sum_j p_j c_j): reads only the latent cache (lc_mla_decode). Shapes as prefill;
        workspace: a uint8 array of decode_workspace_size(...) bytes to reuse (default:
        allocated)."""
        qn, qr, n_q, o, user = self._queries(cache, q_nope, q_rope, out)
        m = self._c()
        a = self._desc(m, cache, qn, qr, n_q, o)
        if workspace is None:
            call(_decode_alloc, ctypes.byref(a))
        else:
            ws = _ws(workspace)
            call(_decode, ctypes.byref(a), ws.ctypes.data, ws.nbytes)
        return user

    def check(self, cache, q_nope, q_rope):
        """Validates a call without running it (lc_mla_attention_check)."""
        qn, qr, n_q, o, _ = self._queries(cache, q_nope, q_rope, None)
        m = self._c()
        call(_att_check, ctypes.byref(self._desc(m, cache, qn, qr, n_q, o)))

    def decode_workspace_size(self, cache, q_nope, q_rope):
        """Bytes of workspace decode needs for these queries at the cache's current length."""
        qn, qr, n_q, o, _ = self._queries(cache, q_nope, q_rope, None)
        m = self._c()
        a = self._desc(m, cache, qn, qr, n_q, o)
        call(_att_check, ctypes.byref(a))
        return int(_dec_ws(ctypes.byref(a)))

    def __repr__(self):
        return "MLA(heads=%d, rank=%d, nope=%d, rope=%d, v_dim=%d, dtype=%r)" % (
            self.heads, self.rank, self.nope, self.rope, self.v_dim, self.dtype)


def _ws(workspace):
    ws = _array.as_array(workspace, "workspace")
    if not ws.flags.c_contiguous or not ws.flags.writeable:
        refuse("workspace must be a writable C-contiguous array")
    return ws


class MLACache(Handle):
    """The latent cache of one MLA layer: per token c_kv [rank] and k_rope [rope], stored in
    the layer's dtype. append(c_kv, k_rope) adds tokens; len(cache) is the length."""

    _what = "mla cache"
    _destroy = _destroy

    def __init__(self, mla, capacity):
        self._h = None
        self.mla = mla
        self.rank, self.rope, self.capacity = mla.rank, mla.rope, int(capacity)
        h = c_void_p()
        call(_create, ctypes.byref(mla._c()), self.capacity, ctypes.byref(h))
        self._h = h


    def __len__(self):
        return int(_len(self._handle()))

    @property
    def rows(self):
        """Latents held: the length, or under a window the sinks and what later queries may see."""
        return int(_rows(self._handle()))

    @property
    def nbytes(self):
        """Bytes the cache allocated (== MLA.footprint(capacity))."""
        return int(_bytes(self._handle()))

    def append(self, c_kv, k_rope=None, pos=None):
        """Appends n tokens: c_kv float32 [n, rank], k_rope float32 [n, rope] (already rotated),
        rounded to the cache's dtype, at position pos (default: the length). Returns the length."""
        ca, _ = _array.f32(c_kv, "c_kv", shape=(None, self.rank))
        kr, _ = _array.f32(k_rope, "k_rope", shape=(ca.shape[0], self.rope), optional=self.rope == 0)
        p = len(self) if pos is None else int(pos)
        call(_append, self._handle(), p, _array.ptr(ca), _array.ptr(kr), ca.shape[0])
        return len(self)

    def reset(self):
        """Empties the cache (a new sequence; the memory stays)."""
        _reset(self._handle())

    def copy_from(self, src):
        """Makes this cache hold src's tokens (a forked sequence): same rank, rope and dtype,
        this cache's capacity at least src's length."""
        if not isinstance(src, MLACache):
            refuse("src must be a longctx.MLACache, not %s" % type(src).__name__)
        call(_copy, self._handle(), src._handle())

    def __repr__(self):
        return "<MLACache rank=%d rope=%d, %d of %d tokens>" % (self.rank, self.rope, len(self), self.capacity)
