#!/usr/bin/env python3
"""Writes a Llama checkpoint whose weights are set by hand to retrieve: a two-layer induction
circuit (Olsson et al. 2022, "In-context learning and induction heads") that answers the
recall harness's needle question exactly, at any length, by construction. No training, no
data: NumPy only, deterministic.

    python3 scripts/make_induction_model.py OUT_DIR [--tokenizer-from models/recall/llama]

It is what `longctx niah` measures techniques on when no trained model recalls: every
change a technique makes to what a layer can see shows up as a lost answer. The circuit
(docs/recall.md, "The induction model"):

  residual stream (hidden 224): [1 | tok | p1 | p2 | p3 | out | 0 ...], each block C = 42 wide;
    tok = code(t_i), a unit vector per token id (random +-1/sqrt(C), pairwise |dot| <= 0.45)
  layer 0: three positional heads; head d (d = 1, 2, 3) attends to position i - d and copies
    code(t_{i-d}) into p_d. Query and key read only the constant dimension, so their scores
    depend on position alone, through RoPE: on the 12 fastest rotary pairs the query is the
    key turned back by d steps, score(i, j) = s sum_f cos(theta_f (i - j - d)), largest at
    j = i - d with a margin of s sum_f (1 - cos theta_f) = 25 over any other j.
  layer 1: one induction head. Query [tok, p1, p2] (the last three tokens), key [p1, p2, p3]
    (the three tokens before j), on the slowest rotary pairs (angles below 1e-6 per token:
    position-blind up to ~1M tokens). It attends to the j whose three predecessors repeat the
    last three tokens and copies code(t_j) into out.
  lm_head reads out: the next token is the one that followed the same three tokens before.
  The MLPs are zero.

After "... for KEY is" the head finds the needle's "for KEY is", copies the value digit by
digit ("is Ġ D1", "Ġ D1 D2", ...) and the period. A RoPE scaling that moves the fast pairs'
angles (linear interpolation) blinds the positional heads; a window that drops the needle
drops the answer; a retrieval that brings the needle's keys back restores it.
"""
import argparse
import json
import math
import os
import shutil
import struct
import sys

import numpy as np

V, C, H = 512, 42, 224                   # vocabulary, code width, hidden size
HEAD_DIM, HEADS, LAYERS, INTER = 256, 3, 2, 8
FAST = 12                                # rotary pairs of the positional heads
THETA = 10.0 ** (128 / 11)               # pair f turns theta^(-f/128) per token: pair 11 at 0.1 rad
SLOW = list(range(64, 128)) + list(range(192, 256))  # head dims of pairs 64..127: at most 1.5e-6 rad per token
POS_SCORE = 18.0                         # s: each fast pair's score amplitude after the 1/sqrt(head_dim) scale
IND_SCORE = 40.0                         # the induction score per matched token
OUT_GAIN, LOGIT_GAIN = 2.0, 2.0
TRAIN_LENGTH = 256                       # max_position_embeddings (what RoPE scalings scale from)


