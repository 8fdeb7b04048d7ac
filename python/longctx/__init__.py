"""longctx: long-context LLM techniques over NumPy arrays (bindings of liblongctx).

WIP
"""
from ._lib import (Error, InvalidArgument, OutOfMemory, Unsupported, OutOfRange, InvalidState, IOError,  # noqa: A004
                   FormatError, InternalError, library_path)
from .core import (version, threads_default, isa_best, isa_supported, dtype_name, to_bf16, from_bf16, to_fp8,
                   from_fp8, rng_uniform, rng_normal)
from .mask import Mask, BigBird, sliding_window
from .attention import attention, attention_check, attention_workspace_size, attention_pairs
from .rope import Rope, rope_tables, rope_apply
from .linear import linear_attention, linear_attention_step, linear_state_floats, favor_draw
from .ssm import (softplus, selective_scan, ssd, mamba2_chunked, ssd_step, MambaMixer, Mamba2Mixer, MixerState)
from .cost import (wall, Wall, ModelShape, CostProblem, presets, gpus, gpu_memory, parse_bytes, techniques,
                   parse_lengths, pairs_causal, pairs_sliding, pairs_longformer, pairs_bigbird, sum_clamped)
from .cache import KVCache, decode, decode_workspace_size, decode_info
from .mla import MLA, MLACache
from .memory import KnnMemory, knn_attention, block_attention, block_attention_workspace_size
