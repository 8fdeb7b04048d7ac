/* MLPs of the layer plan: dense (down(act(h Wg) * h Wu)) and mixture of experts as
 * transformers' JambaSparseMoeBlock and DeepseekV2Moe compute them:
 *
 *   p = softmax(h W_router)                         (f32)
 *   top-k experts of p (DeepSeek's group_limited_greedy: only among the topk_group groups
 *   with the largest member), weights p_e * routed_scaling_factor (renormalised when
 *   norm_topk); out = sum_e w_e expert_e(h) + shared_experts(h)
 *
 * Each expert runs as one sgemm over the rows routed to it. */
#include <math.h>
#include <string.h>

#include "arch_internal.h"

static float act(lc_activation a, float x) {
    switch (a) {
    case LC_ACT_GELU_TANH: return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case LC_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
    default: return x / (1.0f + expf(-x));
    }
}

/* out[rows, hidden] = down(act(x Wg) * x Wu), g and u scratch of rows x inter. */
static void dense(const lc_context *ctx, const lc_linear *gate, const lc_linear *up, const lc_linear *down, const float *x, int64_t rows, float *g,
                  float *u, float *out) {
    const lc_model_config *c = &ctx->model->cfg;
    const int64_t H = c->hidden, I = gate->out;
    lc_arch_linear(x, rows, H, gate, g, I);
    lc_arch_linear(x, rows, H, up, u, I);
    const lc_activation a = c->act;
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (rows * I > 65536)
    for (int64_t i = 0; i < rows * I; i++) g[i] = act(a, g[i]) * u[i];
    lc_arch_linear(g, rows, I, down, out, H);
}

/* The k largest of v[0..n) whose mask bit is set (mask NULL: all), largest first, the lowest
 * index among equals first. */
static void top_k(const float *v, int n, const unsigned char *mask, int k, int *idx) {
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int e = 0; e < n; e++) {
            if (mask && !mask[e]) continue;
            int taken = 0;
            for (int i = 0; i < j && !taken; i++) taken = idx[i] == e;
            if (!taken && (best < 0 || v[e] > v[best])) best = e;
        }
        idx[j] = best;
    }
}

/* Routing of one row: p[E] probabilities in, idx[k] experts and wts[k] weights out. */
static void route(const lc_moe_config *o, const float *p, int *idx, float *wts) {
    const int E = o->experts, k = o->top_k;
    if (o->groups > 1) { /* group_limited_greedy: experts outside the chosen groups score 0 */
        float gmax[4096];
        int gsel[4096];
        unsigned char keep[4096];
        const int G = o->groups, per = E / G;
        for (int g = 0; g < G; g++) {
            gmax[g] = p[g * per];
            for (int e = 1; e < per; e++) gmax[g] = p[g * per + e] > gmax[g] ? p[g * per + e] : gmax[g];
        }
        top_k(gmax, G, NULL, o->topk_groups, gsel);
        float masked[4096];
        memset(keep, 0, (size_t)G);
        for (int i = 0; i < o->topk_groups; i++) keep[gsel[i]] = 1;
        for (int e = 0; e < E; e++) masked[e] = keep[e / per] ? p[e] : 0.0f;
        top_k(masked, E, NULL, k, idx);
        for (int j = 0; j < k; j++) wts[j] = masked[idx[j]];
    } else {
        top_k(p, E, NULL, k, idx);
        for (int j = 0; j < k; j++) wts[j] = p[idx[j]];
    }
    float sum = 0;
    for (int j = 0; j < k; j++) sum += wts[j];
    for (int j = 0; j < k; j++) wts[j] = (o->norm_topk && sum > 0 ? wts[j] / sum : wts[j]) * (float)o->scale;
}

static lc_status moe(lc_context *ctx, int64_t l, int64_t rows, const float *h, float *out) {
    const lc_model_config *c = &ctx->model->cfg;
    const lc_moe_config *o = &c->moe;
    const lc_moe_weights *w = &ctx->model->ext[l].moe;
    lc_ctx_ext *e = ctx->ext;
    const int64_t H = c->hidden;
    const int E = o->experts, k = o->top_k;
    lc_arch_linear(h, rows, H, &w->router, e->probs, E);
    for (int64_t r = 0; r < rows; r++) { /* softmax, then the route */
        float *p = e->probs + r * E, mx = p[0], sum = 0;
        for (int x = 1; x < E; x++) mx = p[x] > mx ? p[x] : mx;
        for (int x = 0; x < E; x++) sum += p[x] = expf(p[x] - mx);
        for (int x = 0; x < E; x++) p[x] /= sum;
        route(o, p, e->idx + r * k, e->wts + r * k);
    }
    memset(out, 0, sizeof(float) * (size_t)(rows * H));
    for (int x = 0; x < E; x++) {
        int64_t n = 0;
        for (int64_t r = 0; r < rows; r++)
            for (int j = 0; j < k; j++)
                if (e->idx[r * k + j] == x) {
                    memcpy(e->xs + n * H, h + r * H, sizeof(float) * (size_t)H);
                    e->rows[n++] = r * k + j;
                }
        if (n == 0) continue;
        dense(ctx, &w->gate[x], &w->up[x], &w->down[x], e->xs, n, e->gs, e->us, e->ys);
        for (int64_t i = 0; i < n; i++) {
            const int64_t r = e->rows[i] / k;
            const float wt = e->wts[e->rows[i]];
            for (int64_t d = 0; d < H; d++) out[r * H + d] += wt * e->ys[i * H + d];
        }
    }
    if (w->sgate.w) {
        dense(ctx, &w->sgate, &w->sup, &w->sdown, h, rows, e->gs, e->us, e->ys);
        for (int64_t i = 0; i < rows * H; i++) out[i] += e->ys[i];
    }
    return LC_OK;
}

lc_status lc_arch_mlp(lc_context *ctx, int64_t l, int64_t rows, const float *h, float *out) {
    if (ctx->model->cfg.layer[l].mlp == LC_MLP_MOE) return moe(ctx, l, rows, h, out);
    const lc_layer_weights *w = &ctx->model->layer[l];
    dense(ctx, &w->gate, &w->up, &w->down, h, rows, ctx->gate, ctx->up, out);
    return LC_OK;
}
