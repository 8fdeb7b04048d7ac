/* The fast forms of linear attention. Non-causal: phi(Q) (phi(K)^T V) (Katharopoulos et al.
 * 2020, eq. 5). Causal: chunkwise-parallel (Sun et al. 2023, RetNet eq. 7; Yang et al. 2024):
 * inside a chunk of L tokens the masked, decayed L x L product, plus the state carried
 * from earlier chunks; the state then advances by one chunk.
 *
 * Every quantity is kept as exp(log-scale) * stored value so that FAVOR+ features never
 * overflow (the max-shift): the state's scale c is the running max of decayed key
 * log-scales, and each output row r is computed at its own base B_r (the largest term it
 * sums), which cancels in the normalised form. See docs/linear-attention.md. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "linear_internal.h"

enum { DEFAULT_CHUNK = 64 };

static int64_t chunk_of(const lc_linear_attention *a) {
    int64_t L = a->chunk ? a->chunk : DEFAULT_CHUNK;
    return L < a->q.shape[1] ? L : a->q.shape[1];
}

/* Floats of one thread's scratch. */
static size_t thread_floats(const lc_linear_attention *a) {
    const int64_t L = chunk_of(a), F = lc_linear_features(a), dv = a->v.shape[3];
    return (size_t)(2 * L * F + L * L + 2 * L * dv + 5 * L + L * a->q.shape[3] + F * dv + F + 1 + 16);
}

size_t lc_linear_attention_workspace_size(const lc_linear_attention *a) {
    if (lc_linear_attention_check(a)) return 0;
    return sizeof(float) * thread_floats(a) * (size_t)lc_threads_resolve(a->threads);
}

typedef struct scratch {
    float *qf, *kf, *p, *vb, *num, *qs, *ks, *base, *den, *w, *xs;
} scratch;

/* Features and value rows of tokens [t0, t0 + L) of (b, h). */
static void load_chunk(const lc_linear_attention *a, int64_t b, int64_t h, int64_t t0, int64_t L, int with_q, scratch *w) {
    const int64_t dv = a->v.shape[3];
    if (with_q) lin_features_rows(a, lin_row(&a->q, b, t0, h), a->q.stride[1], a->q.stride[3], L, w->qf, w->qs, w->xs);
    lin_features_rows(a, lin_row(&a->k, b, t0, h), a->k.stride[1], a->k.stride[3], L, w->kf, w->ks, w->xs);
    for (int64_t r = 0; r < L; r++) {
        const float *v = lin_row(&a->v, b, t0 + r, h);
        for (int64_t e = 0; e < dv; e++) w->vb[r * dv + e] = v[e * a->v.stride[3]];
    }
}

static int state_empty(const float *z, int64_t F) {
    for (int64_t f = 0; f < F; f++)
        if (z[f] != 0) return 0;
    return 1;
}

/* Advances the state (S, z, c) over the L tokens loaded in w (log-decay g per token). The
 * key features in w->kf are overwritten by their weighted copies. */
static void advance_state(int64_t L, int64_t F, int64_t dv, double g, scratch *w, float *S, float *z, float *c, int empty) {
    float top = empty ? -INFINITY : (float)(*c + g * (double)L);
    for (int64_t t = 0; t < L; t++) top = lin_max_nan(top, (float)(g * (double)(L - 1 - t)) + w->ks[t]);
    if (!empty) {
        float f = expf((float)(*c + g * (double)L) - top);
        for (int64_t i = 0; i < F * dv; i++) S[i] *= f;
        for (int64_t i = 0; i < F; i++) z[i] *= f;
    }
    for (int64_t t = 0; t < L; t++) {
        float wt = expf((float)(g * (double)(L - 1 - t)) + w->ks[t] - top);
        for (int64_t f = 0; f < F; f++) w->kf[t * F + f] *= wt, z[f] += w->kf[t * F + f];
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)F, (int)dv, (int)L, 1.0f, w->kf, (int)F, w->vb, (int)dv, 1.0f, S, (int)dv);
    *c = top;
}

