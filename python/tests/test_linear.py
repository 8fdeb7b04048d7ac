"""Linear attention against the quadratic form written here in float64
(docs/linear-attention.md): every feature map, decay, normalisation, causal and not; the
chunked prefill continued by recurrent steps; refusals."""
import numpy as np
import pytest

import longctx as lc
from refs import linear_ref

CASES = [
    dict(feature="elu1"),
    dict(feature="relu"),
    dict(feature="elu1", decay=True),
    dict(feature="elu1", decay=True, normalize=False),
    dict(feature="favor"),
    dict(feature="relu", causal=False),
    dict(feature="favor", causal=False),
]


def _qkv(rng, B, n, H, dk, dv, scale=0.5):
    return (scale * rng.standard_normal((B, n, H, dk), dtype=np.float32),
            scale * rng.standard_normal((B, n, H, dk), dtype=np.float32),
            rng.standard_normal((B, n, H, dv), dtype=np.float32))


@pytest.mark.parametrize("method", ["chunked", "recurrent", "naive"])
@pytest.mark.parametrize("case", CASES, ids=[str(c) for c in CASES])
def test_against_the_quadratic_form(method, case, rng):
    causal = case.get("causal", True)
    if method == "recurrent" and not causal:
        pytest.skip("the recurrent form is causal")
    B, n, H = int(rng.integers(1, 3)), int(rng.integers(1, 70)), int(rng.integers(1, 4))
    dk, dv = int(rng.choice([4, 9, 16])), int(rng.choice([3, 8]))
    q, k, v = _qkv(rng, B, n, H, dk, dv)
    kw = dict(feature=case["feature"], causal=causal, normalize=case.get("normalize", True))
    if case.get("decay"):
        kw["decay"] = rng.uniform(0.8, 1.0, H).astype(np.float32)
    if case["feature"] == "favor":
        kw["omega"] = lc.favor_draw(int(rng.choice([8, 19])), dk, seed=int(rng.integers(1 << 30)))
    out, state = lc.linear_attention(q, k, v, method=method, chunk=int(rng.choice([0, 1, 5, 16])), **kw)
    want = linear_ref(q.astype(np.float64), k.astype(np.float64), v.astype(np.float64), **kw)
    np.testing.assert_allclose(out, want, atol=2e-4, rtol=2e-4)
    if causal and method != "naive":
        F = kw["omega"].shape[0] if "omega" in kw else dk
        assert state.shape == (B, H, lc.linear_state_floats(dk, dv, case["feature"], F))
    else:
        assert state is None


def test_prefill_continued_by_steps_equals_one_pass(rng):
    B, n, H, dk, dv = 2, 37, 3, 8, 5
    q, k, v = _qkv(rng, B, n, H, dk, dv)
    decay = np.array([0.9, 0.95, 1.0], np.float32)
    full, _ = lc.linear_attention(q, k, v, decay=decay, chunk=8)
    cut = 20
    part, state = lc.linear_attention(q[:, :cut], k[:, :cut], v[:, :cut], decay=decay, chunk=8)
    outs = [part]
    for t in range(cut, n):
        o, state2 = lc.linear_attention_step(q[:, t:t + 1], k[:, t:t + 1], v[:, t:t + 1], state, decay=decay)
        assert state2 is state  # updated in place
        outs.append(o)
    np.testing.assert_allclose(np.concatenate(outs, axis=1), full, atol=1e-5, rtol=1e-5)
    # a caller's workspace gives the same
    ws = np.empty(lc.linear_attention_workspace_size(q, k, v, chunk=8), np.uint8)
    np.testing.assert_array_equal(lc.linear_attention(q, k, v, decay=decay, chunk=8, workspace=ws)[0], full)
    # strided q (a BHSD buffer) gives the same
    qb = np.ascontiguousarray(q.transpose(0, 2, 1, 3))
    o2, _ = lc.linear_attention(qb.transpose(0, 2, 1, 3), k, v, decay=decay, chunk=8)
    np.testing.assert_allclose(o2, full, atol=1e-6)


def test_favor_draw_is_orthogonal_and_reproducible():
    om = lc.favor_draw(12, 8, seed=5)
    assert om.shape == (12, 8) and om.dtype == np.float32
    blk = om[:8].astype(np.float64)
    gram = blk @ blk.T
    np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0, atol=1e-4)
    np.testing.assert_array_equal(om, lc.favor_draw(12, 8, seed=5))
    assert not np.array_equal(om, lc.favor_draw(12, 8, seed=5, draw=1))


def test_refusals(rng):
    q, k, v = _qkv(rng, 1, 6, 2, 4, 4)
    with pytest.raises(lc.InvalidArgument, match="q has dtype float16; linear attention takes float32"):
        lc.linear_attention(q.astype(np.float16), k, v)
    with pytest.raises(lc.InvalidArgument, match=r"decay\[1\]=1.5 must be in \(0, 1\]"):
        lc.linear_attention(q, k, v, decay=np.array([0.5, 1.5], np.float32))
    with pytest.raises(lc.InvalidArgument, match=r"decay has shape \[3\], expected \[2\]"):
        lc.linear_attention(q, k, v, decay=np.ones(3, np.float32))
    with pytest.raises(lc.InvalidArgument, match="features=0: FAVOR\\+ needs a feature count > 0"):
        lc.linear_attention(q, k, v, feature="favor")
    with pytest.raises(lc.InvalidArgument, match="decay needs causal=1"):
        lc.linear_attention(q, k, v, causal=False, decay=np.ones(2, np.float32))
    with pytest.raises(lc.InvalidArgument, match="causal=0: the recurrent form is causal by definition"):
        lc.linear_attention(q, k, v, causal=False, method="recurrent")
    with pytest.raises(lc.InvalidArgument, match="state has 7 floats"):
        lc.linear_attention(q, k, v, state=np.zeros(7, np.float32))
    with pytest.raises(lc.InvalidArgument, match=r"v.shape\[1\]=5 \(seq\) must equal q.shape\[1\]=6"):
        lc.linear_attention(q, k, v[:, :5])
    with pytest.raises(lc.InvalidArgument, match="chunk=5000 must be in 0..4096"):
        lc.linear_attention(q, k, v, chunk=5000)
    with pytest.raises(lc.OutOfMemory, match="the 6 x 6 matrix needs"):
        lc.linear_attention(q, k, v, method="naive", max_bytes=16)