def codes(seed=7, max_dot=0.45):
    """V unit vectors of +-1/sqrt(C), every pair's |dot| <= max_dot (rejection, seeded)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((V, C))
    n = 0
    while n < V:
        c = rng.choice([-1.0, 1.0], size=C) / math.sqrt(C)
        if n == 0 or np.abs(out[:n] @ c).max() <= max_dot:
            out[n] = c
            n += 1
    return out


def build():
    code = codes()
    tok, p = 1, [1 + C, 1 + 2 * C, 1 + 3 * C]          # block starts: tok, p1, p2, p3
    out = 1 + 4 * C
    w = {}
    emb = np.zeros((V, H))
    emb[:, 0] = 1.0
    emb[:, tok:tok + C] = code
    w["model.embed_tokens.weight"] = emb
    theta = THETA ** (-np.arange(HEAD_DIM // 2) * 2.0 / HEAD_DIM)
    # RMSNorm multiplies by 1/rms: the stream has squared norm 2 entering layer 0, 5 entering
    # layer 1 (const, tok, p1..p3) and 9 at the end (+ out of norm OUT_GAIN); weights undo it
    nu0, nu1, nu2 = math.sqrt(H / 2), math.sqrt(H / 5), math.sqrt(H / (5 + OUT_GAIN ** 2))
    scale = 1.0 / math.sqrt(HEAD_DIM)
    amp = math.sqrt(POS_SCORE / scale)
    for layer in range(LAYERS):
        q = np.zeros((HEADS * HEAD_DIM, H))
        k = np.zeros((HEADS * HEAD_DIM, H))
        v = np.zeros((HEADS * HEAD_DIM, H))
        o = np.zeros((H, HEADS * HEAD_DIM))
        if layer == 0:
            for h, d in enumerate((1, 2, 3)):
                base = h * HEAD_DIM
                for f in range(FAST):  # query = key turned back by d steps: score ~ cos(theta_f (i - j - d))
                    q[base + f, 0] = amp * math.cos(d * theta[f]) / nu0
                    q[base + f + HEAD_DIM // 2, 0] = -amp * math.sin(d * theta[f]) / nu0
                    k[base + f, 0] = amp / nu0
                for c in range(C):
                    v[base + c, tok + c] = 1.0 / nu0
                    o[p[d - 1] + c, base + c] = 1.0
        else:
            b = math.sqrt(IND_SCORE / scale)
            for m in range(3 * C):  # query [tok, p1, p2], key [p1, p2, p3]
                q[SLOW[m], tok + m] = b / nu1
                k[SLOW[m], p[0] + m] = b / nu1
            for c in range(C):
                v[c, tok + c] = 1.0 / nu1
                o[out + c, c] = OUT_GAIN
        pre = f"model.layers.{layer}."
        w[pre + "self_attn.q_proj.weight"] = q
        w[pre + "self_attn.k_proj.weight"] = k
        w[pre + "self_attn.v_proj.weight"] = v
        w[pre + "self_attn.o_proj.weight"] = o
        w[pre + "mlp.gate_proj.weight"] = np.zeros((INTER, H))
        w[pre + "mlp.up_proj.weight"] = np.zeros((INTER, H))
        w[pre + "mlp.down_proj.weight"] = np.zeros((H, INTER))
        w[pre + "input_layernorm.weight"] = np.ones(H)
        w[pre + "post_attention_layernorm.weight"] = np.ones(H)
    w["model.norm.weight"] = np.ones(H)
    head = np.zeros((V, H))
    head[:, out:out + C] = code * LOGIT_GAIN / nu2
    w["lm_head.weight"] = head
    return w


def write_safetensors(path, tensors):
    header, blobs, at = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [at, at + a.nbytes]}
        blobs.append(a.tobytes())
        at += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--tokenizer-from", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "recall", "llama"),
                    help="a directory with the recall format's tokenizer.json (scripts/recall_data.py writes one)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": V, "hidden_size": H,
        "intermediate_size": INTER, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "num_key_value_heads": HEADS,
        "head_dim": HEAD_DIM, "max_position_embeddings": TRAIN_LENGTH, "rms_norm_eps": 1e-6, "hidden_act": "silu",
        "rope_parameters": {"rope_type": "default", "rope_theta": THETA}, "rope_theta": THETA, "attention_bias": False,
        "mlp_bias": False, "tie_word_embeddings": False, "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 2,
        "torch_dtype": "float32",
    }
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    write_safetensors(os.path.join(a.out, "model.safetensors"), build())
    for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        src = os.path.join(a.tokenizer_from, name)
        if os.path.exists(src):
            shutil.copy(src, os.path.join(a.out, name))
        elif name == "tokenizer.json":
            sys.exit(f"make_induction_model: no {src}: pass --tokenizer-from DIR with the recall format's tokenizer.json")
    print(f"make_induction_model: wrote {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
