/* The niah grid: cells, summaries, the table and JSON (niah_grid.h). */
#include "niah_grid.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* "4096", "4K", "1M" */
static int parse_count(const char *s, size_t n, int64_t *out) {
    char buf[32], *e;
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, s, n), buf[n] = 0;
    int64_t mul = 1;
    if (buf[n - 1] == 'K' || buf[n - 1] == 'k') mul = 1024, buf[n - 1] = 0;
    else if (buf[n - 1] == 'M' || buf[n - 1] == 'm') mul = 1024 * 1024, buf[n - 1] = 0;
    errno = 0;
    long long v = strtoll(buf, &e, 10);
    if (e == buf || *e || errno || v < 1 || v > ((int64_t)1 << 32) / mul || buf[0] == '+') return -1;
    *out = v * mul;
    return 0;
}

static int push_i64(int64_t **a, int *n, int64_t v) {
    int64_t *b = realloc(*a, sizeof(int64_t) * (size_t)(*n + 1));
    if (!b) return -1;
    *a = b, b[(*n)++] = v;
    return 0;
}

int niah_parse_lengths(const char *text, int64_t **out, int *n) {
    *out = NULL, *n = 0;
    for (const char *p = text; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *dots = NULL;
        for (size_t i = 0; i + 1 < len; i++)
            if (p[i] == '.' && p[i + 1] == '.') dots = p + i;
        int64_t a, b;
        if (dots) {
            if (parse_count(p, (size_t)(dots - p), &a) || parse_count(dots + 2, len - (size_t)(dots + 2 - p), &b) || b < a) goto bad;
            for (int64_t v = a; v <= b; v *= 2)
                if (push_i64(out, n, v)) goto bad;
        } else {
            if (parse_count(p, len, &a) || push_i64(out, n, a)) goto bad;
        }
        p += len + (e ? 1 : 0);
        if (e && !*p) goto bad;
    }
    if (*n > 0) return 0;
bad:
    free(*out), *out = NULL, *n = 0;
    fprintf(stderr, "--lengths '%s': give token counts (4096, 4K) or doubling ranges (1K..32K), comma-separated\n", text);
    return -1;
}

static int parse_pct(const char *s, size_t n, double *out) {
    char buf[32], *e;
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, s, n), buf[n] = 0;
    errno = 0;
    double v = strtod(buf, &e);
    if (e == buf || *e || errno || !(v >= 0 && v <= 100) || buf[0] == '+' || buf[0] == ' ') return -1;
    *out = v;
    return 0;
}

int niah_parse_depths(const char *text, double **out, int *n) {
    *out = NULL, *n = 0;
    for (const char *p = text; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *dots = NULL, *colon = memchr(p, ':', len);
        for (size_t i = 0; i + 1 < len; i++)
            if (p[i] == '.' && p[i + 1] == '.') dots = p + i;
        double a, b, s = 10;
        if (dots) {
            const char *end = colon ? colon : p + len;
            if (parse_pct(p, (size_t)(dots - p), &a) || parse_pct(dots + 2, (size_t)(end - dots - 2), &b) || b < a ||
                (colon && (parse_pct(colon + 1, len - (size_t)(colon + 1 - p), &s) || s <= 0)))
                goto bad;
            for (int i = 0; a + i * s <= b + 1e-9; i++) {
                double *d = realloc(*out, sizeof(double) * (size_t)(*n + 1));
                if (!d) goto bad;
                *out = d, d[(*n)++] = a + i * s;
            }
        } else {
            if (colon || parse_pct(p, len, &a)) goto bad;
            double *d = realloc(*out, sizeof(double) * (size_t)(*n + 1));
            if (!d) goto bad;
            *out = d, d[(*n)++] = a;
        }
        p += len + (e ? 1 : 0);
        if (e && !*p) goto bad;
    }
    if (*n > 0) return 0;
bad:
    free(*out), *out = NULL, *n = 0;
    fprintf(stderr, "--depths '%s': give percents in [0, 100] (50) or ranges with a step (0..100:10), comma-separated\n", text);
    return -1;
}

void niah_grid_free(niah_grid *g) {
    for (int i = 0; i < g->n_tech; i++) free(g->tech[i].cells), free(g->tech[i].by_length);
    free(g->tech), free(g->lengths), free(g->depths);
    memset(g, 0, sizeof *g);
}

