"""MLA: prefill and absorbed decode against the up-projected attention written here in float64
(docs/mla.md), every cache dtype and both fast paths; refusals."""
import math

import numpy as np
import pytest

import longctx as lc
from refs import bits_to_f64, f32_to_bf16_bits


def _round(x, dtype):
    if dtype == "f16":
        return x.astype(np.float16).astype(np.float64)
    if dtype == "bf16":
        return bits_to_f64(f32_to_bf16_bits(x))
    if dtype == "int8":  # one symmetric scale per row, in f32 as lc_kv_store_row computes it
        x = x.astype(np.float32)
        amax = np.abs(x).max(axis=1, keepdims=True) if x.shape[1] else np.zeros((x.shape[0], 1), np.float32)
        with np.errstate(divide="ignore"):
            inv = np.where(amax > 0, np.float32(127) / amax, np.float32(0)).astype(np.float32)
        q = np.clip(np.rint(x * inv), -127, 127).astype(np.float32)
        return (q * (amax / np.float32(127)).astype(np.float32)).astype(np.float64)
    return x.astype(np.float64)


def _mla_ref(w_uk, w_uv, c, kr, qn, qr, scale=0.0, window=0, sinks=0):
    """c [n, rank], kr [n, rope], qn [m, H, nope], qr [m, H, rope]: queries at n - m + i (seeing
    the last `window` positions and the first `sinks` when window > 0)."""
    n, m = c.shape[0], qn.shape[0]
    H, nope, _ = w_uk.shape
    rope = kr.shape[1]
    k_nope = np.einsum("hdr,jr->jhd", w_uk, c)  # [n, H, nope]
    v = np.einsum("hdr,jr->jhd", w_uv, c)
    s = (np.einsum("ihd,jhd->hij", qn, k_nope) + np.einsum("ihd,jd->hij", qr, kr)) * (scale or 1 / math.sqrt(nope + rope))
    pos_q, pos_k = (n - m + np.arange(m))[:, None], np.arange(n)[None, :]
    vis = pos_k <= pos_q
    if window:
        vis &= (pos_q - pos_k < window) | (pos_k < sinks)
    s = np.where(vis[None], s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return np.einsum("hij,jhd->ihd", p, v)


@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16", "int8"])
@pytest.mark.parametrize("fast", [False, True])
def test_prefill_and_decode(dtype, fast, rng):
    H, rank, nope, rope, v_dim = int(rng.integers(1, 5)), int(rng.choice([8, 24])), int(rng.choice([0, 8, 12])), \
        int(rng.choice([0, 4])), int(rng.choice([8, 16]))
    if nope + rope == 0:
        rope = 4
    w_uk = (rng.standard_normal((H, nope, rank)) / math.sqrt(rank)).astype(np.float32)
    w_uv = (rng.standard_normal((H, v_dim, rank)) / math.sqrt(rank)).astype(np.float32)
    mla = lc.MLA(w_uk, w_uv, rope=rope, dtype=dtype, fast_prefill=fast, fast_decode=fast)
    cache = mla.cache(4 * 29)  # the most the four appends below can add
    assert cache.nbytes == mla.footprint(4 * 29)
    n = 0
    cs, ks = [], []
    for step in range(4):
        m = int(rng.integers(1, 30))
        c = rng.standard_normal((m, rank), dtype=np.float32)
        kr = rng.standard_normal((m, rope), dtype=np.float32)
        n = cache.append(c, kr if rope else None)
        cs.append(c), ks.append(kr)
        n_q = int(rng.integers(1, m + 1))
        qn = rng.standard_normal((n_q, H, nope), dtype=np.float32)
        qr = rng.standard_normal((n_q, H, rope), dtype=np.float32)
        want = _mla_ref(w_uk.astype(np.float64), w_uv.astype(np.float64), _round(np.concatenate(cs), dtype),
                        _round(np.concatenate(ks), dtype), qn.astype(np.float64), qr.astype(np.float64))
        tol = 2e-5 if fast else 1e-6
        got_p = mla.prefill(cache, qn if nope else None, qr if rope else None)
        got_d = mla.decode(cache, qn if nope else None, qr if rope else None)
        np.testing.assert_allclose(got_p, want, atol=tol, rtol=tol * 10)
        np.testing.assert_allclose(got_d, want, atol=tol, rtol=tol * 10)
    assert len(cache) == n


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("block_size", [0, 3])
def test_window_and_sinks(fast, block_size, rng):
    H, rank, nope, rope, v_dim, window, sinks = 2, 8, 4, 2, 4, 5, 2
    w_uk = (rng.standard_normal((H, nope, rank)) / math.sqrt(rank)).astype(np.float32)
    w_uv = (rng.standard_normal((H, v_dim, rank)) / math.sqrt(rank)).astype(np.float32)
    mla = lc.MLA(w_uk, w_uv, rope=rope, fast_prefill=fast, fast_decode=fast, window=window, sinks=sinks,
                 block_size=block_size)
    cache = mla.cache(sinks + 2 * window)
    cs, ks = [], []
    for step in range(8):
        m = int(rng.integers(1, window + 1))
        c = rng.standard_normal((m, rank), dtype=np.float32)
        kr = rng.standard_normal((m, rope), dtype=np.float32)
        cache.append(c, kr)
        cs.append(c), ks.append(kr)
        qn = rng.standard_normal((m, H, nope), dtype=np.float32)
        qr = rng.standard_normal((m, H, rope), dtype=np.float32)
        want = _mla_ref(w_uk.astype(np.float64), w_uv.astype(np.float64), np.concatenate(cs).astype(np.float64),
                        np.concatenate(ks).astype(np.float64), qn.astype(np.float64), qr.astype(np.float64),
                        window=window, sinks=sinks)
        tol = 2e-5 if fast else 1e-6
        np.testing.assert_allclose(mla.prefill(cache, qn, qr), want, atol=tol, rtol=tol * 10)
        np.testing.assert_allclose(mla.decode(cache, qn, qr), want, atol=tol, rtol=tol * 10)
        assert cache.rows == min(len(cache), sinks + window - 1 + m)


def test_one_query_forms_and_workspace(rng):
    H, rank, nope, rope, v_dim = 4, 16, 8, 4, 8
    mla = lc.MLA(rng.standard_normal((H, nope, rank), dtype=np.float32),
                 rng.standard_normal((H, v_dim, rank), dtype=np.float32), rope=rope)
    cache = mla.cache(20)
    cache.append(rng.standard_normal((9, rank), dtype=np.float32), rng.standard_normal((9, rope), dtype=np.float32))
    qn, qr = rng.standard_normal((H, nope), dtype=np.float32), rng.standard_normal((H, rope), dtype=np.float32)
    fork = mla.cache(20)
    fork.copy_from(cache)
    assert len(fork) == 9
    np.testing.assert_array_equal(mla.decode(fork, qn, qr), mla.decode(cache, qn, qr))
    fork.reset()
    assert len(fork) == 0
    ws = np.empty(mla.decode_workspace_size(cache, qn, qr), np.uint8)
    o = mla.decode(cache, qn, qr, workspace=ws)
    assert o.shape == (H, v_dim)
    np.testing.assert_allclose(o, mla.prefill(cache, qn, qr), atol=1e-6)


def test_refusals(rng):
    w_uk, w_uv = np.zeros((2, 4, 8), np.float32), np.zeros((2, 4, 8), np.float32)
    with pytest.raises(lc.InvalidArgument, match=r"w_uv has shape \[2, 4, 7\], expected \[2, \?, 8\]"):
        lc.MLA(w_uk, w_uv[..., :7], rope=2)
    with pytest.raises(lc.InvalidArgument, match=r"mla.dtype=int4 \(5\) is not f32, f16, bf16, int8 or fp8"):
        lc.MLA(w_uk, w_uv, rope=2, dtype="int4")
    mla = lc.MLA(w_uk, w_uv, rope=2)
    with pytest.raises(lc.InvalidArgument, match="mla cache capacity=0 must be >= 1"):
        mla.cache(0)
    cache = mla.cache(4)
    with pytest.raises(lc.OutOfRange, match="mla append: 5 tokens at 0 pass the capacity of 4"):
        cache.append(np.zeros((5, 8), np.float32), np.zeros((5, 2), np.float32))
    cache.append(np.zeros((2, 8), np.float32), np.zeros((2, 2), np.float32))
    with pytest.raises(lc.OutOfRange, match="mla append: position 0 is out of order; the next position is 2"):
        cache.append(np.zeros((1, 8), np.float32), np.zeros((1, 2), np.float32), pos=0)
    with pytest.raises(lc.OutOfRange, match=r"n_q=3 must lie in \[1, cached rows 2\]"):
        mla.decode(cache, np.zeros((3, 2, 4), np.float32), np.zeros((3, 2, 2), np.float32))
    other = lc.MLA(np.zeros((2, 4, 6), np.float32), np.zeros((2, 4, 6), np.float32), rope=2)
    with pytest.raises(lc.InvalidArgument, match="mla cache was made for rank=8 rope=2, not 6/2"):
        other.prefill(cache, np.zeros((1, 2, 4), np.float32), np.zeros((1, 2, 2), np.float32))
