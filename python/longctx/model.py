"""Hugging Face checkpoints run from the library's kernels: models, contexts (the caches of
one or more sequences, with techniques swapped in), sampling and generation
(include/longctx/model.h, docs/models.md)."""
import ctypes
import os

import numpy as np

from . import _array
from ._lib import Handle, InvalidState, call, fn, refuse
from ._structs import (CContextConfig, CCostProblem, CRetrieval, CModelConfig, CModelInfo, CSampler, P_f32, POINTER, c_int,
                       c_int64, c_size_t, c_void_p)
from ctypes import c_char_p
from .cache import LAYOUTS as _KV_LAYOUTS
from .cost import CostProblem, technique_names
from .rope import Rope, TYPES as _ROPE_TYPES, LAYOUTS as _ROPE_LAYOUTS

_P_i32 = POINTER(ctypes.c_int32)
_load = fn("lc_model_load", c_int, [ctypes.c_char_p, POINTER(c_void_p)])
_destroy = fn("lc_model_destroy", None, [c_void_p])
_config_of = fn("lc_model_config_of", POINTER(CModelConfig), [c_void_p])
_info = fn("lc_model_get_info", None, [c_void_p, POINTER(CModelInfo)])
_arch_name = fn("lc_arch_name", ctypes.c_char_p, [c_int])
_ctx_check = fn("lc_context_config_check", c_int, [c_void_p, POINTER(CContextConfig)])
_ctx_create = fn("lc_context_create", c_int, [c_void_p, POINTER(CContextConfig), POINTER(c_void_p)])
_retrieval_parse = fn("lc_retrieval_parse", c_int, [c_char_p, POINTER(CRetrieval)])
_ctx_destroy = fn("lc_context_destroy", None, [c_void_p])
_seq_new = fn("lc_context_seq_new", c_int, [c_void_p, POINTER(c_int)])
_seq_fork = fn("lc_context_seq_fork", c_int, [c_void_p, c_int, POINTER(c_int)])
_seq_remove = fn("lc_context_seq_remove", c_int, [c_void_p, c_int])
_seq_len = fn("lc_context_seq_len", c_int64, [c_void_p, c_int])
_prefill = fn("lc_context_prefill", c_int, [c_void_p, c_int, _P_i32, c_int64, P_f32, c_int])
_decode = fn("lc_context_decode", c_int, [c_void_p, c_int, POINTER(c_int), _P_i32, P_f32])
_cache_bytes = fn("lc_context_cache_bytes", c_size_t, [c_void_p, c_int])
_alloc_bytes = fn("lc_context_alloc_bytes", c_size_t, [c_void_p])
_cost_problem = fn("lc_context_cost_problem", c_int, [c_void_p, POINTER(CCostProblem), POINTER(c_int)])
_describe = fn("lc_context_describe", ctypes.c_char_p, [c_void_p, ctypes.c_char_p, c_size_t])
_sampler_check = fn("lc_sampler_check", c_int, [POINTER(CSampler)])
_sample_ws = fn("lc_sample_workspace_size", c_size_t, [c_int64])
_sample = fn("lc_sample", c_int, [POINTER(CSampler), P_f32, c_int64, ctypes.c_uint64, c_void_p, c_size_t, _P_i32])
_argmax = fn("lc_argmax", ctypes.c_int32, [P_f32, c_int64])

MIXERS = ("attention", "mla", "mamba", "mamba2")
MLPS = ("dense", "moe", "none")
ACTIVATIONS = ("silu", "gelu_tanh", "gelu")


