"""The C descriptor structs of include/longctx/*.h as ctypes Structures (internal).

Field order and types follow the headers exactly; tests/test_abi.py compares every size and
offset with the C compiler's when one is available."""
import ctypes
from ctypes import POINTER, c_char, c_double, c_float, c_int, c_int64, c_size_t, c_uint64, c_void_p  # noqa: F401

c_enum = c_int
P_f32 = POINTER(c_float)
P_f64 = POINTER(c_double)
P_i64 = POINTER(c_int64)


class S(ctypes.Structure):
    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join("%s=%r" % (f[0], getattr(self, f[0])) for f in self._fields_))


class Tensor(S):
    _fields_ = [("data", c_void_p), ("dtype", c_enum), ("shape", c_int64 * 4), ("stride", c_int64 * 4),
                ("capacity", c_int64)]


# ---- mask.h
class MaskWindow(S):
    _fields_ = [("enabled", c_int), ("left", c_int64), ("right", c_int64), ("dilation", c_int64)]


class MaskGlobal(S):
    _fields_ = [("index", P_i64), ("count", c_int64)]


class MaskStride(S):
    _fields_ = [("every", c_int64), ("summary", c_int64)]


class MaskBigbird(S):
    _fields_ = [("block", c_int64), ("window_blocks", c_int64), ("global_blocks", c_int64),
                ("random_blocks", c_int64), ("seed", c_uint64), ("n_keys", c_int64)]


class MaskBlocks(S):
    _fields_ = [("bits", c_void_p), ("block_q", c_int64), ("block_k", c_int64), ("n_qb", c_int64), ("n_kb", c_int64)]


class CMask(S):
    _fields_ = [("q_offset", c_int64), ("causal", c_int), ("window", MaskWindow), ("global_", MaskGlobal),
                ("sinks", c_int64), ("stride", MaskStride), ("bigbird", MaskBigbird), ("blocks", MaskBlocks)]


# ---- attention.h
class CVarlen(S):
    _fields_ = [("count", c_int), ("q_starts", c_void_p), ("kv_starts", c_void_p), ("max_q", c_int64), ("max_kv", c_int64)]


class CAttention(S):
    _fields_ = [("q", Tensor), ("k", Tensor), ("v", Tensor), ("out", Tensor), ("lse", P_f32), ("scale", c_float),
                ("softcap", c_float), ("mask", CMask), ("varlen", CVarlen), ("threads", c_int), ("isa", c_enum)]


# ---- rope.h
class CRope(S):
    _fields_ = [("type", c_enum), ("layout", c_enum), ("head_dim", c_int), ("partial", c_double), ("theta", c_double),
                ("max_pos", c_int64), ("original_max_pos", c_int64), ("factor", c_double),
                ("attention_factor", c_double), ("beta_fast", c_double), ("beta_slow", c_double),
                ("mscale", c_double), ("mscale_all_dim", c_double), ("no_truncate", c_int),
                ("low_freq_factor", c_double), ("high_freq_factor", c_double), ("short_factor", P_f64),
                ("long_factor", P_f64)]


# ---- linear.h
class CLinearAttention(S):
    _fields_ = [("q", Tensor), ("k", Tensor), ("v", Tensor), ("out", Tensor), ("feature", c_enum),
                ("features", c_int64), ("omega", P_f32), ("causal", c_int), ("decay", P_f32), ("normalize", c_int),
                ("chunk", c_int64), ("threads", c_int)]


# ---- ssm.h
class CSelectiveScan(S):
    _fields_ = [("batch", c_int64), ("n", c_int64), ("channels", c_int64), ("state", c_int64), ("x", P_f32),
                ("dt", P_f32), ("dt_bias", P_f32), ("A", P_f32), ("B", P_f32), ("C", P_f32), ("D", P_f32),
                ("z", P_f32), ("y", P_f32), ("h", P_f32), ("h_floats", c_int64), ("threads", c_int), ("isa", c_enum)]


class CSsd(S):
    _fields_ = [("batch", c_int64), ("n", c_int64), ("heads", c_int64), ("head_dim", c_int64), ("groups", c_int64),
                ("state", c_int64), ("x", P_f32), ("dt", P_f32), ("dt_bias", P_f32), ("dt_min", c_float),
                ("dt_max", c_float), ("A", P_f32), ("B", P_f32), ("C", P_f32), ("D", P_f32), ("y", P_f32),
                ("h", P_f32), ("h_floats", c_int64), ("chunk", c_int64), ("threads", c_int), ("isa", c_enum)]


