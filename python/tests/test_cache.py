"""KV caches of every layout and dtype, and decode over them, against NumPy: the kept tokens
and their positions, the storage error of each dtype, softmax attention in float64 over what
the cache holds, copy-on-write fork, exact bytes; refusals."""
import math

import numpy as np
import pytest

import longctx as lc

LAYOUTS = [dict(layout="contiguous", capacity=90), dict(layout="paged", capacity=90, block_size=7),
           dict(layout="ring", window=13), dict(layout="sinks", window=11, sinks=3)]
DTYPES = ["f32", "f16", "bf16", "int8", "fp8"]


def _kept_positions(cfg, n):
    if cfg["layout"] == "ring":
        return np.arange(max(0, n - cfg["window"]), n)
    if cfg["layout"] == "sinks":
        S, W = cfg["sinks"], cfg["window"]
        return np.arange(n) if n <= S + W else np.concatenate([np.arange(S), np.arange(n - W, n)])
    return np.arange(n)


def _storage_error_ok(dtype, x, got):
    err = np.abs(got - x)
    if dtype == "f32":
        return (err == 0).all()
    if dtype == "f16":
        return (err <= np.abs(x) * 2.0 ** -11 + 2.0 ** -24).all()
    if dtype == "bf16":
        return (err <= np.abs(x) * 2.0 ** -8).all()
    amax = np.abs(x).max(axis=-1, keepdims=True)  # per token and head
    if dtype == "int8":
        return (err <= amax / 127 * 0.5 * (1 + 1e-5) + 1e-12).all()
    scale = amax / 448
    return (err <= np.maximum(np.abs(x) * 2.0 ** -4, scale * 2.0 ** -9) * (1 + 1e-5) + 1e-12).all()


def _decode_ref(q, pos, k, v, n, scale=0.0):
    """q [n_q, Hq, D]; the cache's kept positions / float values; queries at n - n_q + i."""
    n_q, Hq, D = q.shape
    g = Hq // k.shape[1]
    kk, vv = np.repeat(k, g, axis=1).astype(np.float64), np.repeat(v, g, axis=1).astype(np.float64)
    out = np.zeros((n_q, Hq, D))
    lse = np.full((Hq, n_q), -np.inf)
    for i in range(n_q):
        vis = pos <= n - n_q + i
        s = np.einsum("hd,jhd->hj", q[i].astype(np.float64), kk[vis]) * (scale or 1 / math.sqrt(D))
        m = s.max(axis=1, keepdims=True)
        e = np.exp(s - m)
        out[i] = np.einsum("hj,jhd->hd", e / e.sum(1, keepdims=True), vv[vis])
        lse[:, i] = m[:, 0] + np.log(e.sum(1))
    return out, lse


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", LAYOUTS, ids=[c["layout"] for c in LAYOUTS])
def test_layouts_dtypes_and_decode(cfg, dtype, rng):
    H, D = int(rng.choice([1, 2, 3])), int(rng.choice([8, 20, 64]))
    Hq = H * int(rng.choice([1, 2, 4]))
    cache = lc.KVCache(dtype=dtype, heads_kv=H, head_dim=D, max_seqs=2, **cfg)
    assert cache.nbytes == lc.KVCache.footprint(dtype=dtype, heads_kv=H, head_dim=D, max_seqs=2, **cfg)[0]
    seq = int(rng.integers(0, 2))
    ks, vs = [], []
    n = 0
    while n < 60:
        m = int(rng.integers(1, 12))
        k = rng.standard_normal((m, H, D), dtype=np.float32)
        v = rng.standard_normal((m, H, D), dtype=np.float32)
        assert cache.append(seq, k, v) == n + m
        ks.append(k), vs.append(v)
        n += m
        pos, kr, vr = cache.read(seq)
        want = _kept_positions(cfg, n)
        np.testing.assert_array_equal(pos, want)
        allk, allv = np.concatenate(ks), np.concatenate(vs)
        assert _storage_error_ok(dtype, allk[want], kr) and _storage_error_ok(dtype, allv[want], vr)
        assert cache.seq_len(seq) == n and cache.kept(seq) == len(want)
        n_q = int(rng.integers(1, min(m, 4) + 1))
        q = rng.standard_normal((n_q, Hq, D), dtype=np.float32)
        out, lse = cache_out = lc.decode(q, cache, seq, lse=True, query_f32=True, threads=int(rng.integers(0, 3)))
        wo, wl = _decode_ref(q, pos, kr, vr, n)
        np.testing.assert_allclose(out, wo, atol=3e-5, rtol=1e-4)
        np.testing.assert_allclose(lse, wl, atol=3e-5, rtol=1e-5)
        del cache_out
    # the default path may round the query (llama.cpp's way): close, not exact
    q = rng.standard_normal((1, Hq, D), dtype=np.float32)
    wo, _ = _decode_ref(q, *cache.read(seq), n)
    np.testing.assert_allclose(lc.decode(q[0], cache, seq), wo[0], atol=0.05, rtol=0.05)
    info = lc.decode_info(q, cache, seq, query_f32=True)
    assert not info["rounds_query"] and info["bytes_read"] == cache.kept(seq) * cache.slot_bytes


