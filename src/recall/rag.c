/* Retrieval-augmented generation for the recall harness: the haystack in overlapping chunks,
 * each embedded by the model itself (mean of its final hidden states), indexed in FAISS
 * through the kNN memory (exact inner product over unit vectors: cosine), and only the top-k
 * chunks given to the model with the question (recall_internal.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "longctx/memory.h"
#include "recall_internal.h"

/* The mean of the final hidden states of tokens[0, n) after an optional BOS, as a unit vector. */
static lc_status embed(lc_context *ctx, int32_t bos, const int32_t *tokens, int64_t n, float *scratch, int64_t H, float *out) {
    int seq = -1;
    lc_status st = lc_context_seq_new(ctx, &seq);
    int64_t at = 0;
    if (!st && bos >= 0) st = lc_context_prefill_hidden(ctx, seq, &bos, 1, scratch), at = 1;
    if (!st) st = lc_context_prefill_hidden(ctx, seq, tokens, n, scratch + at * H);
    if (seq >= 0) {
        lc_status s2 = lc_context_seq_remove(ctx, seq);
        if (!st) st = s2;
    }
    if (st) return st;
    double norm = 0;
    for (int64_t j = 0; j < H; j++) {
        double s = 0;
        for (int64_t i = 0; i < n; i++) s += scratch[(at + i) * H + j];
        out[j] = (float)(s / (double)n);
        norm += (double)out[j] * out[j];
    }
    float inv = norm > 0 ? (float)(1 / sqrt(norm)) : 0.0f;
    for (int64_t j = 0; j < H; j++) out[j] *= inv;
    return LC_OK;
}

lc_status lc_recall_rag_prompt(const lc_model *m, const lc_recall_technique *tech, const lc_niah_prompt *p, int threads, int32_t **ids,
                               int64_t *n, int *hit, size_t *index_bytes, size_t *alloc_bytes) {
    const lc_model_config *mc = lc_model_config_of(m);
    const int64_t H = mc->hidden, C = tech->rag_chunk, stride = C / 2 > 0 ? C / 2 : 1;
    const int64_t hay = p->question_pos - p->haystack_begin, Q = p->n - p->question_pos;
    const int32_t bos = p->haystack_begin > 0 ? p->ids[0] : -1;
    const int32_t *h0 = p->ids + p->haystack_begin;
    int64_t chunks = hay <= C ? 1 : 1 + (hay - C + stride - 1) / stride; /* the last one ends at the haystack's end */
    int64_t k = tech->rag_top_k < chunks ? tech->rag_top_k : chunks;
    int64_t longest = (C > Q ? C : Q) + 1;
    *ids = NULL;
    lc_context_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.max_tokens = longest;
    cfg.threads = threads;
    lc_context *ctx = NULL;
    lc_knn_memory *mem = NULL;
    float *E = malloc(sizeof(float) * (size_t)((chunks + 1) * H)), *scratch = malloc(sizeof(float) * (size_t)(longest * H));
    float *ones = malloc(sizeof(float) * (size_t)chunks);
    int64_t *pos = malloc(sizeof(int64_t) * (size_t)k);
    float *scores = malloc(sizeof(float) * (size_t)k);
    unsigned char *keep = calloc((size_t)(hay > 0 ? hay : 1), 1);
    lc_status st = E && scratch && ones && pos && scores && keep ? LC_OK : lc_error(LC_ENOMEM, "rag: embeddings of %lld chunks", (long long)chunks);
    if (!st && hay < 1) st = lc_error(LC_EINVAL, "rag: the prompt has no haystack to retrieve from");
    if (!st) st = lc_context_create(m, &cfg, &ctx);
    for (int64_t c = 0; c < chunks && !st; c++) {
        int64_t b = c * stride, e = b + C < hay ? b + C : hay;
        if (c == chunks - 1 && hay > C) b = hay - C, e = hay;
        st = embed(ctx, bos, h0 + b, e - b, scratch, H, E + c * H);
    }
    if (!st) st = embed(ctx, bos, p->ids + p->question_pos, Q, scratch, H, E + chunks * H); /* the question */
    if (!st) {
        lc_knn_memory_config mcfg;
        memset(&mcfg, 0, sizeof mcfg);
        mcfg.heads = 1, mcfg.d_k = H, mcfg.d_v = 1, mcfg.capacity = chunks, mcfg.index = LC_MEMORY_EXACT, mcfg.threads = threads;
        st = lc_knn_memory_create(&mcfg, &mem);
    }
    if (!st) {
        for (int64_t c = 0; c < chunks; c++) ones[c] = (float)c;
        lc_tensor kt = lc_tensor_bshd(E, LC_F32, 1, chunks, 1, H), vt = lc_tensor_bshd(ones, LC_F32, 1, chunks, 1, 1);
        st = lc_knn_memory_append(mem, &kt, &vt);
    }
    if (!st) {
        lc_tensor qt = lc_tensor_bshd(E + chunks * H, LC_F32, 1, 1, 1, H);
        st = lc_knn_memory_search(mem, &qt, k, pos, scores);
    }
    int64_t kept = 0;
    if (!st) {
        for (int64_t r = 0; r < k; r++) {
            int64_t c = pos[r] - lc_knn_memory_first(mem), b = c * stride, e = b + C < hay ? b + C : hay;
            if (c == chunks - 1 && hay > C) b = hay - C, e = hay;
            for (int64_t i = b; i < e; i++) keep[i] = 1;
        }
        for (int64_t i = 0; i < hay; i++) kept += keep[i];
        *n = (bos >= 0) + kept + Q;
        if (!(*ids = malloc(sizeof(int32_t) * (size_t)*n))) st = lc_error(LC_ENOMEM, "rag: prompt of %lld ids", (long long)*n);
    }
    if (!st) {
        int64_t at = 0;
        if (bos >= 0) (*ids)[at++] = bos;
        for (int64_t i = 0; i < hay; i++)
            if (keep[i]) (*ids)[at++] = h0[i];
        memcpy(*ids + at, p->ids + p->question_pos, sizeof(int32_t) * (size_t)Q);
        *hit = 1; /* every token of the asked needle(s) kept */
        for (int i = 0; i < p->n_needles; i++)
            if (p->needle[i].asked)
                for (int64_t j = p->needle[i].pos; j < p->needle[i].pos + p->needle[i].len; j++)
                    if (!keep[j - p->haystack_begin]) *hit = 0;
        *index_bytes = lc_knn_memory_bytes(mem);
        *alloc_bytes = lc_context_alloc_bytes(ctx);
    }
    lc_knn_memory_destroy(mem);
    lc_context_destroy(ctx);
    free(E), free(scratch), free(ones), free(pos), free(scores), free(keep);
    if (st) free(*ids), *ids = NULL;
    return st;
}