class CMambaWeights(S):
    _fields_ = [("hidden", c_int64), ("inner", c_int64), ("state", c_int64), ("conv_kernel", c_int64),
                ("dt_rank", c_int64), ("in_proj_w", P_f32), ("in_proj_b", P_f32), ("conv_w", P_f32),
                ("conv_b", P_f32), ("x_proj_w", P_f32), ("dt_proj_w", P_f32), ("dt_proj_b", P_f32),
                ("A_log", P_f32), ("D", P_f32), ("out_proj_w", P_f32), ("out_proj_b", P_f32),
                ("dt_norm_w", P_f32), ("b_norm_w", P_f32), ("c_norm_w", P_f32), ("norm_eps", c_float)]


class CMamba2Weights(S):
    _fields_ = [("hidden", c_int64), ("heads", c_int64), ("head_dim", c_int64), ("groups", c_int64),
                ("state", c_int64), ("conv_kernel", c_int64), ("norm_group", c_int64), ("norm_eps", c_float),
                ("dt_min", c_float), ("dt_max", c_float), ("chunk", c_int64), ("in_proj_w", P_f32),
                ("in_proj_b", P_f32), ("conv_w", P_f32), ("conv_b", P_f32), ("dt_bias", P_f32), ("A_log", P_f32),
                ("D", P_f32), ("norm_w", P_f32), ("out_proj_w", P_f32), ("out_proj_b", P_f32)]


class CMixerIO(S):
    _fields_ = [("batch", c_int64), ("n", c_int64), ("x", P_f32), ("y", P_f32), ("conv_state", P_f32),
                ("conv_state_floats", c_int64), ("ssm_state", P_f32), ("ssm_state_floats", c_int64),
                ("threads", c_int)]


# ---- cost.h
class CModelShape(S):
    _fields_ = [("name", c_char * 64), ("layers", c_int64), ("attn_layers", c_int64), ("local_layers", c_int64),
                ("window", c_int64), ("hidden", c_int64), ("heads", c_int64), ("kv_heads", c_int64),
                ("head_dim_k", c_int64), ("head_dim_v", c_int64), ("kv_lora_rank", c_int64),
                ("qk_rope_dim", c_int64), ("ssm_inner", c_int64), ("ssm_state", c_int64), ("ssm_conv", c_int64),
                ("params", c_double), ("active_params", c_double), ("ssm_conv_dim", c_int64)]


class CCostProblem(S):
    _fields_ = [("model", CModelShape), ("batch", c_int64), ("score_dtype", c_enum), ("cache_dtype", c_enum),
                ("weight_dtype", c_enum), ("quant_dtype", c_enum), ("quant_group", c_int64), ("window", c_int64),
                ("gqa_kv_heads", c_int64), ("lf_window", c_int64), ("lf_global", c_int64), ("bb_block", c_int64),
                ("bb_window", c_int64), ("bb_global", c_int64), ("bb_random", c_int64), ("mla_rank", c_int64),
                ("mla_rope", c_int64), ("mamba_state", c_int64)]


class CCostRow(S):
    _fields_ = [(n, c_double) for n in ("pairs", "score_matrix_bytes", "score_layer_bytes", "score_model_bytes",
                                        "workspace_bytes", "cache_bytes", "weight_bytes", "total_bytes",
                                        "prefill_flops", "decode_flops", "decode_bytes")]


# ---- cache.h, decode.h
class CKvConfig(S):
    _fields_ = [("layout", c_enum), ("dtype", c_enum), ("heads_kv", c_int), ("head_dim", c_int), ("max_seqs", c_int),
                ("capacity", c_int64), ("num_blocks", c_int64), ("block_size", c_int), ("window", c_int64),
                ("sinks", c_int64)]


class CKvSpan(S):
    _fields_ = [("k", c_void_p), ("v", c_void_p), ("k_scale", P_f32), ("v_scale", P_f32), ("n", c_int64),
                ("pos0", c_int64)]


class CDecode(S):
    _fields_ = [("cache", c_void_p), ("seq", c_int), ("q", P_f32), ("n_q", c_int), ("heads_q", c_int),
                ("out", P_f32), ("lse", P_f32), ("scale", c_float), ("split", c_int64), ("threads", c_int),
                ("isa", c_enum), ("query_f32", c_int)]