def test_spans_are_views_of_the_pool(rng):
    cache = lc.KVCache("paged", "int8", heads_kv=2, head_dim=16, capacity=40, block_size=8)
    k = rng.standard_normal((20, 2, 16), dtype=np.float32)
    cache.append(0, k, k)
    spans = cache.spans(0)
    assert [s[0] for s in spans] == [0, 8, 16] and [s[1].shape[0] for s in spans] == [8, 8, 4]
    pos0, kq, vq, ksc, vsc = spans[0]
    assert kq.dtype == np.int8 and ksc.shape == (8, 2) and not kq.flags.writeable
    np.testing.assert_allclose(ksc, np.abs(k[:8]).max(-1) / 127, rtol=1e-6)
    assert np.abs(kq).max() == 127


def test_paged_fork_copy_on_write_and_blocks(rng):
    H, D, B = 2, 8, 4
    cache = lc.KVCache("paged", "f32", heads_kv=H, head_dim=D, max_seqs=3, capacity=40, block_size=B, num_blocks=30)
    a = rng.standard_normal((10, H, D), dtype=np.float32)
    cache.append(0, a, a)
    free = cache.free_blocks
    s1 = cache.fork(0)
    assert s1 == 1 and cache.free_blocks == free  # shares every block
    b = rng.standard_normal((5, H, D), dtype=np.float32)
    c = rng.standard_normal((3, H, D), dtype=np.float32)
    cache.append(s1, b, b)
    cache.append(0, c, c)
    np.testing.assert_array_equal(cache.read(0)[1], np.concatenate([a, c]))
    np.testing.assert_array_equal(cache.read(s1)[1], np.concatenate([a, b]))
    cache.remove(0)
    cache.remove(s1)
    assert cache.free_blocks == 30
    assert cache.new_seq() == 0


def test_append_starts_sequences_and_decode_forms(rng):
    cache = lc.KVCache("contiguous", "f16", heads_kv=2, head_dim=8, max_seqs=4, capacity=16)
    k = rng.standard_normal((3, 2, 8), dtype=np.float32)
    cache.append(seq=2, k=k, v=k)  # starts sequence 2 only
    assert [cache.alive(s) for s in range(4)] == [False, False, True, False]
    assert cache.new_seq() == 0
    cache.append(2, k[0], k[0])  # one token as [heads_kv, head_dim]
    q = rng.standard_normal((2, 4, 8), dtype=np.float32)
    ws = np.empty(lc.decode_workspace_size(q, cache, 2), np.uint8)
    o1 = lc.decode(q, cache, 2, workspace=ws)
    o2 = lc.decode(q, cache, 2, split=1, threads=2)
    np.testing.assert_allclose(o1, o2, atol=1e-6)
    out = np.zeros((2, 4, 8), np.float32)
    assert lc.decode(q, cache, 2, out=out) is out
    cache.close()
    with pytest.raises(lc.InvalidState, match="closed"):
        cache.seq_len(0)


