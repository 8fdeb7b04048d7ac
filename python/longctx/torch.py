"""longctx on PyTorch CUDA tensors: the library's GPU flash attention and decode as PyTorch
custom operators (include/longctx/cuda.h, docs/cuda.md; forward only).

    import torch, longctx.torch as lct
    out = lct.flash_attention(q, k, v, causal=True, window=4096, sinks=4)   # [B, S, H, D] bf16 / f16
    out = lct.decode(q1, k_cache, v_cache, lens=lens)                      # over a KV cache on the GPU

The operators are torch.ops.longctx.flash_attention and torch.ops.longctx.decode: they run
on the current stream (torch.cuda.current_stream()), take their workspace from PyTorch's
allocator, and have fake (meta) implementations, so torch.compile(fullgraph=True) traces
them as single graph nodes. Calls that the kernels cannot take are refused with the
library's sentence, as a longctx.Error subclass (Unsupported, InvalidArgument, ...).

Needs PyTorch 2.4 or newer and liblongctx_cuda (a liblongctx built with
cmake -DLONGCTX_CUDA=ON); importing this module raises ImportError, saying which is
missing, otherwise. The rest of longctx does not need either."""
import ctypes
import typing

try:
    import torch
except ImportError as _e:
    raise ImportError("longctx.torch needs PyTorch (import torch failed: %s); the rest of longctx works "
                      "without it" % _e) from None
if not hasattr(torch, "library") or not hasattr(torch.library, "custom_op"):
    raise ImportError("longctx.torch needs PyTorch 2.4 or newer (torch.library.custom_op); this is PyTorch %s"
                      % torch.__version__)

from . import _array, _cuda  # noqa: E402  (_cuda raises ImportError without liblongctx_cuda)
from ._lib import call, refuse  # noqa: E402
from ._structs import CAttention, CCudaDecode, CKvConfig, Tensor as _CTensor  # noqa: E402
from .mask import Mask  # noqa: E402

Tensor = torch.Tensor
_DTYPES = {torch.float32: _array.F32, torch.float16: _array.F16, torch.bfloat16: _array.BF16}
_KV_CONTIGUOUS, _KV_PAGED = 0, 1

__all__ = ["flash_attention", "flash_attention_workspace_size", "decode", "decode_workspace_size"]


# ---- descriptors over tensors ------------------------------------------------------------------

def _dtype(t, name):
    code = _DTYPES.get(t.dtype)
    if code is None:
        refuse("%s has dtype %s; the CUDA kernels take torch.bfloat16 or torch.float16" % (name, t.dtype))
    return code


def _on_gpu(device, *named):
    for name, t in named:
        if t is not None and t.device != device:
            refuse("%s is on %s, not %s: longctx.torch runs the CUDA kernels on the tensors' GPU (longctx.attention "
                   "takes NumPy arrays on the CPU)" % (name, t.device, device))


def _four_dims(**named):
    for name, t in named.items():
        if not isinstance(t, torch.Tensor):
            refuse("%s must be a torch.Tensor, not %s" % (name, type(t).__name__))
        if t.dim() != 4:
            refuse("%s must be 4-D [batch, seq, heads, dim], has shape %s" % (name, list(t.shape)))


def _view(t, name):
    """An lc_tensor viewing a 4-D [batch, seq, heads, dim] tensor where it lies: data_ptr and
    strides in elements (a size-1 axis gets stride 0, which is what it is: never stepped)."""
    if t.dim() != 4:
        refuse("%s must be 4-D [batch, seq, heads, dim], has shape %s" % (name, list(t.shape)))
    c = _CTensor()
    c.data = t.data_ptr()
    c.dtype = _dtype(t, name)
    span = 0
    for a, (n, s) in enumerate(zip(t.shape, t.stride())):
        s = s if n > 1 or a == 3 else 0
        c.shape[a], c.stride[a] = n, s
        span += (n - 1) * s if n > 0 else 0
    c.capacity = span + 1
    return c


def _mask(causal, window, left, right, sinks, q_offset):
    m = Mask(causal=causal, window=(left, right) if window else None, sinks=sinks, q_offset=q_offset)
    return m._c()


def _window(window):
    """(enabled, left, right) of the public `window` argument: None, an int W (the last W keys
    including the query's own) or a pair (left, right), None or -1 for unbounded."""
    if window is None:
        return False, -1, -1
    if isinstance(window, (tuple, list)):
        if len(window) != 2:
            refuse("window must be an int or a pair (left, right), not %r" % (window,))
        left, right = (-1 if w is None else int(w) for w in window)
        return True, left, right
    w = int(window)
    if w <= 0:
        refuse("window=%d must be a positive number of keys (or a pair (left, right))" % w)
    return True, w - 1, 0


