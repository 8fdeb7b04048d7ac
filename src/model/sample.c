/* Sampling a token from logits: greedy, or temperature, then top-k, then top-p (the order of
 * transformers' logits warpers), drawn with the counter-based Philox generator so that a
 * (seed, draw index) pair always gives the same token. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "longctx/model.h"

typedef struct cand {
    float logit;
    int32_t id;
} cand;

int32_t lc_argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return (int32_t)best;
}

lc_status lc_sampler_check(const lc_sampler *s) {
    if (!s) return lc_error(LC_EINVAL, "sampler is NULL");
    if (!(s->temperature >= 0) || !isfinite(s->temperature)) return lc_error(LC_EINVAL, "sampler.temperature=%g must be finite and >= 0 (0: greedy)", s->temperature);
    if (s->top_k < 0) return lc_error(LC_EINVAL, "sampler.top_k=%d must be >= 0 (0: off)", s->top_k);
    if (!(s->top_p >= 0 && s->top_p <= 1)) return lc_error(LC_EINVAL, "sampler.top_p=%g must lie in [0, 1] (0 or 1: off)", s->top_p);
    return LC_OK;
}

size_t lc_sample_workspace_size(int64_t vocab) { return vocab > 0 ? (size_t)vocab * sizeof(cand) : 0; }

/* Descending logit, then ascending id: a total order, so the result never depends on qsort. */
static int by_logit(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

lc_status lc_sample(const lc_sampler *s, const float *logits, int64_t vocab, uint64_t draw, void *workspace, size_t workspace_bytes,
                    int32_t *token) {
    lc_status st = lc_sampler_check(s);
    if (st) return st;
    if (!logits || !token) return lc_error(LC_EINVAL, "sample: logits and token must not be NULL");
    if (vocab < 1 || vocab > INT32_MAX) return lc_error(LC_EINVAL, "sample: vocab=%lld must lie in [1, 2^31)", (long long)vocab);
    for (int64_t i = 0; i < vocab; i++)
        if (isnan(logits[i])) return lc_error(LC_EINVAL, "sample: logit %lld is NaN", (long long)i);
    if (s->temperature == 0) {
        *token = lc_argmax(logits, vocab);
        return LC_OK;
    }
    if (!workspace || workspace_bytes < lc_sample_workspace_size(vocab))
        return lc_error(LC_EINVAL, "sample: workspace of %zu bytes given, %zu needed (lc_sample_workspace_size)", workspace ? workspace_bytes : 0,
                        lc_sample_workspace_size(vocab));
    cand *c = workspace;
    for (int64_t i = 0; i < vocab; i++) c[i] = (cand){(float)(logits[i] / s->temperature), (int32_t)i};
    qsort(c, (size_t)vocab, sizeof *c, by_logit);
    int64_t keep = s->top_k > 0 && s->top_k < vocab ? s->top_k : vocab;
    /* softmax over the kept candidates, in double */
    const double top = c[0].logit;
    double sum = 0;
    for (int64_t i = 0; i < keep; i++) sum += exp((double)c[i].logit - top);
    if (s->top_p > 0 && s->top_p < 1) { /* the fewest most likely tokens whose mass reaches top_p */
        double mass = 0;
        int64_t k = 0;
        while (k < keep) {
            mass += exp((double)c[k].logit - top) / sum;
            k++;
            if (mass >= s->top_p) break;
        }
        keep = k;
        sum = 0;
        for (int64_t i = 0; i < keep; i++) sum += exp((double)c[i].logit - top);
    }
    double u = lc_rng_uniform(s->seed, draw) * sum, acc = 0;
    for (int64_t i = 0; i < keep; i++) {
        acc += exp((double)c[i].logit - top);
        if (u < acc) {
            *token = c[i].id;
            return LC_OK;
        }
    }
    *token = c[keep - 1].id; /* u rounded onto the total */
    return LC_OK;
}
