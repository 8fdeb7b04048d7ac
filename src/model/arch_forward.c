/* The forward over a layer plan (Mamba, Mamba-2, Jamba, DeepSeek-V2): each layer is
 *
 *   x += mixer(norm_in(x))           attention (llama.c's, no RoPE for Jamba), MLA, Mamba, Mamba-2
 *   x += mlp(norm_mlp_in(x))         dense or mixture of experts; Mamba models have none
 *   logits = norm_out(x) W_lm
 *
 * with RMSNorm as transformers (w * x / sqrt(mean(x^2) + eps) in f32) and matrix products as
 * OpenBLAS sgemm / sgemv on the weights in place. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "arch_internal.h"

void lc_arch_linear(const float *x, int64_t rows, int64_t ldx, const lc_linear *l, float *y, int64_t ldy) {
    if (rows == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)l->out, (blasint)l->in, 1.0f, (const float *)l->w, (blasint)l->in, x, 1, 0.0f, y, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)rows, (blasint)l->out, (blasint)l->in, 1.0f, x, (blasint)ldx, (const float *)l->w,
                    (blasint)l->in, 0.0f, y, (blasint)ldy);
    if (l->b)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < l->out; j++) y[r * ldy + j] += l->b[j];
}

void lc_arch_rms_norm(const float *x, int64_t rows, int64_t ldx, int64_t n, const float *w, double eps, float *out, int64_t ldo, int threads) {
    const float e = (float)eps;
#pragma omp parallel for num_threads(threads) schedule(static) if (rows > 1)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * ldx;
        float *o = out + r * ldo;
        double ss = 0;
        for (int64_t i = 0; i < n; i++) ss += (double)xr[i] * xr[i];
        float inv = 1.0f / sqrtf((float)(ss / (double)n) + e);
        for (int64_t i = 0; i < n; i++) o[i] = w[i] * (xr[i] * inv);
    }
}

/* Jamba's attention layer: q, k, v, llama.c's attention of each run (no RoPE), o. */
static lc_status attention(lc_context *ctx, int64_t l, const lc_run *runs, int n_runs, int64_t rows, const float *h, float *out) {
    const lc_model *m = ctx->model;
    const lc_model_config *c = &m->cfg;
    const lc_layer_weights *w = &m->layer[l];
    const int64_t H = c->hidden, Hq = c->heads, Hkv = c->kv_heads, D = c->head_dim, QW = (Hq + 2 * Hkv) * D;
    lc_arch_linear(h, rows, H, &w->q, ctx->qkv, QW);
    lc_arch_linear(h, rows, H, &w->k, ctx->qkv + Hq * D, QW);
    lc_arch_linear(h, rows, H, &w->v, ctx->qkv + (Hq + Hkv) * D, QW);
    lc_status st;
    for (int i = 0; i < n_runs; i++) {
        const lc_run *r = &runs[i];
        if (!c->no_rope) {
            lc_tensor qk = lc_tensor_bshd(ctx->qkv + r->row * QW, LC_F32, 1, r->m, Hq + Hkv, D);
            qk.stride[1] = QW, qk.stride[0] = r->m * QW, qk.capacity = (r->m - 1) * QW + (Hq + Hkv) * D;
            if ((st = lc_rope_apply(&ctx->rope, &qk, NULL, r->pos, r->pos + r->m))) return st;
        }
        if ((st = lc_llama_attend(ctx, l, r))) return st;
    }
    lc_arch_linear(ctx->att, rows, Hq * D, &w->o, out, H);
    return LC_OK;
}

lc_status lc_arch_forward(lc_context *ctx, const int32_t *tokens, const lc_run *runs, int n_runs, int64_t rows, const int64_t *out_rows,
                          int64_t n_out, float *logits) {
    const lc_model *m = ctx->model;
    const lc_model_config *c = &m->cfg;
    const int64_t H = c->hidden;
    const int nt = ctx->threads;
    float *x = ctx->x, *h = ctx->h, *tmp = ctx->tmp;
    for (int64_t r = 0; r < rows; r++) memcpy(x + r * H, (const float *)m->embed + (int64_t)tokens[r] * H, sizeof(float) * (size_t)H);
    lc_status st = LC_OK;
    for (int64_t l = 0; l < c->layers && !st; l++) {
        const lc_layer_weights *w = &m->layer[l];
        const lc_layer_plan *p = &c->layer[l];
        lc_arch_rms_norm(x, rows, H, H, w->norm_in, c->norm_eps, h, H, nt);
        switch (p->mixer) {
        case LC_MIXER_MAMBA:
        case LC_MIXER_MAMBA2: st = lc_arch_mamba(ctx, l, runs, n_runs, h, tmp); break;
        case LC_MIXER_MLA: st = lc_arch_mla(ctx, l, runs, n_runs, rows, h, tmp); break;
        default: st = attention(ctx, l, runs, n_runs, rows, h, tmp); break;
        }
        if (st) break;
        for (int64_t i = 0; i < rows * H; i++) x[i] += tmp[i];
        if (p->mlp == LC_MLP_NONE) continue;
        lc_arch_rms_norm(x, rows, H, H, w->norm_mlp_in, c->norm_eps, h, H, nt);
        if ((st = lc_arch_mlp(ctx, l, rows, h, tmp))) break;
        for (int64_t i = 0; i < rows * H; i++) x[i] += tmp[i];
    }
    if (st || n_out == 0) return st;
    for (int64_t i = 0; i < n_out; i++) /* the rows whose logits are asked for */
        memcpy(tmp + i * H, x + (out_rows ? out_rows[i] : i) * H, sizeof(float) * (size_t)H);
    lc_arch_rms_norm(tmp, n_out, H, H, m->norm_out, c->norm_eps, h, H, nt);
    if (ctx->want_hidden) { /* lc_context_prefill_hidden */
        memcpy(logits, h, sizeof(float) * (size_t)(n_out * H));
        return LC_OK;
    }
    lc_arch_linear(h, n_out, H, &m->lm_head, logits, c->vocab);
    return LC_OK;
}
