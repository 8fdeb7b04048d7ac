/* The recurrent form of causal linear attention (Katharopoulos et al. 2020, eq. 18-20;
 * with the RetNet decay g): per token
 *     S <- g S + phi(k) v^T,   z <- g z + phi(k),   o = phi(q)^T S / phi(q)^T z,
 * kept at a log-scale c (S_true = exp(c) S) so FAVOR+ features cannot overflow. Memory is
 * the state alone, whatever the number of tokens already seen. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "linear_internal.h"

/* The plan of one call: one job per (sequence, head), on threads only from
 * MIN_PARALLEL_WORK state updates (batch x heads x tokens x features x d_v) up. A decode
 * token is microseconds of work: threads cost more than they save, and one that the busy
 * machine deschedules stalls the barrier for a whole time slice. Measured with
 * bench/linear --lengths 1024 --heads 16 --dim 64 (a token of 16 heads, 64 features x d_v
 * 64; the best of 3 means over 64 calls) in 4 runs on a shared 2-core machine: elu+1
 * 23-25 us and FAVOR+ 64-273 us on one thread; with the threshold at 0, on two threads,
 * 22-29 us and 50-241 us, and 2.9 ms in one FAVOR+ run. The threshold itself (about 15
 * tokens of that layer) was chosen, not measured. */
enum { MIN_PARALLEL_WORK = 1000000 };

typedef struct step_plan {
    int threads, parallel;
} step_plan;

static step_plan make_plan(const lc_linear_attention *a, int64_t F, int64_t dv) {
    step_plan p;
    p.threads = lc_threads_resolve(a->threads);
    p.parallel = (double)a->q.shape[0] * a->q.shape[2] * a->q.shape[1] * F * dv >= MIN_PARALLEL_WORK;
    return p;
}

lc_status lc_linear_attention_step(const lc_linear_attention *a, float *state, int64_t state_floats) {
    lc_status st = lc_linear_attention_check(a);
    if (st) return st;
    if (!a->causal) return lc_error(LC_EINVAL, "causal=0: the recurrent form is causal by definition");
    const int64_t B = a->q.shape[0], n = a->q.shape[1], H = a->q.shape[2], F = lc_linear_features(a), dv = a->v.shape[3];
    const int64_t per = lc_linear_state_floats(a);
    if (!state) return lc_error(LC_EINVAL, "state is NULL: the recurrent form needs batch*heads*(F*d_v+F+1) floats");
    if (state_floats != B * H * per)
        return lc_error(LC_EINVAL, "state_floats=%lld must be batch*heads*(F*d_v+F+1) = %lld", (long long)state_floats, (long long)(B * H * per));
    const step_plan plan = make_plan(a, F, dv);
    const int nt = plan.threads;
    float *scratch = malloc(sizeof(float) * (size_t)(2 * F + dv) * (size_t)nt);
    if (!scratch) return lc_error(LC_ENOMEM, "linear attention step: %zu bytes of scratch", sizeof(float) * (size_t)((2 * F + dv) * nt));
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (plan.parallel)
    for (int64_t bh = 0; bh < B * H; bh++) {
        const int64_t b = bh / H, h = bh % H;
        float *qf = scratch + (2 * F + dv) * omp_get_thread_num(), *kf = qf + F, *acc = kf + F;
        float *S = state + bh * per, *z = S + F * dv, *c = z + F;
        const float g = (float)lin_log_decay(a, h);
        for (int64_t t = 0; t < n; t++) {
            float qs = lin_features(a, lin_row(&a->q, b, t, h), a->q.stride[3], qf);
            float ks = lin_features(a, lin_row(&a->k, b, t, h), a->k.stride[3], kf);
            int empty = 1;
            for (int64_t f = 0; f < F && empty; f++) empty = z[f] == 0;
            float top = empty ? ks : lin_max_nan(*c + g, ks);
            if (!empty) {
                float s = expf(*c + g - top);
                for (int64_t i = 0; i < F * dv; i++) S[i] *= s;
                for (int64_t f = 0; f < F; f++) z[f] *= s;
            }
            const float wk = expf(ks - top);
            const float *v = lin_row(&a->v, b, t, h);
            for (int64_t f = 0; f < F; f++) {
                float kw = kf[f] * wk;
                z[f] += kw;
                float *Sf = S + f * dv;
                for (int64_t e = 0; e < dv; e++) Sf[e] += kw * v[e * a->v.stride[3]];
            }
            *c = top;
            float den = 0;
            for (int64_t f = 0; f < F; f++) den += qf[f] * z[f];
            float scale = a->normalize ? (den == 0 ? 0.0f : 1.0f / den) : expf(top + qs);
            float *o = (float *)a->out.data + lc_tensor_offset(&a->out, b, t, h, 0);
            for (int64_t e = 0; e < dv; e++) acc[e] = 0;
            for (int64_t f = 0; f < F; f++)
                for (int64_t e = 0; e < dv; e++) acc[e] += qf[f] * S[f * dv + e];
            for (int64_t e = 0; e < dv; e++) o[e * a->out.stride[3]] = acc[e] * scale;
        }
    }
    free(scratch);
    return LC_OK;
}