void niah_grid_summarize(niah_grid *g) {
    for (int ti = 0; ti < g->n_tech; ti++) {
        niah_tech *T = &g->tech[ti];
        free(T->by_length);
        T->by_length = calloc((size_t)g->n_lengths, sizeof(niah_summary));
        if (!T->by_length) continue;
        for (int li = 0; li < g->n_lengths; li++) {
            niah_summary *s = &T->by_length[li];
            s->length = g->lengths[li];
            int hits = 0, rag = 0;
            for (int c = 0; c < T->n_cells; c++) {
                const niah_cell *x = &T->cells[c];
                if (x->length != s->length) continue;
                s->cells++;
                s->recall += x->r.score;
                s->bytes_per_token += (double)x->r.state_bytes / (double)x->length;
                s->prefill_s_per_token += x->r.prefill_s / (double)x->length;
                s->decode_s_per_token += x->r.generated > 0 ? x->r.decode_s / (double)x->r.generated : 0;
                if (x->r.rag_hit >= 0) rag++, hits += x->r.rag_hit;
            }
            if (s->cells) {
                s->recall /= s->cells, s->bytes_per_token /= s->cells;
                s->prefill_s_per_token /= s->cells, s->decode_s_per_token /= s->cells;
            }
            s->rag_hits = rag ? (double)hits / rag : -1;
        }
    }
}

static void join_values(const lc_niah_prompt *p, char *buf, size_t cap) {
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < p->n_values && k < cap; i++) k += (size_t)snprintf(buf + k, cap - k, i ? ",%s" : "%s", p->value[i]);
}

int niah_grid_run(niah_grid *g, const lc_model *m, const lc_tokenizer *t, const lc_niah_run_config *rc, int quiet) {
    const int per = g->n_lengths * g->n_depths * g->samples;
    char sentence[400];
    for (int ti = 0; ti < g->n_tech; ti++) { /* plans the model refuses are recorded, not run */
        niah_tech *T = &g->tech[ti];
        lc_context_config c = T->tech.ctx;
        c.max_tokens = 16;
        lc_context *ctx = NULL;
        if (lc_context_create(m, &c, &ctx)) {
            snprintf(T->refused, sizeof T->refused, "%s", lc_last_error());
            if (!quiet) fprintf(stderr, "niah: %s: the model refuses this plan: %s\n", T->tech.name, T->refused);
            continue;
        }
        lc_context_describe(ctx, T->plan, sizeof T->plan);
        lc_context_destroy(ctx);
        if (T->tech.rag_top_k > 0) {
            size_t k = strlen(T->plan);
            snprintf(T->plan + k, sizeof T->plan - k, "; rag: top %d chunks of %lld tokens (stride %lld)", T->tech.rag_top_k,
                     (long long)T->tech.rag_chunk, (long long)(T->tech.rag_chunk / 2));
        }
        if (!(T->cells = calloc((size_t)per, sizeof(niah_cell)))) return fprintf(stderr, "niah: out of memory\n"), 1;
    }
    int done = 0, total = 0;
    for (int ti = 0; ti < g->n_tech; ti++) total += g->tech[ti].refused[0] ? 0 : per;
    double t0 = now();
    for (int li = 0; li < g->n_lengths; li++)
        for (int di = 0; di < g->n_depths; di++)
            for (int s = 0; s < g->samples; s++) {
                lc_niah_config nc = {g->lengths[li], g->depths[di] / 100.0, g->keys, g->values, g->seed + (uint64_t)s, 0};
                lc_niah_prompt p;
                if (lc_niah_build(t, &nc, &p)) {
                    fprintf(stderr, "niah: cannot build the prompt of %lld tokens: %s\n", (long long)nc.length, lc_last_error());
                    return 1;
                }
                int64_t npos = -1;
                for (int i = 0; i < p.n_needles; i++)
                    if (p.needle[i].at_depth) npos = p.needle[i].pos;
                for (int ti = 0; ti < g->n_tech; ti++) {
                    niah_tech *T = &g->tech[ti];
                    if (T->refused[0]) continue;
                    niah_cell *x = &T->cells[T->n_cells];
                    x->length = nc.length, x->depth = g->depths[di], x->sample = s, x->needle_pos = npos;
                    join_values(&p, x->expected, sizeof x->expected);
                    if (lc_niah_run(m, t, &T->tech, &p, rc, &x->r)) {
                        snprintf(sentence, sizeof sentence, "%s", lc_last_error());
                        fprintf(stderr, "niah: %s at %lld tokens, depth %g%%: %s\n", T->tech.name, (long long)nc.length, x->depth, sentence);
                        lc_niah_prompt_destroy(&p);
                        return 1;
                    }
                    T->n_cells++, done++;
                    if (!quiet)
                        fprintf(stderr, "niah: [%d/%d %.0fs] %-22s %6lld tokens depth %5.1f%%%s: %.2f  \"%s\" (want %s) %.2fs\n", done, total,
                                now() - t0, T->tech.name, (long long)nc.length, x->depth, g->samples > 1 ? " " : "", x->r.score,
                                x->r.answer, x->expected, x->r.prefill_s + x->r.decode_s);
                }
                lc_niah_prompt_destroy(&p);
            }
    niah_grid_summarize(g);
    return 0;
}

