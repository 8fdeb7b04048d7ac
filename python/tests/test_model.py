"""Models: the golden checkpoints of tests/fixtures/models (transformers' float32 logits and
greedy ids), a float64 Llama forward written here from the equations over the checkpoint's
own tensors (read by hand, not by the library), contexts with techniques swapped in, the
KV bytes against the wall, sampling, safetensors views; refusals."""
import json
import math
import os
import struct

import numpy as np
import pytest

import longctx as lc
from refs import rope_inv_freq_ref

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, "tests", "fixtures", "models")
NAMES = sorted(os.listdir(FIX)) if os.path.isdir(FIX) else []
pytestmark = pytest.mark.skipif(not NAMES, reason="no model fixtures")


def _golden(name):
    d = os.path.join(FIX, name)
    g = json.load(open(os.path.join(d, "golden.json")))
    ids = g["prompt_ids"] + g["generated_ids"]
    ref = np.fromfile(os.path.join(d, g.get("logits_file", "logits.f32")), np.float32).reshape(len(ids), -1)
    return d, g, ids, ref


@pytest.mark.parametrize("name", NAMES)
def test_golden_checkpoints(name):
    d, g, ids, ref = _golden(name)
    try:
        m = lc.Model(d)
    except lc.Unsupported as e:  # an architecture the runner does not run yet: refused, named
        assert "model_type" in str(e) or g["model_type"] in str(e)
        pytest.skip("the runner refuses %s: %s" % (g["model_type"], e))
    tol = 1e-4 * float(np.abs(ref).max())
    np.testing.assert_allclose(m.logits(ids), ref, atol=tol, rtol=0)
    assert m.generate(g["prompt_ids"], len(g["generated_ids"]), ignore_eos=True).tolist() == g["generated_ids"]
    # prefill of the prompt, then token by token
    ctx = m.context(max_tokens=len(ids))
    s = ctx.new_seq()
    last = ctx.prefill(s, g["prompt_ids"])
    rows = [last]
    for t in g["generated_ids"]:
        rows.append(ctx.decode([s], [t])[0])
    np.testing.assert_allclose(np.array(rows), ref[len(g["prompt_ids"]) - 1:], atol=tol, rtol=0)
    if m.tokenizer is not None and "prompt_text" in g:
        assert m.tokenizer.encode(g["prompt_text"], add_special=True).tolist() == g["prompt_ids"]


def _read_safetensors(d):
    """The checkpoint's tensors, read here from the format (header JSON + raw data)."""
    out = {}
    for f in sorted(os.listdir(d)):
        if f.endswith(".safetensors"):
            raw = open(os.path.join(d, f), "rb").read()
            n = struct.unpack("<Q", raw[:8])[0]
            head = json.loads(raw[8:8 + n])
            for k, v in head.items():
                if k == "__metadata__":
                    continue
                assert v["dtype"] == "F32"
                a, b = v["data_offsets"]
                out[k] = np.frombuffer(raw[8 + n + a:8 + n + b], np.float32).reshape(v["shape"]).astype(np.float64)
    return out


