"""longctx.torch: the CUDA flash attention and decode operators against PyTorch's own
scaled_dot_product_attention in float64 (and, for soft-capping and the log-sum-exp, the
definition written out in float64), on random shapes, masks, dtypes and layouts; inside
torch.compile(fullgraph=True); refusals with the library's sentence.

The GPU tests skip, saying why, where PyTorch 2.4+, an NVIDIA GPU or liblongctx_cuda is
missing (CI); the import rule (all of it, or an ImportError sentence, with the rest of
the package untouched) is tested everywhere."""
import importlib
import math

import numpy as np
import pytest

import longctx


def _gpu():
    try:
        lct = importlib.import_module("longctx.torch")
    except ImportError as e:
        return None, str(e)
    import torch
    if not torch.cuda.is_available():
        return None, "PyTorch sees no CUDA device"
    return lct, ""


LCT, WHY = _gpu()
gpu = pytest.mark.skipif(LCT is None, reason="longctx.torch on a GPU: %s" % WHY)

# out: max |got - ref| / max |ref| (bf16 / f16 storage, f32 accumulation); lse: absolute.
# The GPU kernels' own tests (tests/cuda/, tests/cases/) hold them to the same bounds.
OUT_TOL, LSE_TOL = 1e-2, 1e-3


# ---- everywhere ------------------------------------------------------------------------------------

def test_import_is_whole_or_a_sentence():
    try:
        importlib.import_module("longctx.torch")
    except ImportError as e:
        msg = str(e)
        assert msg.startswith("longctx.torch needs") or "uses another liblongctx" in msg, msg
    q = np.ones((1, 4, 1, 8), np.float32)
    out, _ = longctx.attention(q, q, q)  # the package still works
    assert np.array_equal(out, q)


def test_cuda_library_refuses_with_the_sentence():
    """Where liblongctx_cuda was built (nvcc found), it loads beside liblongctx and its
    refusals carry their sentence into this package's exceptions, GPU or not."""
    try:
        cuda = importlib.import_module("longctx._cuda")
    except ImportError as e:
        assert "liblongctx_cuda" in str(e)
        pytest.skip(str(e))
    from longctx._lib import call
    from longctx._structs import CCudaDecode
    import ctypes
    d = CCudaDecode()  # all zero: the cache's config is the first thing wrong
    with pytest.raises(longctx.InvalidArgument, match="kv.heads_kv=0 and kv.head_dim=0 must be >= 1"):
        call(cuda.decode_check, ctypes.byref(d))
    assert cuda.decode_workspace_size(ctypes.byref(d)) == 0


# ---- the float64 reference ------------------------------------------------------------------

def visible(n_q, n_kv, causal, window, sinks, q_offset, device):
    """[n_q, n_kv] bool: may query row i (position q_offset + i) see key j, from docs/masks.md:
    the patterns (window, sinks) united, then intersected with causality."""
    import torch
    i = torch.arange(n_q, device=device)[:, None] + q_offset
    j = torch.arange(n_kv, device=device)[None, :]
    if window is None and not sinks:
        seen = torch.ones(n_q, n_kv, dtype=torch.bool, device=device)
    else:
        seen = torch.zeros(n_q, n_kv, dtype=torch.bool, device=device)
        if window is not None:
            left, right = (window - 1, 0) if isinstance(window, int) else window
            w = torch.ones_like(seen)
            if left is not None and left >= 0:
                w &= j >= i - left
            if right is not None and right >= 0:
                w &= j <= i + right
            seen |= w
        if sinks:
            seen |= j < sinks
    if causal:
        seen &= j <= i
    return seen