def _stream(device):
    return ctypes.c_void_p(torch.cuda.current_stream(device).cuda_stream)


def _flash_descriptor(q, k, v, out, lse, causal, window, left, right, sinks, q_offset, scale, softcap):
    if not q.is_cuda:
        refuse("q is on %s: longctx.torch runs the CUDA kernels (longctx.attention takes NumPy arrays on the CPU)"
               % q.device)
    _on_gpu(q.device, ("k", k), ("v", v))
    a = CAttention()
    a.q, a.k, a.v = _view(q, "q"), _view(k, "k"), _view(v, "v")
    if out is not None:
        a.out = _view(out, "out")
        a.lse = ctypes.cast(lse.data_ptr(), type(a.lse))
    else:  # sizing and checking only: out is described where it will lie, as q's shape with v's dim
        o = _CTensor()
        o.data, o.dtype = 16, a.q.dtype
        B, S, H, Dv = q.shape[0], q.shape[1], q.shape[2], v.shape[3]
        o.shape[:] = [B, S, H, Dv]
        o.stride[:] = [S * H * Dv, H * Dv, Dv, 1]
        o.capacity = B * S * H * Dv
        a.out = o
    a.scale, a.softcap = float(scale), float(softcap)
    a.mask = _mask(causal, window, left, right, sinks, q_offset)
    return a


# ---- flash attention ---------------------------------------------------------------------------

@torch.library.custom_op("longctx::flash_attention", mutates_args=())
def _flash_op(q: Tensor, k: Tensor, v: Tensor, causal: bool, window: bool, left: int, right: int, sinks: int,
              q_offset: int, scale: float, softcap: float, out_f32: bool, path: int) -> typing.Tuple[Tensor, Tensor]:
    _four_dims(q=q, k=k, v=v)
    B, S, H = q.shape[0], q.shape[1], q.shape[2]
    out = torch.empty((B, S, H, v.shape[3]), dtype=torch.float32 if out_f32 else q.dtype, device=q.device)
    lse = torch.empty((B, H, S), dtype=torch.float32, device=q.device)
    a = _flash_descriptor(q, k, v, out, lse, causal, window, left, right, sinks, q_offset, scale, softcap)
    with torch.cuda.device(q.device):
        call(_cuda.attention_check, ctypes.byref(a))
        ws_bytes = int(_cuda.attention_workspace_size(ctypes.byref(a)))
        ws = torch.empty(ws_bytes, dtype=torch.uint8, device=q.device) if ws_bytes else None
        call(_cuda.attention_flash_path, ctypes.byref(a), path, ws.data_ptr() if ws is not None else None, ws_bytes,
             _stream(q.device))
    return out, lse


@_flash_op.register_fake
def _flash_fake(q, k, v, causal, window, left, right, sinks, q_offset, scale, softcap, out_f32, path):
    B, S, H = q.shape[0], q.shape[1], q.shape[2]
    out = q.new_empty((B, S, H, v.shape[3]), dtype=torch.float32 if out_f32 else q.dtype)
    return out, q.new_empty((B, H, S), dtype=torch.float32)


