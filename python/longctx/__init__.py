"""longctx: long-context LLM techniques over NumPy arrays (ctypes bindings of liblongctx).

    import numpy as np, longctx as lc
    out, lse = lc.attention(q, k, v, mask=lc.Mask(causal=True, window=4096, sinks=4))

Conventions
  * Tensors of attention are [batch, seq, heads, dim] NumPy arrays (3-D [seq, heads, dim]
    means batch 1), passed as views: any non-negative strides (a BHSD buffer's
    .transpose(0, 2, 1, 3), a slice, a broadcast) are read in place, never copied.
    Storage dtypes float32, float16 and bfloat16: ml_dtypes.bfloat16 when that module is
    installed, or uint16 bit patterns with dtype="bf16" (to_bf16 / from_bf16 convert).
  * Entry points whose C form takes plain pointers (SSMs, KV-cache appends, decode, MLA)
    take C-contiguous float32: a strided input is copied once, a strided output refused.
  * Errors: every failure raises a subclass of longctx.Error carrying the library's
    sentence (lc_last_error()) as str(e) and e.sentence, and the status name as e.status:
    InvalidArgument (LC_EINVAL, also a ValueError; wrongly typed or shaped arrays too),
    OutOfMemory (LC_ENOMEM), Unsupported (LC_EUNSUPPORTED), OutOfRange (LC_ERANGE),
    InvalidState (LC_ESTATE), IOError (LC_EIO, an OSError), FormatError (LC_EFORMAT),
    InternalError (LC_EINTERNAL).
  * threads=0 means $LONGCTX_THREADS or every core; the calls release the GIL.
  * The library: $LONGCTX_LIBRARY, else ../build/liblongctx.so from the source tree, else
    an installed liblongctx (library_path says which was loaded).

Reference (help(longctx.<name>) for each; docs/python.md has runnable examples)
  Attention     attention, attention_check, attention_workspace_size, attention_pairs
  Masks         Mask (causal, window, dilation, sinks, global_tokens, stride/summary,
                bigbird=BigBird(...), blocks bitmap, q_offset), BigBird, sliding_window
  KV caches     KVCache (contiguous / paged / ring / sinks; f32 / f16 / bf16 / int8 / fp8),
                decode, decode_workspace_size, decode_info, kv_quantize, kv_dequantize
  MLA           MLA (w_uk, w_uv, rope, dtype; prefill, decode), MLACache
  RoPE          Rope (default, linear, ntk, dynamic, yarn, llama3, longrope; neox / gptj;
                partial), rope_tables, rope_apply
  Linear        linear_attention (elu1 / relu / favor; causal; decay; chunked / recurrent /
                naive), linear_attention_step, linear_attention_workspace_size,
                linear_state_floats, favor_draw
  SSMs          selective_scan (Mamba), ssd / mamba2_chunked / ssd_step (Mamba-2),
                ssd_workspace_size,
                MambaMixer, Mamba2Mixer, MixerState, softplus
  Ring          ring_attention (P ranks as threads over an in-memory transport),
                ring_split_check, ring_positions
  Memory        KnnMemory (exact / hnsw / ivf; append, search, get, save, load),
                knn_attention, block_attention, block_attention_workspace_size
  Models        Model (a Hugging Face checkpoint: config, info, tokenizer, context, generate,
                logits), Context (prefill, decode, fork, cache_bytes, cost_problem),
                Sampler, sample, argmax, SafeTensors (checkpoint tensors as NumPy views)
  Tokenizers    Tokenizer (a Hugging Face tokenizer.json: encode, decode, token_id, bos, eos)
  The wall      wall -> Wall (rows, max_context, table, csv, json, plot), CostProblem,
                ModelShape, presets, gpus, gpu_memory, techniques, parse_bytes,
                parse_lengths, pairs_causal, pairs_sliding, pairs_longformer,
                pairs_bigbird, sum_clamped
  Core          version, threads_default, isa_best, isa_supported, dtype_name, to_bf16,
                from_bf16, to_fp8, from_fp8, rng_uniform, rng_normal, library_path
  PyTorch       longctx.torch (imported on its own; PyTorch 2.4+, a GPU and liblongctx_cuda):
                flash_attention, decode on CUDA tensors as torch.compile-able custom operators
"""
from ._lib import (Error, InvalidArgument, OutOfMemory, Unsupported, OutOfRange, InvalidState, IOError,  # noqa: A004
                   FormatError, InternalError, library_path)
from .core import (version, threads_default, isa_best, isa_supported, dtype_name, to_bf16, from_bf16, to_fp8,
                   from_fp8, rng_uniform, rng_normal)
from .mask import Mask, BigBird, sliding_window
from .attention import attention, attention_check, attention_workspace_size, attention_pairs
from .rope import Rope, rope_tables, rope_apply
from .linear import (linear_attention, linear_attention_step, linear_attention_workspace_size, linear_state_floats,
                     favor_draw)
from .ssm import (softplus, selective_scan, ssd, mamba2_chunked, ssd_step, ssd_workspace_size, MambaMixer, Mamba2Mixer,
                  MixerState)
from .cost import (wall, Wall, ModelShape, CostProblem, presets, gpus, gpu_memory, parse_bytes, techniques,
                   parse_lengths, pairs_causal, pairs_sliding, pairs_longformer, pairs_bigbird, sum_clamped)
from .cache import KVCache, decode, decode_workspace_size, decode_info, kv_quantize, kv_dequantize
from .mla import MLA, MLACache
from .memory import KnnMemory, knn_attention, block_attention, block_attention_workspace_size
from .tokenizer import Tokenizer
from .model import Model, Context, Sampler, sample, argmax
from .safetensors import SafeTensors
from .ring import ring_attention, ring_split_check, ring_positions

__version__ = "0.1.0"

__all__ = [
    "Error", "InvalidArgument", "OutOfMemory", "Unsupported", "OutOfRange", "InvalidState", "IOError", "FormatError",
    "InternalError", "library_path",
    "version", "threads_default", "isa_best", "isa_supported", "dtype_name", "to_bf16", "from_bf16", "to_fp8",
    "from_fp8", "rng_uniform", "rng_normal",
    "Mask", "BigBird", "sliding_window",
    "attention", "attention_check", "attention_workspace_size", "attention_pairs",
    "Rope", "rope_tables", "rope_apply",
    "linear_attention", "linear_attention_step", "linear_attention_workspace_size", "linear_state_floats", "favor_draw",
    "softplus", "selective_scan", "ssd", "mamba2_chunked", "ssd_step", "ssd_workspace_size", "MambaMixer", "Mamba2Mixer", "MixerState",
    "wall", "Wall", "ModelShape", "CostProblem", "presets", "gpus", "gpu_memory", "parse_bytes", "techniques",
    "parse_lengths", "pairs_causal", "pairs_sliding", "pairs_longformer", "pairs_bigbird", "sum_clamped",
    "KVCache", "decode", "decode_workspace_size", "decode_info", "kv_quantize", "kv_dequantize",
    "MLA", "MLACache",
    "KnnMemory", "knn_attention", "block_attention", "block_attention_workspace_size",
    "Tokenizer", "Model", "Context", "Sampler", "sample", "argmax", "SafeTensors",
    "ring_attention", "ring_split_check", "ring_positions",
]
