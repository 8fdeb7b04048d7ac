/* Needle-in-a-haystack prompts at exact token lengths (include/longctx/recall.h):
 *
 *   [BOS] filler[0, o1) needle_1 filler[o1, o2) needle_2 ... filler[ok, F) question
 *
 * F, the filler's tokens, is what the length leaves after BOS, the needles and the question.
 * The filler is the seed's sentences, each encoded on its own, concatenated and cut at F
 * tokens (so a prompt may cut a sentence, never a token). The asked needle sits at filler
 * offset round(depth F); the other needles (MK distractors, MV's further values) at offsets
 * drawn uniformly from [0, F]. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "longctx/recall.h"

static uint64_t mix64(uint64_t x) { /* splitmix64's finaliser */
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

lc_status lc_niah_config_check(const lc_niah_config *c) {
    if (!c) return lc_error(LC_EINVAL, "niah: config is NULL");
    if (c->length < 1 || c->length > ((int64_t)1 << 32)) return lc_error(LC_EINVAL, "niah.length=%lld must lie in [1, 2^32]", (long long)c->length);
    if (!(c->depth >= 0 && c->depth <= 1)) return lc_error(LC_EINVAL, "niah.depth=%g must lie in [0, 1]", c->depth);
    int nk = 0;
    lc_niah_keys(&nk);
    if (c->keys < 0 || c->keys > nk) return lc_error(LC_EINVAL, "niah.keys=%d must lie in [0, %d] (the distinct keys there are)", c->keys, nk);
    if (c->values < 0 || c->values > LC_NIAH_MAX_NEEDLES) return lc_error(LC_EINVAL, "niah.values=%d must lie in [0, %d]", c->values, LC_NIAH_MAX_NEEDLES);
    int k = c->keys > 1 ? c->keys : 1, v = c->values > 1 ? c->values : 1;
    if (k - 1 + v > LC_NIAH_MAX_NEEDLES)
        return lc_error(LC_EINVAL, "niah: keys=%d and values=%d make %d needles, more than %d", c->keys, c->values, k - 1 + v, LC_NIAH_MAX_NEEDLES);
    return LC_OK;
}

void lc_niah_prompt_destroy(lc_niah_prompt *p) {
    if (!p) return;
    free(p->ids);
    memset(p, 0, sizeof *p);
}

typedef struct piece {
    int32_t *ids;
    int64_t n;
} piece;

static lc_status encode(const lc_tokenizer *t, const char *text, piece *out) {
    return lc_tokenizer_encode_alloc(t, text, strlen(text), 0, &out->ids, &out->n);
}

/* The filler's first F tokens for seed into ids. */
static lc_status filler_ids(const lc_tokenizer *t, uint64_t seed, int64_t F, int32_t *ids) {
    char s[160];
    int64_t have = 0;
    for (uint64_t i = 0; have < F; i++) {
        lc_niah_filler_sentence(seed, i, s, sizeof s);
        piece p = {0};
        lc_status st = encode(t, s, &p);
        if (st) return st;
        if (p.n == 0) {
            free(p.ids);
            return lc_error(LC_EINTERNAL, "niah: filler sentence '%s' encodes to no tokens", s);
        }
        int64_t take = p.n < F - have ? p.n : F - have;
        memcpy(ids + have, p.ids, sizeof(int32_t) * (size_t)take);
        have += take;
        free(p.ids);
    }
    return LC_OK;
}

