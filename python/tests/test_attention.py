"""lc.attention (flash and naive) against a float64 softmax written here, on random shapes:
odd lengths, GQA / MQA, d_k != d_v, masks, q_offset, soft-capping, f32 / f16 / bf16, strided
views; and the refusals."""
import numpy as np
import pytest

import longctx as lc
from refs import attention_ref, bits_to_f64, f32_to_bf16_bits, mask_ref

MASKS = [
    dict(),
    dict(causal=True),
    dict(causal=True, window=7, sinks=2),
    dict(window=(5, 3), dilation=2),
    dict(window=(2, 2), global_tokens=[0, 5]),
    dict(causal=True, stride=4, summary=1),
]


def _shapes(rng, offset=0):
    B = int(rng.integers(1, 3))
    hkv = int(rng.choice([1, 2, 3]))
    h = hkv * int(rng.choice([1, 2, 3]))
    n_q = int(rng.integers(1, 40))
    n_kv = n_q + offset + int(rng.integers(0, 9))
    dk, dv = int(rng.choice([8, 13, 32])), int(rng.choice([8, 16, 7]))
    return B, n_q, n_kv, h, hkv, dk, dv


def _inputs(rng, B, n_q, n_kv, h, hkv, dk, dv):
    q = rng.standard_normal((B, n_q, h, dk), dtype=np.float32)
    k = rng.standard_normal((B, n_kv, hkv, dk), dtype=np.float32)
    v = rng.standard_normal((B, n_kv, hkv, dv), dtype=np.float32)
    return q, k, v


@pytest.mark.parametrize("method", ["flash", "naive"])
@pytest.mark.parametrize("mcase", MASKS, ids=[str(m) for m in MASKS])
def test_attention_f32_against_float64(method, mcase, rng):
    for trial in range(3):
        offset = int(rng.integers(0, 6)) if mcase.get("causal") else 0
        B, n_q, n_kv, h, hkv, dk, dv = _shapes(rng, offset)
        q, k, v = _inputs(rng, B, n_q, n_kv, h, hkv, dk, dv)
        case = dict(mcase, q_offset=offset) if offset else mcase
        mask = lc.Mask(**case)
        softcap = float(rng.choice([0.0, 5.0]))
        scale = float(rng.choice([0.0, 0.3]))
        out, lse = lc.attention(q, k, v, mask=mask, method=method, softcap=softcap, scale=scale,
                                threads=int(rng.integers(0, 3)))
        want, want_lse = attention_ref(q.astype(np.float64), k.astype(np.float64), v.astype(np.float64),
                                       mask_ref(n_q, n_kv, **case), scale, softcap)
        assert out.shape == (B, n_q, h, dv) and out.dtype == np.float32
        assert lse.shape == (B, h, n_q) and lse.dtype == np.float32
        np.testing.assert_allclose(out, want, atol=3e-5, rtol=1e-4)
        np.testing.assert_allclose(lse, want_lse, atol=3e-5, rtol=1e-5)


def test_fully_masked_rows_give_zero_and_minus_inf(rng):
    q, k, v = _inputs(rng, 1, 6, 6, 2, 1, 8, 8)
    bits = np.array([[1, 0], [0, 0], [1, 1]])  # query block 1 sees nothing
    out, lse = lc.attention(q, k, v, mask=lc.Mask(blocks=bits, block_size=(2, 3)))
    assert (out[:, 2:4] == 0).all() and np.isneginf(lse[:, :, 2:4]).all()
    assert np.isfinite(out).all() and np.isfinite(lse[:, :, :2]).all()