def flash_attention(q, k, v, *, causal=False, window=None, sinks=0, softcap=0.0, scale=None, q_offset=0,
                    out_dtype=None, return_lse=False, path="auto"):
    """Exact softmax attention on the GPU (FlashAttention-2 on mma.sync; on a Hopper GPU the
    FlashAttention-3 form on wgmma + TMA): returns out, or (out, lse) with return_lse=True.

        s_ij  = scale * q_i . k_j           (scale None or 0: 1/sqrt(d_k)); softcap c > 0: c tanh(s_ij / c)
        out_i = sum_j softmax_j(s_ij) v_j   over the keys j the mask allows
        lse_i = log sum_j exp(s_ij)         natural log; a row that sees no key: out 0, lse -inf

    q  [batch, n_q, heads_q, d_k]     k [batch, n_kv, heads_kv, d_k]     v [batch, n_kv, heads_kv, d_v]
       CUDA tensors of one dtype, torch.bfloat16 or torch.float16, on one GPU. heads_kv divides
       heads_q (GQA; MQA with heads_kv = 1). (d_k, d_v) in (64, 64), (128, 128), (256, 256),
       (192, 128). Read in place through their strides: the dim stride must be 1, the others
       multiples of 8 elements, data 16-byte aligned ([batch, heads, seq, dim] storage's
       .transpose(1, 2) qualifies); anything else is refused (Unsupported) with the library's
       sentence.
    causal   key j visible to query row i only when j <= q_offset + i (top-left aligned as
             scaled_dot_product_attention's is_causal when q_offset = 0; q_offset = n_kv - n_q
             puts the queries at the end of the keys).
    window   None; an int W, the last W keys including the query's own (Mistral, with causal);
             or a pair (left, right), keys p-left .. p+right, None or -1 unbounded.
    sinks    the first `sinks` keys are also visible (StreamingLLM; window and sinks are united,
             then intersected with causality, as longctx.Mask).
    softcap  0: off; c > 0: Gemma 2's soft-capping of the scores.
    out_dtype  None: q's dtype; torch.float32 for f32 output.
    return_lse also return lse, float32 [batch, heads_q, n_q].
    path     "auto" (the Hopper kernel where it covers the call), "mma" (the portable kernel)
             or "sm90" (the Hopper kernel, refused where it does not apply).

    out is a new contiguous [batch, n_q, heads_q, d_v] tensor, computed on the current stream.
    The operator is torch.ops.longctx.flash_attention (traceable by torch.compile)."""
    _four_dims(q=q, k=k, v=v)
    en, left, right = _window(window)
    if out_dtype is not None and out_dtype not in (torch.float32, q.dtype):
        refuse("out_dtype=%s: the output is q's dtype (%s) or torch.float32" % (out_dtype, q.dtype))
    if path not in _cuda.PATHS:
        refuse("path=%r is not one of %s" % (path, ", ".join(_cuda.PATHS)))
    out, lse = _flash_op(q, k, v, bool(causal), en, left, right, int(sinks), int(q_offset),
                         float(scale or 0.0), float(softcap), out_dtype == torch.float32 and q.dtype != torch.float32,
                         _cuda.PATHS.index(path))
    return (out, lse) if return_lse else out


def flash_attention_workspace_size(q, k, v, *, causal=False, window=None, sinks=0, q_offset=0):
    """Device bytes of workspace flash_attention takes from PyTorch's allocator for this call
    (lc_cuda_attention_workspace_size); checks the call as the kernels would."""
    _four_dims(q=q, k=k, v=v)
    en, left, right = _window(window)
    a = _flash_descriptor(q, k, v, None, None, causal, en, left, right, int(sinks), int(q_offset), 0.0, 0.0)
    with torch.cuda.device(q.device):
        call(_cuda.attention_check, ctypes.byref(a))
        return int(_cuda.attention_workspace_size(ctypes.byref(a)))


# ---- decode ---------------------------------------------------------------------------------------