/* Writes output rows [t0, t0 + L) from num, den and the row bases. */
static void store_rows(const lc_linear_attention *a, int64_t b, int64_t h, int64_t t0, int64_t L, const scratch *w) {
    const int64_t dv = a->v.shape[3];
    for (int64_t r = 0; r < L; r++) {
        float *o = (float *)a->out.data + lc_tensor_offset(&a->out, b, t0 + r, h, 0);
        float f;
        if (a->normalize) f = w->den[r] == 0 ? 0.0f : 1.0f / w->den[r]; /* NaN den stays NaN */
        else f = expf(w->base[r] + w->qs[r]);
        for (int64_t e = 0; e < dv; e++) o[e * a->out.stride[3]] = w->num[r * dv + e] * f;
    }
}

/* One causal chunk: outputs of tokens [t0, t0 + L), then the state advances. */
static void causal_chunk(const lc_linear_attention *a, int64_t b, int64_t h, int64_t t0, int64_t L, scratch *w, float *S, float *z, float *c) {
    const int64_t F = lc_linear_features(a), dv = a->v.shape[3];
    const double g = lin_log_decay(a, h);
    load_chunk(a, b, h, t0, L, 1, w);
    const int empty = state_empty(z, F);
    /* base_r = max(c + g (r+1), max_{t<=r} g (r-t) + ks_t): the largest log-weight row r sums */
    float run = -INFINITY;
    for (int64_t r = 0; r < L; r++) {
        run = lin_max_nan(run, w->ks[r] - (float)(g * (double)r));
        float intra = (float)(g * (double)r) + run;
        w->base[r] = empty ? intra : lin_max_nan(intra, (float)(*c + g * (double)(r + 1)));
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)L, (int)L, (int)F, 1.0f, w->qf, (int)F, w->kf, (int)F, 0.0f, w->p, (int)L);
    for (int64_t r = 0; r < L; r++) {
        float *pr = w->p + r * L, den = 0;
        for (int64_t t = 0; t < L; t++) {
            pr[t] = t <= r ? pr[t] * expf((float)(g * (double)(r - t)) + w->ks[t] - w->base[r]) : 0.0f;
            den += pr[t];
        }
        w->den[r] = den;
    }
    if (empty) {
        memset(w->num, 0, sizeof(float) * (size_t)(L * dv));
    } else { /* carried part: exp(c + g (r+1) - base_r) phi(q_r)^T S */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)L, (int)dv, (int)F, 1.0f, w->qf, (int)F, S, (int)dv, 0.0f, w->num, (int)dv);
        for (int64_t r = 0; r < L; r++) {
            float f = expf((float)(*c + g * (double)(r + 1)) - w->base[r]), dz = 0;
            for (int64_t i = 0; i < F; i++) dz += w->qf[r * F + i] * z[i];
            w->den[r] += f * dz;
            for (int64_t e = 0; e < dv; e++) w->num[r * dv + e] *= f;
        }
    }
    int finite = 1;
    for (int64_t i = 0; i < L * dv; i++) finite &= isfinite(w->vb[i]) != 0;
    if (finite) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)L, (int)dv, (int)L, 1.0f, w->p, (int)L, w->vb, (int)dv, 1.0f, w->num, (int)dv);
    } else { /* triangular: a non-finite v_t must not reach rows r < t through 0 * NaN */
        for (int64_t r = 0; r < L; r++)
            for (int64_t t = 0; t <= r; t++)
                for (int64_t e = 0; e < dv; e++) w->num[r * dv + e] += w->p[r * L + t] * w->vb[t * dv + e];
    }
    store_rows(a, b, h, t0, L, w);
    advance_state(L, F, dv, g, w, S, z, c, empty);
}

