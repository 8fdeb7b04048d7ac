/* One needle-in-a-haystack prompt through a model under a technique: a fresh context with the
 * technique's plan, the prompt prefilled, a greedy answer decoded token by token, the answer
 * scored; the bytes the context kept after the prompt and the times (include/longctx/recall.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "recall_internal.h"

double lc_recall_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int is_stop(const lc_model_config *mc, const lc_tokenizer *t, int32_t id) {
    for (int e = 0; e < mc->n_stop; e++)
        if (id == mc->stop[e]) return 1;
    return t && id == lc_tokenizer_eos(t);
}

lc_status lc_recall_generate(const lc_model *m, const lc_tokenizer *t, const lc_context_config *cfg, const int32_t *prompt, int64_t n,
                             int max_new, int32_t *ids, int *n_gen, size_t *state_bytes, size_t *alloc_bytes, double *prefill_s,
                             double *decode_s) {
    if (!m || !cfg || !prompt || !ids || !n_gen || n < 1 || max_new < 1)
        return lc_error(LC_EINVAL, "recall_generate: model, config, prompt (n >= 1), ids and n_gen must be given, max_new >= 1");
    const lc_model_config *mc = lc_model_config_of(m);
    lc_context_config c = *cfg;
    c.max_seqs = 1;
    c.max_tokens = n + max_new;
    lc_context *ctx = NULL;
    int seq = -1;
    float *logits = malloc(sizeof(float) * (size_t)mc->vocab);
    lc_status st = logits ? LC_OK : lc_error(LC_ENOMEM, "recall_generate: logits");
    if (!st) st = lc_context_create(m, &c, &ctx);
    if (!st) st = lc_context_seq_new(ctx, &seq);
    double a = lc_recall_now();
    if (!st) st = lc_context_prefill(ctx, seq, prompt, n, logits, 0);
    double b = lc_recall_now();
    if (!st && state_bytes) *state_bytes = lc_context_cache_bytes(ctx, seq);
    int k = 0;
    for (; !st && k < max_new;) {
        int32_t tok = lc_argmax(logits, mc->vocab);
        if (is_stop(mc, t, tok)) break;
        ids[k++] = tok;
        if (k == max_new) break;
        st = lc_context_decode(ctx, 1, &seq, &tok, logits);
    }
    double e = lc_recall_now();
    if (!st) {
        *n_gen = k;
        if (alloc_bytes) *alloc_bytes = lc_context_alloc_bytes(ctx);
        if (prefill_s) *prefill_s = b - a;
        if (decode_s) *decode_s = e - b;
    }
    lc_context_destroy(ctx);
    free(logits);
    return st;
}

lc_status lc_niah_run(const lc_model *m, const lc_tokenizer *t, const lc_recall_technique *tech, const lc_niah_prompt *p,
                      const lc_niah_run_config *rc, lc_niah_result *out) {
    if (!m || !t || !tech || !p || !out || !p->ids) return lc_error(LC_EINVAL, "niah_run: model, tokenizer, technique, prompt and out must be given");
    memset(out, 0, sizeof *out);
    lc_niah_run_config r = rc ? *rc : (lc_niah_run_config){0};
    if (r.max_new <= 0) r.max_new = 9 * (p->n_values > 0 ? p->n_values : 1) + 2;
    lc_context_config cfg = tech->ctx;
    cfg.threads = r.threads;
    cfg.max_batch = r.max_batch;
    const int32_t *prompt = p->ids;
    int64_t n = p->n;
    int32_t *rag = NULL;
    size_t index_bytes = 0, rag_alloc = 0;
    out->rag_hit = -1;
    double t0 = lc_recall_now();
    lc_status st = LC_OK;
    if (tech->rag_top_k > 0) {
        st = lc_recall_rag_prompt(m, tech, p, r.threads, &rag, &n, &out->rag_hit, &index_bytes, &rag_alloc);
        prompt = rag;
    }
    double t_rag = lc_recall_now() - t0;
    int32_t *gen = malloc(sizeof(int32_t) * (size_t)r.max_new);
    int n_gen = 0;
    if (!st && !gen) st = lc_error(LC_ENOMEM, "niah_run: %d generated ids", r.max_new);
    if (!st) st = lc_recall_generate(m, t, &cfg, prompt, n, r.max_new, gen, &n_gen, &out->state_bytes, &out->alloc_bytes, &out->prefill_s, &out->decode_s);
    if (!st) {
        char *text = NULL;
        size_t len = 0;
        if (n_gen == 0) text = calloc(1, 1);
        else st = lc_tokenizer_decode_alloc(t, gen, n_gen, 1, &text, &len);
        if (!st && !text) st = lc_error(LC_ENOMEM, "niah_run: answer text");
        if (!st) {
            snprintf(out->answer, sizeof out->answer, "%s", text);
            out->score = lc_niah_score(p, text);
        }
        free(text);
        out->prompt_tokens = n;
        out->generated = n_gen;
        out->prefill_s += t_rag;
        out->state_bytes += index_bytes;
        out->alloc_bytes += rag_alloc;
    }
    free(gen), free(rag);
    return st;
}