static const char *fmt_len(int64_t n, char *buf, size_t cap) {
    if (n >= 1024 && n % 1024 == 0) snprintf(buf, cap, "%lldK", (long long)(n / 1024));
    else snprintf(buf, cap, "%lld", (long long)n);
    return buf;
}

void niah_grid_print(const niah_grid *g, FILE *f) {
    char b[32];
    fprintf(f, "# %s (%s, %.3g M parameters, %s %lld tokens): needle in a haystack, %d key%s, %d value%s, %d sample%s per cell\n",
            g->label, g->model_type, g->params / 1e6, g->train_length_given ? "trained to" : "max_position_embeddings",
            (long long)g->train_length, g->keys > 1 ? g->keys : 1, g->keys > 1 ? "s" : "",
            g->values > 1 ? g->values : 1, g->values > 1 ? "s" : "", g->samples, g->samples == 1 ? "" : "s");
    for (int ti = 0; ti < g->n_tech; ti++) {
        const niah_tech *T = &g->tech[ti];
        fprintf(f, "\n## %s\n", T->tech.name);
        if (T->refused[0]) {
            fprintf(f, "refused: %s\n", T->refused);
            continue;
        }
        fprintf(f, "plan: %s\n\n| depth |", T->plan);
        for (int li = 0; li < g->n_lengths; li++) fprintf(f, " %s |", fmt_len(g->lengths[li], b, sizeof b));
        fprintf(f, "\n|---|");
        for (int li = 0; li < g->n_lengths; li++) fprintf(f, "---|");
        fprintf(f, "\n");
        for (int di = 0; di < g->n_depths; di++) {
            fprintf(f, "| %g%% |", g->depths[di]);
            for (int li = 0; li < g->n_lengths; li++) {
                double sum = 0;
                int k = 0;
                for (int c = 0; c < T->n_cells; c++)
                    if (T->cells[c].length == g->lengths[li] && T->cells[c].depth == g->depths[di]) sum += T->cells[c].r.score, k++;
                if (k) fprintf(f, " %.2f |", sum / k);
                else fprintf(f, " - |");
            }
            fprintf(f, "\n");
        }
        if (!T->by_length) continue;
        fprintf(f, "| **mean** |");
        for (int li = 0; li < g->n_lengths; li++) fprintf(f, " **%.2f** |", T->by_length[li].recall);
        fprintf(f, "\n| state B/token |");
        for (int li = 0; li < g->n_lengths; li++) fprintf(f, " %.0f |", T->by_length[li].bytes_per_token);
        fprintf(f, "\n| prefill ms/token |");
        for (int li = 0; li < g->n_lengths; li++) fprintf(f, " %.3f |", 1e3 * T->by_length[li].prefill_s_per_token);
        fprintf(f, "\n| decode ms/token |");
        for (int li = 0; li < g->n_lengths; li++) fprintf(f, " %.2f |", 1e3 * T->by_length[li].decode_s_per_token);
        if (T->tech.rag_top_k > 0) {
            fprintf(f, "\n| needle retrieved |");
            for (int li = 0; li < g->n_lengths; li++) fprintf(f, " %.2f |", T->by_length[li].rag_hits);
        }
        fprintf(f, "\n");
    }
}

/* ---- JSON ------------------------------------------------------------------------------------ */

