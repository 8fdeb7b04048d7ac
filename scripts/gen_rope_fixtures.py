#!/usr/bin/env python3
"""Writes tests/fixtures/rope/hf_rope.txt: inv_freq and attention factor as Hugging Face
transformers (modeling_rope_utils.ROPE_INIT_FUNCTIONS) computes them, for a table of
configs. Run where torch + transformers are installed (the GPU machine):
    python3 scripts/gen_rope_fixtures.py OUTFILE
Format, one config per block, every number printed with repr (round-trips exactly):
    config name=<n> type=<t> head_dim=<d> partial=<p> theta=<b> max_pos=<m> [key=value ...]
    attention_factor <x>
    inv_freq <n> v0 v1 ...
Keys absent from a line are absent from the HF config. seq_len is what is passed to
the init function (none: not passed)."""
import math, sys

import torch
import transformers
from transformers import LlamaConfig
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

SHORT = [1.0 + 0.05 * i for i in range(24)]
LONG = [1.0 + 0.9 * i for i in range(24)]
SHORT40 = [1.0 + 0.03 * i for i in range(20)]
LONG40 = [2.0 + 1.7 * i for i in range(20)]

# (name, type, head_dim, partial, theta, max_pos, extra rope params, seq_len)
CONFIGS = [
    ("default-128", "default", 128, 1.0, 10000.0, 4096, {}, None),
    ("default-64-theta5e5", "default", 64, 1.0, 500000.0, 8192, {}, None),
    ("default-80-partial0.4", "default", 80, 0.4, 10000.0, 2048, {}, None),
    ("default-96-partial0.5", "default", 96, 0.5, 1000000.0, 2048, {}, None),
    ("linear-4", "linear", 128, 1.0, 10000.0, 16384, {"factor": 4.0}, None),
    ("linear-2.5-partial", "linear", 96, 0.5, 10000.0, 8192, {"factor": 2.5}, None),
    ("dynamic-4-init", "dynamic", 128, 1.0, 10000.0, 2048, {"factor": 4.0}, None),
    ("dynamic-4-len8192", "dynamic", 128, 1.0, 10000.0, 2048, {"factor": 4.0}, 8192),
    ("dynamic-2-len10000", "dynamic", 64, 1.0, 500000.0, 4096, {"factor": 2.0}, 10000),
    ("dynamic-8-len1000", "dynamic", 128, 1.0, 10000.0, 4096, {"factor": 8.0}, 1000),
    ("yarn-4", "yarn", 128, 1.0, 10000.0, 16384, {"factor": 4.0, "original_max_position_embeddings": 4096}, None),
    ("yarn-16-theta1e6", "yarn", 64, 1.0, 1000000.0, 65536, {"factor": 16.0, "original_max_position_embeddings": 4096}, None),
    ("yarn-40-mscale", "yarn", 64, 1.0, 10000.0, 163840,
     {"factor": 40.0, "original_max_position_embeddings": 4096, "mscale": 1.0, "mscale_all_dim": 0.8,
      "beta_fast": 32.0, "beta_slow": 1.0}, None),
    ("yarn-40-mscale-equal", "yarn", 64, 1.0, 10000.0, 163840,
     {"factor": 40.0, "original_max_position_embeddings": 4096, "mscale": 0.707, "mscale_all_dim": 0.707}, None),
    ("yarn-attn-given-betas", "yarn", 128, 1.0, 10000.0, 32768,
     {"factor": 8.0, "original_max_position_embeddings": 4096, "attention_factor": 1.5,
      "beta_fast": 16.0, "beta_slow": 2.0}, None),
    ("yarn-32-notruncate", "yarn", 64, 1.0, 150000.0, 131072,
     {"factor": 32.0, "original_max_position_embeddings": 4096, "beta_fast": 32.0, "beta_slow": 1.0,
      "truncate": False}, None),
    ("yarn-partial0.5", "yarn", 128, 0.5, 10000.0, 32768,
     {"factor": 8.0, "original_max_position_embeddings": 4096}, None),
    ("yarn-factor0.5", "yarn", 64, 1.0, 10000.0, 4096,
     {"factor": 0.5, "original_max_position_embeddings": 4096}, None),
    ("llama3-8", "llama3", 128, 1.0, 500000.0, 131072,
     {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}, None),
    ("llama3-32", "llama3", 64, 1.0, 500000.0, 131072,
     {"factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}, None),
    ("llama3-4-lf2-hf8", "llama3", 128, 1.0, 10000.0, 16384,
     {"factor": 4.0, "low_freq_factor": 2.0, "high_freq_factor": 8.0, "original_max_position_embeddings": 4096}, None),
    ("longrope-short", "longrope", 48, 1.0, 10000.0, 131072,
     {"short_factor": SHORT, "long_factor": LONG, "original_max_position_embeddings": 4096}, 1000),
    ("longrope-long", "longrope", 48, 1.0, 10000.0, 131072,
     {"short_factor": SHORT, "long_factor": LONG, "original_max_position_embeddings": 4096}, 8000),
    ("longrope-init", "longrope", 48, 1.0, 10000.0, 131072,
     {"short_factor": SHORT, "long_factor": LONG, "original_max_position_embeddings": 4096}, None),
    ("longrope-partial-attn", "longrope", 80, 0.5, 10000.0, 32768,
     {"short_factor": SHORT40, "long_factor": LONG40, "original_max_position_embeddings": 2048,
      "attention_factor": 1.2}, 4096),
    ("longrope-factor-given", "longrope", 48, 1.0, 10000.0, 131072,
     {"short_factor": SHORT, "long_factor": LONG, "original_max_position_embeddings": 4096, "factor": 16.0}, 5000),
]


def make_config(rtype, head_dim, partial, theta, max_pos, extra):
    rp = {"rope_type": rtype, "rope_theta": theta}
    if partial != 1.0:
        rp["partial_rotary_factor"] = partial
    rp.update(extra)
    cfg = LlamaConfig(hidden_size=4 * head_dim, num_attention_heads=4, num_key_value_heads=4,
                      head_dim=head_dim, max_position_embeddings=max_pos, rope_parameters=dict(rp))
    # transformers 4.x fallback: rope_scaling + rope_theta attributes
    if not getattr(cfg, "rope_parameters", None):
        cfg.rope_theta = theta
        cfg.rope_scaling = dict(rp)
    if partial != 1.0:
        cfg.partial_rotary_factor = partial
    return cfg


def fmt(x):
    return repr(float(x))


def main():
    out = open(sys.argv[1], "w")
    out.write("# transformers %s torch %s\n" % (transformers.__version__, torch.__version__))
    ok = 0
    for name, rtype, hd, partial, theta, max_pos, extra, seq_len in CONFIGS:
        try:
            cfg = make_config(rtype, hd, partial, theta, max_pos, extra)
            via = rtype
            if rtype in ROPE_INIT_FUNCTIONS:
                fn = ROPE_INIT_FUNCTIONS[rtype]
                args = {}
            else:  # transformers 5 dropped "default": linear with factor 1 is the same function
                cfg = make_config("linear", hd, partial, theta, max_pos, {"factor": 1.0})
                fn = ROPE_INIT_FUNCTIONS["linear"]
                via = "linear(factor=1)"
            kw = {} if seq_len is None else {"seq_len": seq_len}
            inv, attn = fn(cfg, torch.device("cpu"), **kw)
        except Exception as e:  # noqa: BLE001
            print("SKIP %s: %s: %s" % (name, type(e).__name__, e), file=sys.stderr)
            continue
        inv = inv.double().tolist()
        parts = ["name=%s" % name, "type=%s" % rtype, "head_dim=%d" % hd, "partial=%s" % fmt(partial),
                 "theta=%s" % fmt(theta), "max_pos=%d" % max_pos]
        if seq_len is not None:
            parts.append("seq_len=%d" % seq_len)
        for k, v in extra.items():
            if isinstance(v, list):
                parts.append("%s=%s" % (k, ",".join(fmt(x) for x in v)))
            elif isinstance(v, bool):
                parts.append("%s=%d" % (k, int(v)))
            else:
                parts.append("%s=%s" % (k, fmt(v)))
        out.write("config " + " ".join(parts) + "\n")
        out.write("# via %s\n" % via)
        out.write("attention_factor %s\n" % fmt(attn))
        out.write("inv_freq %d %s\n" % (len(inv), " ".join(fmt(x) for x in inv)))
        ok += 1
    print("wrote %d of %d configs" % (ok, len(CONFIGS)), file=sys.stderr)


if __name__ == "__main__":
    main()
