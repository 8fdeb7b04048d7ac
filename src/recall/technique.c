/* The recall harness's techniques, one flag each (include/longctx/recall.h): items joined by
 * '+', each a context override (window, sinks, KV dtype, RoPE scaling, retrieval beyond the window) or
 * retrieval-augmented generation (rag). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/parse.h"
#include "longctx/recall.h"

static int starts(const char *s, size_t n, const char *p) {
    size_t k = strlen(p);
    return n >= k && !strncmp(s, p, k);
}

/* One item s[0, n). */
static lc_status item(const char *s, size_t n, lc_recall_technique *t) {
    int64_t a, b;
    const char *comma;
    if (n == 4 && !strncmp(s, "full", 4)) return LC_OK;
    if (starts(s, n, "window:")) {
        if (lc_parse_i64(s + 7, n - 7, 1, (int64_t)1 << 40, &a)) return lc_error(LC_EINVAL, "technique 'window:W': W must be a positive number of tokens");
        t->ctx.window = a;
        return LC_OK;
    }
    if (starts(s, n, "sinks:")) {
        comma = memchr(s + 6, ',', n - 6);
        if (!comma || lc_parse_i64(s + 6, (size_t)(comma - s - 6), 0, (int64_t)1 << 40, &a) ||
            lc_parse_i64(comma + 1, n - (size_t)(comma + 1 - s), 1, (int64_t)1 << 40, &b))
            return lc_error(LC_EINVAL, "technique 'sinks:S,W': S sink tokens (>= 0) and a window of W tokens (> 0)");
        t->ctx.sinks = a, t->ctx.window = b;
        return LC_OK;
    }
    if (starts(s, n, "kv:")) {
        char d[16];
        lc_dtype dt;
        if (n - 3 >= sizeof d) return lc_error(LC_EINVAL, "technique 'kv:DTYPE': DTYPE is f32, f16, bf16, int8 or fp8");
        memcpy(d, s + 3, n - 3), d[n - 3] = 0;
        if (lc_dtype_parse(d, &dt) || !(dt == LC_F32 || dt == LC_F16 || dt == LC_BF16 || dt == LC_INT8 || dt == LC_FP8))
            return lc_error(LC_EINVAL, "technique 'kv:%s': the cache dtype must be f32, f16, bf16, int8 or fp8", d);
        t->ctx.kv_dtype = dt;
        return LC_OK;
    }
    if (starts(s, n, "rope:")) {
        static const struct {
            const char *name;
            lc_rope_type type;
        } types[] = {{"linear", LC_ROPE_LINEAR}, {"pi", LC_ROPE_LINEAR}, {"ntk", LC_ROPE_NTK}, {"dynamic", LC_ROPE_DYNAMIC},
                     {"yarn", LC_ROPE_YARN},     {"llama3", LC_ROPE_LLAMA3}};
        const char *colon = memchr(s + 5, ':', n - 5);
        double f;
        int found = -1;
        for (size_t i = 0; colon && i < sizeof types / sizeof types[0]; i++)
            if ((size_t)(colon - s - 5) == strlen(types[i].name) && !strncmp(s + 5, types[i].name, strlen(types[i].name))) found = (int)i;
        if (found < 0 || lc_parse_f64(colon + 1, n - (size_t)(colon + 1 - s), 1, 1e6, &f))
            return lc_error(LC_EINVAL, "technique 'rope:TYPE:FACTOR': TYPE is linear (or pi), ntk, dynamic, yarn or llama3, FACTOR a number >= 1");
        memset(&t->ctx.rope, 0, sizeof t->ctx.rope);
        t->ctx.rope_override = 1;
        t->ctx.rope.type = types[found].type;
        t->ctx.rope.factor = f;
        if (types[found].type == LC_ROPE_LLAMA3) t->ctx.rope.low_freq_factor = 1, t->ctx.rope.high_freq_factor = 4; /* Llama 3.1's */
        return LC_OK;
    }
    if (starts(s, n, "rag:")) {
        comma = memchr(s + 4, ',', n - 4);
        size_t kn = comma ? (size_t)(comma - s - 4) : n - 4;
        if (lc_parse_i64(s + 4, kn, 1, 4096, &a) || (comma && lc_parse_i64(comma + 1, n - (size_t)(comma + 1 - s), 2, 1 << 20, &b)))
            return lc_error(LC_EINVAL, "technique 'rag:K[,CHUNK]': K chunks in [1, 4096], CHUNK tokens in [2, 2^20] (default 64)");
        t->rag_top_k = (int)a;
        t->rag_chunk = comma ? b : 64;
        return LC_OK;
    }
    if (starts(s, n, "knn:") || starts(s, n, "blocks:")) {
        char r[64];
        if (n >= sizeof r) return lc_error(LC_EINVAL, "technique '%.*s' is too long", (int)n, s);
        memcpy(r, s, n), r[n] = 0;
        return lc_retrieval_parse(r, &t->ctx.retrieval);
    }
    return lc_error(LC_EINVAL,
                    "unknown technique '%.*s': full, window:W, sinks:S,W, kv:DTYPE, rope:TYPE:FACTOR, knn:K, blocks:K[,B] or rag:K[,CHUNK], joined by '+'",
                    (int)n, s);
}

lc_status lc_recall_technique_parse(const char *text, lc_recall_technique *out) {
    if (!text || !out) return lc_error(LC_EINVAL, "technique: text and out must not be NULL");
    memset(out, 0, sizeof *out);
    size_t len = strlen(text);
    if (len == 0 || len >= sizeof out->name) return lc_error(LC_EINVAL, "technique: '%s' must have 1 to %zu characters", text, sizeof out->name - 1);
    snprintf(out->name, sizeof out->name, "%s", text);
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '+');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        lc_status st = item(p, n, out);
        if (st) return st;
        p += n + (e ? 1 : 0);
        if (e && !*p) return lc_error(LC_EINVAL, "technique '%s' ends with '+'", text);
    }
    if (out->ctx.sinks > 0 && out->ctx.window == 0) return lc_error(LC_EINVAL, "technique '%s': sinks need a window", text);
    return LC_OK;
}