def test_refusals(rng):
    k = np.zeros((4, 2, 8), np.float32)
    with pytest.raises(lc.InvalidArgument, match="kv.window=0 must be >= 1 for a ring cache"):
        lc.KVCache("ring", heads_kv=2, head_dim=8)
    with pytest.raises(lc.InvalidArgument, match="kv layout 'tree' is not one of"):
        lc.KVCache("tree", heads_kv=2, head_dim=8)
    with pytest.raises(lc.InvalidArgument, match="not a cache dtype"):
        lc.KVCache(dtype="int4", heads_kv=2, head_dim=8)
    cache = lc.KVCache("contiguous", heads_kv=2, head_dim=8, capacity=6)
    cache.append(0, k, k)
    with pytest.raises(lc.OutOfRange, match="append: position 2 is out of order: sequence 0 holds 4 tokens"):
        cache.append(0, k, k, pos=2)
    with pytest.raises(lc.OutOfRange, match="pass the capacity of 6 tokens per sequence"):
        cache.append(0, k, k)
    with pytest.raises(lc.OutOfRange, match="sequence 5 is unknown"):
        cache.append(5, k, k)
    with pytest.raises(lc.InvalidArgument, match=r"k has shape \[4, 2, 7\], expected \[n, 2, 8\]"):
        cache.append(0, k[..., :7], k[..., :7])
    with pytest.raises(lc.InvalidArgument, match="k has dtype float64"):
        cache.append(0, k.astype(np.float64), k)
    with pytest.raises(lc.OutOfMemory, match="all 1 sequences of the kv cache are in use"):
        cache.new_seq()
    q = np.zeros((1, 3, 8), np.float32)
    with pytest.raises(lc.InvalidArgument, match="decode.heads_q=3 must be a positive multiple of the cache's heads_kv=2"):
        lc.decode(q, cache)
    with pytest.raises(lc.OutOfRange, match="decode.n_q=5 queries but sequence 0 holds only 4 tokens"):
        lc.decode(np.zeros((5, 2, 8), np.float32), cache)
    with pytest.raises(lc.InvalidArgument, match="decode workspace: 1 bytes given"):
        lc.decode(np.zeros((1, 2, 8), np.float32), cache, workspace=np.zeros(1, np.uint8))
    paged = lc.KVCache("paged", heads_kv=2, head_dim=8, capacity=64, block_size=4, num_blocks=1)
    with pytest.raises(lc.OutOfMemory, match="need 1 free blocks|free blocks"):
        paged.append(0, k, k)
        paged.append(0, k, k)


@pytest.mark.parametrize("dtype", DTYPES)
def test_row_quantisation_matches_the_cache(dtype, rng):
    x = rng.standard_normal((5, 3, 16), dtype=np.float32)
    stored, scale = lc.kv_quantize(x, dtype)
    back = lc.kv_dequantize(stored, scale, dtype)
    assert _storage_error_ok(dtype, x, back)
    if dtype == "int8":
        np.testing.assert_allclose(scale, np.abs(x).max(-1) / 127, rtol=1e-6)
        np.testing.assert_array_equal(stored, np.clip(np.rint(x / scale[..., None]), -127, 127))
    if dtype == "fp8":
        np.testing.assert_array_equal(stored, lc.to_fp8(x / scale[..., None]))
    cache = lc.KVCache(dtype=dtype, heads_kv=3, head_dim=16, capacity=8)
    cache.append(0, x, x)
    (_, k, _, ks, _), = cache.spans(0)
    np.testing.assert_array_equal(k, stored)
    np.testing.assert_array_equal(cache.read(0)[1], back)
    if scale is not None:
        np.testing.assert_array_equal(ks, scale)