cJSON *niah_grid_json(const niah_grid *g) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "command", "niah");
    cJSON_AddStringToObject(j, "model", g->model);
    cJSON_AddStringToObject(j, "label", g->label);
    cJSON_AddStringToObject(j, "model_type", g->model_type);
    cJSON_AddNumberToObject(j, "params", g->params);
    cJSON_AddNumberToObject(j, g->train_length_given ? "train_length" : "max_position_embeddings", (double)g->train_length);
    cJSON_AddNumberToObject(j, "keys", g->keys > 1 ? g->keys : 1);
    cJSON_AddNumberToObject(j, "values", g->values > 1 ? g->values : 1);
    cJSON_AddNumberToObject(j, "samples", g->samples);
    cJSON_AddNumberToObject(j, "seed", (double)g->seed);
    cJSON *ls = cJSON_AddArrayToObject(j, "lengths"), *ds = cJSON_AddArrayToObject(j, "depths");
    for (int i = 0; i < g->n_lengths; i++) cJSON_AddItemToArray(ls, cJSON_CreateNumber((double)g->lengths[i]));
    for (int i = 0; i < g->n_depths; i++) cJSON_AddItemToArray(ds, cJSON_CreateNumber(g->depths[i]));
    cJSON *ts = cJSON_AddArrayToObject(j, "techniques");
    for (int ti = 0; ti < g->n_tech; ti++) {
        const niah_tech *T = &g->tech[ti];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(ts, o);
        cJSON_AddStringToObject(o, "name", T->tech.name);
        if (T->refused[0]) {
            cJSON_AddStringToObject(o, "refused", T->refused);
            continue;
        }
        cJSON_AddStringToObject(o, "plan", T->plan);
        cJSON *bl = cJSON_AddArrayToObject(o, "by_length");
        for (int li = 0; T->by_length && li < g->n_lengths; li++) {
            const niah_summary *s = &T->by_length[li];
            cJSON *x = cJSON_CreateObject();
            cJSON_AddItemToArray(bl, x);
            cJSON_AddNumberToObject(x, "length", (double)s->length);
            cJSON_AddNumberToObject(x, "cells", s->cells);
            cJSON_AddNumberToObject(x, "recall", s->recall);
            cJSON_AddNumberToObject(x, "state_bytes_per_token", s->bytes_per_token);
            cJSON_AddNumberToObject(x, "prefill_s_per_token", s->prefill_s_per_token);
            cJSON_AddNumberToObject(x, "decode_s_per_token", s->decode_s_per_token);
            if (s->rag_hits >= 0) cJSON_AddNumberToObject(x, "rag_needle_retrieved", s->rag_hits);
        }
        cJSON *cs = cJSON_AddArrayToObject(o, "cells");
        for (int c = 0; c < T->n_cells; c++) {
            const niah_cell *x = &T->cells[c];
            cJSON *e = cJSON_CreateObject();
            cJSON_AddItemToArray(cs, e);
            cJSON_AddNumberToObject(e, "length", (double)x->length);
            cJSON_AddNumberToObject(e, "depth", x->depth);
            cJSON_AddNumberToObject(e, "sample", x->sample);
            cJSON_AddNumberToObject(e, "needle_pos", (double)x->needle_pos);
            cJSON_AddNumberToObject(e, "score", x->r.score);
            cJSON_AddStringToObject(e, "answer", x->r.answer);
            cJSON_AddStringToObject(e, "expected", x->expected);
            cJSON_AddNumberToObject(e, "prompt_tokens", (double)x->r.prompt_tokens);
            cJSON_AddNumberToObject(e, "generated", (double)x->r.generated);
            cJSON_AddNumberToObject(e, "state_bytes", (double)x->r.state_bytes);
            cJSON_AddNumberToObject(e, "alloc_bytes", (double)x->r.alloc_bytes);
            cJSON_AddNumberToObject(e, "prefill_s", x->r.prefill_s);
            cJSON_AddNumberToObject(e, "decode_s", x->r.decode_s);
            if (x->r.rag_hit >= 0) cJSON_AddBoolToObject(e, "rag_needle_retrieved", x->r.rag_hit);
        }
    }
    return j;
}