def _decode_descriptor(q, k, v, k_scale, v_scale, block_table, lens, max_len, out, lse, causal, window, left, right,
                       sinks, scale, softcap, splits, out_f32):
    if not q.is_cuda:
        refuse("q is on %s: longctx.torch runs the CUDA kernels (longctx.decode takes a longctx.KVCache on the CPU)"
               % q.device)
    _on_gpu(q.device, ("k_cache", k), ("v_cache", v), ("k_scale", k_scale), ("v_scale", v_scale),
            ("block_table", block_table), ("lens", lens))
    if q.dim() != 4:
        refuse("q must be 4-D [batch, n_q, heads_q, head_dim], has shape %s" % list(q.shape))
    for name, t in (("k_cache", k), ("v_cache", v)):
        if t.dim() != 4:
            refuse("%s must be 4-D ([max_seqs, capacity, heads_kv, head_dim], or [num_blocks, block_size, heads_kv, "
                   "head_dim] with a block_table), has shape %s" % (name, list(t.shape)))
        if not t.is_contiguous():
            refuse("%s must be contiguous: lc_cuda_decode reads cache rows without strides (a copy per step would "
                   "cost more than the decode)" % name)
    if k.shape != v.shape or k.dtype != v.dtype:
        refuse("k_cache %s %s and v_cache %s %s must have one shape and dtype"
               % (list(k.shape), k.dtype, list(v.shape), v.dtype))
    int8 = k.dtype == torch.int8
    if not int8:
        _dtype(k, "k_cache")
    d = CCudaDecode()
    c = CKvConfig()
    c.layout = _KV_PAGED if block_table is not None else _KV_CONTIGUOUS
    c.dtype = _array.INT8 if int8 else _DTYPES[k.dtype]
    c.heads_kv, c.head_dim = k.shape[2], k.shape[3]
    batch = q.shape[0]
    if block_table is not None:
        if block_table.dim() != 2 or block_table.dtype != torch.int32 or not block_table.is_contiguous():
            refuse("block_table must be a contiguous torch.int32 [batch, max_blocks] tensor, is %s %s"
                   % (block_table.dtype, list(block_table.shape)))
        if block_table.shape[0] != batch:
            refuse("block_table.shape[0]=%d must be q's batch %d" % (block_table.shape[0], batch))
        c.num_blocks, c.block_size, c.max_seqs = k.shape[0], k.shape[1], batch
        c.capacity = block_table.shape[1] * k.shape[1]
        d.block_table = block_table.data_ptr()
    else:
        c.max_seqs, c.capacity = k.shape[0], k.shape[1]
    d.cache = c
    d.k, d.v = k.data_ptr(), v.data_ptr()
    if int8:
        for name, s in (("k_scale", k_scale), ("v_scale", v_scale)):
            if s is None or s.dtype != torch.float32 or tuple(s.shape) != tuple(k.shape[:3]) or not s.is_contiguous():
                refuse("an int8 cache needs %s, a contiguous torch.float32 tensor of shape %s (one scale per token and "
                       "kv head)" % (name, list(k.shape[:3])))
        d.k_scale, d.v_scale = k_scale.data_ptr(), v_scale.data_ptr()
    elif k_scale is not None or v_scale is not None:
        refuse("k_scale and v_scale belong to an int8 cache; this one is %s" % k.dtype)
    if lens is not None:
        if lens.dtype != torch.int32 or tuple(lens.shape) != (batch,) or not lens.is_contiguous():
            refuse("lens must be a contiguous torch.int32 [batch=%d] tensor, is %s %s" % (batch, lens.dtype,
                                                                                        list(lens.shape)))
        d.lens = lens.data_ptr()
    d.batch = batch
    d.max_len = int(max_len)
    d.q = q.data_ptr()
    d.q_dtype = _dtype(q, "q")
    d.n_q, d.heads_q = q.shape[1], q.shape[2]
    if q.shape[3] != k.shape[3]:
        refuse("q.shape[3]=%d must be the cache's head_dim %d" % (q.shape[3], k.shape[3]))
    if out is not None:
        d.out, d.lse = out.data_ptr(), lse.data_ptr()
    else:  # sizing and checking only
        d.out = 16
    d.out_dtype = _array.F32 if out_f32 else d.q_dtype
    d.scale, d.softcap = float(scale), float(softcap)
    d.mask = _mask(causal, window, left, right, sinks, 0)
    d.splits = int(splits)
    return d


@torch.library.custom_op("longctx::decode", mutates_args=())
def _decode_op(q: Tensor, k: Tensor, v: Tensor, k_scale: typing.Optional[Tensor], v_scale: typing.Optional[Tensor],
               block_table: typing.Optional[Tensor], lens: typing.Optional[Tensor], max_len: int, causal: bool,
               window: bool, left: int, right: int, sinks: int, scale: float, softcap: float, out_f32: bool,
               splits: int) -> typing.Tuple[Tensor, Tensor]:
    _four_dims(q=q, k_cache=k, v_cache=v)
    q = q.contiguous()  # a few tokens: the one copy the pointer descriptor needs, when it needs one
    B, n_q, H = q.shape[0], q.shape[1], q.shape[2]
    out = torch.empty((B, n_q, H, q.shape[3]), dtype=torch.float32 if out_f32 else q.dtype, device=q.device)
    lse = torch.empty((B, H, n_q), dtype=torch.float32, device=q.device)
    d = _decode_descriptor(q, k, v, k_scale, v_scale, block_table, lens, max_len, out, lse, causal, window, left, right,
                           sinks, scale, softcap, splits, out_f32)
    with torch.cuda.device(q.device):
        call(_cuda.decode_check, ctypes.byref(d))
        ws_bytes = int(_cuda.decode_workspace_size(ctypes.byref(d)))
        ws = torch.empty(ws_bytes, dtype=torch.uint8, device=q.device)
        call(_cuda.decode_attention, ctypes.byref(d), ws.data_ptr(), ws_bytes, _stream(q.device))
    return out, lse


