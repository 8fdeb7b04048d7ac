/* MLA's descriptor checks (lc_mla_check, lc_mla_attention_check): apart from the kernels, so
 * that the standalone CUDA build (src/cuda/CMakeLists.txt, no OpenBLAS) checks lc_mla too. */
#include <math.h>

#include "mla_internal.h"
#include "../core/overlap.h"

lc_status lc_mla_check(const lc_mla *m) {
    if (!m) return lc_error(LC_EINVAL, "mla is NULL");
    if (m->heads < 1 || m->rank < 1 || m->nope < 0 || m->rope < 0 || m->v_dim < 1 || m->nope + m->rope < 1)
        return lc_error(LC_EINVAL, "mla: heads=%d, rank=%d, v_dim=%d must be >= 1 and nope=%d, rope=%d >= 0 with nope+rope >= 1",
                        m->heads, m->rank, m->v_dim, m->nope, m->rope);
    if ((m->nope > 0 && !m->w_uk) || !m->w_uv) return lc_error(LC_EINVAL, "mla.w_uk and mla.w_uv must not be NULL");
    if (m->scale < 0 || !isfinite(m->scale)) return lc_error(LC_EINVAL, "mla.scale=%g must be finite and >= 0", m->scale);
    if (!lc_dtype_is_float(m->dtype) && m->dtype != LC_INT8 && m->dtype != LC_FP8)
        return lc_error(LC_EINVAL, "mla.dtype=%s (%d) is not f32, f16, bf16, int8 or fp8", lc_dtype_name(m->dtype), (int)m->dtype);
    if (m->window < 0 || m->sinks < 0) return lc_error(LC_EINVAL, "mla.window=%lld and mla.sinks=%lld must be >= 0", (long long)m->window, (long long)m->sinks);
    if (m->block_size < 0 || m->block_size > (int64_t)1 << 30)
        return lc_error(LC_EINVAL, "mla.block_size=%lld must lie in [0, 2^30] (0: one contiguous array)", (long long)m->block_size);
    if (m->sinks > 0 && m->window == 0) return lc_error(LC_EINVAL, "mla.sinks=%lld needs a window (mla.window > 0)", (long long)m->sinks);
    return LC_OK;
}

lc_status lc_mla_attention_check(const lc_mla_attention *a) {
    if (!a) return lc_error(LC_EINVAL, "mla attention descriptor is NULL");
    const lc_mla *m = a->mla;
    const lc_mla_cache *c = a->cache;
    lc_status st = lc_mla_check(m);
    if (st) return st;
    if (!c) return lc_error(LC_EINVAL, "mla cache is NULL");
    if (c->rank != m->rank || c->rope != m->rope) return lc_error(LC_EINVAL, "mla cache was made for rank=%d rope=%d, not %d/%d", c->rank, c->rope, m->rank, m->rope);
    const int64_t block = c->paged ? c->block_rows : 0;
    if (c->window != m->window || c->sinks != m->sinks || block != m->block_size)
        return lc_error(LC_EINVAL, "mla cache was made for window=%lld sinks=%lld block_size=%lld, not %lld/%lld/%lld", (long long)c->window,
                        (long long)c->sinks, (long long)block, (long long)m->window, (long long)m->sinks, (long long)m->block_size);
    if ((m->nope && !a->q_nope) || (m->rope && !a->q_rope) || !a->out) return lc_error(LC_EINVAL, "mla: q_nope, q_rope and out must not be NULL");
    if (a->n_q < 1 || a->n_q > c->rows) return lc_error(LC_ERANGE, "mla: n_q=%d must lie in [1, cached rows %lld]", a->n_q, (long long)c->rows);
    const size_t rows = (size_t)a->n_q * (size_t)m->heads, ob = rows * (size_t)m->v_dim * sizeof(float);
    if (lc_overlaps(a->out, ob, a->q_nope, rows * (size_t)m->nope * sizeof(float)) || lc_overlaps(a->out, ob, a->q_rope, rows * (size_t)m->rope * sizeof(float)))
        return lc_error(LC_EINVAL, "mla: out overlaps q_nope or q_rope: the output must not alias an input");
    return LC_OK;
}
