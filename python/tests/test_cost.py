"""The wall: cost rows against formulas written here (docs/cost-model.md), pair counts
against masks, the table / CSV / JSON against `longctx wall` itself, the plot, refusals."""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

import longctx as lc

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, os.pardir, os.pardir, "tests", "fixtures", "config")
GiB = 2.0 ** 30


def _command():
    c = os.environ.get("LONGCTX_COMMAND") or os.path.join(HERE, os.pardir, os.pardir, "build", "longctx")
    return c if os.path.exists(c) else shutil.which("longctx")


def test_memory_formulas_of_the_docs():
    p = lc.CostProblem("llama-3.1-8b")
    r = p.eval("flash", 131072)
    # KV: 2 (k, v) * 32 layers * 8 KV heads * 128 dims * 2 bytes per token
    assert r["cache_bytes"] == 2 * 32 * 8 * 128 * 2 * 131072 == 16 * GiB
    assert r["workspace_bytes"] == 32 * 131072 * 4
    s = p.eval("standard", 131072)
    assert s["score_matrix_bytes"] == 131072 ** 2 * 4 == 64 * GiB
    assert s["score_layer_bytes"] == 32 * s["score_matrix_bytes"]
    assert r["pairs"] == 131072 * 131073 / 2
    assert r["total_bytes"] == r["weight_bytes"] + r["cache_bytes"] + r["workspace_bytes"]
    # Mistral at 1M: a 4096-token ring per layer; Mamba: a state independent of n
    m = lc.CostProblem("mistral-7b-v0.1").eval("native", 1 << 20)
    assert m["cache_bytes"] == 2 * 32 * 8 * 128 * 2 * 4096 == 512 * 2 ** 20
    mb = lc.CostProblem("mamba-2.8b")
    assert mb.eval("native", 1000)["cache_bytes"] == mb.eval("native", 10 ** 6)["cache_bytes"] == 64 * 5120 * 19 * 2
    # batch and dtypes scale the cache
    p8 = lc.CostProblem("llama-3.1-8b", batch=4, cache_dtype="int8")
    assert p8.batch == 4 and p8.cache_dtype == "int8"
    assert p8.eval("flash", 1024)["cache_bytes"] == 4 * 32 * 8 * (256 + 8) * 1024
    # the longest context on 80 GiB, from the docs' hand-checked case
    assert p.max_context("flash", "80GiB") == 532308
    assert lc.CostProblem("mamba-2.8b").max_context("native", 80 * GiB) == -1  # the state stops growing
    assert p.max_context("flash", 1e9) == 0


def test_pair_counts_equal_mask_counts(rng):
    for _ in range(5):
        n = int(rng.integers(1, 300))
        w, g = int(rng.integers(1, 40)), int(rng.integers(0, 5))
        assert lc.pairs_causal(n) == lc.Mask(causal=True).count(n, n) == n * (n + 1) // 2
        assert lc.pairs_sliding(n, w) == lc.Mask(causal=True, window=w).count(n, n)
        assert lc.pairs_longformer(n, w, g) == lc.Mask(window=(w, w), global_tokens=range(min(g, n))).count(n, n)
        b = int(rng.integers(1, 9))
        nb = int(rng.integers(1, 12))
        bb = lc.BigBird(b, window_blocks=1, global_blocks=1, random_blocks=2, n_keys=b * nb)
        assert lc.pairs_bigbird(b * nb, b, 1, 1, 2) == lc.Mask(bigbird=bb).count(b * nb, b * nb)
    assert lc.sum_clamped(0, 10, 1, 0, 5) == sum(min(5, max(0, p + 1)) for p in range(10))


def test_model_shapes():
    m = lc.ModelShape.preset("DeepSeek-V2")
    assert (m.layers, m.heads, m.kv_lora_rank, m.qk_rope_dim) == (60, 128, 512, 64)
    assert m.params == 236e9 and m.active_params == 21e9
    with open(os.path.join(FIXTURES, "llama-3.1-8b.json")) as f:
        cfg = json.load(f)
    for c in (os.path.join(FIXTURES, "llama-3.1-8b.json"), cfg, json.dumps(cfg)):
        s = lc.ModelShape.from_config(c)
        assert (s.layers, s.heads, s.kv_heads, s.head_dim_k) == (32, 32, 8, 128)
    custom = lc.ModelShape("tiny", layers=2, attn_layers=2, hidden=64, heads=4, kv_heads=2, head_dim_k=16,
                           head_dim_v=16, params=1e6)
    custom.check()
    assert lc.CostProblem(custom).eval("flash", 10)["cache_bytes"] == 2 * 2 * 2 * 16 * 2 * 10
    assert "llama-3.1-8b" in lc.presets() and "h100-80gb" in lc.gpus()
    assert lc.techniques()[:3] == ["native", "standard", "flash"]
    assert lc.gpu_memory("h100-80gb") == 80 * GiB
    assert lc.parse_bytes("80GB") == 80e9 and lc.parse_bytes("1.5TiB") == 1.5 * 2 ** 40


