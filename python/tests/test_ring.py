"""Ring attention over P thread-ranks against a float64 softmax over the whole sequence written
here (docs/attention.md), both layouts, P = 1..4, masks the ring expresses; its plan and
refusals."""
import numpy as np
import pytest

import longctx as lc
from refs import attention_ref, bits_to_f64, mask_ref

MASKS = [dict(), dict(causal=True), dict(causal=True, window=5), dict(window=(3, 3)), dict(causal=True, stride=3)]


@pytest.mark.parametrize("layout", ["contiguous", "zigzag"])
@pytest.mark.parametrize("mcase", MASKS, ids=[str(m) for m in MASKS])
def test_ring_equals_one_attention(layout, mcase, rng):
    for P in (1, 2, 3, 4):
        if layout == "zigzag" and mcase.get("window") == (3, 3):
            continue  # a non-causal window: blocks with qs < ks depend on positions (refused below)
        n_local = 2 * int(rng.integers(1, 6))
        N = P * n_local
        hkv = int(rng.choice([1, 2]))
        q = rng.standard_normal((1, N, 2 * hkv, 8), dtype=np.float32)
        k = rng.standard_normal((1, N, hkv, 8), dtype=np.float32)
        v = rng.standard_normal((1, N, hkv, 4), dtype=np.float32)
        try:
            out, lse, st = lc.ring_attention(q, k, v, lc.Mask(**mcase), ranks=P, layout=layout, timeout=20,
                                             stats=True)
        except lc.Unsupported as e:
            assert mcase.get("window") == (3, 3) and "ring" in str(e)
            continue
        want, wl = attention_ref(*(x.astype(np.float64) for x in (q, k, v)), mask_ref(N, N, **mcase))
        np.testing.assert_allclose(out, want, atol=3e-5, rtol=1e-4)
        np.testing.assert_allclose(lse, wl, atol=3e-5, rtol=1e-5)
        assert len(st) == P and sum(s["bytes_sent"] for s in st) == sum(s["bytes_received"] for s in st)
        pairs = sum(s["pairs"] for s in st)
        assert pairs == 2 * hkv * lc.Mask(**mcase).count(N, N)


def test_half_precision_three_dims_and_threads(rng):
    q = rng.standard_normal((24, 4, 16), dtype=np.float32).astype(np.float16)
    out, lse = lc.ring_attention(q, q, q, causal=True, ranks=3, threads=2, timeout=20)
    assert out.shape == (24, 4, 16) and out.dtype == np.float16 and lse.shape == (4, 24)
    want, _ = attention_ref(*(bits_to_f64(q)[None] for _ in range(3)), mask_ref(24, 24, causal=True))
    np.testing.assert_allclose(out.astype(np.float64), want[0], atol=2e-3, rtol=2e-3)


def test_plan_and_refusals(rng):
    assert lc.ring_positions(16, 4, 1, "zigzag").tolist() == [2, 3, 12, 13]
    assert lc.ring_positions(16, 4, 1, "contiguous").tolist() == [4, 5, 6, 7]
    with pytest.raises(lc.InvalidArgument, match="pad it to 1002 tokens"):
        lc.ring_split_check(1000, 3, "contiguous")
    x = np.zeros((1, 8, 1, 4), np.float32)
    with pytest.raises(lc.Unsupported, match="ring: mask.sinks names absolute key positions"):
        lc.ring_attention(x, x, x, lc.Mask(causal=True, window=4, sinks=1), ranks=2, timeout=20)
    with pytest.raises(lc.InvalidArgument, match="ring layout 'star'"):
        lc.ring_attention(x, x, x, ranks=2, layout="star")
    with pytest.raises(lc.InvalidArgument, match=r"k.shape\[2\]=3 must divide q heads=4|must divide"):
        lc.ring_attention(np.zeros((1, 8, 4, 4), np.float32), np.zeros((1, 8, 3, 4), np.float32),
                          np.zeros((1, 8, 3, 4), np.float32), ranks=2, timeout=20)