def reference(q, k, v, seen, scale, softcap=0.0):
    """float64 (out [B, S, H, Dv], lse [B, H, S]): scaled_dot_product_attention where it
    applies (no soft-capping), else softmax written out; rows that see no key give 0 and
    -inf, as the library defines them."""
    import torch
    import torch.nn.functional as F
    qd, kd, vd = (t.double().transpose(1, 2) for t in (q, k, v))  # [B, H, S, D]
    g = qd.shape[1] // kd.shape[1]
    kd, vd = kd.repeat_interleave(g, 1), vd.repeat_interleave(g, 1)
    s = (qd @ kd.transpose(-1, -2)) * scale
    if softcap:
        s = softcap * torch.tanh(s / softcap)
    s = s.masked_fill(~seen, -math.inf)
    lse = torch.logsumexp(s, -1)
    if softcap:
        out = torch.softmax(s, -1) @ vd
    else:
        out = F.scaled_dot_product_attention(qd, kd, vd, attn_mask=seen, scale=scale)
    out = out.masked_fill(~seen.any(-1)[:, None], 0.0)  # [S] rows with no key: NaN -> 0
    return out.transpose(1, 2), lse


def compare(out, lse, ref_out, ref_lse, what):
    import torch
    err = (out.double() - ref_out).abs().max().item() / max(ref_out.abs().max().item(), 1e-30)
    assert err <= OUT_TOL, "%s: out error %.3g of max |ref|" % (what, err)
    lost = torch.isinf(ref_lse) != torch.isinf(lse)
    assert not lost.any(), "%s: lse -inf rows differ" % what
    fin = torch.isfinite(ref_lse)
    if fin.any():
        le = (lse.double()[fin] - ref_lse[fin]).abs().max().item()
        assert le <= LSE_TOL, "%s: lse error %.3g" % (what, le)


# ---- flash attention ---------------------------------------------------------------------------

def _tensor(shape, dtype, layout, gen):
    """[B, S, H, D] laid out as asked: 'bshd' contiguous, 'bhsd' (a transposed view of
    [B, H, S, D] storage) or 'padded' (rows of a wider buffer: D + 8 per head)."""
    import torch
    B, S, H, D = shape
    if layout == "bhsd":
        return torch.randn(B, H, S, D, generator=gen, device="cuda").to(dtype).transpose(1, 2)
    if layout == "padded":
        return torch.randn(B, S, H, D + 8, generator=gen, device="cuda").to(dtype)[..., :D]
    return torch.randn(B, S, H, D, generator=gen, device="cuda").to(dtype)


def _mask_kind(rng, n_q, n_kv):
    """(causal, window, sinks, q_offset) of one of the mask families the kernels take."""
    kind = rng.choice(["full", "causal", "causal_end", "sliding", "streaming", "bidirectional", "sinks"])
    w = int(rng.integers(1, max(2, n_kv)))
    if kind == "full":
        return False, None, 0, 0
    if kind == "causal":
        return True, None, 0, 0
    if kind == "causal_end":  # chunked prefill: the queries are the last n_q positions
        return True, None, 0, max(0, n_kv - n_q)
    if kind == "sliding":
        return True, w, 0, 0
    if kind == "streaming":
        return True, w, int(rng.integers(1, 8)), int(rng.integers(0, 64))
    if kind == "bidirectional":
        return False, (int(rng.integers(0, 40)), int(rng.integers(0, 40))), 0, int(rng.integers(0, 16))
    return bool(rng.integers(0, 2)), None, int(rng.integers(1, 20)), 0