# ---- cuda.h (device pointers as plain addresses)
class CCudaDecode(S):
    _fields_ = [("cache", CKvConfig), ("k", c_void_p), ("v", c_void_p), ("k_scale", c_void_p), ("v_scale", c_void_p),
                ("block_table", c_void_p), ("batch", c_int), ("lens", c_void_p), ("max_len", c_int64), ("q", c_void_p),
                ("q_dtype", c_enum), ("n_q", c_int), ("heads_q", c_int), ("out", c_void_p), ("out_dtype", c_enum),
                ("lse", c_void_p), ("scale", c_float), ("softcap", c_float), ("mask", CMask), ("splits", c_int)]


# ---- mla.h
class CMla(S):
    _fields_ = [("heads", c_int), ("rank", c_int), ("nope", c_int), ("rope", c_int), ("v_dim", c_int),
                ("w_uk", P_f32), ("w_uv", P_f32), ("scale", c_float), ("threads", c_int), ("dtype", c_enum),
                ("fast_prefill", c_int), ("fast_decode", c_int), ("window", c_int64), ("sinks", c_int64),
                ("block_size", c_int64)]


class CMlaAttention(S):
    _fields_ = [("mla", POINTER(CMla)), ("cache", c_void_p), ("q_nope", P_f32), ("q_rope", P_f32), ("n_q", c_int),
                ("out", P_f32)]


# ---- memory.h
class CKnnMemoryConfig(S):
    _fields_ = [("heads", c_int64), ("d_k", c_int64), ("d_v", c_int64), ("capacity", c_int64), ("segment", c_int64),
                ("index", c_enum), ("hnsw_m", c_int), ("hnsw_ef_search", c_int), ("ivf_lists", c_int),
                ("ivf_probe", c_int), ("threads", c_int)]


class CKnnAttention(S):
    _fields_ = [("local", CAttention), ("memory", c_void_p), ("top_k", c_int64), ("gate", P_f32)]


class CBlockAttention(S):
    _fields_ = [("q", Tensor), ("k", Tensor), ("v", Tensor), ("out", Tensor), ("landmarks", Tensor),
                ("q_offset", c_int64), ("block", c_int64), ("top_blocks", c_int64), ("window", c_int64),
                ("sinks", c_int64), ("scale", c_float), ("threads", c_int)]


# ---- model.h
class CLayerPlan(S):
    _fields_ = [("mixer", c_enum), ("mlp", c_enum), ("window", c_int64)]


class CSsmConfig(S):
    _fields_ = [("inner", c_int64), ("state", c_int64), ("conv", c_int64), ("dt_rank", c_int64), ("heads", c_int64),
                ("head_dim", c_int64), ("groups", c_int64), ("chunk", c_int64), ("conv_bias", c_int),
                ("proj_bias", c_int), ("inner_norms", c_int), ("dt_min", c_double), ("dt_max", c_double)]


class CMoeConfig(S):
    _fields_ = [("experts", c_int), ("top_k", c_int), ("shared", c_int), ("inter", c_int64), ("norm_topk", c_int),
                ("scale", c_double), ("groups", c_int), ("topk_groups", c_int)]


class CMlaConfig(S):
    _fields_ = [("q_rank", c_int), ("rank", c_int), ("nope", c_int), ("rope", c_int), ("v_dim", c_int)]


class CModelConfig(S):
    _fields_ = [("model_type", c_char * 32), ("arch", c_enum), ("shape", CModelShape), ("layers", c_int64),
                ("hidden", c_int64), ("intermediate", c_int64), ("vocab", c_int64), ("max_pos", c_int64),
                ("heads", c_int), ("kv_heads", c_int), ("head_dim", c_int), ("norm_eps", c_double),
                ("norm_unit_offset", c_int), ("sandwich_norms", c_int), ("embed_scale", c_double), ("act", c_enum),
                ("qkv_bias", c_int), ("o_bias", c_int), ("mlp_bias", c_int), ("tie_embeddings", c_int),
                ("attn_scale", c_double), ("attn_softcap", c_double), ("final_softcap", c_double), ("rope", CRope),
                ("rope_short", c_double * 256), ("rope_long", c_double * 256), ("bos", c_int64),
                ("stop", c_int64 * 16), ("n_stop", c_int), ("layer", CLayerPlan * 1024), ("no_rope", c_int),
                ("ssm", CSsmConfig), ("moe", CMoeConfig), ("mla", CMlaConfig)]