@_decode_op.register_fake
def _decode_fake(q, k, v, k_scale, v_scale, block_table, lens, max_len, causal, window, left, right, sinks, scale,
                 softcap, out_f32, splits):
    B, n_q, H = q.shape[0], q.shape[1], q.shape[2]
    out = q.new_empty((B, n_q, H, q.shape[3]), dtype=torch.float32 if out_f32 else q.dtype)
    return out, q.new_empty((B, H, n_q), dtype=torch.float32)


def _capacity(k_cache, block_table):
    return k_cache.shape[1] * (block_table.shape[1] if block_table is not None else 1)


def decode(q, k_cache, v_cache, *, lens=None, max_len=None, block_table=None, k_scale=None, v_scale=None, causal=True,
           window=None, sinks=0, softcap=0.0, scale=None, out_dtype=None, return_lse=False, splits=0):
    """Flash-decoding (Dao, Haziza, Massa, Sizov 2023) of a few new tokens per sequence against
    a KV cache in GPU memory: returns out, or (out, lse) with return_lse=True.

    q        [batch, n_q, heads_q, head_dim] torch.bfloat16 or torch.float16 CUDA tensor: the
             last n_q positions of each sequence ((heads_q / heads_kv) * n_q <= 16); made
             contiguous if it is not.
    k_cache, v_cache  contiguous CUDA tensors in the cache's storage type: q's dtype, or
             torch.int8 with k_scale, v_scale (float32, one per token and kv head: the cache's
             first three dims; value = int8 * scale). Two layouts, as lc_cuda_decode reads them:
               contiguous: [max_seqs, capacity, heads_kv, head_dim], sequence b in row b
                 (a [batch, n_kv, heads_kv, head_dim] tensor is one);
               paged (block_table given): a pool [num_blocks, block_size, heads_kv, head_dim];
                 token j of sequence b is in block block_table[b, j // block_size] at row
                 j % block_size (vLLM's PagedAttention); block_table torch.int32
                 [batch, max_blocks], capacity = max_blocks * block_size. The ids are not
                 checked on the GPU: they must lie below num_blocks.
             head_dim 64, 128 or 256.
    lens     torch.int32 [batch] on the GPU: tokens in each sequence (n_q <= lens[b]; values
             past max_len are clamped); None: max_len each.
    max_len  the longest sequence, a host int (it sizes the split of the keys); default the
             capacity. Pass it when lens is given and known on the host: a tighter bound is
             a better split.
    causal, window, sinks, softcap, scale  as flash_attention (the queries sit at
             lens[b] - n_q .. lens[b] - 1). causal defaults to True here.
    out_dtype None: q's dtype; torch.float32 for f32 output.   splits: key chunks per
             sequence (0: as many as fill the GPU once).

    out is [batch, n_q, heads_q, head_dim]; lse float32 [batch, heads_q, n_q]. The operator is
    torch.ops.longctx.decode (traceable by torch.compile)."""
    _four_dims(q=q, k_cache=k_cache, v_cache=v_cache)
    en, left, right = _window(window)
    if out_dtype is not None and out_dtype not in (torch.float32, q.dtype):
        refuse("out_dtype=%s: the output is q's dtype (%s) or torch.float32" % (out_dtype, q.dtype))
    if max_len is None:
        max_len = _capacity(k_cache, block_table)
    out, lse = _decode_op(q, k_cache, v_cache, k_scale, v_scale, block_table, lens, int(max_len), bool(causal), en, left,
                          right, int(sinks), float(scale or 0.0), float(softcap),
                          out_dtype == torch.float32 and q.dtype != torch.float32, int(splits))
    return (out, lse) if return_lse else out


def decode_workspace_size(q, k_cache, v_cache, *, lens=None, max_len=None, block_table=None, k_scale=None,
                          v_scale=None, causal=True, window=None, sinks=0, splits=0):
    """Device bytes of workspace decode takes from PyTorch's allocator for this call (the key
    chunks' partial results, lc_cuda_decode_workspace_size); checks the call as the kernel would."""
    _four_dims(q=q, k_cache=k_cache, v_cache=v_cache)
    en, left, right = _window(window)
    if max_len is None:
        max_len = _capacity(k_cache, block_table)
    d = _decode_descriptor(q, k_cache, v_cache, k_scale, v_scale, block_table, lens, int(max_len), None, None,
                           bool(causal), en, left, right, int(sinks), 0.0, 0.0, int(splits), False)
    with torch.cuda.device(q.device):
        call(_cuda.decode_check, ctypes.byref(d))
        return int(_cuda.decode_workspace_size(ctypes.byref(d)))