lc_status lc_niah_build(const lc_tokenizer *t, const lc_niah_config *c, lc_niah_prompt *out) {
    if (!t || !out) return lc_error(LC_EINVAL, "niah: tokenizer and out must not be NULL");
    memset(out, 0, sizeof *out);
    lc_status st = lc_niah_config_check(c);
    if (st) return st;
    int nk = 0;
    const char *const *keys = lc_niah_keys(&nk);
    const int K = c->keys > 1 ? c->keys : 1, V = c->values > 1 ? c->values : 1, N = K - 1 + V;
    const uint64_t s2 = mix64(mix64(c->seed) ^ mix64((uint64_t)c->length * 0x100000001b3ull) ^ (uint64_t)llround(c->depth * 1e6));
    uint64_t draw = 0;

    /* keys: K distinct (a partial Fisher-Yates shuffle); needle 0 .. V-1 carry the asked key */
    int order[64];
    for (int i = 0; i < nk; i++) order[i] = i;
    for (int i = 0; i < K; i++) {
        int j = i + (int)lc_rng_below(s2, draw++, (uint64_t)(nk - i));
        int tmp = order[i];
        order[i] = order[j], order[j] = tmp;
    }
    lc_niah_needle nd[LC_NIAH_MAX_NEEDLES];
    memset(nd, 0, sizeof nd);
    for (int i = 0; i < N; i++) {
        snprintf(nd[i].key, sizeof nd[i].key, "%s", keys[order[i < V ? 0 : i - V + 1]]);
        for (int d = 0; d < LC_NIAH_VALUE_DIGITS; d++) nd[i].value[d] = (char)('0' + lc_rng_below(s2, draw++, 10));
        nd[i].asked = i < V;
        nd[i].at_depth = i == 0;
    }

    /* the pieces' ids */
    piece np[LC_NIAH_MAX_NEEDLES], q = {0};
    memset(np, 0, sizeof np);
    char text[256];
    int64_t fixed = 0;
    const int32_t bos = c->no_bos ? -1 : lc_tokenizer_bos(t);
    if (bos >= 0) fixed++;
    for (int i = 0; i < N && !st; i++) {
        lc_niah_needle_text(nd[i].key, nd[i].value, text, sizeof text);
        if (!(st = encode(t, text, &np[i]))) fixed += np[i].n;
        nd[i].len = np[i].n;
    }
    if (!st) {
        lc_niah_question_text(nd[0].key, V, text, sizeof text);
        if (!(st = encode(t, text, &q))) fixed += q.n;
    }
    const int64_t F = c->length - fixed;
    if (!st && F < 0)
        st = lc_error(LC_ERANGE, "niah: length %lld is too short: BOS, %d needle%s and the question take %lld tokens", (long long)c->length, N,
                      N == 1 ? "" : "s", (long long)fixed);
    /* offsets: the first asked needle at the depth, the rest uniform; then prompt order */
    int idx[LC_NIAH_MAX_NEEDLES];
    if (!st) {
        for (int i = 0; i < N; i++) {
            nd[i].offset = i == 0 ? (int64_t)llround(c->depth * (double)F) : (int64_t)lc_rng_below(s2, draw++, (uint64_t)F + 1);
            idx[i] = i;
        }
        for (int i = 1; i < N; i++) /* insertion sort by (offset, index) */
            for (int j = i; j > 0 && nd[idx[j]].offset < nd[idx[j - 1]].offset; j--) {
                int tmp = idx[j];
                idx[j] = idx[j - 1], idx[j - 1] = tmp;
            }
    }
    int32_t *fill = NULL;
    if (!st && !(out->ids = malloc(sizeof(int32_t) * (size_t)c->length))) st = lc_error(LC_ENOMEM, "niah: %lld prompt ids", (long long)c->length);
    if (!st && F > 0 && !(fill = malloc(sizeof(int32_t) * (size_t)F))) st = lc_error(LC_ENOMEM, "niah: %lld filler ids", (long long)F);
    if (!st && F > 0) st = filler_ids(t, c->seed, F, fill);
    if (!st) {
        int32_t *o = out->ids;
        int64_t at = 0, f = 0;
        if (bos >= 0) o[at++] = bos;
        out->haystack_begin = at;
        for (int r = 0; r < N; r++) {
            lc_niah_needle *e = &nd[idx[r]];
            memcpy(o + at, fill + f, sizeof(int32_t) * (size_t)(e->offset - f));
            at += e->offset - f, f = e->offset;
            e->pos = at;
            memcpy(o + at, np[idx[r]].ids, sizeof(int32_t) * (size_t)e->len);
            at += e->len;
            out->needle[r] = *e;
            if (e->asked) snprintf(out->value[out->n_values++], LC_NIAH_VALUE_DIGITS + 1, "%s", e->value);
        }
        if (F > f) memcpy(o + at, fill + f, sizeof(int32_t) * (size_t)(F - f));
        at += F - f;
        out->question_pos = at;
        memcpy(o + at, q.ids, sizeof(int32_t) * (size_t)q.n);
        at += q.n;
        out->n = at;
        out->filler = F;
        out->n_needles = N;
        snprintf(out->key, sizeof out->key, "%s", nd[0].key);
        if (at != c->length) st = lc_error(LC_EINTERNAL, "niah: built %lld ids for a length of %lld", (long long)at, (long long)c->length);
    }
    for (int i = 0; i < N; i++) free(np[i].ids);
    free(q.ids), free(fill);
    if (st) lc_niah_prompt_destroy(out);
    return st;
}

double lc_niah_score(const lc_niah_prompt *p, const char *answer) {
    if (!p || !answer || p->n_values == 0) return 0;
    int found = 0;
    for (int i = 0; i < p->n_values; i++) found += strstr(answer, p->value[i]) != NULL;
    return (double)found / p->n_values;
}