class CModelInfo(S):
    _fields_ = [("params", c_double), ("weight_bytes", c_size_t), ("mapped_bytes", c_size_t),
                ("copied_bytes", c_size_t), ("files", c_int)]


class CRetrieval(S):
    _fields_ = [("kind", c_enum), ("top_k", c_int64), ("block", c_int64)]


class CContextConfig(S):
    _fields_ = [("max_seqs", c_int), ("max_tokens", c_int64), ("max_batch", c_int64), ("kv_dtype", c_enum),
                ("kv_layout", c_enum), ("block_size", c_int), ("window", c_int64), ("sinks", c_int64),
                ("rope_override", c_int), ("rope", CRope), ("threads", c_int), ("query_f32", c_int),
                ("activations_f32", c_int), ("retrieval", CRetrieval)]


class CSampler(S):
    _fields_ = [("temperature", c_double), ("top_k", c_int), ("top_p", c_double), ("seed", c_uint64)]


# ---- safetensors.h
class CStTensor(S):
    _fields_ = [("name", ctypes.c_char_p), ("file", ctypes.c_char_p), ("dtype", c_enum), ("ndim", c_int),
                ("shape", c_int64 * 8), ("numel", c_int64), ("data", c_void_p), ("bytes", c_size_t)]


# ---- ring.h
_SEND = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t, c_int, c_int)
_RECV = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t, c_int, c_int)
_WAIT = ctypes.CFUNCTYPE(c_int, c_void_p, c_int, c_double)
_GATHER = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_void_p, c_size_t, c_double)


class CRingTransport(S):
    _fields_ = [("ctx", c_void_p), ("rank", c_int), ("size", c_int), ("start_send", _SEND), ("start_recv", _RECV),
                ("wait", _WAIT), ("progress", c_void_p), ("allgather", _GATHER)]


class CRing(S):
    _fields_ = [("attn", CAttention), ("layout", c_int), ("timeout_s", c_double),
                ("transport", POINTER(CRingTransport)), ("compute", c_void_p)]


class CRingStats(S):
    _fields_ = [("compute_s", c_double), ("wait_s", c_double), ("total_s", c_double), ("steps", c_int),
                ("blocks_computed", c_int), ("blocks_received", c_int), ("block_calls", c_int64),
                ("bytes_sent", c_int64), ("bytes_received", c_int64), ("pairs", c_int64)]

# struct name in C -> (ctypes class, header): what tests/test_abi.py checks
C_STRUCTS = {
    "lc_tensor": Tensor, "lc_mask_window": MaskWindow, "lc_mask_global": MaskGlobal, "lc_mask_stride": MaskStride,
    "lc_mask_bigbird": MaskBigbird, "lc_mask_blocks": MaskBlocks, "lc_mask": CMask, "lc_attention": CAttention,
    "lc_rope": CRope, "lc_linear_attention": CLinearAttention, "lc_selective_scan": CSelectiveScan, "lc_ssd": CSsd,
    "lc_mamba_weights": CMambaWeights, "lc_mamba2_weights": CMamba2Weights, "lc_mixer_io": CMixerIO,
    "lc_model_shape": CModelShape, "lc_cost_problem": CCostProblem, "lc_cost_row": CCostRow,
    "lc_kv_config": CKvConfig, "lc_kv_span": CKvSpan, "lc_decode": CDecode, "lc_cuda_decode": CCudaDecode,
    "lc_mla": CMla,
    "lc_knn_memory_config": CKnnMemoryConfig, "lc_knn_attention": CKnnAttention,
    "lc_block_attention": CBlockAttention, "lc_mla_attention": CMlaAttention, "lc_layer_plan": CLayerPlan,
    "lc_ssm_config": CSsmConfig, "lc_moe_config": CMoeConfig, "lc_mla_config": CMlaConfig,
    "lc_model_config": CModelConfig, "lc_model_info": CModelInfo, "lc_context_config": CContextConfig,
    "lc_retrieval": CRetrieval,
    "lc_sampler": CSampler, "lc_st_tensor": CStTensor, "lc_ring_transport": CRingTransport, "lc_ring": CRing,
    "lc_ring_stats": CRingStats,
}
# C field names that differ from the ctypes ones (Python keywords)
C_FIELD_NAMES = {"global_": "global"}