@pytest.mark.parametrize("dtype", ["f16", "bf16"])
def test_half_precision_inputs_and_outputs(dtype, rng):
    B, n_q, n_kv, h, hkv, dk, dv = 2, 23, 31, 4, 2, 16, 8
    q, k, v = _inputs(rng, B, n_q, n_kv, h, hkv, dk, dv)
    if dtype == "f16":
        q, k, v = q.astype(np.float16), k.astype(np.float16), v.astype(np.float16)
        out, lse = lc.attention(q, k, v, causal=True)
        assert out.dtype == np.float16
        tol = 2e-3
    else:
        q, k, v = f32_to_bf16_bits(q), f32_to_bf16_bits(k), f32_to_bf16_bits(v)
        np.testing.assert_array_equal(q, lc.to_bf16(lc.from_bf16(q)))
        out, lse = lc.attention(q, k, v, causal=True, dtype="bf16")
        assert out.dtype == np.uint16
        tol = 1.6e-2
    want, want_lse = attention_ref(bits_to_f64(q), bits_to_f64(k), bits_to_f64(v),
                                   mask_ref(n_q, n_kv, causal=True), 0, 0)
    np.testing.assert_allclose(bits_to_f64(out), want, atol=tol, rtol=tol)
    np.testing.assert_allclose(lse, want_lse, atol=1e-4, rtol=1e-5)
    # a float32 output of half inputs, and mixed input dtypes
    out32 = np.empty((B, n_q, h, dv), np.float32)
    lc.attention(q, k.astype(np.float32) if dtype == "f16" else k, v, causal=True, out=out32, dtype="bf16")
    np.testing.assert_allclose(out32, want, atol=1e-4, rtol=1e-4)


def test_strided_views_are_read_in_place(rng):
    B, n, h, d = 2, 19, 4, 16
    # [batch, heads, seq, dim] buffers (BHSD) seen as [batch, seq, heads, dim]
    qb = rng.standard_normal((B, h, n, d), dtype=np.float32)
    kb = rng.standard_normal((B, 2, n, 2 * d), dtype=np.float32)[..., ::2]  # dim stride 2
    vb = rng.standard_normal((B, 2, n, d), dtype=np.float32)
    q, k, v = qb.transpose(0, 2, 1, 3), kb.transpose(0, 2, 1, 3), vb.transpose(0, 2, 1, 3)
    assert not q.flags.c_contiguous and k.strides[3] == 8
    out = np.zeros((B, h, n, d), np.float32).transpose(0, 2, 1, 3)  # written in place, BHSD
    got, _ = lc.attention(q, k, v, causal=True, out=out)
    assert got is out
    want, _ = attention_ref(q.astype(np.float64), k.astype(np.float64), v.astype(np.float64),
                            mask_ref(n, n, causal=True))
    np.testing.assert_allclose(out, want, atol=3e-5, rtol=1e-4)
    # a broadcast K/V (stride 0 over the batch) is read, never copied
    k1 = np.broadcast_to(k[:1], k.shape)
    v1 = np.broadcast_to(v[:1], v.shape)
    got, _ = lc.attention(q, k1, v1)
    want, _ = attention_ref(q.astype(np.float64), k1.astype(np.float64), v1.astype(np.float64), mask_ref(n, n))
    np.testing.assert_allclose(got, want, atol=3e-5, rtol=1e-4)


def test_three_dim_inputs_workspace_threads_and_pairs(rng):
    q, k, v = (x[0] for x in _inputs(rng, 1, 33, 40, 6, 3, 8, 8))
    mask = lc.Mask(causal=True, q_offset=7)
    out, lse = lc.attention(q, k, v, mask=mask)
    assert out.shape == (33, 6, 8) and lse.shape == (6, 33)
    ws = np.empty(lc.attention_workspace_size(q, k, v, mask, threads=2), np.uint8)
    out2, lse2 = lc.attention(q, k, v, mask=mask, workspace=ws, threads=2)
    out1, _ = lc.attention(q, k, v, mask=mask, threads=1)
    np.testing.assert_array_equal(out1, out2)  # bitwise the same for any thread count
    np.testing.assert_array_equal(out, out2)
    assert lc.attention_pairs(q, k, v, mask) == 6 * mask.count(33, 40)
    o3, none = lc.attention(q, k, v, mask=mask, lse=False)
    assert none is None
    np.testing.assert_array_equal(o3, out)


