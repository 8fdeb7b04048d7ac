"""A Llama / Mistral causal LM in plain PyTorch (no transformers), written from transformers'
LlamaForCausalLM / MistralForCausalLM equations, and saved as transformers' save_pretrained
would (config.json, model.safetensors with the same tensor names, generation_config.json).

For machines without transformers (a Debian box has python3-torch only): the training script
falls back to it with --impl plain. The math, as modeling_llama.py computes it in float32:

  h = embed(ids)
  per layer:  h += o( attn( rope(q(rms(h))), rope(k(rms(h))), v(rms(h)) ) )     causal; Mistral: the last
              h += down( silu(gate(rms(h))) * up(rms(h)) )                       `sliding_window` keys only
  logits = lm_head(rms(h))
  rms(x) = w * x / sqrt(mean(x^2) + eps); rope: the default rotate-half layout, inv_freq = theta^(-2i/d)
"""
import json
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F


class Config:
    def __init__(self, model_type="llama", vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=256, rms_norm_eps=1e-6,
                 rope_theta=10000.0, sliding_window=None, bos_token_id=0, eos_token_id=1, pad_token_id=2):
        self.__dict__.update({k: v for k, v in locals().items() if k != "self"})

    def to_json(self):
        d = {k: v for k, v in self.__dict__.items() if k != "rope_theta"}
        d.update({"architectures": ["MistralForCausalLM" if self.model_type == "mistral" else "LlamaForCausalLM"],
                  "hidden_act": "silu", "attention_bias": False, "attention_dropout": 0.0, "mlp_bias": False,
                  "tie_word_embeddings": False, "dtype": "float32", "initializer_range": 0.02, "use_cache": True,
                  "rope_parameters": {"rope_type": "default", "rope_theta": self.rope_theta}})
        if self.model_type != "mistral":
            d.pop("sliding_window")
        return d


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat([-b, a], dim=-1)


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        H, D = c.hidden_size, c.head_dim
        self.c = c
        self.input_layernorm = RMSNorm(H, c.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(H, c.rms_norm_eps)
        self.self_attn = nn.Module()
        self.self_attn.q_proj = nn.Linear(H, c.num_attention_heads * D, bias=False)
        self.self_attn.k_proj = nn.Linear(H, c.num_key_value_heads * D, bias=False)
        self.self_attn.v_proj = nn.Linear(H, c.num_key_value_heads * D, bias=False)
        self.self_attn.o_proj = nn.Linear(c.num_attention_heads * D, H, bias=False)
        self.mlp = nn.Module()
        self.mlp.gate_proj = nn.Linear(H, c.intermediate_size, bias=False)
        self.mlp.up_proj = nn.Linear(H, c.intermediate_size, bias=False)
        self.mlp.down_proj = nn.Linear(c.intermediate_size, H, bias=False)

    def forward(self, h, cos, sin, mask):
        c, a = self.c, self.self_attn
        B, T, _ = h.shape
        x = self.input_layernorm(h)
        q = a.q_proj(x).view(B, T, c.num_attention_heads, c.head_dim).transpose(1, 2)
        k = a.k_proj(x).view(B, T, c.num_key_value_heads, c.head_dim).transpose(1, 2)
        v = a.v_proj(x).view(B, T, c.num_key_value_heads, c.head_dim).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        rep = c.num_attention_heads // c.num_key_value_heads
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        s = (q @ k.transpose(-1, -2)) * c.head_dim ** -0.5 + mask
        o = (F.softmax(s, dim=-1, dtype=torch.float32) @ v).transpose(1, 2).reshape(B, T, -1)
        h = h + a.o_proj(o)
        x = self.post_attention_layernorm(h)
        m = self.mlp
        return h + m.down_proj(F.silu(m.gate_proj(x)) * m.up_proj(x))


class Out:
    def __init__(self, logits, loss):
        self.logits, self.loss = logits, loss


class PlainCausalLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.model = nn.Module()
        self.model.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.model.layers = nn.ModuleList([Layer(c) for _ in range(c.num_hidden_layers)])
        self.model.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.lm_head = nn.Linear(c.hidden_size, c.vocab_size, bias=False)
        for mod in self.modules():  # transformers' _init_weights: N(0, 0.02), norms 1
            if isinstance(mod, (nn.Linear, nn.Embedding)):
                nn.init.normal_(mod.weight, std=0.02)

    def forward(self, input_ids, labels=None):
        c = self.config
        B, T = input_ids.shape
        dev = input_ids.device
        pos = torch.arange(T, device=dev, dtype=torch.float32)
        inv = 1.0 / (c.rope_theta ** (torch.arange(0, c.head_dim, 2, device=dev, dtype=torch.float32) / c.head_dim))
        fr = pos[:, None] * inv[None]
        emb = torch.cat([fr, fr], dim=-1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]
        i, j = torch.arange(T, device=dev)[:, None], torch.arange(T, device=dev)[None]
        allowed = j <= i
        if c.model_type == "mistral" and c.sliding_window:
            allowed &= j > i - c.sliding_window
        mask = torch.zeros(T, T, device=dev).masked_fill(~allowed, float("-inf"))
        h = self.model.embed_tokens(input_ids)
        for layer in self.model.layers:
            h = layer(h, cos, sin, mask)
        logits = self.lm_head(self.model.norm(h))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, c.vocab_size), labels[:, 1:].reshape(-1), ignore_index=-100)
        return Out(logits, loss)

    def save_pretrained(self, d):
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(self.config.to_json(), f, indent=2, sort_keys=True)
        with open(os.path.join(d, "generation_config.json"), "w") as f:
            json.dump({"bos_token_id": self.config.bos_token_id, "eos_token_id": self.config.eos_token_id,
                       "pad_token_id": self.config.pad_token_id}, f, indent=2)
        tensors = sorted((n, p.detach().float().contiguous().cpu()) for n, p in self.named_parameters())
        header, off = {"__metadata__": {"format": "pt"}}, 0
        for n, t in tensors:
            b = t.numel() * 4
            header[n] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + b]}
            off += b
        h = json.dumps(header).encode()
        h += b" " * (-len(h) % 8)
        with open(os.path.join(d, "model.safetensors"), "wb") as f:
            f.write(struct.pack("<Q", len(h)))
            f.write(h)
            for _, t in tensors:
                f.write(t.numpy().astype("<f4").tobytes())
