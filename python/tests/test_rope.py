"""RoPE: inv_freq and the attention factor of every scaling against Hugging Face's formulas
written here (docs/rope.md), rotation in place against a NumPy rotation, tables, refusals."""
import numpy as np
import pytest

import longctx as lc
from refs import bits_to_f64, f32_to_bf16_bits, rope_apply_ref, rope_inv_freq_ref

CONFIGS = [
    dict(kind="default", head_dim=64, theta=10000.0),
    dict(kind="default", head_dim=80, theta=5e5, partial=0.5),
    dict(kind="linear", head_dim=64, theta=1e4, factor=4.0),
    dict(kind="ntk", head_dim=128, theta=1e4, factor=8.0),
    dict(kind="dynamic", head_dim=64, theta=1e4, factor=2.0, max_pos=2048, seq_len=5000),
    dict(kind="dynamic", head_dim=64, theta=1e4, factor=2.0, max_pos=2048, seq_len=100),
    dict(kind="yarn", head_dim=128, theta=1e4, factor=4.0, max_pos=32768, original_max_pos=8192),
    dict(kind="yarn", head_dim=64, theta=1e6, factor=16.0, max_pos=65536, original_max_pos=4096, mscale=0.707,
         mscale_all_dim=0.707, beta_fast=16.0, beta_slow=2.0),
    dict(kind="yarn", head_dim=64, theta=1.5e5, factor=32.0, max_pos=131072, original_max_pos=4096, truncate=False),
    dict(kind="yarn", head_dim=64, theta=1e4, factor=4.0, max_pos=16384, original_max_pos=4096,
         attention_factor=1.3),
    dict(kind="llama3", head_dim=128, theta=5e5, factor=8.0, original_max_pos=8192, low_freq_factor=1.0,
         high_freq_factor=4.0),
    dict(kind="longrope", head_dim=32, theta=1e4, max_pos=131072, original_max_pos=4096, seq_len=100),
    dict(kind="longrope", head_dim=32, theta=1e4, max_pos=131072, original_max_pos=4096, seq_len=8000),
]


def _rope(c, rng):
    c = dict(c)
    kind = c.pop("kind")
    c.pop("seq_len", None)
    if kind == "longrope":
        c["short_factor"] = 1 + rng.random(c["head_dim"] // 2)
        c["long_factor"] = 1 + 10 * rng.random(c["head_dim"] // 2)
    return lc.Rope(kind, **c), c


@pytest.mark.parametrize("cfg", CONFIGS, ids=["%s-%d" % (c["kind"], i) for i, c in enumerate(CONFIGS)])
def test_inv_freq_and_attention_factor(cfg, rng):
    rope, kw = _rope(cfg, rng)
    seq_len = cfg.get("seq_len", 0)
    inv, af = rope.inv_freq(seq_len)
    want, want_af = rope_inv_freq_ref(cfg["kind"], seq_len=seq_len, **kw)
    np.testing.assert_allclose(inv, want, rtol=1e-12)
    assert af == pytest.approx(want_af, rel=1e-12)
    assert rope.dim == 2 * len(inv)
    cos, sin = lc.rope_tables(rope, [0, 3, 17], seq_len=seq_len, dtype=np.float64)
    np.testing.assert_allclose(cos, np.cos(np.outer([0, 3, 17], want)) * want_af, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(sin, np.sin(np.outer([0, 3, 17], want)) * want_af, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("layout", ["neox", "gptj"])
@pytest.mark.parametrize("partial", [1.0, 0.5])
def test_apply_rotates_in_place(layout, partial, rng):
    rope = lc.Rope("yarn", head_dim=48, theta=1e4, factor=4, original_max_pos=512, layout=layout, partial=partial)
    x = rng.standard_normal((2, 13, 3, 48), dtype=np.float32)
    pos = rng.integers(0, 4000, size=13)
    want = rope_apply_ref(x, *rope.inv_freq(), pos, layout)
    y = x.copy()
    assert rope.apply(y, pos) is y
    np.testing.assert_allclose(y, want, atol=2e-4, rtol=1e-5)
    # pos0 instead of positions; a BHSD view rotated in place
    buf = np.ascontiguousarray(x.transpose(0, 2, 1, 3))
    lc.rope_apply(rope, buf.transpose(0, 2, 1, 3), pos0=5)
    np.testing.assert_allclose(buf.transpose(0, 2, 1, 3), rope_apply_ref(x, *rope.inv_freq(), np.arange(5, 18),
                                                                         layout), atol=1e-5, rtol=1e-5)


def test_apply_half_precision(rng):
    rope = lc.Rope("default", head_dim=32, theta=1e4)
    x = rng.standard_normal((9, 2, 32), dtype=np.float32)  # [seq, heads, dim]: batch 1
    for arr, dtype, tol in ((x.astype(np.float16), None, 2e-3), (f32_to_bf16_bits(x), "bf16", 1.6e-2)):
        want = rope_apply_ref(bits_to_f64(arr)[None], *rope.inv_freq(), np.arange(9))[0]
        rope.apply(arr, dtype=dtype)
        np.testing.assert_allclose(bits_to_f64(arr), want, atol=tol * 4, rtol=tol)


def test_hf_tables_and_from_config():
    cfg = {"hidden_size": 256, "num_attention_heads": 4, "max_position_embeddings": 131072, "rope_theta": 5e5,
           "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                            "original_max_position_embeddings": 8192}}
    rope = lc.Rope.from_config(cfg)
    assert rope.type == "llama3" and rope.head_dim == 64 and rope.theta == 5e5
    want, _ = rope_inv_freq_ref("llama3", 64, 5e5, factor=8.0, original_max_pos=8192, low_freq_factor=1.0,
                                high_freq_factor=4.0)
    np.testing.assert_allclose(rope.inv_freq()[0], want, rtol=1e-12)
    cos, sin = lc.rope_tables(rope, np.arange(4), layout="hf")
    assert cos.shape == (4, 64) and cos.dtype == np.float32
    np.testing.assert_array_equal(cos[:, :32], cos[:, 32:])


def test_refusals():
    with pytest.raises(lc.InvalidArgument, match="rope type 'su' is not one of"):
        lc.Rope("su", head_dim=64)
    with pytest.raises(lc.InvalidArgument, match="factor"):
        lc.Rope("linear", head_dim=64).check()
    with pytest.raises(lc.InvalidArgument, match="max_pos"):
        lc.Rope("dynamic", head_dim=64, factor=2).inv_freq()
    with pytest.raises(lc.InvalidArgument, match="original_max_pos must be >= 1 for llama3"):
        lc.Rope("llama3", head_dim=64, factor=8, low_freq_factor=1, high_freq_factor=4).check()
    with pytest.raises(lc.InvalidArgument, match="short_factor has 3 values; it needs rotated dims / 2 = 16"):
        lc.Rope("longrope", head_dim=32, original_max_pos=10, max_pos=20, short_factor=[1, 2, 3]).check()
    with pytest.raises(lc.InvalidArgument, match="positions has 2 entries; x has seq=3"):
        lc.Rope("default", head_dim=8).apply(np.zeros((3, 1, 8), np.float32), [0, 1])
    with pytest.raises(lc.Error) as e:
        lc.Rope("default", head_dim=8).apply(np.zeros((1, 3, 1, 6), np.float32))
    assert "head_dim" in str(e.value)