/* Non-causal: the state over every key (g = 0), then each query reads it. */
static void full_head(const lc_linear_attention *a, int64_t b, int64_t h, int64_t Lc, scratch *w, float *S, float *z, float *c) {
    const int64_t n = a->q.shape[1], F = lc_linear_features(a), dv = a->v.shape[3];
    for (int64_t t0 = 0; t0 < n; t0 += Lc) {
        int64_t L = n - t0 < Lc ? n - t0 : Lc;
        load_chunk(a, b, h, t0, L, 0, w);
        advance_state(L, F, dv, 0.0, w, S, z, c, state_empty(z, F));
    }
    for (int64_t t0 = 0; t0 < n; t0 += Lc) {
        int64_t L = n - t0 < Lc ? n - t0 : Lc;
        lin_features_rows(a, lin_row(&a->q, b, t0, h), a->q.stride[1], a->q.stride[3], L, w->qf, w->qs, w->xs);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)L, (int)dv, (int)F, 1.0f, w->qf, (int)F, S, (int)dv, 0.0f, w->num, (int)dv);
        for (int64_t r = 0; r < L; r++) {
            float dz = 0;
            for (int64_t i = 0; i < F; i++) dz += w->qf[r * F + i] * z[i];
            w->den[r] = dz, w->base[r] = *c;
        }
        store_rows(a, b, h, t0, L, w);
    }
}

lc_status lc_linear_attention_forward(const lc_linear_attention *a, float *state, int64_t state_floats, void *workspace, size_t workspace_bytes) {
    lc_status st = lc_linear_attention_check(a);
    if (st) return st;
    const int64_t B = a->q.shape[0], n = a->q.shape[1], H = a->q.shape[2], F = lc_linear_features(a), dv = a->v.shape[3];
    const int64_t per = lc_linear_state_floats(a);
    if (state) {
        if (!a->causal) return lc_error(LC_EINVAL, "state must be NULL when causal=0 (a non-causal pass has no state to carry)");
        if (state_floats != B * H * per)
            return lc_error(LC_EINVAL, "state_floats=%lld must be batch*heads*(F*d_v+F+1) = %lld", (long long)state_floats, (long long)(B * H * per));
    }
    const int nt = lc_threads_resolve(a->threads);
    const size_t need = lc_linear_attention_workspace_size(a);
    if (!workspace || workspace_bytes < need)
        return lc_error(LC_EINVAL, "workspace of %zu bytes is below lc_linear_attention_workspace_size=%zu", workspace ? workspace_bytes : 0, need);
    const int64_t Lc = chunk_of(a);
    const size_t tf = thread_floats(a);
#pragma omp parallel num_threads(nt)
    {
        omp_set_num_threads(1); /* OpenBLAS inside the region: one thread each */
        float *base = (float *)workspace + tf * (size_t)omp_get_thread_num();
        scratch w;
        w.qf = base, w.kf = w.qf + Lc * F, w.p = w.kf + Lc * F, w.vb = w.p + Lc * Lc, w.num = w.vb + Lc * dv;
        w.qs = w.num + Lc * dv, w.ks = w.qs + Lc, w.base = w.ks + Lc, w.den = w.base + Lc, w.w = w.den + Lc;
        w.xs = w.w + Lc;
        float *own = w.xs + Lc * a->q.shape[3];
#pragma omp for schedule(dynamic, 1)
        for (int64_t bh = 0; bh < B * H; bh++) {
            const int64_t b = bh / H, h = bh % H;
            float *S = state ? state + bh * per : own;
            if (!state) memset(S, 0, sizeof(float) * (size_t)per);
            float *z = S + F * dv, *c = z + F;
            if (!a->causal) full_head(a, b, h, Lc, &w, S, z, c);
            else
                for (int64_t t0 = 0; t0 < n; t0 += Lc) causal_chunk(a, b, h, t0, n - t0 < Lc ? n - t0 : Lc, &w, S, z, c);
        }
    }
    return LC_OK;
}

lc_status lc_linear_attention_forward_alloc(const lc_linear_attention *a, float *state, int64_t state_floats) {
    lc_status st = lc_linear_attention_check(a);
    if (st) return st;
    size_t bytes = lc_linear_attention_workspace_size(a);
    void *ws = lc_aligned_alloc(bytes, 64);
    if (!ws) return LC_ENOMEM;
    st = lc_linear_attention_forward(a, state, state_floats, ws, bytes);
    lc_aligned_free(ws);
    return st;
}