def test_refusals_carry_the_library_sentence(rng):
    q, k, v = _inputs(rng, 1, 5, 5, 4, 2, 8, 8)
    with pytest.raises(lc.InvalidArgument, match=r"k.shape\[2\]=3 must divide q heads=4"):
        lc.attention(q, np.zeros((1, 5, 3, 8), np.float32), np.zeros((1, 5, 3, 8), np.float32))
    with pytest.raises(lc.InvalidArgument, match=r"k.shape\[3\]=7 \(key head dim\) must equal q.shape\[3\]=8"):
        lc.attention(q, k[..., :7], v)
    with pytest.raises(lc.InvalidArgument, match="q has dtype float64"):
        lc.attention(q.astype(np.float64), k, v)
    with pytest.raises(lc.InvalidArgument, match="pass dtype='bf16'"):
        lc.attention(q.view(np.uint16)[..., ::2], k, v)
    with pytest.raises(lc.InvalidArgument, match="read-only"):
        out = np.zeros((1, 5, 4, 8), np.float32)
        out.flags.writeable = False
        lc.attention(q, k, v, out=out)
    with pytest.raises(lc.InvalidArgument, match="negative"):
        lc.attention(q[:, ::-1], k, v)
    with pytest.raises(lc.InvalidArgument, match="out overlaps q"):
        lc.attention(q, k, v, out=q)
    with pytest.raises(lc.InvalidArgument, match=r"softcap=-1 must be finite and >= 0"):
        lc.attention(q, k, v, softcap=-1)
    with pytest.raises(lc.InvalidArgument, match=r"mask.window.left=-2"):
        lc.attention(q, k, v, mask=lc.Mask(window=(-2, 0)))
    with pytest.raises(lc.InvalidArgument, match=r"q.shape\[1\]=0 \(seq\) must be positive"):
        lc.attention(q[:, :0], k, v)
    with pytest.raises(lc.OutOfMemory, match="bytes"):
        lc.attention(q, k, v, method="naive", max_score_bytes=8)
    with pytest.raises(lc.Unsupported, match="head dim 1100 is larger than 1024"):
        z = np.zeros((1, 2, 1, 1100), np.float32)
        lc.attention(z, z, z)
    with pytest.raises(lc.InvalidArgument, match="method"):
        lc.attention(q, k, v, method="fast")
    with pytest.raises(lc.InvalidArgument, match="isa"):
        lc.attention(q, k, v, isa="sse")


def test_ml_dtypes_bfloat16_when_installed(rng):
    ml = pytest.importorskip("ml_dtypes")
    q, k, v = _inputs(rng, 1, 9, 9, 2, 1, 8, 8)
    qb, kb, vb = (x.astype(ml.bfloat16) for x in (q, k, v))
    out, _ = lc.attention(qb, kb, vb, causal=True)
    assert out.dtype == ml.bfloat16
    want, _ = lc.attention(qb.view(np.uint16), kb.view(np.uint16), vb.view(np.uint16), causal=True, dtype="bf16")
    np.testing.assert_array_equal(out.view(np.uint16), want)


def _packed_lengths(rng, full):
    """Sequence lengths (m queries, n keys) of a packed batch: empty sequences, single tokens,
    chunked prefills (m < n), prompts (m = n); more queries than keys under the full mask."""
    seqs = []
    for _ in range(int(rng.integers(1, 6))):
        kind = int(rng.integers(0, 5 if full else 4))
        n = int(rng.integers(0, 40))
        m = {0: 0, 1: min(1, n), 2: n, 3: int(rng.integers(0, n + 1)), 4: n + int(rng.integers(1, 9))}[kind]
        seqs.append((m, n))
    if sum(m for m, _ in seqs) == 0 or sum(n for _, n in seqs) == 0:
        seqs.append((3, 5))
    return seqs