def _rope_from_c(r):
    half = max(1, int(r.head_dim * (r.partial or 1.0)) // 2)
    sf = np.ctypeslib.as_array(r.short_factor, (half,)).copy() if r.short_factor else None
    lf = np.ctypeslib.as_array(r.long_factor, (half,)).copy() if r.long_factor else None
    return Rope(_ROPE_TYPES[r.type], head_dim=r.head_dim, theta=r.theta, partial=r.partial,
                layout=_ROPE_LAYOUTS[r.layout], factor=r.factor, max_pos=r.max_pos,
                original_max_pos=r.original_max_pos, attention_factor=r.attention_factor, beta_fast=r.beta_fast,
                beta_slow=r.beta_slow, mscale=r.mscale, mscale_all_dim=r.mscale_all_dim,
                truncate=not r.no_truncate, low_freq_factor=r.low_freq_factor,
                high_freq_factor=r.high_freq_factor, short_factor=sf, long_factor=lf)


def _tokens(tokens, name="tokens"):
    a = np.asarray(tokens)
    if a.ndim == 0:
        a = a.reshape(1)
    if a.size and not np.issubdtype(a.dtype, np.integer):
        refuse("%s have dtype %s; token ids are integers" % (name, a.dtype))
    if a.ndim != 1:
        refuse("%s must be one sequence of ids (1-D), has %d dims" % (name, a.ndim))
    return np.ascontiguousarray(a, dtype=np.int32)


class Model(Handle):
    """A Hugging Face checkpoint directory (config.json, model.safetensors or its shards,
    generation_config.json), loaded by lc_model_load: safetensors mapped, f32 weights used
    in place, f16 / bf16 converted once. The model types the runner knows (llama, mistral,
    qwen2, gemma2, mamba, mamba2, jamba, deepseek_v2 at this writing; docs/models.md); others
    are refused as Unsupported, naming the supported ones.

      model.config          what the runner read from config.json, as a dict
      model.info            params, weight_bytes, mapped_bytes, copied_bytes, files
      model.tokenizer       the checkpoint's tokenizer.json (a Tokenizer), or None
      model.context(...)    a Context: caches and scratch for sequences, with overrides
      model.generate(prompt, max_new_tokens, ...)   text in, text out (or ids in, ids out)
      model.logits(ids)     float32 [len(ids), vocab], every position's logits

    Model("path/to/checkpoint").generate("The needle is", 32)"""

    _what = "model"
    _destroy = _destroy

    def __init__(self, path):
        self._h = None
        self.path = os.fspath(path)
        h = c_void_p()
        call(_load, os.fsencode(self.path), ctypes.byref(h))
        self._h = h
        self._tokenizer = False


    @property
    def config(self):
        """The runner's reading of config.json (lc_model_config) as a dict: model_type, arch,
        layers, hidden, intermediate, vocab, max_pos, heads, kv_heads, head_dim, norm_eps,
        act, attn_scale, attn_softcap, final_softcap, rope (a Rope), bos, stop (the eos ids),
        layer_plan (mixer, mlp, window per layer), no_rope, ssm, moe and mla (dicts), ..."""
        c = _config_of(self._handle()).contents
        d = {"model_type": c.model_type.decode(), "arch": _arch_name(c.arch).decode()}
        for k in ("layers", "hidden", "intermediate", "vocab", "max_pos", "heads", "kv_heads", "head_dim", "norm_eps",
                  "embed_scale", "attn_scale", "attn_softcap", "final_softcap", "bos"):
            d[k] = getattr(c, k)
        for k in ("norm_unit_offset", "sandwich_norms", "qkv_bias", "o_bias", "mlp_bias", "tie_embeddings"):
            d[k] = bool(getattr(c, k))
        d["act"] = ACTIVATIONS[c.act]
        d["rope"] = _rope_from_c(c.rope)
        d["stop"] = [c.stop[i] for i in range(c.n_stop)]
        d["layer_plan"] = [{"mixer": MIXERS[c.layer[i].mixer], "mlp": MLPS[c.layer[i].mlp], "window": c.layer[i].window}
                           for i in range(min(c.layers, 1024))]
        d["no_rope"] = bool(c.no_rope)
        for name, sub in (("ssm", c.ssm), ("moe", c.moe), ("mla", c.mla)):
            d[name] = {f[0]: getattr(sub, f[0]) for f in type(sub)._fields_}
        return d

    @property
    def vocab(self):
        return int(_config_of(self._handle()).contents.vocab)

    @property
    def info(self):
        """params, weight_bytes (as the kernels read them), mapped_bytes, copied_bytes, files."""
        i = CModelInfo()
        _info(self._handle(), ctypes.byref(i))
        return {f[0]: getattr(i, f[0]) for f in CModelInfo._fields_}

    @property
    def tokenizer(self):
        """The checkpoint's tokenizer (tokenizer.json beside config.json), or None."""
        if self._tokenizer is False:
            from .tokenizer import Tokenizer
            self._tokenizer = Tokenizer(self.path) if os.path.exists(os.path.join(self.path, "tokenizer.json")) \
                else None
        return self._tokenizer

    def context(self, *, max_seqs=1, max_tokens=0, max_batch=0, kv_dtype="f32", kv_layout="contiguous", block_size=0,
                window=0, sinks=0, rope=None, retrieval=None, threads=0, query_f32=False):
        """A Context: the caches of up to max_seqs sequences of max_tokens tokens (0:
        min(max_position_embeddings, 4096)) and every scratch buffer. The techniques are
        overrides of the plan, never of the checkpoint:
          kv_dtype    "f32", "f16", "bf16", "int8", "fp8"
          kv_layout   "contiguous" or "paged" (block_size) for the global layers
          window      every attention layer sees at most the last `window` keys (ring caches)
          sinks       with a window: the first `sinks` tokens stay visible (StreamingLLM)
          rope        a Rope whose type, factor and parameters replace the model's scaling
                      (theta, head_dim and partial stay the model's)
          retrieval   with a window: "knn:K" (the top K keys the window evicted, from a kNN
                      memory) or "blocks:K[,B]" (the top K blocks of B keys by mean key)
          max_batch   tokens per forward (longer prompts run in chunks; 0: 512)"""
        return Context(self, max_seqs=max_seqs, max_tokens=max_tokens, max_batch=max_batch, kv_dtype=kv_dtype,
                       kv_layout=kv_layout, block_size=block_size, window=window, sinks=sinks, rope=rope,
                       retrieval=retrieval, threads=threads, query_f32=query_f32)

    def logits(self, tokens, **context):
        """float32 [len(tokens), vocab]: the logits of every position of one prefill over
        `tokens` in a fresh context (context options as in context())."""
        ids = _tokens(tokens)
        context.setdefault("max_tokens", max(ids.size, 1))
        ctx = self.context(**context)
        return ctx.prefill(ctx.new_seq(), ids, all_logits=True)

    def generate(self, prompt, max_new_tokens=32, *, temperature=0.0, top_k=0, top_p=0.0, seed=0, stop=None,
                 ignore_eos=False, add_special=True, skip_special=True, **context):
        """Continues a prompt: a str (encoded with the checkpoint's tokenizer, special tokens
        as its post-processor adds them) returns the generated text; ids (a list or array)
        return the generated ids (int32). Greedy by default; temperature > 0 samples
        (then top_k, then top_p; draw i of the generation is Philox(seed, i)). Generation
        stops after max_new_tokens or at a stop id (default: the model's eos ids; ignore_eos
        keeps going). Context options (kv_dtype, window, sinks, rope, ...) as in context()."""
        text = isinstance(prompt, str)
        if text:
            tok = self.tokenizer
            if tok is None:
                refuse("a text prompt needs the checkpoint's tokenizer.json; %s has none (pass token ids)" % self.path)
            ids = tok.encode(prompt, add_special=add_special)
        else:
            ids = _tokens(prompt, "prompt")
        max_new = int(max_new_tokens)
        if max_new < 0:
            refuse("max_new_tokens=%d must be >= 0" % max_new)
        context.setdefault("max_tokens", max(ids.size + max_new, 1))
        ctx = self.context(**context)
        stops = set() if ignore_eos else set(self.config["stop"] if stop is None else [int(s) for s in stop])
        sampler = Sampler(temperature, top_k, top_p, seed)
        seq = ctx.new_seq()
        out = []
        if max_new:
            logits = ctx.prefill(seq, ids)
            for i in range(max_new):
                t = sampler.sample(logits, draw=i)
                out.append(t)
                if t in stops or i + 1 == max_new:
                    break
                logits = ctx.decode([seq], [t])[0]
        gen = np.array(out, dtype=np.int32)
        if text:
            return self.tokenizer.decode(gen, skip_special=skip_special)
        return gen

    def __repr__(self):
        if self._h is None:
            return "<Model closed>"
        c = _config_of(self._handle()).contents
        return "<Model %s: %d layers, hidden %d, vocab %d, %s params>" % (
            c.model_type.decode(), c.layers, c.hidden, c.vocab, "%.4g" % self.info["params"])


class Context(Handle):
    """The caches and scratch of up to max_seqs sequences over one Model (lc_context);
    model.context(...) makes one. One thread at a time (its calls run OpenMP inside).

      new_seq(), fork(src), remove(seq), seq_len(seq)
      prefill(seq, tokens, all_logits=False) -> float32 [vocab] (or [n, vocab])
      decode(seqs, tokens) -> float32 [len(seqs), vocab]: one token for each sequence
      cache_bytes(seq) (= the wall's cache_bytes), nbytes, describe(), cost_problem()"""

    _what = "context"
    _destroy = _ctx_destroy

    def __init__(self, model, **kw):
        self._h = None
        self.model = model
        c = CContextConfig()
        c.max_seqs, c.max_tokens, c.max_batch = int(kw["max_seqs"]), int(kw["max_tokens"]), int(kw["max_batch"])
        c.kv_dtype = _array.dtype_code(kw["kv_dtype"], "kv_dtype")
        if kw["kv_layout"] not in _KV_LAYOUTS:
            refuse("kv_layout '%s' is not one of %s" % (kw["kv_layout"], ", ".join(_KV_LAYOUTS)))
        c.kv_layout = _KV_LAYOUTS.index(kw["kv_layout"])
        c.block_size, c.window, c.sinks = int(kw["block_size"]), int(kw["window"]), int(kw["sinks"])
        rope = kw["rope"]
        self._rope = rope
        if rope is not None:
            if not isinstance(rope, Rope):
                refuse("rope must be a longctx.Rope, not %s" % type(rope).__name__)
            c.rope_override = 1
            c.rope = rope._c()
        if kw["retrieval"] is not None:
            if not isinstance(kw["retrieval"], str):
                refuse("retrieval must be a string such as 'knn:16' or 'blocks:4,64', not %s" % type(kw["retrieval"]).__name__)
            call(_retrieval_parse, kw["retrieval"].encode(), ctypes.byref(c.retrieval))
        c.threads, c.query_f32 = int(kw["threads"]), int(bool(kw["query_f32"]))
        self._cfg = c
        h = c_void_p()
        call(_ctx_create, model._handle(), ctypes.byref(c), ctypes.byref(h))
        self._h = h
        self.vocab = model.vocab


    def new_seq(self):
        """Starts a sequence; returns its id."""
        s = c_int()
        call(_seq_new, self._handle(), ctypes.byref(s))
        return s.value

    def fork(self, src):
        """A new sequence continuing from src's tokens (paged caches share the blocks)."""
        s = c_int()
        call(_seq_fork, self._handle(), int(src), ctypes.byref(s))
        return s.value

    def remove(self, seq):
        call(_seq_remove, self._handle(), int(seq))

    def seq_len(self, seq=0):
        """Tokens fed to seq so far (its next position); -1 for a sequence not alive."""
        return int(_seq_len(self._handle(), int(seq)))

    def prefill(self, seq, tokens, all_logits=False):
        """Feeds tokens to seq at its next positions (in chunks of max_batch); returns the
        last token's logits float32 [vocab], or with all_logits every token's [n, vocab]."""
        ids = _tokens(tokens)
        out = np.empty((ids.size, self.vocab) if all_logits else (self.vocab,), np.float32)
        call(_prefill, self._handle(), int(seq), ids.ctypes.data_as(_P_i32), ids.size, out.ctypes.data_as(P_f32),
             int(bool(all_logits)))
        return out

    def decode(self, seqs, tokens):
        """One token for each of several distinct sequences, in one forward: returns float32
        [len(seqs), vocab]."""
        s = np.ascontiguousarray(np.asarray(seqs, dtype=np.int32).reshape(-1))
        ids = _tokens(tokens)
        if ids.size != s.size:
            refuse("decode: %d sequences and %d tokens; give one token per sequence" % (s.size, ids.size))
        out = np.empty((s.size, self.vocab), np.float32)
        call(_decode, self._handle(), s.size, s.ctypes.data_as(POINTER(c_int)), ids.ctypes.data_as(_P_i32),
             out.ctypes.data_as(P_f32))
        return out

    def cache_bytes(self, seq=0):
        """Bytes the kept tokens of seq occupy in the caches: what the wall predicts."""
        return int(_cache_bytes(self._handle(), int(seq)))

    @property
    def nbytes(self):
        """Bytes the context allocated: caches, then scratch."""
        return int(_alloc_bytes(self._handle()))

    def describe(self):
        """One line naming the plan and every override."""
        buf = ctypes.create_string_buffer(512)
        return _describe(self._handle(), buf, 512).decode()

    def cost_problem(self):
        """The wall's question for this context: (CostProblem, technique name); then
        problem.eval(technique, n)["cache_bytes"] == cache_bytes(seq) at length n."""
        p, t = CCostProblem(), c_int()
        call(_cost_problem, self._handle(), ctypes.byref(p), ctypes.byref(t))
        return CostProblem._wrap(p), technique_names()[t.value]

    def __repr__(self):
        return "<Context %s>" % (self.describe() if self._h is not None else "closed")


class Sampler:
    """Token sampling (lc_sampler): temperature 0 is greedy (the lowest id among equal
    maxima); otherwise temperature, then top_k (0: off), then top_p (0 or 1: off), as
    transformers' warpers, with draw i taken from Philox(seed, i): the same token on any
    machine."""

    def __init__(self, temperature=0.0, top_k=0, top_p=0.0, seed=0):
        self._s = CSampler()
        self._s.temperature, self._s.top_k, self._s.top_p = float(temperature), int(top_k), float(top_p)
        self._s.seed = int(seed) & 0xFFFFFFFFFFFFFFFF
        call(_sampler_check, ctypes.byref(self._s))
        self._ws = None

    def sample(self, logits, draw=0):
        """A token id from logits float32 [vocab] with draw index `draw`."""
        lg, p = _array.f32(logits, "logits", shape=(None,))
        need = int(_sample_ws(lg.size))
        if self._ws is None or self._ws.nbytes < need:
            self._ws = np.empty(need, np.uint8)
        out = ctypes.c_int32()
        call(_sample, ctypes.byref(self._s), p, lg.size, int(draw) & 0xFFFFFFFFFFFFFFFF, self._ws.ctypes.data,
             self._ws.nbytes, ctypes.byref(out))
        return out.value


def sample(logits, temperature=0.0, top_k=0, top_p=0.0, seed=0, draw=0):
    """One token from logits float32 [vocab] (Sampler(temperature, top_k, top_p, seed).sample)."""
    return Sampler(temperature, top_k, top_p, seed).sample(logits, draw)


def argmax(logits):
    """The index of the largest value (the lowest among equal maxima), as greedy decoding picks."""
    lg, p = _array.f32(logits, "logits", shape=(None,))
    if lg.size == 0:
        refuse("argmax of an empty array")
    return int(_argmax(p, lg.size))