@gpu
def test_flash_attention_against_sdpa_float64(rng):
    import torch
    gen = torch.Generator(device="cuda").manual_seed(int(rng.integers(1 << 31)))
    lengths = [1, 2, 17, 63, 64, 65, 129, 300, 511, 777, 1001]
    cases = 0
    for trial in range(48):
        D = int(rng.choice([64, 128]))
        dtype = [torch.bfloat16, torch.float16][trial % 2]
        hkv = int(rng.choice([1, 2, 4]))
        hq = hkv * int(rng.choice([1, 2, 3, 4]))
        B = int(rng.integers(1, 4))
        n_q = int(rng.choice(lengths))
        n_kv = n_q if rng.random() < 0.5 else int(rng.choice(lengths))
        causal, window, sinks, q_offset = _mask_kind(rng, n_q, n_kv)
        layout = str(rng.choice(["bshd", "bhsd", "padded"]))
        softcap = float(rng.choice([0.0, 0.0, 0.0, 20.0]))
        scale = float(rng.choice([0.0, 0.0, 0.05]))
        out_dtype = torch.float32 if rng.random() < 0.2 else None
        path = str(rng.choice(["auto", "auto", "mma"]))
        q = _tensor((B, n_q, hq, D), dtype, layout, gen)
        k = _tensor((B, n_kv, hkv, D), dtype, layout, gen)
        v = _tensor((B, n_kv, hkv, D), dtype, layout, gen)
        out, lse = LCT.flash_attention(q, k, v, causal=causal, window=window, sinks=sinks, softcap=softcap,
                                       scale=scale or None, q_offset=q_offset, out_dtype=out_dtype,
                                       return_lse=True, path=path)
        assert out.shape == (B, n_q, hq, D) and out.dtype == (out_dtype or dtype)
        assert lse.shape == (B, hq, n_q) and lse.dtype == torch.float32
        seen = visible(n_q, n_kv, causal, window, sinks, q_offset, "cuda")
        ref_out, ref_lse = reference(q, k, v, seen, scale or 1 / math.sqrt(D), softcap)
        compare(out, lse, ref_out, ref_lse, "B=%d n_q=%d n_kv=%d hq=%d hkv=%d D=%d %s %s causal=%s window=%s "
                "sinks=%d q_offset=%d softcap=%g scale=%g path=%s" % (B, n_q, n_kv, hq, hkv, D, dtype, layout,
                                                                     causal, window, sinks, q_offset, softcap,
                                                                     scale, path))
        cases += 1
    assert cases == 48


@gpu
@pytest.mark.skipif(LCT is not None and __import__("torch").cuda.get_device_capability() != (9, 0),
                    reason="the Hopper kernel needs compute capability 9.0")
def test_flash_attention_hopper_and_portable_kernels_agree_with_sdpa(rng):
    import torch
    gen = torch.Generator(device="cuda").manual_seed(int(rng.integers(1 << 31)))
    for D, (n_q, n_kv), causal, window in [(64, (1000, 1000), True, None), (128, (333, 1025), False, (100, 7)),
                                           (128, (2049, 2049), True, 513), (64, (129, 4000), True, None)]:
        q = _tensor((1, n_q, 8, D), torch.bfloat16, "bshd", gen)
        k = _tensor((1, n_kv, 2, D), torch.bfloat16, "bhsd", gen)
        v = _tensor((1, n_kv, 2, D), torch.bfloat16, "bshd", gen)
        q_offset = n_kv - n_q if causal and n_kv > n_q else 0
        seen = visible(n_q, n_kv, causal, window, 0, q_offset, "cuda")
        ref_out, ref_lse = reference(q, k, v, seen, 1 / math.sqrt(D))
        for path in ("sm90", "mma"):
            out, lse = LCT.flash_attention(q, k, v, causal=causal, window=window, q_offset=q_offset,
                                           return_lse=True, path=path)
            compare(out, lse, ref_out, ref_lse, "%s D=%d n_q=%d n_kv=%d" % (path, D, n_q, n_kv))


@gpu
def test_flash_attention_matches_sdpa_in_its_own_dtype():
    """The everyday call: [B, H, S, D] tensors as scaled_dot_product_attention takes them,
    passed as .transpose(1, 2) views, GQA, causal; against SDPA run in bf16 too."""
    import torch
    import torch.nn.functional as F
    torch.manual_seed(0)
    q = torch.randn(2, 16, 513, 128, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(2, 4, 513, 128, device="cuda", dtype=torch.bfloat16)
    v = torch.randn(2, 4, 513, 128, device="cuda", dtype=torch.bfloat16)
    out = LCT.flash_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), causal=True).transpose(1, 2)
    want = F.scaled_dot_product_attention(q, k.repeat_interleave(4, 1), v.repeat_interleave(4, 1), is_causal=True)
    assert (out.float() - want.float()).abs().max().item() <= OUT_TOL * want.float().abs().max().item()


