"""Exact attention: the float64 reference and the tiled flash kernel (include/longctx/attention.h,
docs/attention.md)."""
import ctypes

import numpy as np

from . import _array
from ._lib import call, fn, refuse
from ._structs import CAttention, CVarlen, POINTER, c_int, c_int64, c_size_t, c_void_p
from .core import isa_code
from .mask import as_mask

_check = fn("lc_attention_check", c_int, [POINTER(CAttention)])
_naive = fn("lc_attention_naive", c_int, [POINTER(CAttention), c_size_t])
_ws = fn("lc_attention_flash_workspace_size", c_size_t, [POINTER(CAttention)])
_flash = fn("lc_attention_flash", c_int, [POINTER(CAttention), c_void_p, c_size_t])
_flash_alloc = fn("lc_attention_flash_alloc", c_int, [POINTER(CAttention)])
_pairs = fn("lc_attention_active_pairs", c_int64, [POINTER(CAttention)])


def _offsets(x, name):
    """A 1-D integer array of sequence offsets as int32 (what lc_varlen holds)."""
    a = np.asarray(x)
    if a.ndim != 1 or a.size < 2:
        refuse("%s must be a 1-D array of at least 2 offsets (count + 1), has shape %s" % (name, a.shape))
    if not np.issubdtype(a.dtype, np.integer):
        refuse("%s has dtype %s; offsets are integers" % (name, a.dtype))
    if a.min() < -2**31 or a.max() >= 2**31:
        refuse("%s holds offsets outside int32" % name)
    return np.ascontiguousarray(a, dtype=np.int32)


def _varlen(cu_seqlens_q, cu_seqlens_k):
    """An lc_varlen over the offsets (int32 copies, returned to be kept alive for the call)."""
    c = CVarlen()
    if cu_seqlens_q is None and cu_seqlens_k is None:
        return c, None
    if cu_seqlens_q is None or cu_seqlens_k is None:
        refuse("cu_seqlens_q and cu_seqlens_k go together: give both or neither")
    qs, ks = _offsets(cu_seqlens_q, "cu_seqlens_q"), _offsets(cu_seqlens_k, "cu_seqlens_k")
    if qs.size != ks.size:
        refuse("cu_seqlens_q has %d entries and cu_seqlens_k %d: both are count + 1" % (qs.size, ks.size))
    c.count = qs.size - 1
    c.q_starts, c.kv_starts = qs.ctypes.data, ks.ctypes.data
    c.max_q, c.max_kv = int(np.diff(qs).max()), int(np.diff(ks).max())
    return c, (qs, ks)


def _describe(q, k, v, mask, causal, scale, softcap, out, lse, dtype, threads, isa, cu_seqlens_q=None, cu_seqlens_k=None):
    """Fills an lc_attention over the arrays; returns (struct, out, lse, keep-alive, squeeze)."""
    q, sq = _array.as_4d(q, "q")
    k, sk = _array.as_4d(k, "k")
    v, sv = _array.as_4d(v, "v")
    if not (sq == sk == sv):
        refuse("q, k and v must all be 4-D [batch, seq, heads, dim] or all 3-D [seq, heads, dim]")
    cq = _array.array_dtype(q, "q", dtype)
    ck = _array.array_dtype(k, "k", dtype)
    cv = _array.array_dtype(v, "v", dtype)
    if out is None:
        out4 = np.empty(q.shape[:3] + v.shape[3:], dtype=q.dtype)
        out = out4[0] if sq else out4
    else:
        out = _array.as_array(out, "out")
        out4 = out[None] if sq and out.ndim == 3 else out
    co = _array.array_dtype(out4, "out", dtype)
    m = as_mask(mask, causal)
    a = CAttention()
    a.q = _array.tensor(q, "q", cq)
    a.k = _array.tensor(k, "k", ck)
    a.v = _array.tensor(v, "v", cv)
    a.out = _array.tensor(out4, "out", co, writable=True)
    lse_shape = (q.shape[0], q.shape[2], q.shape[1])
    lse_arr = lse4 = None
    if lse is True:
        lse4 = np.empty(lse_shape, dtype=np.float32)
        lse_arr = lse4[0] if sq else lse4
    elif lse is not None and lse is not False:
        lse_arr, _ = _array.f32(lse, "lse", shape=lse_shape[1:] if sq else lse_shape, writable=True)
        lse4 = lse_arr[None] if sq else lse_arr
    if lse4 is not None:
        a.lse = lse4.ctypes.data_as(POINTER(ctypes.c_float))
    a.scale = float(scale)
    a.softcap = float(softcap)
    a.mask = m._c(k.shape[1])
    a.varlen, offsets = _varlen(cu_seqlens_q, cu_seqlens_k)
    a.threads = int(threads)
    a.isa = isa_code(isa)
    return a, out, lse_arr, (q, k, v, out4, lse_arr, m, offsets), sq