@pytest.mark.parametrize("method", ["flash", "naive"])
@pytest.mark.parametrize("mcase", [m for m in MASKS if "global_tokens" not in m], ids=str)
def test_varlen_against_each_sequence_alone(method, mcase, rng):
    for trial in range(3):
        seqs = _packed_lengths(rng, full=not mcase)
        cu_q = np.cumsum([0] + [m for m, _ in seqs])
        cu_k = np.cumsum([0] + [n for _, n in seqs])
        hkv = int(rng.choice([1, 2]))
        h, dk, dv = hkv * int(rng.choice([1, 3])), int(rng.choice([8, 13])), int(rng.choice([8, 7]))
        q = rng.standard_normal((cu_q[-1], h, dk), dtype=np.float32)
        k = rng.standard_normal((cu_k[-1], hkv, dk), dtype=np.float32)
        v = rng.standard_normal((cu_k[-1], hkv, dv), dtype=np.float32)
        softcap = float(rng.choice([0.0, 5.0]))
        out, lse = lc.attention(q, k, v, mask=lc.Mask(**mcase), method=method, softcap=softcap, cu_seqlens_q=cu_q,
                                cu_seqlens_k=cu_k.tolist())  # any 1-D integers: a list is taken too
        assert out.shape == (cu_q[-1], h, dv) and lse.shape == (h, cu_q[-1])
        pairs = 0
        for s, (m, n) in enumerate(seqs):
            rows, keys = slice(cu_q[s], cu_q[s + 1]), slice(cu_k[s], cu_k[s + 1])
            allow = mask_ref(m, n, **dict(mcase, q_offset=n - m))
            pairs += int(allow.sum())
            if m == 0:
                continue
            if n == 0:  # no keys: zeros and -inf
                assert (out[rows] == 0).all() and np.isneginf(lse[:, rows]).all()
                continue
            want, want_lse = attention_ref(q[None, rows].astype(np.float64), k[None, keys].astype(np.float64),
                                           v[None, keys].astype(np.float64), allow, 0, softcap)
            np.testing.assert_allclose(out[rows], want[0], atol=3e-5, rtol=1e-4)
            np.testing.assert_allclose(lse[:, rows], want_lse[0], atol=3e-5, rtol=1e-5)
        assert lc.attention_pairs(q, k, v, lc.Mask(**mcase), cu_seqlens_q=cu_q, cu_seqlens_k=cu_k) == h * pairs


def test_varlen_refusals(rng):
    q, k, v = (x[0] for x in _inputs(rng, 1, 10, 12, 2, 1, 8, 8))
    cu_q, cu_k = np.array([0, 4, 10]), np.array([0, 5, 12])
    lc.attention_check(q, k, v, causal=True, cu_seqlens_q=cu_q, cu_seqlens_k=cu_k)
    with pytest.raises(lc.InvalidArgument, match="give both or neither"):
        lc.attention(q, k, v, cu_seqlens_q=cu_q)
    with pytest.raises(lc.InvalidArgument, match="offsets are integers"):
        lc.attention(q, k, v, cu_seqlens_q=cu_q * 1.0, cu_seqlens_k=cu_k)
    with pytest.raises(lc.InvalidArgument, match="both are count \\+ 1"):
        lc.attention(q, k, v, cu_seqlens_q=cu_q, cu_seqlens_k=[0, 12])
    with pytest.raises(lc.InvalidArgument, match=r"varlen.kv_starts\[2\]=11 \(varlen.count=2\) must equal the keys"):
        lc.attention(q, k, v, cu_seqlens_q=cu_q, cu_seqlens_k=[0, 5, 11])
    with pytest.raises(lc.InvalidArgument, match="varlen sequence 1 has 6 queries but 4 keys"):
        lc.attention(q, k, v, causal=True, cu_seqlens_q=cu_q, cu_seqlens_k=[0, 8, 12])
    with pytest.raises(lc.InvalidArgument, match=r"mask.q_offset=3 must be 0 with varlen"):
        lc.attention(q, k, v, mask=lc.Mask(causal=True, q_offset=3), cu_seqlens_q=cu_q, cu_seqlens_k=cu_k)
    with pytest.raises(lc.Unsupported, match="mask.global"):
        lc.attention(q, k, v, mask=lc.Mask(window=(2, 2), global_tokens=[0]), cu_seqlens_q=cu_q, cu_seqlens_k=cu_k)