def test_wall_data_and_lengths():
    w = lc.wall(lengths="1K..8K", techniques=["flash", "mla"], batch=2)
    assert w.lengths == [1024, 2048, 4096, 8192] and w.techniques == ["flash", "mla"]
    assert len(w.rows) == 8 and w.rows[0]["technique"] == "flash" and w.rows[0]["n"] == 1024
    assert w.column("cache_bytes", "flash") == [2 * 32 * 8 * 256 * 2 * n for n in w.lengths]
    assert w.max_context["flash"] == lc.CostProblem("llama-3.1-8b", batch=2).max_context("flash", 80 * GiB)
    assert lc.parse_lengths("4K,1K,1M") == [1024, 4096, 1 << 20]
    d = json.loads(w.json())
    assert d["techniques"][1]["name"] == "mla" and d["techniques"][0]["rows"][3]["n"] == 8192
    j = lc.wall(model="mamba-2.8b", lengths=[1000, 2000])
    assert "flash" not in j.techniques and "native" in j.techniques


def _same_as_command(args, text):
    cmd = _command()
    if not cmd:
        pytest.skip("the longctx command is not built")
    got = subprocess.run([cmd, "wall"] + args, capture_output=True, text=True, check=True).stdout
    assert got == text


def test_table_csv_json_equal_the_command():
    _same_as_command(["--lengths", "1K..64K", "--techniques", "flash,sliding,mla,standard"],
                     lc.wall(lengths="1K..64K", techniques="flash,sliding,mla,standard").table())
    _same_as_command(["--model", "jamba-v0.1", "--lengths", "1K,3000,1M", "--batch", "3", "--mem", "141GiB", "--csv"],
                     lc.wall("jamba-v0.1", lengths="1K,3000,1M", batch=3, mem="141GiB").csv())
    cfg = os.path.join(FIXTURES, "jamba-v0.1.json")
    _same_as_command(["--config", cfg, "--params", "51.6B", "--active-params", "12B", "--cache-dtype", "fp8",
                      "--gpu", "h200-141gb"],
                     lc.wall(config=cfg, params="51.6B", active_params="12B", cache_dtype="fp8",
                             gpu="h200-141gb").table())
    cmd = _command()
    out = subprocess.run([cmd, "wall", "--model", "gemma-2-9b", "--lengths", "1K,8K", "--json"], capture_output=True,
                         text=True, check=True).stdout
    assert json.loads(out) == lc.wall("gemma-2-9b", lengths="1K,8K").as_dict()


def test_plot_svg(tmp_path):
    w = lc.wall(lengths="1K..2M")
    path = w.plot(str(tmp_path / "wall.svg"))
    text = open(path).read()
    assert text.startswith("<svg") and text.count("<polyline") == len(w.techniques)
    assert "flash (wall at 532K)" in text and "h100-80gb: 80.0 GiB" in text


def test_refusals():
    with pytest.raises(lc.InvalidArgument, match="unknown model preset 'gpt-5' \\(known: llama-3.1-8b"):
        lc.wall("gpt-5")
    with pytest.raises(lc.IOError, match="cannot open config '/nonexistent/config.json'") as e:
        lc.ModelShape.from_config("/nonexistent/config.json")
    assert isinstance(e.value, OSError) and e.value.status == "LC_EIO"
    with pytest.raises(lc.FormatError, match="missing field 'num_hidden_layers'"):
        lc.ModelShape.from_config({"model_type": "llama"})
    with pytest.raises(lc.FormatError, match="not a JSON object"):
        lc.ModelShape.from_config(os.path.join(FIXTURES, "bad-truncated.json"))
    with pytest.raises(lc.InvalidArgument, match="lengths must be lengths in"):
        lc.wall(lengths="8K..1K")
    with pytest.raises(lc.InvalidArgument, match="technique mla needs attention heads; mamba-2.8b has none"):
        lc.wall("mamba-2.8b", techniques="mla")
    with pytest.raises(lc.InvalidArgument, match="unknown dtype 'q3' \\(known: f32, f16, bf16, int8, fp8, int4\\)"):
        lc.wall(cache_dtype="q3")
    with pytest.raises(lc.InvalidArgument, match="params must be a positive count"):
        lc.wall(params="-3B")
    with pytest.raises(lc.InvalidArgument):
        lc.gpu_memory("tpu-v5")
    with pytest.raises(lc.InvalidArgument, match="ModelShape has no field 'depth'"):
        lc.ModelShape("x", depth=3)
    np.testing.assert_equal(lc.wall(lengths="1").lengths, [1])