def attention(q, k, v, mask=None, *, causal=False, scale=0.0, softcap=0.0, method="flash", out=None, lse=True,
              dtype=None, threads=0, isa="auto", workspace=None, max_score_bytes=0, cu_seqlens_q=None,
              cu_seqlens_k=None):
    """Exact softmax attention: returns (out, lse).

        s_ij  = scale * q_i . k_j            (scale 0: 1/sqrt(d_k)); softcap c > 0: c tanh(s_ij / c)
        out_i = sum_j softmax_j(s_ij) v_j    over the keys j the mask allows
        lse_i = log sum_j exp(s_ij)          natural log; a row with no visible key: out 0, lse -inf

    q    [batch, n_q, heads_q, d_k]       k [batch, n_kv, heads_kv, d_k]      v [batch, n_kv, heads_kv, d_v]
         (or all three 3-D, [seq, heads, dim], for batch 1). heads_kv divides heads_q: query
         head h reads KV head h // (heads_q // heads_kv) (GQA; MQA with heads_kv = 1).
         Any strides: q.transpose(0, 2, 1, 3) of a [batch, heads, seq, dim] buffer is read in
         place. dtypes float32, float16, bfloat16 (ml_dtypes.bfloat16, or uint16 bit patterns
         with dtype="bf16"), any mix.
    mask     a longctx.Mask (default: full; causal=True is shorthand for Mask(causal=True)).
             Query row i sits at position mask.q_offset + i.
    out      optional [batch, n_q, heads_q, d_v] array to write (any float dtype and strides);
             default: a new array of q's dtype.
    lse      True: a new float32 [batch, heads_q, n_q] array (3-D inputs: [heads_q, n_q]);
             an array to write; or False/None (not computed; None is returned).
    method   "flash" (tiled online softmax, f32 accumulation, memory bounded by its tiles) or
             "naive" (the float64 reference, n_q x n_kv scores per head; refused with
             OutOfMemory when they would exceed max_score_bytes > 0).
    threads  0: $LONGCTX_THREADS or all cores.   isa: "auto", "portable", "avx2", "avx512".
    workspace  flash only: a uint8 array of at least attention_workspace_size(...) bytes to
             reuse across calls (default: the call allocates its own).
    cu_seqlens_q, cu_seqlens_k   packed variable-length batches (FlashAttention's varlen): 1-D
             integer arrays of count + 1 offsets, [0, ..., n_q] and [0, ..., n_kv]. Sequence s
             owns query rows cu_seqlens_q[s] .. cu_seqlens_q[s+1] - 1 and key rows likewise;
             q, k, v are [n, heads, dim] (or batch 1). Each sequence attends to its own keys
             only, its m queries being its last positions (query i of m over n keys sits at
             n - m + i; mask.q_offset must be 0); m > n only with the full mask. Masks:
             causal, window, sinks, stride (global tokens and bitmaps are refused). lse stays
             [heads_q, n_q].
    """
    a, out, lse_arr, keep, squeeze = _describe(q, k, v, mask, causal, scale, softcap, out, lse, dtype, threads, isa,
                                               cu_seqlens_q, cu_seqlens_k)
    if method == "flash":
        if workspace is None:
            call(_flash_alloc, ctypes.byref(a))
        else:
            ws = _array.as_array(workspace, "workspace")
            if not ws.flags.c_contiguous or not ws.flags.writeable:
                refuse("workspace must be a writable C-contiguous array")
            call(_flash, ctypes.byref(a), ws.ctypes.data, ws.nbytes)
    elif method == "naive":
        call(_naive, ctypes.byref(a), int(max_score_bytes))
    else:
        refuse("method '%s' is not 'flash' or 'naive'" % method)
    del keep, squeeze
    return out, lse_arr


def attention_check(q, k, v, mask=None, *, causal=False, scale=0.0, softcap=0.0, out=None, dtype=None, threads=0,
                    isa="auto", cu_seqlens_q=None, cu_seqlens_k=None):
    """Validates a call without running it (lc_attention_check); raises naming the first
    wrong field ("k.shape[2]=8 must divide q heads=12")."""
    a, _, _, keep, _ = _describe(q, k, v, mask, causal, scale, softcap, out, False, dtype, threads, isa, cu_seqlens_q,
                                 cu_seqlens_k)
    call(_check, ctypes.byref(a))
    del keep


def attention_workspace_size(q, k, v, mask=None, *, causal=False, dtype=None, threads=0, isa="auto", cu_seqlens_q=None,
                             cu_seqlens_k=None):
    """Bytes of workspace the flash kernel needs for this call (bounded by its tiles and the
    thread count, not by the sequence length; a packed call adds 8 bytes a sequence)."""
    a, _, _, keep, _ = _describe(q, k, v, mask, causal, 0.0, 0.0, None, False, dtype, threads, isa, cu_seqlens_q,
                                 cu_seqlens_k)
    call(_check, ctypes.byref(a))
    n = int(_ws(ctypes.byref(a)))
    del keep
    return n


def attention_pairs(q, k, v, mask=None, *, causal=False, dtype=None, cu_seqlens_q=None, cu_seqlens_k=None):
    """(query, key) pairs the mask allows, summed over batch (or packed sequences) and heads
    (for FLOP counts: 4 * d * pairs for d_k = d_v = d)."""
    a, _, _, keep, _ = _describe(q, k, v, mask, causal, 0.0, 0.0, None, False, dtype, 0, "auto", cu_seqlens_q,
                                 cu_seqlens_k)
    call(_check, ctypes.byref(a))
    n = int(_pairs(ctypes.byref(a)))
    del keep
    return n