static double num(const cJSON *o, const char *k, double dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static const char *str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int niah_grid_from_json(const cJSON *j, const char *label, niah_grid *g) {
    memset(g, 0, sizeof *g);
    const cJSON *ls = cJSON_GetObjectItemCaseSensitive(j, "lengths"), *ds = cJSON_GetObjectItemCaseSensitive(j, "depths");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(j, "techniques");
    const char *cmd = str(j, "command");
    if (!cmd || strcmp(cmd, "niah") || !cJSON_IsArray(ls) || !cJSON_IsArray(ds) || !cJSON_IsArray(ts)) {
        fprintf(stderr, "%s: not the JSON of longctx niah (command, lengths, depths, techniques)\n", label);
        return -1;
    }
    snprintf(g->model, sizeof g->model, "%s", str(j, "model") ? str(j, "model") : "");
    snprintf(g->label, sizeof g->label, "%s", str(j, "label") ? str(j, "label") : label);
    snprintf(g->model_type, sizeof g->model_type, "%s", str(j, "model_type") ? str(j, "model_type") : "?");
    g->params = num(j, "params", 0), g->train_length = (int64_t)num(j, "train_length", 0);
    g->train_length_given = g->train_length > 0;
    if (!g->train_length_given) g->train_length = (int64_t)num(j, "max_position_embeddings", 0);
    g->keys = (int)num(j, "keys", 1), g->values = (int)num(j, "values", 1), g->samples = (int)num(j, "samples", 1);
    g->seed = (uint64_t)num(j, "seed", 0);
    g->n_lengths = cJSON_GetArraySize(ls), g->n_depths = cJSON_GetArraySize(ds), g->n_tech = cJSON_GetArraySize(ts);
    g->lengths = calloc((size_t)g->n_lengths + 1, sizeof(int64_t));
    g->depths = calloc((size_t)g->n_depths + 1, sizeof(double));
    g->tech = calloc((size_t)g->n_tech + 1, sizeof(niah_tech));
    if (!g->lengths || !g->depths || !g->tech) return fprintf(stderr, "%s: out of memory\n", label), niah_grid_free(g), -1;
    for (int i = 0; i < g->n_lengths; i++) g->lengths[i] = (int64_t)cJSON_GetArrayItem(ls, i)->valuedouble;
    for (int i = 0; i < g->n_depths; i++) g->depths[i] = cJSON_GetArrayItem(ds, i)->valuedouble;
    for (int ti = 0; ti < g->n_tech; ti++) {
        const cJSON *o = cJSON_GetArrayItem(ts, ti);
        niah_tech *T = &g->tech[ti];
        const char *name = str(o, "name");
        if (!name) return fprintf(stderr, "%s: technique %d has no name\n", label, ti), niah_grid_free(g), -1;
        if (lc_recall_technique_parse(name, &T->tech)) snprintf(T->tech.name, sizeof T->tech.name, "%s", name);
        if (str(o, "refused")) snprintf(T->refused, sizeof T->refused, "%s", str(o, "refused"));
        if (str(o, "plan")) snprintf(T->plan, sizeof T->plan, "%s", str(o, "plan"));
        const cJSON *cs = cJSON_GetObjectItemCaseSensitive(o, "cells");
        int n = cJSON_IsArray(cs) ? cJSON_GetArraySize(cs) : 0;
        T->cells = calloc((size_t)n + 1, sizeof(niah_cell));
        if (!T->cells) return fprintf(stderr, "%s: out of memory\n", label), niah_grid_free(g), -1;
        for (int c = 0; c < n; c++) {
            const cJSON *e = cJSON_GetArrayItem(cs, c);
            niah_cell *x = &T->cells[T->n_cells++];
            x->length = (int64_t)num(e, "length", 0), x->depth = num(e, "depth", 0), x->sample = (int)num(e, "sample", 0);
            x->needle_pos = (int64_t)num(e, "needle_pos", -1);
            snprintf(x->expected, sizeof x->expected, "%s", str(e, "expected") ? str(e, "expected") : "");
            snprintf(x->r.answer, sizeof x->r.answer, "%s", str(e, "answer") ? str(e, "answer") : "");
            x->r.score = num(e, "score", 0), x->r.prompt_tokens = (int64_t)num(e, "prompt_tokens", 0);
            x->r.generated = (int64_t)num(e, "generated", 0), x->r.state_bytes = (size_t)num(e, "state_bytes", 0);
            x->r.alloc_bytes = (size_t)num(e, "alloc_bytes", 0), x->r.prefill_s = num(e, "prefill_s", 0), x->r.decode_s = num(e, "decode_s", 0);
            const cJSON *h = cJSON_GetObjectItemCaseSensitive(e, "rag_needle_retrieved");
            x->r.rag_hit = cJSON_IsBool(h) ? cJSON_IsTrue(h) : -1;
        }
    }
    niah_grid_summarize(g);
    return 0;
}

int niah_write_json(cJSON *j, const char *path) {
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    FILE *f = text ? fopen(path, "w") : NULL;
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f)) ok = 0;
    free(text);
    if (!ok) fprintf(stderr, "cannot write '%s': %s\n", path, strerror(errno));
    return ok ? 0 : -1;
}

cJSON *niah_read_json(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return fprintf(stderr, "cannot read '%s': %s\n", path, strerror(errno)), NULL;
    char *t = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            char *b = realloc(t, cap = cap ? 2 * cap : 1 << 20);
            if (!b) return free(t), fclose(f), fprintf(stderr, "'%s': out of memory\n", path), NULL;
            t = b;
        }
        size_t got = fread(t + n, 1, 65536, f);
        n += got;
        if (got < 65536) break;
    }
    fclose(f);
    t[n] = 0;
    cJSON *j = cJSON_Parse(t);
    free(t);
    if (!j) fprintf(stderr, "'%s' is not valid JSON\n", path);
    return j;
}