def _llama_ref(d, ids):
    cfg = json.load(open(os.path.join(d, "config.json")))
    w = _read_safetensors(d)
    H, Hkv, hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    eps = cfg["rms_norm_eps"]
    rp = cfg["rope_parameters"]
    inv, af = rope_inv_freq_ref(rp["rope_type"], hd, rp["rope_theta"], factor=rp["factor"],
                                original_max_pos=rp["original_max_position_embeddings"],
                                low_freq_factor=rp["low_freq_factor"], high_freq_factor=rp["high_freq_factor"])
    n = len(ids)
    ang = np.arange(n)[:, None] * inv[None]
    cos, sin = np.cos(ang) * af, np.sin(ang) * af

    def rms(x, g):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g

    def rope(x):  # [n, heads, hd], "rotate half"
        a, b = x[..., :hd // 2], x[..., hd // 2:]
        c, s = cos[:, None], sin[:, None]
        return np.concatenate([a * c - b * s, b * c + a * s], axis=-1)
    x = w["model.embed_tokens.weight"][ids]
    mask = np.tril(np.ones((n, n), bool))
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        h = rms(x, w[p + "input_layernorm.weight"])
        q = rope((h @ w[p + "self_attn.q_proj.weight"].T).reshape(n, H, hd))
        k = rope((h @ w[p + "self_attn.k_proj.weight"].T).reshape(n, Hkv, hd))
        v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(n, Hkv, hd)
        k, v = np.repeat(k, H // Hkv, axis=1), np.repeat(v, H // Hkv, axis=1)
        s = np.einsum("ihd,jhd->hij", q, k) / math.sqrt(hd)
        s = np.where(mask[None], s, -np.inf)
        pr = np.exp(s - s.max(-1, keepdims=True))
        pr /= pr.sum(-1, keepdims=True)
        o = np.einsum("hij,jhd->ihd", pr, v).reshape(n, H * hd)
        x = x + o @ w[p + "self_attn.o_proj.weight"].T
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        gate, up = h @ w[p + "mlp.gate_proj.weight"].T, h @ w[p + "mlp.up_proj.weight"].T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ w[p + "mlp.down_proj.weight"].T
    return rms(x, w["model.norm.weight"]) @ w["lm_head.weight"].T


def test_llama_against_a_float64_forward():
    d, g, ids, _ = _golden("llama")
    want = _llama_ref(d, ids)
    m = lc.Model(d)
    got = m.logits(ids)
    np.testing.assert_allclose(got, want, atol=1e-5 * np.abs(want).max(), rtol=0)
    # chunked prompts, and paged f32 caches, give the same
    np.testing.assert_allclose(m.logits(ids, max_batch=7), want, atol=1e-5 * np.abs(want).max(), rtol=0)
    np.testing.assert_allclose(m.logits(ids, kv_layout="paged", block_size=4), want, atol=1e-5 * np.abs(want).max(),
                               rtol=0)


def test_contexts_techniques_and_the_wall():
    d, g, ids, ref = _golden("llama")
    m = lc.Model(d)
    n = len(ids)
    # a window at least as long as the sequence is the model itself
    np.testing.assert_allclose(m.logits(ids, window=n), ref, atol=1e-4 * np.abs(ref).max(), rtol=0)
    for opts in (dict(kv_dtype="int8"), dict(window=16, sinks=2), dict(kv_dtype="f16", kv_layout="paged"),
                 dict(rope=lc.Rope("yarn", head_dim=16, factor=2, original_max_pos=16))):
        ctx = m.context(max_tokens=n, **opts)
        s = ctx.new_seq()
        ctx.prefill(s, ids)
        problem, technique = ctx.cost_problem()
        assert ctx.cache_bytes(s) == problem.eval(technique, n)["cache_bytes"] > 0
        assert ctx.nbytes >= ctx.cache_bytes(s)
    ctx = m.context(max_seqs=2, max_tokens=n, kv_layout="paged")
    a = ctx.new_seq()
    ctx.prefill(a, ids[:50])
    b = ctx.fork(a)
    assert ctx.seq_len(b) == 50
    la, lb = ctx.decode([a, b], [ids[50], ids[50]])
    np.testing.assert_allclose(la, lb, atol=1e-6)
    np.testing.assert_allclose(la, ref[50], atol=1e-4 * np.abs(ref).max())
    assert "window 16" in m.context(window=16, sinks=2).describe()
    assert m.config["layers"] == 2 and m.config["stop"] == [1] and m.info["copied_bytes"] == 0


def test_retrieval_beyond_the_window():
    d, g, ids, ref = _golden("llama")
    m = lc.Model(d)
    n = len(ids)
    tol = 1e-4 * np.abs(ref).max()
    # retrieving every key the window leaves out is the model itself
    np.testing.assert_allclose(m.logits(ids, window=8, retrieval="knn:%d" % n, max_batch=5), ref, atol=tol, rtol=0)
    np.testing.assert_allclose(m.logits(ids, window=8, retrieval="blocks:%d,1" % n), ref, atol=tol, rtol=0)
    # fewer keys: not the window alone, not the model
    knn = m.logits(ids, window=8, retrieval="knn:2")
    assert np.abs(knn - m.logits(ids, window=8)).max() > tol and np.abs(knn - ref).max() > tol
    assert "kNN memory" in m.context(window=8, retrieval="knn:4").describe()
    with pytest.raises(lc.InvalidArgument, match="knn:K"):
        m.context(window=8, retrieval="knn:0")
    with pytest.raises(lc.InvalidArgument, match="needs a window|leaves out"):
        m.context(retrieval="knn:4")


def test_sampling(rng):
    logits = np.array([1.0, 2.0, 0.5, 2.0, -1.0], np.float32)
    assert lc.argmax(logits) == 1 and lc.sample(logits) == 1  # greedy: the lowest of equal maxima
    assert lc.sample(logits, temperature=1.0, top_k=1, seed=3) == 1
    s = lc.Sampler(temperature=1.0, seed=42)
    draws = np.array([s.sample(logits, draw=i) for i in range(3000)])
    assert [s.sample(logits, draw=i) for i in range(20)] == draws[:20].tolist()
    p = np.exp(logits - logits.max())
    p /= p.sum()
    freq = np.bincount(draws, minlength=5) / draws.size
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / draws.size) + 1e-3)
    top_p = {lc.sample(logits, temperature=1.0, top_p=0.5, seed=1, draw=i) for i in range(200)}
    assert top_p <= {1, 3}
    with pytest.raises(lc.InvalidArgument):
        lc.Sampler(temperature=-1)


def test_safetensors_views():
    d = os.path.join(FIX, "llama")
    st = lc.SafeTensors(d)
    ours = _read_safetensors(d)
    assert sorted(st.keys()) == sorted(ours) and st.files == 4
    for k in ours:
        a = st[k]
        assert not a.flags.writeable and a.dtype == np.float32
        np.testing.assert_array_equal(a, ours[k])
    with pytest.raises(KeyError):
        st["nope"]


def test_refusals(tmp_path):
    d, g, ids, _ = _golden("llama")
    with pytest.raises(lc.IOError):
        lc.Model(str(tmp_path))
    m = lc.Model(d)
    ctx = m.context(max_tokens=8)
    s = ctx.new_seq()
    with pytest.raises(lc.OutOfRange):
        ctx.prefill(s, list(range(9)))
    with pytest.raises(lc.OutOfRange):
        ctx.prefill(s, [100000])
    with pytest.raises(lc.InvalidArgument, match="kv_layout 'tree'"):
        m.context(kv_layout="tree")
    with pytest.raises(lc.InvalidArgument, match="unknown dtype 'q2'"):
        m.context(kv_dtype="q2")
    with pytest.raises(lc.InvalidArgument, match="token ids are integers"):
        ctx.prefill(s, [1.5])
    with pytest.raises(lc.InvalidArgument, match="one token per sequence"):
        ctx.decode([s], [1, 2])
    (tmp_path / "x.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    with pytest.raises(lc.FormatError):
        lc.SafeTensors(str(tmp_path / "x.safetensors"))