@gpu
def test_flash_attention_runs_on_the_current_stream():
    import torch
    q = torch.randn(1, 300, 4, 64, device="cuda", dtype=torch.float16)
    want = LCT.flash_attention(q, q, q, causal=True)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        got = LCT.flash_attention(q, q, q, causal=True)
    torch.cuda.current_stream().wait_stream(s)
    assert (got.float() - want.float()).abs().max().item() <= 1e-3 * want.float().abs().max().item()


@gpu
def test_flash_attention_refusals_carry_the_library_sentence():
    import torch
    q = torch.randn(1, 10, 8, 64, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(1, 10, 3, 64, device="cuda", dtype=torch.bfloat16)
    with pytest.raises(longctx.InvalidArgument, match=r"k.shape\[2\]=3 must divide q heads=8"):
        LCT.flash_attention(q, k, k)
    d96 = torch.randn(1, 10, 2, 96, device="cuda", dtype=torch.bfloat16)
    with pytest.raises(longctx.Unsupported, match=r"head dims d_k=96, d_v=96"):
        LCT.flash_attention(d96, d96, d96)
    f32 = torch.randn(1, 10, 2, 64, device="cuda")
    with pytest.raises(longctx.Unsupported, match=r"q.dtype=f32: the CUDA kernels take bf16 or f16"):
        LCT.flash_attention(f32, f32, f32)
    odd = torch.randn(1, 10, 2, 68, device="cuda", dtype=torch.bfloat16)[..., :64]
    with pytest.raises(longctx.Unsupported, match=r"q.stride\[2\]=68: the CUDA kernels need strides that are "
                                                  r"multiples of 8 elements"):
        LCT.flash_attention(odd, odd, odd)
    d256 = torch.randn(1, 10, 2, 256, device="cuda", dtype=torch.bfloat16)
    if torch.cuda.get_device_capability() == (9, 0):
        with pytest.raises(longctx.Unsupported, match=r"path=LC_CUDA_PATH_SM90"):
            LCT.flash_attention(d256, d256, d256, path="sm90")
    with pytest.raises(longctx.InvalidArgument, match=r"q is on cpu"):
        LCT.flash_attention(q.cpu(), k.cpu(), k.cpu())
    with pytest.raises(longctx.InvalidArgument, match=r"window=0 must be a positive number"):
        LCT.flash_attention(q, q, q, window=0)
    assert LCT.flash_attention_workspace_size(q, q, q, causal=True) >= 0


# ---- decode ----------------------------------------------------------------------------------------

def _quantise_int8(x):
    """Per (token, kv head) symmetric int8, as the CPU cache stores it: scale = max|x| / 127."""
    import torch
    scale = x.abs().amax(-1).clamp_min(1e-12) / 127
    return torch.round(x / scale[..., None]).clamp(-127, 127).to(torch.int8), scale.float()


@gpu
def test_decode_against_sdpa_float64(rng):
    import torch
    gen = torch.Generator(device="cuda").manual_seed(int(rng.integers(1 << 31)))
    cases = 0
    for trial in range(36):
        paged = trial % 2 == 1
        D = int(rng.choice([64, 128]))
        q_dtype = [torch.bfloat16, torch.float16][(trial // 2) % 2]
        int8 = trial % 3 == 2
        hkv = int(rng.choice([1, 2, 4, 8]))
        n_q = int(rng.integers(1, 4))
        group = int(rng.choice([g for g in (1, 2, 4, 5, 8, 16) if g * n_q <= 16]))
        hq = hkv * group
        B = int(rng.integers(1, 5))
        cap = int(rng.choice([n_q, 33, 200, 1000, 3001]))
        lens = [int(rng.integers(n_q, cap + 1)) for _ in range(B)]
        lens[0] = cap
        causal = bool(rng.random() < 0.8)
        window = None if rng.random() < 0.5 else int(rng.integers(1, cap + 1))
        sinks = int(rng.integers(0, 5)) if window is not None else 0
        softcap = float(rng.choice([0.0, 0.0, 30.0]))
        # the logical cache: per sequence [cap, hkv, D] keys and values, as the kernel sees them
        kf = torch.randn(B, cap, hkv, D, generator=gen, device="cuda")
        vf = torch.randn(B, cap, hkv, D, generator=gen, device="cuda")
        if int8:
            kq, ks = _quantise_int8(kf)
            vq, vs = _quantise_int8(vf)
            kf, vf = kq.double() * ks[..., None].double(), vq.double() * vs[..., None].double()
            stored = (kq, vq, ks, vs)
        else:
            stored = (kf.to(q_dtype), vf.to(q_dtype), None, None)
            kf, vf = stored[0].double(), stored[1].double()
        table = None
        if paged:
            block = int(rng.choice([1, 16, 24, 64]))
            max_blocks = -(-cap // block)
            pool = B * max_blocks + 3
            table = torch.randperm(pool, device="cuda", generator=gen)[:B * max_blocks].view(B, max_blocks)
            table = table.to(torch.int32).contiguous()
            cache = []
            for t in stored:
                if t is None:
                    cache.append(None)
                    continue
                padded = torch.zeros((B, max_blocks * block) + tuple(t.shape[2:]), dtype=t.dtype, device="cuda")
                padded[:, :cap] = t
                p = torch.zeros((pool, block) + tuple(t.shape[2:]), dtype=t.dtype, device="cuda")
                p[table.long().reshape(-1)] = padded.reshape((B * max_blocks, block) + tuple(t.shape[2:]))
                cache.append(p)
            stored = tuple(cache)
        k_cache, v_cache, k_scale, v_scale = stored
        q = torch.randn(B, n_q, hq, D, generator=gen, device="cuda").to(q_dtype)
        lens_t = torch.tensor(lens, dtype=torch.int32, device="cuda")
        out, lse = LCT.decode(q, k_cache, v_cache, lens=lens_t, max_len=max(lens), block_table=table,
                              k_scale=k_scale, v_scale=v_scale, causal=causal, window=window, sinks=sinks,
                              softcap=softcap, return_lse=True)
        assert out.shape == (B, n_q, hq, D) and lse.shape == (B, hq, n_q)
        for b in range(B):
            n = lens[b]
            seen = visible(n_q, n, causal, window, sinks, n - n_q, "cuda")
            ref_out, ref_lse = reference(q[b:b + 1], kf[b:b + 1, :n], vf[b:b + 1, :n], seen, 1 / math.sqrt(D), softcap)
            compare(out[b:b + 1], lse[b:b + 1], ref_out, ref_lse,
                    "%s%s B=%d b=%d len=%d cap=%d n_q=%d hq=%d hkv=%d D=%d %s causal=%s window=%s sinks=%d "
                    "softcap=%g" % ("paged" if paged else "contiguous", " int8" if int8 else "", B, b, n, cap, n_q,
                                    hq, hkv, D, q_dtype, causal, window, sinks, softcap))
        cases += 1
    assert cases == 36


@gpu
def test_decode_without_lens_reads_a_bshd_tensor_as_its_cache(rng):
    import torch
    gen = torch.Generator(device="cuda").manual_seed(int(rng.integers(1 << 31)))
    k = torch.randn(3, 777, 2, 128, generator=gen, device="cuda").to(torch.bfloat16)
    v = torch.randn(3, 777, 2, 128, generator=gen, device="cuda").to(torch.bfloat16)
    q = torch.randn(3, 1, 16, 128, generator=gen, device="cuda").to(torch.bfloat16)
    out, lse = LCT.decode(q, k, v, out_dtype=torch.float32, return_lse=True)
    assert out.dtype == torch.float32
    ref_out, ref_lse = reference(q, k, v, visible(1, 777, True, None, 0, 776, "cuda"), 1 / math.sqrt(128))
    compare(out, lse, ref_out, ref_lse, "no lens")
    # one new token at the end of each sequence: flash attention over the whole cache
    want = LCT.flash_attention(q, k, v, causal=True, q_offset=776, out_dtype=torch.float32)
    assert (out - want).abs().max().item() <= OUT_TOL * want.abs().max().item()


@gpu
def test_decode_refusals_carry_the_library_sentence():
    import torch
    k = torch.randn(2, 64, 1, 128, device="cuda", dtype=torch.bfloat16)
    q = torch.randn(2, 2, 12, 128, device="cuda", dtype=torch.bfloat16)
    with pytest.raises(longctx.Unsupported, match=r"\(heads_q / heads_kv\) \* n_q = 24: GPU decode takes at most 16"):
        LCT.decode(q, k, k)
    k96 = torch.randn(2, 64, 1, 96, device="cuda", dtype=torch.bfloat16)
    with pytest.raises(longctx.Unsupported, match=r"cache.head_dim=96: GPU decode takes 64, 128 or 256"):
        LCT.decode(torch.randn(2, 1, 4, 96, device="cuda", dtype=torch.bfloat16), k96, k96)
    with pytest.raises(longctx.Unsupported, match=r"a bf16 cache takes bf16 queries, not f16"):
        LCT.decode(q[:, :1].half(), k, k)
    with pytest.raises(longctx.InvalidArgument, match=r"k_cache must be contiguous"):
        LCT.decode(q[:, :1], k.transpose(0, 1).contiguous().transpose(0, 1), k)
    with pytest.raises(longctx.InvalidArgument, match=r"an int8 cache needs k_scale"):
        LCT.decode(q[:, :1], k.to(torch.int8), k.to(torch.int8))
    with pytest.raises(longctx.InvalidArgument, match=r"max_len=65 must be in|cache.capacity=64"):
        LCT.decode(q[:, :1], k, k, max_len=65)
    assert LCT.decode_workspace_size(q[:, :1], k, k) > 0


# ---- torch.compile -----------------------------------------------------------------------------------

@gpu
def test_operators_inside_torch_compile_fullgraph():
    """One graph around both operators (fullgraph=True: a break would fail), compiled by
    Inductor; the same numbers as eager."""
    import torch
    torch.manual_seed(1)
    B, S, H, HKV, D = 2, 333, 8, 2, 128
    x = torch.randn(B, S, H, D, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(B, S, HKV, D, device="cuda", dtype=torch.bfloat16)
    v = torch.randn(B, S, HKV, D, device="cuda", dtype=torch.bfloat16)
    q1 = torch.randn(B, 1, H, D, device="cuda", dtype=torch.bfloat16)
    lens = torch.tensor([S, 100], dtype=torch.int32, device="cuda")

    def layer(x, k, v, q1, lens):
        o, lse = LCT.flash_attention(x * 2, k, v, causal=True, window=64, sinks=4, return_lse=True)
        step = LCT.decode(q1 + 1, k, v, lens=lens, max_len=S, window=64, sinks=4)
        return o.float().sum(-1) + lse.transpose(1, 2), step.float() * 0.5

    want = layer(x, k, v, q1, lens)
    got = torch.compile(layer, fullgraph=True)(x, k, v, q1, lens)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        assert torch.allclose(g, w, rtol=1e-3, atol=1e-3), (g - w).abs().max().item()


@gpu
def test_operators_pass_torch_library_opcheck():
    """Schema, fake (meta) implementations against the real ones, and tracing with dynamic
    shapes (torch.library.opcheck)."""
    import torch
    q = torch.randn(2, 77, 4, 64, device="cuda", dtype=torch.float16)
    k = torch.randn(2, 77, 2, 64, device="cuda", dtype=torch.float16)
    utils = ("test_schema", "test_faketensor", "test_aot_dispatch_dynamic")
    torch.library.opcheck(torch.ops.longctx.flash_attention.default,
                          (q, k, k, True, True, 31, 0, 2, 0, 0.0, 0.0, False, 0), test_utils=utils)
    lens = torch.tensor([77, 5], dtype=torch.int32, device="cuda")
    torch.library.opcheck(torch.ops.longctx.decode.default,
                          (q[:, :1], k, k, None, None, None, lens, 77, True, False, -1, -1, 0, 0.0, 0.0, True, 0),
                          test_utils=utils)
