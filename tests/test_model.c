/* Models end to end.
 *
 * Golden: for every checkpoint in tests/fixtures/models/ (tiny random-weight models saved by
 * transformers with its float32 logits, scripts' golden.json), every position's logits within
 * 1e-4 of transformers' relative to the largest |logit|, as one prefill of prompt + generated
 * AND as a prefill of the prompt then token-by-token decode; the greedy continuation from the
 * prompt equals transformers' generate. Mamba, Mamba-2, Jamba and DeepSeek-V2 besides: a prefill
 * in chunks, two forked sequences decoded in one forward, reused sequences, the state bytes
 * (Mamba states, MLA latents, KV) against the wall, and the plans each refuses.
 *
 * Synthetic: checkpoints this test writes (f32 and bf16, one file and shards) against a
 * float64 reference forward written here from the equations, for every architecture; then
 * the overrides (window, sinks, KV dtype and layout, RoPE scaling, several sequences, fork),
 * the KV bytes against the wall, sampling, and every bad input as a status and a sentence. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "longctx/model.h"

static char tmp_dir[256];
static char src_dir[1024];

/* ---- small helpers -------------------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = 0;
    fclose(f);
    if (len) *len = got;
    return b;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* max |a - b| / max |b| over n values */
static double rel_err(const float *a, const double *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= num)) num = d; /* NaN propagates */
        if (fabs(b[i]) > den) den = fabs(b[i]);
    }
    return den > 0 ? num / den : num;
}

static double rel_err_f(const float *a, const float *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= num)) num = d;
        if (fabs(b[i]) > den) den = fabs(b[i]);
    }
    return den > 0 ? num / den : num;
}

/* ---- synthetic checkpoints --------------------------------------------------------------------- */

typedef struct spec {
    const char *name, *type;
    int hidden, heads, kv, head_dim, inter, vocab, layers;
    int window;  /* sliding_window: mistral every layer, gemma2 even layers */
    int tie;
    int bf16;    /* weights stored as BF16 */
    int shards;  /* > 1: split over this many files with an index */
    const char *rope_json; /* config fields for RoPE */
    lc_rope rope;          /* the same, for the reference */
    double eps, qpas, attn_cap, final_cap;
} spec;

typedef struct tensor {
    char name[96];
    int ndim;
    int64_t shape[2];
    float *data;
} tensor;

typedef struct ckpt {
    tensor t[256];
    int n;
} ckpt;

static float *add(ckpt *c, const char *name, int ndim, int64_t d0, int64_t d1, uint64_t seed, float mean, float sd, int bf16) {
    tensor *t = &c->t[c->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim, t->shape[0] = d0, t->shape[1] = d1;
    int64_t n = ndim == 1 ? d0 : d0 * d1;
    t->data = malloc(sizeof(float) * (size_t)n);
    lc_rng_fill_normal(t->data, (size_t)n, seed, (uint64_t)c->n << 32, mean, sd, 1);
    if (bf16)
        for (int64_t i = 0; i < n; i++) t->data[i] = lc_bf16_to_f32(lc_f32_to_bf16(t->data[i]));
    return t->data;
}

static const float *find(const ckpt *c, const char *name) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->t[i].name, name)) return c->t[i].data;
    return NULL;
}

static void free_ckpt(ckpt *c) {
    for (int i = 0; i < c->n; i++) free(c->t[i].data);
    c->n = 0;
}

static int is_gemma(const spec *s) { return !strcmp(s->type, "gemma2"); }
static int is_qwen(const spec *s) { return !strcmp(s->type, "qwen2"); }

static void make_weights(const spec *s, ckpt *c, uint64_t seed) {
    const int H = s->hidden, qd = s->heads * s->head_dim, kd = s->kv * s->head_dim;
    char n[96];
    float nm = is_gemma(s) ? 0.0f : 1.0f; /* Gemma's norms scale by 1 + w */
    add(c, "model.embed_tokens.weight", 2, s->vocab, H, seed, 0, 0.5f, s->bf16);
    for (int l = 0; l < s->layers; l++) {
        const char *norms[] = {"input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"};
        for (int k = 0; k < (is_gemma(s) ? 4 : 2); k++) {
            snprintf(n, sizeof n, "model.layers.%d.%s.weight", l, norms[k]);
            add(c, n, 1, H, 0, seed, nm, 0.1f, s->bf16);
        }
        const char *proj[] = {"q", "k", "v", "o"};
        for (int k = 0; k < 4; k++) {
            snprintf(n, sizeof n, "model.layers.%d.self_attn.%s_proj.weight", l, proj[k]);
            add(c, n, 2, k == 0 ? qd : k < 3 ? kd : H, k < 3 ? H : qd, seed, 0, 0.25f, s->bf16);
            if (is_qwen(s) && k < 3) {
                snprintf(n, sizeof n, "model.layers.%d.self_attn.%s_proj.bias", l, proj[k]);
                add(c, n, 1, k == 0 ? qd : kd, 0, seed, 0, 0.2f, s->bf16);
            }
        }
        const char *mlp[] = {"gate", "up", "down"};
        for (int k = 0; k < 3; k++) {
            snprintf(n, sizeof n, "model.layers.%d.mlp.%s_proj.weight", l, mlp[k]);
            add(c, n, 2, k < 2 ? s->inter : H, k < 2 ? H : s->inter, seed, 0, 0.2f, s->bf16);
        }
    }
    add(c, "model.norm.weight", 1, H, 0, seed, nm, 0.1f, s->bf16);
    if (!s->tie) add(c, "lm_head.weight", 2, s->vocab, H, seed, 0, 0.3f, s->bf16);
}

/* Writes tensors [from, to) of c as one safetensors file. */
static void write_safetensors(const char *path, const ckpt *c, int from, int to, int bf16) {
    cJSON *h = cJSON_CreateObject();
    size_t off = 0, es = bf16 ? 2 : 4;
    for (int i = from; i < to; i++) {
        const tensor *t = &c->t[i];
        int64_t n = t->ndim == 1 ? t->shape[0] : t->shape[0] * t->shape[1];
        cJSON *e = cJSON_AddObjectToObject(h, t->name);
        cJSON_AddStringToObject(e, "dtype", bf16 ? "BF16" : "F32");
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < t->ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
        cJSON *o = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)(off + (size_t)n * es)));
        off += (size_t)n * es;
    }
    char *text = cJSON_PrintUnformatted(h);
    size_t hl = strlen(text), padded = (hl + 7) / 8 * 8;
    FILE *f = fopen(path, "wb");
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(text, 1, hl, f);
    for (size_t i = hl; i < padded; i++) fputc(' ', f);
    for (int i = from; i < to; i++) {
        const tensor *t = &c->t[i];
        int64_t n = t->ndim == 1 ? t->shape[0] : t->shape[0] * t->shape[1];
        if (bf16) {
            for (int64_t k = 0; k < n; k++) {
                uint16_t b = lc_f32_to_bf16(t->data[k]);
                fwrite(&b, 2, 1, f);
            }
        } else {
            fwrite(t->data, 4, (size_t)n, f);
        }
    }
    fclose(f);
    free(text);
    cJSON_Delete(h);
}

static void config_text(const spec *s, char *buf, size_t cap) {
    char extra[512] = "";
    if (!strcmp(s->type, "mistral")) snprintf(extra, sizeof extra, "\"sliding_window\": %d,", s->window);
    if (is_gemma(s))
        snprintf(extra, sizeof extra,
                 "\"sliding_window\": %d, \"query_pre_attn_scalar\": %g, \"attn_logit_softcapping\": %g, \"final_logit_softcapping\": %g,"
                 " \"hidden_activation\": \"gelu_pytorch_tanh\",",
                 s->window, s->qpas, s->attn_cap, s->final_cap);
    if (is_qwen(s)) snprintf(extra, sizeof extra, "\"use_sliding_window\": false, \"sliding_window\": 4,");
    snprintf(buf, cap,
             "{\"model_type\": \"%s\", \"hidden_size\": %d, \"num_attention_heads\": %d, \"num_key_value_heads\": %d, \"head_dim\": %d,"
             " \"intermediate_size\": %d, \"vocab_size\": %d, \"num_hidden_layers\": %d, \"rms_norm_eps\": %g, \"tie_word_embeddings\": %s,"
             " \"max_position_embeddings\": %lld, \"bos_token_id\": 1, \"eos_token_id\": 2, %s %s}",
             s->type, s->hidden, s->heads, s->kv, s->head_dim, s->inter, s->vocab, s->layers, s->eps, s->tie ? "true" : "false",
             (long long)s->rope.max_pos, extra, s->rope_json);
}

/* The checkpoint directory for spec s (written once per call). */
static void write_checkpoint(const spec *s, const ckpt *c, const char *dir) {
    mkdir(dir, 0755);
    char path[512], cfg[2048];
    config_text(s, cfg, sizeof cfg);
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_text(path, cfg);
    if (s->shards <= 1) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        write_safetensors(path, c, 0, c->n, s->bf16);
        return;
    }
    cJSON *idx = cJSON_CreateObject(), *wm = cJSON_AddObjectToObject(idx, "weight_map");
    for (int k = 0; k < s->shards; k++) {
        int from = c->n * k / s->shards, to = c->n * (k + 1) / s->shards;
        char file[64];
        snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", k + 1, s->shards);
        snprintf(path, sizeof path, "%s/%s", dir, file);
        write_safetensors(path, c, from, to, s->bf16);
        for (int i = from; i < to; i++) cJSON_AddStringToObject(wm, c->t[i].name, file);
    }
    char *text = cJSON_Print(idx);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    write_text(path, text);
    free(text);
    cJSON_Delete(idx);
}

/* ---- the float64 reference forward ------------------------------------------------------------- */

enum { NTOK = 14, NSPEC = 7 }; /* tokens of the synthetic tests, checkpoints */

typedef struct ref_opts {
    int64_t window; /* override: every layer min(own, window) */
    int64_t sinks;
    const lc_rope *rope; /* NULL: the spec's */
    lc_retrieval retrieval; /* windowed layers: the keys or blocks each query adds (include/longctx/model.h) */
} ref_opts;

/* Set by ref_forward when a retrieval's choice is a near tie (the k-th and the next best within
 * 1e-4): float32 may choose the other, so that comparison is skipped, not failed. */
static int ref_near_tie;

typedef struct ranked {
    double score;
    int at;
} ranked;

static int by_score_desc(const void *a, const void *b) {
    double x = ((const ranked *)a)->score, y = ((const ranked *)b)->score;
    return (x < y) - (x > y);
}

/* Marks visible (vis[at] = 1) the best k of r[0, n) by score. */
static void ref_pick(ranked *r, int n, int64_t k, int *vis, int per, int base) {
    qsort(r, (size_t)n, sizeof *r, by_score_desc);
    if (k < n && fabs(r[k - 1].score - r[k].score) < 1e-4 * fmax(1.0, fabs(r[k].score))) ref_near_tie = 1;
    for (int i = 0; i < n && i < k; i++)
        for (int j = 0; j < per; j++) vis[base + r[i].at * per + j] = 1;
}

/* Which keys j <= i query i sees in a windowed layer with retrieval; q and k its head's rows. */
static void ref_retrieval_visible(const ref_opts *o, int64_t win, int i, const double *qi, const double *k, int kstride, int D, int *vis) {
    ranked r[NTOK];
    int n = 0;
    if (o->retrieval.kind == LC_RETRIEVAL_KNN) { /* the top_k keys outside the window and the sinks */
        for (int j = 0; j <= i; j++) {
            if (vis[j]) continue;
            double sc = 0;
            for (int d = 0; d < D; d++) sc += qi[d] * k[(size_t)j * kstride + d];
            r[n++] = (ranked){sc, j};
        }
        ref_pick(r, n, o->retrieval.top_k, vis, 1, 0);
        return;
    }
    /* blocks: the window reaches back to a block boundary; complete blocks before it compete by mean key */
    const int B = (int)o->retrieval.block, w0 = i - win + 1 > 0 ? (int)(i - win + 1) : 0, start = B * (w0 / B);
    for (int j = start; j <= i; j++) vis[j] = 1;
    for (int b = 0; (b + 1) * B <= start; b++) {
        double sc = 0;
        for (int d = 0; d < D; d++) {
            double mean = 0;
            for (int j = b * B; j < (b + 1) * B; j++) mean += k[(size_t)j * kstride + d];
            sc += qi[d] * mean / B;
        }
        r[n++] = (ranked){sc, b};
    }
    ref_pick(r, n, o->retrieval.top_k, vis, B, 0);
}

static void ref_norm(const double *x, const float *w, int n, double eps, int gemma, double *out) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    double inv = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++) out[i] = x[i] * inv * ((double)w[i] + (gemma ? 1.0 : 0.0));
}

static void ref_linear(const float *w, const float *b, int out, int in, const double *x, double *y) {
    for (int o = 0; o < out; o++) {
        double a = b ? b[o] : 0;
        for (int i = 0; i < in; i++) a += (double)w[(size_t)o * in + i] * x[i];
        y[o] = a;
    }
}

/* logits [n, vocab] of tokens[0..n) in one pass */
static void ref_forward(const spec *s, const ckpt *c, const int32_t *tok, int n, const ref_opts *o, double *logits) {
    const int H = s->hidden, Hq = s->heads, Hkv = s->kv, D = s->head_dim, F = s->inter, V = s->vocab, G = Hq / Hkv;
    const int gemma = is_gemma(s);
    double *x = calloc((size_t)n * H, sizeof(double)), *h = malloc(sizeof(double) * H), *t = malloc(sizeof(double) * (size_t)(F > H ? F : H));
    double *q = malloc(sizeof(double) * (size_t)n * Hq * D), *k = malloc(sizeof(double) * (size_t)n * Hkv * D);
    double *v = malloc(sizeof(double) * (size_t)n * Hkv * D), *a = malloc(sizeof(double) * (size_t)n * Hq * D);
    double *g = malloc(sizeof(double) * F), *u = malloc(sizeof(double) * F), *p = malloc(sizeof(double) * n);
    const float *emb = find(c, "model.embed_tokens.weight");
    double es = gemma ? (double)(float)sqrt((double)H) : 1.0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < H; j++) x[i * H + j] = emb[(size_t)tok[i] * H + j] * es;
    const lc_rope *rope = o && o->rope ? o->rope : &s->rope;
    int half = lc_rope_dim(rope) / 2;
    double inv_freq[256], af = 1;
    lc_rope_inv_freq(rope, n, inv_freq, &af);
    double scale = gemma ? 1.0 / sqrt(s->qpas) : 1.0 / sqrt((double)D);
    char nm[128];
#define W(...) (snprintf(nm, sizeof nm, __VA_ARGS__), find(c, nm))
    for (int l = 0; l < s->layers; l++) {
        int64_t win = 0;
        if (!strcmp(s->type, "mistral") || (gemma && l % 2 == 0)) win = s->window;
        if (o && o->window > 0) win = win > 0 && win < o->window ? win : o->window;
        for (int i = 0; i < n; i++) {
            ref_norm(x + i * H, W("model.layers.%d.input_layernorm.weight", l), H, s->eps, gemma, h);
            ref_linear(W("model.layers.%d.self_attn.q_proj.weight", l), is_qwen(s) ? W("model.layers.%d.self_attn.q_proj.bias", l) : NULL,
                       Hq * D, H, h, q + (size_t)i * Hq * D);
            ref_linear(W("model.layers.%d.self_attn.k_proj.weight", l), is_qwen(s) ? W("model.layers.%d.self_attn.k_proj.bias", l) : NULL,
                       Hkv * D, H, h, k + (size_t)i * Hkv * D);
            ref_linear(W("model.layers.%d.self_attn.v_proj.weight", l), is_qwen(s) ? W("model.layers.%d.self_attn.v_proj.bias", l) : NULL,
                       Hkv * D, H, h, v + (size_t)i * Hkv * D);
            for (int hh = 0; hh < Hq + Hkv; hh++) { /* rotate half */
                double *r = hh < Hq ? q + ((size_t)i * Hq + hh) * D : k + ((size_t)i * Hkv + hh - Hq) * D;
                for (int d = 0; d < half; d++) {
                    double an = (double)i * inv_freq[d], cs = cos(an) * af, sn = sin(an) * af;
                    double xa = r[d], xb = r[d + half];
                    r[d] = xa * cs - xb * sn, r[d + half] = xb * cs + xa * sn;
                }
            }
        }
        for (int i = 0; i < n; i++)
            for (int hh = 0; hh < Hq; hh++) {
                const double *qi = q + ((size_t)i * Hq + hh) * D;
                int kh = hh / G;
                double mx = -INFINITY, sum = 0;
                int vis[NTOK];
                for (int j = 0; j <= i; j++) vis[j] = win == 0 || i - j < win || (o && j < o->sinks);
                if (win > 0 && o && o->retrieval.kind) ref_retrieval_visible(o, win, i, qi, k + (size_t)kh * D, Hkv * D, D, vis);
                for (int j = 0; j <= i; j++) {
                    if (!vis[j]) { p[j] = -INFINITY; continue; }
                    double sc = 0;
                    for (int d = 0; d < D; d++) sc += qi[d] * k[((size_t)j * Hkv + kh) * D + d];
                    sc *= scale;
                    if (gemma && s->attn_cap > 0) sc = s->attn_cap * tanh(sc / s->attn_cap);
                    p[j] = sc;
                    if (sc > mx) mx = sc;
                }
                for (int j = 0; j <= i; j++) sum += p[j] == -INFINITY ? 0 : exp(p[j] - mx);
                double *ai = a + ((size_t)i * Hq + hh) * D;
                for (int d = 0; d < D; d++) ai[d] = 0;
                for (int j = 0; j <= i; j++) {
                    if (p[j] == -INFINITY) continue;
                    double w = exp(p[j] - mx) / sum;
                    for (int d = 0; d < D; d++) ai[d] += w * v[((size_t)j * Hkv + kh) * D + d];
                }
            }
        for (int i = 0; i < n; i++) {
            ref_linear(W("model.layers.%d.self_attn.o_proj.weight", l), NULL, H, Hq * D, a + (size_t)i * Hq * D, t);
            if (gemma) {
                ref_norm(t, W("model.layers.%d.post_attention_layernorm.weight", l), H, s->eps, 1, h);
                memcpy(t, h, sizeof(double) * H);
            }
            for (int j = 0; j < H; j++) x[i * H + j] += t[j];
            ref_norm(x + i * H, gemma ? W("model.layers.%d.pre_feedforward_layernorm.weight", l) : W("model.layers.%d.post_attention_layernorm.weight", l),
                     H, s->eps, gemma, h);
            ref_linear(W("model.layers.%d.mlp.gate_proj.weight", l), NULL, F, H, h, g);
            ref_linear(W("model.layers.%d.mlp.up_proj.weight", l), NULL, F, H, h, u);
            for (int j = 0; j < F; j++) {
                double z = g[j];
                double act = gemma ? 0.5 * z * (1 + tanh(sqrt(2 / 3.14159265358979323846) * (z + 0.044715 * z * z * z))) : z / (1 + exp(-z));
                g[j] = act * u[j];
            }
            ref_linear(W("model.layers.%d.mlp.down_proj.weight", l), NULL, H, F, g, t);
            if (gemma) {
                ref_norm(t, W("model.layers.%d.post_feedforward_layernorm.weight", l), H, s->eps, 1, h);
                memcpy(t, h, sizeof(double) * H);
            }
            for (int j = 0; j < H; j++) x[i * H + j] += t[j];
        }
    }
    const float *head = s->tie ? emb : find(c, "lm_head.weight");
    for (int i = 0; i < n; i++) {
        ref_norm(x + i * H, find(c, "model.norm.weight"), H, s->eps, gemma, h);
        ref_linear(head, NULL, V, H, h, logits + (size_t)i * V);
        if (gemma && s->final_cap > 0)
            for (int j = 0; j < V; j++) logits[(size_t)i * V + j] = s->final_cap * tanh(logits[(size_t)i * V + j] / s->final_cap);
    }
#undef W
    free(x), free(h), free(t), free(q), free(k), free(v), free(a), free(g), free(u), free(p);
}

/* ---- runs through the library --------------------------------------------------------------- */

/* Prefill of tokens[0..n) with every position's logits. */
static lc_status run_prefill(const lc_model *m, const lc_context_config *cfg, const int32_t *tok, int64_t n, float *logits) {
    lc_context *ctx;
    lc_status s = lc_context_create(m, cfg, &ctx);
    if (s) return s;
    int seq;
    if (!(s = lc_context_seq_new(ctx, &seq))) s = lc_context_prefill(ctx, seq, tok, n, logits, 1);
    lc_context_destroy(ctx);
    return s;
}

/* Prefill of tokens[0..p) (all logits), then tokens[p..n) one by one through decode. */
static lc_status run_decode(const lc_model *m, const lc_context_config *cfg, const int32_t *tok, int64_t p, int64_t n, float *logits) {
    lc_context *ctx;
    lc_status s = lc_context_create(m, cfg, &ctx);
    if (s) return s;
    int seq;
    const int64_t V = lc_model_config_of(m)->vocab;
    if (!(s = lc_context_seq_new(ctx, &seq))) s = lc_context_prefill(ctx, seq, tok, p, logits, 1);
    for (int64_t i = p; i < n && !s; i++) s = lc_context_decode(ctx, 1, &seq, tok + i, logits + i * V);
    lc_context_destroy(ctx);
    return s;
}

/* ---- synthetic tests ------------------------------------------------------------------------------ */

static spec base_spec(const char *name, const char *type) {
    spec s;
    memset(&s, 0, sizeof s);
    s.name = name, s.type = type;
    s.hidden = 32, s.heads = 4, s.kv = 2, s.head_dim = 8, s.inter = 48, s.vocab = 61, s.layers = 2;
    s.eps = 1e-5;
    s.rope_json = "\"rope_theta\": 10000.0";
    s.rope.type = LC_ROPE_DEFAULT, s.rope.head_dim = 8, s.rope.theta = 10000, s.rope.max_pos = 64;
    return s;
}


static const double lr_short[4] = {1.0, 1.2, 1.5, 2.0}, lr_long[4] = {1.0, 2.5, 5.0, 9.0};

static void synthetic_specs(spec *out) {
    out[0] = base_spec("llama-f32", "llama");
    out[1] = base_spec("llama-bf16-shards-llama3", "llama");
    out[1].bf16 = 1, out[1].shards = 3, out[1].tie = 1;
    out[1].rope_json = "\"rope_parameters\": {\"rope_type\": \"llama3\", \"rope_theta\": 500000.0, \"factor\": 8.0, \"low_freq_factor\": 1.0,"
                       " \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8}";
    out[1].rope.type = LC_ROPE_LLAMA3, out[1].rope.theta = 500000, out[1].rope.factor = 8, out[1].rope.low_freq_factor = 1;
    out[1].rope.high_freq_factor = 4, out[1].rope.original_max_pos = 8;
    out[2] = base_spec("mistral-window5", "mistral");
    out[2].window = 5, out[2].kv = 1;
    out[3] = base_spec("qwen2-bias-tied-yarn", "qwen2");
    out[3].tie = 1;
    out[3].rope_json = "\"rope_theta\": 10000.0, \"rope_scaling\": {\"type\": \"yarn\", \"factor\": 4.0, \"original_max_position_embeddings\": 16}";
    out[3].rope.type = LC_ROPE_YARN, out[3].rope.factor = 4, out[3].rope.original_max_pos = 16;
    out[4] = base_spec("gemma2", "gemma2");
    out[4].window = 4, out[4].tie = 1, out[4].qpas = 12, out[4].attn_cap = 3, out[4].final_cap = 5, out[4].layers = 3;
    out[5] = base_spec("llama-mha-dynamic", "llama");
    out[5].kv = 4;
    out[5].rope_json = "\"rope_scaling\": {\"rope_type\": \"dynamic\", \"factor\": 2.0}, \"rope_theta\": 10000.0";
    out[5].rope.type = LC_ROPE_DYNAMIC, out[5].rope.factor = 2, out[5].rope.max_pos = 8;
    /* LongRoPE as Phi-3 writes it: factor lists in rope_scaling, original_max_position_embeddings
     * at the top level; 14 tokens over 8 pick the long factors */
    out[6] = base_spec("llama-longrope", "llama");
    out[6].rope_json = "\"rope_scaling\": {\"type\": \"longrope\", \"short_factor\": [1.0, 1.2, 1.5, 2.0], \"long_factor\": [1.0, 2.5, 5.0, 9.0]},"
                       " \"original_max_position_embeddings\": 8, \"rope_theta\": 10000.0";
    out[6].rope.type = LC_ROPE_LONGROPE, out[6].rope.original_max_pos = 8, out[6].rope.short_factor = lr_short, out[6].rope.long_factor = lr_long;
    /* mistral's RoPE: linear x2 */
    out[2].rope_json = "\"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 2.0}, \"rope_theta\": 10000.0";
    out[2].rope.type = LC_ROPE_LINEAR, out[2].rope.factor = 2;
}

static void tokens_for(int32_t *tok, int n, int vocab, uint64_t seed) {
    for (int i = 0; i < n; i++) tok[i] = (int32_t)lc_rng_below(seed, 1000 + (uint64_t)i, (uint64_t)vocab);
}

static int cost_matches(lc_context *ctx, int seq, int64_t n) {
    lc_cost_problem p;
    lc_technique t;
    lc_cost_row row;
    if (lc_context_cost_problem(ctx, &p, &t) || lc_cost_eval(&p, t, n, &row)) return 0;
    return (double)lc_context_cache_bytes(ctx, seq) == row.cache_bytes;
}

/* Retrieval beyond a window of 3 (+ sinks): the kNN memory and block retrieval against the
 * reference's choice of keys, one prefill, chunks of 4 (the gap between the memory and each
 * query's window) and decode; everything retrieved equals the model without a window. */
static void test_retrieval(const spec *s, const ckpt *c, const lc_model *m, const int32_t *tok, double *ref, float *got) {
    const int n = NTOK, V = s->vocab;
    struct {
        lc_retrieval r;
        int64_t sinks;
    } plans[] = {{{LC_RETRIEVAL_KNN, 2, 0}, 0}, {{LC_RETRIEVAL_KNN, 3, 0}, 2}, {{LC_RETRIEVAL_KNN, 1, 0}, 1},
                 {{LC_RETRIEVAL_BLOCKS, 1, 2}, 0}, {{LC_RETRIEVAL_BLOCKS, 2, 3}, 1}};
    for (size_t k = 0; k < sizeof plans / sizeof plans[0]; k++) {
        lc_context_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.max_tokens = 32, cfg.activations_f32 = 1, cfg.window = 3, cfg.sinks = plans[k].sinks, cfg.retrieval = plans[k].r;
        const char *kind = plans[k].r.kind == LC_RETRIEVAL_KNN ? "knn" : "blocks";
        if (plans[k].r.kind == LC_RETRIEVAL_BLOCKS && s->attn_cap > 0) {
            lc_context *ctx = NULL;
            lc_status st = lc_context_create(m, &cfg, &ctx);
            CHECK(st == LC_EUNSUPPORTED && strstr(lc_last_error(), "soft-capped"), "%s: blocks with soft-capped scores: %s", s->name, lc_last_error());
            lc_context_destroy(ctx);
            continue;
        }
        ref_opts o = {3, plans[k].sinks, NULL, plans[k].r};
        ref_near_tie = 0;
        ref_forward(s, c, tok, n, &o, ref);
        if (ref_near_tie) {
            printf("test_model: %s: %s top %lld: a near tie in the reference's choice, comparison skipped\n", s->name, kind, (long long)plans[k].r.top_k);
            continue;
        }
        const int64_t batches[] = {0, 4};
        for (size_t b = 0; b < 2; b++) {
            cfg.max_batch = batches[b];
            lc_status st = run_prefill(m, &cfg, tok, n, got);
            double e = rel_err(got, ref, (int64_t)n * V);
            CHECK(st == LC_OK && e < 1e-5, "%s: %s top %lld sinks %lld, prefill in chunks of %lld: %s, rel err %.3g", s->name, kind,
                  (long long)plans[k].r.top_k, (long long)plans[k].sinks, (long long)cfg.max_batch, lc_last_error(), e);
        }
        cfg.max_batch = 0;
        lc_status st = run_decode(m, &cfg, tok, 5, n, got);
        double e = rel_err(got, ref, (int64_t)n * V);
        CHECK(st == LC_OK && e < 1e-5, "%s: %s top %lld sinks %lld, prefill 5 + decode: %s, rel err %.3g", s->name, kind, (long long)plans[k].r.top_k,
              (long long)plans[k].sinks, lc_last_error(), e);
    }
    /* everything retrieved: causal attention over every key (the model's own windows too) */
    ref_opts all = {3, 0, NULL, {LC_RETRIEVAL_KNN, n, 0}};
    ref_forward(s, c, tok, n, &all, ref);
    for (int kind = LC_RETRIEVAL_KNN; kind <= LC_RETRIEVAL_BLOCKS; kind++) {
        if (kind == LC_RETRIEVAL_BLOCKS && s->attn_cap > 0) continue;
        lc_context_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.max_tokens = 32, cfg.activations_f32 = 1, cfg.window = 3, cfg.max_batch = 4;
        cfg.retrieval = (lc_retrieval){(lc_retrieval_kind)kind, n, 1};
        lc_status st = run_prefill(m, &cfg, tok, n, got);
        double e = rel_err(got, ref, (int64_t)n * V);
        CHECK(st == LC_OK && e < 1e-5, "%s: %s retrieving every key vs causal attention: %s, rel err %.3g", s->name, kind == LC_RETRIEVAL_KNN ? "knn" : "blocks",
              lc_last_error(), e);
    }
}

static void test_synthetic(uint64_t seed) {
    spec specs[NSPEC];
    synthetic_specs(specs);
    for (int si = 0; si < NSPEC; si++) {
        spec *s = &specs[si];
        if (s->type == NULL) continue;
        /* dynamic NTK and LongRoPE depend on the length of each forward: the reference is one forward of
         * n tokens, so only the one-prefill comparison applies (as in transformers) */
        int dynamic = s->rope.type == LC_ROPE_DYNAMIC || s->rope.type == LC_ROPE_LONGROPE;
        ckpt c = {.n = 0};
        make_weights(s, &c, seed + (uint64_t)si);
        char dir[512];
        snprintf(dir, sizeof dir, "%s/%s", tmp_dir, s->name);
        write_checkpoint(s, &c, dir);
        lc_model *m = NULL;
        lc_status st = lc_model_load(dir, &m);
        CHECK(st == LC_OK, "%s: load: %s", s->name, lc_last_error());
        if (st) { free_ckpt(&c); continue; }
        lc_model_info info;
        lc_model_get_info(m, &info);
        size_t vec_bytes = 0; /* bf16: the norms (and biases) are converted to f32, the matrices used in place */
        for (int i = 0; i < c.n; i++) vec_bytes += c.t[i].ndim == 1 ? sizeof(float) * (size_t)c.t[i].shape[0] : 0;
        CHECK(info.copied_bytes == (s->bf16 ? vec_bytes : 0), "%s: %zu of %zu weight bytes copied", s->name, info.copied_bytes, info.weight_bytes);
        CHECK(info.files == (s->shards > 1 ? s->shards : 1), "%s: %d files", s->name, info.files);
        const int V = s->vocab, n = NTOK;
        int32_t tok[NTOK];
        tokens_for(tok, n, V, seed + 77 + (uint64_t)si);
        double *ref = malloc(sizeof(double) * (size_t)n * V);
        float *got = malloc(sizeof(float) * (size_t)n * V), *got2 = malloc(sizeof(float) * (size_t)n * V);
        ref_forward(s, &c, tok, n, NULL, ref);
        lc_context_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.max_tokens = 32;
        cfg.activations_f32 = 1; /* exact products with bf16 weights, for the reference's 1e-5 (test_bf16_weights: rounded) */
        st = run_prefill(m, &cfg, tok, n, got);
        double e = rel_err(got, ref, (int64_t)n * V);
        CHECK(st == LC_OK && e < 1e-5, "%s: one prefill vs float64 reference: %s, rel err %.3g", s->name, lc_last_error(), e);
        cfg.max_batch = 3; /* chunked prefill */
        st = run_prefill(m, &cfg, tok, n, got2);
        e = rel_err_f(got2, got, (int64_t)n * V);
        CHECK(st == LC_OK && (dynamic || e < 1e-5), "%s: chunks of 3 vs one prefill: %s, rel err %.3g", s->name, lc_last_error(), e);
        cfg.max_batch = 0;
        if (!dynamic) {
            st = run_decode(m, &cfg, tok, 4, n, got2);
            e = rel_err(got2, ref, (int64_t)n * V);
            CHECK(st == LC_OK && e < 1e-5, "%s: prefill 4 + decode vs reference: %s, rel err %.3g", s->name, lc_last_error(), e);

            /* window >= length: the same logits as the model's own plan */
            cfg.window = n;
            st = run_prefill(m, &cfg, tok, n, got2);
            e = rel_err_f(got2, got, (int64_t)n * V);
            CHECK(st == LC_OK && e < 1e-6, "%s: window %d >= length vs none: rel err %.3g", s->name, n, e);
            /* window 3 (+ 2 sinks): against the reference with the same mask, prefill and decode */
            for (int sinks = 0; sinks <= 2; sinks += 2) {
                ref_opts o = {3, sinks, NULL, {LC_RETRIEVAL_NONE, 0, 0}};
                ref_forward(s, &c, tok, n, &o, ref);
                cfg.window = 3, cfg.sinks = sinks;
                st = run_prefill(m, &cfg, tok, n, got2);
                e = rel_err(got2, ref, (int64_t)n * V);
                CHECK(st == LC_OK && e < 1e-5, "%s: window 3 sinks %d, prefill: %s, rel err %.3g", s->name, sinks, lc_last_error(), e);
                st = run_decode(m, &cfg, tok, 5, n, got2);
                e = rel_err(got2, ref, (int64_t)n * V);
                CHECK(st == LC_OK && e < 1e-5, "%s: window 3 sinks %d, decode: %s, rel err %.3g", s->name, sinks, lc_last_error(), e);
                cfg.max_batch = 4;
                st = run_prefill(m, &cfg, tok, n, got2);
                e = rel_err(got2, ref, (int64_t)n * V);
                CHECK(st == LC_OK && e < 1e-5, "%s: window 3 sinks %d, chunks of 4: %s, rel err %.3g", s->name, sinks, lc_last_error(), e);
                cfg.max_batch = 0;
            }
            cfg.window = 0, cfg.sinks = 0;
            test_retrieval(s, &c, m, tok, ref, got2);
            ref_forward(s, &c, tok, n, NULL, ref);

            /* KV dtypes and the paged layout, through prefill and decode. The lossy dtypes' error
             * depends on the random weights: int8's worst over 70 seeds was 0.065 of the largest
             * logit, so its bound is 0.1 (a wrong scale or row gives errors of order 1). */
            struct {
                lc_dtype dt;
                lc_kv_layout layout;
                double tol;
            } kv[] = {{LC_F16, LC_KV_CONTIGUOUS, 1e-2}, {LC_BF16, LC_KV_CONTIGUOUS, 3e-2}, {LC_INT8, LC_KV_CONTIGUOUS, 0.1},
                      {LC_FP8, LC_KV_CONTIGUOUS, 0.35}, {LC_F32, LC_KV_PAGED, 1e-5}, {LC_INT8, LC_KV_PAGED, 0.1},
                      {LC_BF16, LC_KV_PAGED, 3e-2}};
            for (size_t k = 0; k < sizeof kv / sizeof kv[0]; k++) {
                cfg.kv_dtype = kv[k].dt, cfg.kv_layout = kv[k].layout, cfg.block_size = 4;
                st = run_decode(m, &cfg, tok, 6, n, got2);
                e = rel_err(got2, ref, (int64_t)n * V);
                CHECK(st == LC_OK && e < kv[k].tol, "%s: kv %s %s: %s, rel err %.3g (tolerance %g)", s->name, lc_dtype_name(kv[k].dt),
                      lc_kv_layout_name(kv[k].layout), lc_last_error(), e, kv[k].tol);
            }
            cfg.kv_dtype = LC_F32, cfg.kv_layout = LC_KV_CONTIGUOUS, cfg.block_size = 0;
        }
        /* RoPE override: yarn x2 over 16 positions on the model's base */
        lc_rope yarn = s->rope;
        yarn.type = LC_ROPE_YARN, yarn.factor = 2, yarn.original_max_pos = 16, yarn.max_pos = 64;
        yarn.low_freq_factor = yarn.high_freq_factor = 0;
        if (!strcmp(s->name, "llama-bf16-shards-llama3")) yarn.theta = 500000;
        ref_opts ro = {0, 0, &yarn, {LC_RETRIEVAL_NONE, 0, 0}};
        ref_forward(s, &c, tok, n, &ro, ref);
        cfg.rope_override = 1, cfg.rope = yarn;
        cfg.rope.theta = 0; /* the model's base is kept whatever the override says */
        st = run_decode(m, &cfg, tok, 3, n, got2);
        e = rel_err(got2, ref, (int64_t)n * V);
        CHECK(st == LC_OK && e < 1e-5, "%s: rope override yarn x2: %s, rel err %.3g", s->name, lc_last_error(), e);
        memset(&cfg, 0, sizeof cfg);
        cfg.max_tokens = 32;
        cfg.activations_f32 = 1;

        /* the cache's bytes are the wall's prediction, for several plans */
        struct {
            int64_t window, sinks;
            lc_dtype dt;
        } plans[] = {{0, 0, LC_F32}, {0, 0, LC_INT8}, {3, 0, LC_BF16}, {6, 2, LC_FP8}, {100, 0, LC_F16}};
        for (size_t k = 0; k < sizeof plans / sizeof plans[0]; k++) {
            cfg.window = plans[k].window, cfg.sinks = plans[k].sinks, cfg.kv_dtype = plans[k].dt;
            lc_context *ctx;
            int seq;
            if (lc_context_create(m, &cfg, &ctx)) {
                CHECK(0, "%s: plan %zu: %s", s->name, k, lc_last_error());
                continue;
            }
            lc_context_seq_new(ctx, &seq);
            int ok = 1;
            for (int len = 1; len <= n && ok; len++) {
                lc_context_prefill(ctx, seq, tok + len - 1, 1, got2, 0);
                ok = cost_matches(ctx, seq, len);
            }
            lc_cost_problem p;
            lc_technique t;
            lc_status cs = lc_context_cost_problem(ctx, &p, &t);
            /* gemma2's own window 4 and an override of 6 leave two windows: the wall has one */
            int two = is_gemma(s) && plans[k].window > s->window && plans[k].window + plans[k].sinks < cfg.max_tokens;
            CHECK(two ? cs == LC_EUNSUPPORTED : ok, "%s: plan %zu: cache bytes %zu differ from the wall's (%s)", s->name, k,
                  lc_context_cache_bytes(ctx, seq), lc_last_error());
            lc_context_destroy(ctx);
        }
        memset(&cfg, 0, sizeof cfg);
        cfg.max_tokens = 32;
        cfg.activations_f32 = 1;

        if (!dynamic) { /* two sequences, batched decode, and a fork */
            ref_forward(s, &c, tok, n, NULL, ref);
            int32_t tok2[NTOK];
            tokens_for(tok2, n, V, seed + 991 + (uint64_t)si);
            double *ref2 = malloc(sizeof(double) * (size_t)n * V);
            ref_forward(s, &c, tok2, n, NULL, ref2);
            cfg.max_seqs = 3;
            lc_context *ctx;
            st = lc_context_create(m, &cfg, &ctx);
            CHECK(st == LC_OK, "%s: 3 sequences: %s", s->name, lc_last_error());
            if (!st) {
                int a, b, f;
                float *la = malloc(sizeof(float) * (size_t)n * V), *lb = malloc(sizeof(float) * (size_t)n * V);
                lc_context_seq_new(ctx, &a), lc_context_seq_new(ctx, &b);
                st = lc_context_prefill(ctx, a, tok, 5, la, 1);
                if (!st) st = lc_context_prefill(ctx, b, tok2, 7, lb, 1);
                for (int i = 5; i < n && !st; i++) { /* a and b in one decode while b has tokens */
                    int seqs[2] = {a, b};
                    int32_t t2[2] = {tok[i], i + 2 < n ? tok2[i + 2] : 0};
                    float two[2 * 64];
                    st = lc_context_decode(ctx, i + 2 < n ? 2 : 1, seqs, t2, two);
                    memcpy(la + (size_t)i * V, two, sizeof(float) * V);
                    if (i + 2 < n) memcpy(lb + (size_t)(i + 2) * V, two + V, sizeof(float) * V);
                }
                double ea = rel_err(la, ref, (int64_t)n * V), eb = rel_err(lb, ref2, (int64_t)n * V);
                CHECK(st == LC_OK && ea < 1e-5 && eb < 1e-5, "%s: two sequences batched: %s, rel err %.3g %.3g", s->name, lc_last_error(), ea, eb);
                /* fork b at 7 tokens of tok2 after freeing it: continue a copy with tok's tail */
                lc_context_seq_remove(ctx, b);
                lc_context_seq_new(ctx, &b);
                st = lc_context_prefill(ctx, b, tok, 6, lb, 1);
                if (!st) st = lc_context_seq_fork(ctx, b, &f);
                for (int i = 6; i < n && !st; i++) st = lc_context_decode(ctx, 1, &f, tok + i, lb + (size_t)i * V);
                eb = rel_err(lb, ref, (int64_t)n * V);
                CHECK(st == LC_OK && eb < 1e-5 && lc_context_seq_len(ctx, b) == 6 && lc_context_seq_len(ctx, f) == n,
                      "%s: fork: %s, rel err %.3g", s->name, lc_last_error(), eb);
                /* a prompt longer than the caches allow: refused, nothing written */
                int64_t before = lc_context_seq_len(ctx, a);
                int32_t many[40] = {0};
                st = lc_context_prefill(ctx, a, many, 40, lb, 0);
                CHECK(st == LC_ERANGE && strstr(lc_last_error(), "max_tokens") && lc_context_seq_len(ctx, a) == before,
                      "%s: too long a prompt: %s '%s'", s->name, lc_status_str(st), lc_last_error());
                int32_t bad = (int32_t)V;
                st = lc_context_prefill(ctx, a, &bad, 1, lb, 0);
                CHECK(st == LC_ERANGE && strstr(lc_last_error(), "vocabulary"), "%s: token out of range: %s", s->name, lc_last_error());
                free(la), free(lb);
                lc_context_destroy(ctx);
            }
            free(ref2);
        }
        free(ref), free(got), free(got2);
        lc_model_destroy(m);
        free_ckpt(&c);
    }
}

/* A bf16 checkpoint (its matrices multiplied as stored) against its f32 conversion (the same
 * values in f32): a 40-token prompt (the weight products' matrix path) then 8 decoded tokens (the
 * streaming path). With activations_f32 the products are exact and the logits agree to 1e-5;
 * by default, where the CPU has AVX512-BF16, the activations are rounded to bf16 and the
 * logits agree within bf16's precision. */
static void test_bf16_weights(uint64_t seed) {
    enum { P = 40, N = 48 };
    spec s = base_spec("llama-bf16-vs-f32", "llama");
    s.bf16 = 1, s.vocab = 97, s.hidden = 48, s.inter = 80;
    ckpt c = {.n = 0};
    make_weights(&s, &c, seed + 4242); /* values rounded to bf16 */
    char dir16[512], dir32[512];
    snprintf(dir16, sizeof dir16, "%s/%s", tmp_dir, s.name);
    write_checkpoint(&s, &c, dir16);
    s.bf16 = 0;
    snprintf(dir32, sizeof dir32, "%s/%s-f32", tmp_dir, s.name);
    write_checkpoint(&s, &c, dir32);
    lc_model *m16 = NULL, *m32 = NULL;
    CHECK(lc_model_load(dir16, &m16) == LC_OK && lc_model_load(dir32, &m32) == LC_OK, "bf16 vs f32: load: %s", lc_last_error());
    if (m16 && m32) {
        lc_model_info i16, i32;
        lc_model_get_info(m16, &i16), lc_model_get_info(m32, &i32);
        CHECK(i16.weight_bytes < i32.weight_bytes * 6 / 10 && i16.copied_bytes < i16.weight_bytes / 20,
              "bf16 vs f32: the bf16 model reads %zu bytes (f32: %zu) and copied %zu", i16.weight_bytes, i32.weight_bytes, i16.copied_bytes);
        int32_t tok[N];
        tokens_for(tok, N, s.vocab, seed + 4343);
        float *l16 = malloc(sizeof(float) * N * (size_t)s.vocab), *l32 = malloc(sizeof(float) * N * (size_t)s.vocab);
        lc_context_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.max_tokens = 64;
        lc_status st = run_decode(m32, &cfg, tok, P, N, l32);
        CHECK(st == LC_OK, "bf16 vs f32: the f32 model: %s", lc_last_error());
        for (int exact = 1; exact >= 0 && !st; exact--) {
            cfg.activations_f32 = exact;
            st = run_decode(m16, &cfg, tok, P, N, l16);
            double e = rel_err_f(l16, l32, (int64_t)N * s.vocab);
            /* rounded: each product's inputs carry bf16's 2^-9; over 12 seeds the worst logit was off by 0.012 to 0.020
             * of the largest (a wrong row or scale gives errors of order 1) */
            CHECK(st == LC_OK && e < (exact ? 1e-5 : 6e-2), "bf16 vs f32, activations %s: %s, rel err %.3g", exact ? "f32" : "as the CPU rounds them",
                  lc_last_error(), e);
            printf("test_model: bf16 checkpoint vs its f32 conversion, activations %s: worst rel err %.3g\n", exact ? "f32" : "default", e);
        }
        free(l16), free(l32);
    }
    lc_model_destroy(m16), lc_model_destroy(m32);
    free_ckpt(&c);
}

/* ---- bad checkpoints and plans ----------------------------------------------------------------- */

static void expect_load(const char *dir, lc_status want, const char *says, const char *what) {
    lc_model *m = (lc_model *)0x1;
    lc_status s = lc_model_load(dir, &m);
    CHECK(s == want && m == NULL && strstr(lc_last_error(), says), "%s: %s '%s' (want %s, '%s')", what, lc_status_str(s), lc_last_error(),
          lc_status_str(want), says);
    if (!s) lc_model_destroy(m);
}

static void test_bad(uint64_t seed) {
    spec s = base_spec("bad", "llama");
    ckpt c = {.n = 0};
    make_weights(&s, &c, seed);
    char dir[512], path[600], cfg[2048];
    snprintf(dir, sizeof dir, "%s/bad", tmp_dir);
    write_checkpoint(&s, &c, dir);
    lc_model *m = NULL;
    CHECK(lc_model_load(dir, &m) == LC_OK, "bad: the good one first: %s", lc_last_error());

    /* plans the context refuses */
    lc_context_config cc;
    memset(&cc, 0, sizeof cc);
    lc_context *ctx;
    cc.sinks = 4;
    CHECK(lc_context_create(m, &cc, &ctx) == LC_EINVAL && strstr(lc_last_error(), "needs a window"), "sinks without a window: %s", lc_last_error());
    cc.sinks = 0, cc.kv_layout = LC_KV_RING;
    CHECK(lc_context_create(m, &cc, &ctx) == LC_EINVAL && strstr(lc_last_error(), "kv_layout"), "ring layout: %s", lc_last_error());
    cc.kv_layout = LC_KV_CONTIGUOUS, cc.kv_dtype = LC_INT4;
    CHECK(lc_context_create(m, &cc, &ctx) == LC_EINVAL && strstr(lc_last_error(), "kv_dtype"), "int4 cache: %s", lc_last_error());
    cc.kv_dtype = LC_F32, cc.rope_override = 1, cc.rope.type = LC_ROPE_LINEAR;
    CHECK(lc_context_create(m, &cc, &ctx) == LC_EINVAL && strstr(lc_last_error(), "factor"), "linear rope without a factor: %s", lc_last_error());
    lc_model_destroy(m);

    /* a tensor missing, then misshapen */
    const char *missing = "model.layers.1.mlp.up_proj.weight";
    ckpt less = c;
    less.n = 0;
    for (int i = 0; i < c.n; i++)
        if (strcmp(c.t[i].name, missing)) less.t[less.n++] = c.t[i];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    write_safetensors(path, &less, 0, less.n, 0);
    expect_load(dir, LC_EFORMAT, "no tensor 'model.layers.1.mlp.up_proj.weight'", "missing tensor");
    for (int i = 0; i < c.n; i++)
        if (!strcmp(c.t[i].name, "model.layers.0.self_attn.k_proj.weight")) c.t[i].shape[0] = 8, c.t[i].shape[1] = 32;
    write_safetensors(path, &c, 0, c.n, 0);
    expect_load(dir, LC_EFORMAT, "'model.layers.0.self_attn.k_proj.weight' has shape [8, 32], config.json implies [16, 32]", "misshapen tensor");
    for (int i = 0; i < c.n; i++)
        if (!strcmp(c.t[i].name, "model.layers.0.self_attn.k_proj.weight")) c.t[i].shape[0] = 16, c.t[i].shape[1] = 32;
    write_safetensors(path, &c, 0, c.n, 0);
    /* config.json: an unknown model_type, a bad rope, a missing field, broken JSON */
    snprintf(path, sizeof path, "%s/config.json", dir);
    struct {
        const char *from, *to;
        lc_status st;
        const char *says;
    } edits[] = {
        {"\"model_type\": \"llama\"", "\"model_type\": \"bert\"", LC_EUNSUPPORTED, "model_type 'bert' is not one longctx runs"},
        {"\"rope_theta\": 10000.0", "\"rope_scaling\": {\"rope_type\": \"su2\"}", LC_EUNSUPPORTED, "rope type 'su2'"},
        {"\"rope_theta\": 10000.0", "\"rope_scaling\": {\"rope_type\": \"linear\"}", LC_EFORMAT, "factor"},
        {"\"rope_theta\": 10000.0", "\"rope_theta\": \"big\"", LC_EFORMAT, "'rope_theta' must be a number"},
        /* no num_key_value_heads: transformers' default, one per attention head, which the tensors then contradict */
        {"\"num_key_value_heads\": 2,", "", LC_EFORMAT, "config.json implies [32, 32] (num_key_value_heads*head_dim"},
        {"\"hidden_size\": 32", "\"hidden_size\": 48", LC_EFORMAT, "config.json implies"},
        {"\"vocab_size\": 61", "\"vocab_size\": 62", LC_EFORMAT, "'model.embed_tokens.weight' has shape [61, 32], config.json implies [62, 32]"},
        {"\"eos_token_id\": 2", "\"eos_token_id\": 99", LC_EFORMAT, "eos_token_id 99"},
        {"\"eos_token_id\": 2", "\"eos_token_id\": [2, \"x\"]", LC_EFORMAT, "'eos_token_id'"},
        {"\"tie_word_embeddings\": false", "\"tie_word_embeddings\": 3", LC_EFORMAT, "'tie_word_embeddings' must be true or false"},
        {"}", "", LC_EFORMAT, "not a JSON object"},
    };
    config_text(&s, cfg, sizeof cfg);
    for (size_t k = 0; k < sizeof edits / sizeof edits[0]; k++) {
        char text[2048];
        const char *at = strstr(cfg, edits[k].from);
        if (!at) {
            CHECK(0, "edit %zu: '%s' not in the config", k, edits[k].from);
            continue;
        }
        if (!strcmp(edits[k].from, "}")) at = strrchr(cfg, '}');
        snprintf(text, sizeof text, "%.*s%s%s", (int)(at - cfg), cfg, edits[k].to, at + strlen(edits[k].from));
        write_text(path, text);
        char what[64];
        snprintf(what, sizeof what, "config edit %zu", k);
        expect_load(dir, edits[k].st, edits[k].says, what);
    }
    write_text(path, cfg);
    /* generation_config.json's eos ids win */
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    write_text(path, "{\"eos_token_id\": [5, 7], \"bos_token_id\": 1}");
    if (!lc_model_load(dir, &m)) {
        const lc_model_config *mc = lc_model_config_of(m);
        CHECK(mc->n_stop == 2 && mc->stop[0] == 5 && mc->stop[1] == 7, "generation_config stop ids: %d", mc->n_stop);
        lc_model_destroy(m);
    } else {
        CHECK(0, "generation_config: %s", lc_last_error());
    }
    write_text(path, "{\"eos_token_id\": ");
    expect_load(dir, LC_EFORMAT, "generation_config.json", "truncated generation_config");
    unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    expect_load(dir, LC_EIO, "neither model.safetensors.index.json nor model.safetensors", "no weights");
    snprintf(path, sizeof path, "%s/no-such-dir", tmp_dir);
    expect_load(path, LC_EIO, "config.json", "no directory");
    free_ckpt(&c);
}

/* ---- sampling ----------------------------------------------------------------------------------- */

static void test_sampling(void) {
    float logits[6] = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f, 0.0f};
    size_t wsb = lc_sample_workspace_size(6);
    void *ws = malloc(wsb);
    lc_sampler g = {0, 0, 0, 1};
    int32_t t = -1;
    CHECK(lc_sample(&g, logits, 6, 0, NULL, 0, &t) == LC_OK && t == 1, "greedy: %d (lowest of the tied maxima)", t);
    lc_sampler k1 = {1.0, 1, 0, 9};
    CHECK(lc_sample(&k1, logits, 6, 3, ws, wsb, &t) == LC_OK && t == 1, "top-k 1: %d", t);
    lc_sampler p0 = {0.7, 0, 0.01, 9};
    CHECK(lc_sample(&p0, logits, 6, 3, ws, wsb, &t) == LC_OK && t == 1, "top-p 0.01: %d", t);
    /* temperature 1: frequencies follow the softmax; top-k 3 keeps ids 1, 3, 4 */
    int counts[6] = {0}, counts_k[6] = {0};
    const int N = 20000;
    lc_sampler s = {1.0, 0, 0, 12345}, sk = {1.0, 3, 0, 12345};
    for (int i = 0; i < N; i++) {
        if (!lc_sample(&s, logits, 6, (uint64_t)i, ws, wsb, &t)) counts[t]++;
        if (!lc_sample(&sk, logits, 6, (uint64_t)i, ws, wsb, &t)) counts_k[t]++;
    }
    double z = 0, zk = 0;
    for (int i = 0; i < 6; i++) z += exp(logits[i]);
    zk = exp(2.0) * 2 + exp(1.0);
    for (int i = 0; i < 6; i++) {
        double p = exp(logits[i]) / z, pk = (i == 1 || i == 3 || i == 4) ? exp(logits[i]) / zk : 0;
        double sd = sqrt(p * (1 - p) / N) + 1e-9, sdk = sqrt(pk * (1 - pk) / N) + 1e-9;
        CHECK(fabs(counts[i] / (double)N - p) < 5 * sd, "temperature 1: id %d drawn %d of %d, p %.4f", i, counts[i], N, p);
        CHECK(fabs(counts_k[i] / (double)N - pk) < 5 * sdk + 1e-12, "top-k 3: id %d drawn %d of %d, p %.4f", i, counts_k[i], N, pk);
    }
    /* the same (seed, draw) gives the same token */
    int32_t a, b;
    lc_sampler tp = {0.8, 4, 0.9, 77};
    lc_sample(&tp, logits, 6, 5, ws, wsb, &a);
    lc_sample(&tp, logits, 6, 5, ws, wsb, &b);
    CHECK(a == b, "reproducible draw");
    lc_sampler bad = {-1, 0, 0, 0};
    CHECK(lc_sample(&bad, logits, 6, 0, ws, wsb, &t) == LC_EINVAL && strstr(lc_last_error(), "temperature"), "bad temperature");
    bad.temperature = 1, bad.top_p = 1.5;
    CHECK(lc_sample(&bad, logits, 6, 0, ws, wsb, &t) == LC_EINVAL && strstr(lc_last_error(), "top_p"), "bad top_p");
    bad.top_p = 0;
    CHECK(lc_sample(&bad, logits, 6, 0, ws, 4, &t) == LC_EINVAL && strstr(lc_last_error(), "workspace"), "small workspace");
    free(ws);
}

/* ---- golden fixtures from transformers -------------------------------------------------------- */

static void test_golden(const char *name) {
    char dir[1200], path[1300];
    snprintf(dir, sizeof dir, "%s/fixtures/models/%s", src_dir, name);
    snprintf(path, sizeof path, "%s/golden.json", dir);
    char *text = slurp(path, NULL);
    if (!text) {
        printf("test_model: %s: no fixture at %s, skipped\n", name, dir);
        return;
    }
    cJSON *g = cJSON_Parse(text);
    free(text);
    const cJSON *pi = cJSON_GetObjectItem(g, "prompt_ids"), *gi = cJSON_GetObjectItem(g, "generated_ids");
    const cJSON *lf = cJSON_GetObjectItem(g, "logits_file");
    int np = cJSON_GetArraySize(pi), ng = cJSON_GetArraySize(gi);
    int n = (int)cJSON_GetObjectItem(g, "n_positions")->valuedouble, V = (int)cJSON_GetObjectItem(g, "vocab")->valuedouble;
    CHECK(n == np + ng, "%s: n_positions %d != %d prompt + %d generated", name, n, np, ng);
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < np; i++) tok[i] = (int32_t)cJSON_GetArrayItem(pi, i)->valuedouble;
    for (int i = 0; i < ng; i++) tok[np + i] = (int32_t)cJSON_GetArrayItem(gi, i)->valuedouble;
    /* the checkpoint's tokenizer gives the prompt's ids from its text, as `longctx run --prompt` uses it */
    const cJSON *pt = cJSON_GetObjectItem(g, "prompt_text");
    if (cJSON_IsString(pt)) {
        lc_tokenizer *tk = NULL;
        int32_t *ids = NULL;
        int64_t nid = 0;
        lc_status ts = lc_tokenizer_load(dir, &tk);
        if (!ts) ts = lc_tokenizer_encode_alloc(tk, pt->valuestring, strlen(pt->valuestring), 1, &ids, &nid);
        int same = !ts && nid == np;
        for (int i = 0; same && i < np; i++) same = ids[i] == tok[i];
        CHECK(same, "%s: the tokenizer's ids of prompt_text differ from prompt_ids (%s)", name, lc_last_error());
        free(ids);
        lc_tokenizer_destroy(tk);
    }
    snprintf(path, sizeof path, "%s/%s", dir, lf && cJSON_IsString(lf) ? lf->valuestring : "logits.f32");
    size_t bytes = 0;
    float *want = (float *)slurp(path, &bytes);
    CHECK(want && bytes == sizeof(float) * (size_t)n * V, "%s: %s holds %zu bytes, want %d x %d floats", name, path, bytes, n, V);
    lc_model *m = NULL;
    lc_status st = lc_model_load(dir, &m);
    CHECK(st == LC_OK, "%s: load: %s", name, lc_last_error());
    if (st || !want || bytes != sizeof(float) * (size_t)n * V) {
        free(want), free(tok), cJSON_Delete(g);
        return;
    }
    CHECK(lc_model_config_of(m)->vocab == V, "%s: vocab", name);
    float *got = malloc(sizeof(float) * (size_t)n * V);
    lc_context_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.max_tokens = n + 8;
    st = run_prefill(m, &cfg, tok, n, got);
    double worst = 0;
    int worst_at = 0;
    for (int i = 0; i < n; i++) {
        double e = rel_err_f(got + (size_t)i * V, want + (size_t)i * V, V);
        if (!(e <= worst)) worst = e, worst_at = i;
    }
    CHECK(st == LC_OK && worst < 1e-4, "%s: one prefill of %d positions vs transformers: %s, worst rel err %.3g at position %d", name, n,
          lc_last_error(), worst, worst_at);
    printf("test_model: %s: prefill of %d positions, worst rel err vs transformers %.3g\n", name, n, worst);
    st = run_decode(m, &cfg, tok, np, n, got);
    worst = 0;
    for (int i = 0; i < n; i++) {
        double e = rel_err_f(got + (size_t)i * V, want + (size_t)i * V, V);
        if (!(e <= worst)) worst = e, worst_at = i;
    }
    CHECK(st == LC_OK && worst < 1e-4, "%s: prefill %d + decode %d vs transformers: %s, worst rel err %.3g at position %d", name, np, ng,
          lc_last_error(), worst, worst_at);
    printf("test_model: %s: prefill %d + decode %d, worst rel err vs transformers %.3g\n", name, np, ng, worst);
    /* overrides on the real checkpoint, prefill then decode: a window as long as the sequence
     * and a paged cache change nothing; f16, int8 and fp8 caches stay within loose tolerances */
    struct {
        const char *what;
        int64_t window, sinks;
        lc_dtype dt;
        lc_kv_layout layout;
        double tol;
    } ov[] = {{"window = length", n, 0, LC_F32, LC_KV_CONTIGUOUS, 1e-4}, {"paged, blocks of 16", 0, 0, LC_F32, LC_KV_PAGED, 1e-4},
              {"f16 cache", 0, 0, LC_F16, LC_KV_CONTIGUOUS, 5e-3},      {"int8 cache", 0, 0, LC_INT8, LC_KV_CONTIGUOUS, 3e-2},
              {"fp8 paged cache", 0, 0, LC_FP8, LC_KV_PAGED, 0.2}, {"bf16 paged cache", 0, 0, LC_BF16, LC_KV_PAGED, 3e-2}};
    for (size_t k = 0; k < sizeof ov / sizeof ov[0]; k++) {
        lc_context_config oc = cfg;
        oc.window = ov[k].window, oc.sinks = ov[k].sinks, oc.kv_dtype = ov[k].dt, oc.kv_layout = ov[k].layout, oc.block_size = 16;
        /* Mamba models have no KV cache: those overrides are refused with a sentence */
        const lc_arch arch = lc_model_config_of(m)->arch;
        if (arch == LC_ARCH_MAMBA || arch == LC_ARCH_MAMBA2) {
            st = lc_context_config_check(m, &oc);
            CHECK(st != LC_OK && strstr(lc_last_error(), lc_arch_name(arch)), "%s: %s accepted", name, ov[k].what);
            printf("test_model: %s: %s refused: %s\n", name, ov[k].what, lc_last_error());
            continue;
        }
        st = run_decode(m, &oc, tok, np, n, got);
        worst = 0;
        for (int i = 0; i < n; i++) {
            double e = rel_err_f(got + (size_t)i * V, want + (size_t)i * V, V);
            if (!(e <= worst)) worst = e;
        }
        CHECK(st == LC_OK && worst < ov[k].tol, "%s: %s: %s, worst rel err %.3g (tolerance %g)", name, ov[k].what, lc_last_error(), worst, ov[k].tol);
        printf("test_model: %s: %s, prefill + decode, worst rel err vs transformers %.3g\n", name, ov[k].what, worst);
    }
    /* greedy continuation from the prompt */
    lc_context *ctx;
    if (!lc_context_create(m, &cfg, &ctx)) {
        int seq, same = 1, k = 0;
        lc_context_seq_new(ctx, &seq);
        st = lc_context_prefill(ctx, seq, tok, np, got, 0);
        const lc_model_config *mc = lc_model_config_of(m);
        for (; k < ng && !st; k++) {
            int32_t t = lc_argmax(got, V);
            same &= t == tok[np + k];
            if (!same) break;
            int stop = 0;
            for (int e = 0; e < mc->n_stop; e++) stop |= t == mc->stop[e];
            if (stop) { k++; break; }
            st = lc_context_decode(ctx, 1, &seq, &t, got);
        }
        CHECK(st == LC_OK && same && k == ng, "%s: greedy continuation differs from transformers' at step %d: %s", name, k, lc_last_error());
        lc_context_destroy(ctx);
    }
    free(got), free(want), free(tok);
    lc_model_destroy(m);
    cJSON_Delete(g);
}

/* ---- Mamba, Mamba-2, Jamba, DeepSeek-V2: states, latent caches and their bytes ---------------- */

typedef struct golden {
    int32_t *tok;
    float *want;
    int n, np, V;
} golden;

static int golden_read(const char *dir, golden *g) {
    char path[1300];
    snprintf(path, sizeof path, "%s/golden.json", dir);
    char *text = slurp(path, NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!j) return 0;
    const cJSON *pi = cJSON_GetObjectItem(j, "prompt_ids"), *gi = cJSON_GetObjectItem(j, "generated_ids");
    g->np = cJSON_GetArraySize(pi), g->n = g->np + cJSON_GetArraySize(gi), g->V = (int)cJSON_GetObjectItem(j, "vocab")->valuedouble;
    g->tok = malloc(sizeof(int32_t) * (size_t)g->n);
    for (int i = 0; i < g->n; i++) g->tok[i] = (int32_t)cJSON_GetArrayItem(i < g->np ? pi : gi, i < g->np ? i : i - g->np)->valuedouble;
    cJSON_Delete(j);
    snprintf(path, sizeof path, "%s/logits.f32", dir);
    size_t bytes = 0;
    g->want = (float *)slurp(path, &bytes);
    if (!g->want || bytes != sizeof(float) * (size_t)g->n * g->V) return free(g->want), free(g->tok), 0;
    return 1;
}

/* Worst relative error of logits rows [from, to) against transformers'. */
static double worst_rows(const golden *g, const float *got, int from, int to) {
    double worst = 0;
    for (int i = from; i < to; i++) {
        double e = rel_err_f(got + (size_t)i * g->V, g->want + (size_t)i * g->V, g->V);
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

/* Bytes of a sequence of n tokens from the fixtures' configs (scripts/gen_model_fixtures.py):
 * Mamba layers conv (K-1) + SSM states, attention K and V, MLA (kv_lora_rank + qk_rope) latents. */
static double arch_state_bytes(const char *name, int64_t n) {
    if (!strcmp(name, "mamba")) return 2.0 * (128 * 3 + 128 * 8) * 4;               /* d_inner 128, d_conv 4, d_state 8 */
    if (!strcmp(name, "mamba2")) return 2.0 * ((128 + 2 * 2 * 16) * 3 + 128 * 16) * 4; /* conv over x, B, C of 2 groups */
    if (!strcmp(name, "jamba")) return 2.0 * (128 * 3 + 128 * 8) * 4 + 2.0 * (double)n * 2 * 2 * 16 * 4;
    return 3.0 * (double)n * (32 + 8) * 4;                                           /* deepseek_v2 */
}

static void test_arch(const char *name) {
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/fixtures/models/%s", src_dir, name);
    golden g;
    if (!golden_read(dir, &g)) {
        printf("test_model: %s: no fixture at %s, skipped\n", name, dir);
        return;
    }
    lc_model *m = NULL;
    CHECK(lc_model_load(dir, &m) == LC_OK, "%s: load: %s", name, lc_last_error());
    if (!m) return free(g.tok), free(g.want);
    const int n = g.n, np = g.np, V = g.V;
    const int ssm = strstr(name, "mamba") != NULL, mla = !strcmp(name, "deepseek_v2");
    float *got = malloc(sizeof(float) * (size_t)n * V), *two = malloc(sizeof(float) * 2 * (size_t)V);
    lc_context_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.max_tokens = n + 8;

    /* a prefill in chunks of 10 tokens: Mamba states, MLA latents and KV carried between chunks */
    lc_context_config chunked = cfg;
    chunked.max_batch = 10;
    lc_status st = run_prefill(m, &chunked, g.tok, n, got);
    double w = worst_rows(&g, got, 0, n);
    CHECK(st == LC_OK && w < 1e-4, "%s: prefill in chunks of 10: %s, worst rel err %.3g", name, lc_last_error(), w);
    printf("test_model: %s: prefill of %d positions in chunks of 10, worst rel err vs transformers %.3g\n", name, n, w);

    /* the prompt, a fork, then both sequences decoded in one forward; the state bytes against
     * the wall and against the fixture's sizes at every length */
    lc_context *ctx = NULL;
    lc_context_config pair = cfg;
    pair.max_seqs = 2;
    CHECK(lc_context_create(m, &pair, &ctx) == LC_OK, "%s: context: %s", name, lc_last_error());
    if (ctx) {
        int a = -1, b = -1, bytes_ok = 1, same = 1;
        st = lc_context_seq_new(ctx, &a);
        if (!st) st = lc_context_prefill(ctx, a, g.tok, np, got, 0);
        if (!st) st = lc_context_seq_fork(ctx, a, &b);
        bytes_ok &= cost_matches(ctx, a, np) && cost_matches(ctx, b, np) && (double)lc_context_cache_bytes(ctx, b) == arch_state_bytes(name, np);
        for (int i = np; i < n && !st; i++) {
            int seqs[2] = {a, b};
            int32_t t[2] = {g.tok[i], g.tok[i]};
            st = lc_context_decode(ctx, 2, seqs, t, two);
            double e0 = rel_err_f(two, g.want + (size_t)i * V, V), e1 = rel_err_f(two + V, g.want + (size_t)i * V, V);
            same &= e0 < 1e-4 && e1 < 1e-4;
            bytes_ok &= cost_matches(ctx, a, i + 1) && (double)lc_context_cache_bytes(ctx, a) == arch_state_bytes(name, i + 1);
        }
        CHECK(st == LC_OK && same, "%s: two forked sequences decoded together: %s", name, lc_last_error());
        CHECK(bytes_ok, "%s: state bytes %zu at %lld tokens, the wall / the fixture's sizes say %.0f", name, lc_context_cache_bytes(ctx, a),
              (long long)lc_context_seq_len(ctx, a), arch_state_bytes(name, lc_context_seq_len(ctx, a)));
        printf("test_model: %s: %zu state bytes after %lld tokens (= the wall's), %zu allocated\n", name, lc_context_cache_bytes(ctx, a),
               (long long)lc_context_seq_len(ctx, a), lc_context_alloc_bytes(ctx));
        /* a freed sequence's slot starts from zero states and an empty latent cache */
        CHECK(lc_context_seq_remove(ctx, a) == LC_OK && lc_context_seq_new(ctx, &a) == LC_OK, "%s: free, new: %s", name, lc_last_error());
        st = lc_context_prefill(ctx, a, g.tok, np, got, 0);
        w = rel_err_f(got, g.want + (size_t)(np - 1) * V, V);
        CHECK(st == LC_OK && w < 1e-4, "%s: prefill on a reused sequence: %s, rel err %.3g", name, lc_last_error(), w);
        lc_context_destroy(ctx);
    }

    /* plans: what each architecture takes and refuses */
    lc_context_config bad = cfg;
    bad.window = 8;
    st = lc_context_config_check(m, &bad);
    if (ssm) CHECK(st == LC_EINVAL && strstr(lc_last_error(), "no attention layer"), "%s: window: %s", name, lc_last_error());
    else CHECK(st == LC_OK, "%s: window on the attention layers: %s", name, lc_last_error());
    bad = cfg, bad.kv_dtype = LC_INT8;
    st = lc_context_config_check(m, &bad);
    CHECK(ssm ? st != LC_OK : st == LC_OK, "%s: int8 cache: %s", name, lc_status_str(st));
    bad = cfg, bad.kv_layout = LC_KV_PAGED;
    st = lc_context_config_check(m, &bad);
    CHECK(ssm ? st == LC_EINVAL : st == LC_OK, "%s: paged: %s", name, lc_status_str(st));
    if (!strcmp(name, "jamba")) { /* a window on the attention layers: ring caches beside the Mamba states, as the wall counts */
        lc_context_config win = cfg;
        win.window = 8;
        lc_context *c2 = NULL;
        int seq = -1;
        st = lc_context_create(m, &win, &c2);
        if (!st) st = lc_context_seq_new(c2, &seq);
        if (!st) st = lc_context_prefill(c2, seq, g.tok, np, got, 0);
        CHECK(st == LC_OK && cost_matches(c2, seq, np) && (double)lc_context_cache_bytes(c2, seq) == arch_state_bytes(name, 8),
              "jamba: window 8: %s, %zu bytes", lc_last_error(), c2 ? lc_context_cache_bytes(c2, seq) : 0);
        lc_context_destroy(c2);
        lc_cost_problem p;
        lc_technique t;
        win = cfg, win.kv_dtype = LC_F16; /* f16 KV beside f32 states: runs, but the wall has one dtype */
        st = lc_context_create(m, &win, &c2);
        CHECK(st == LC_OK && lc_context_cost_problem(c2, &p, &t) == LC_EUNSUPPORTED, "jamba: f16 KV: %s", lc_last_error());
        lc_context_destroy(c2);
    }
    if (mla) { /* f16, int8 and fp8 latent caches: bytes as the wall says, logits near transformers' */
        const lc_mla_config *ml = &lc_model_config_of(m)->mla;
        const double per_token = arch_state_bytes(name, 1) / (4.0 * (double)(ml->rank + ml->rope)); /* MLA layers */
        const struct { lc_dtype t; double tol, bytes; } lat[] = {{LC_F16, 1e-2, arch_state_bytes(name, n) / 2},
                                                              {LC_INT8, 3e-2, arch_state_bytes(name, n) / 4 + 8.0 * per_token * (double)n},
                                                              {LC_FP8, 0.2, arch_state_bytes(name, n) / 4 + 8.0 * per_token * (double)n}};
        for (int i = 0; i < 3; i++) {
            lc_context_config lcfg = cfg;
            lcfg.kv_dtype = lat[i].t;
            lc_context *c2 = NULL;
            int seq = -1;
            st = lc_context_create(m, &lcfg, &c2);
            if (!st) st = lc_context_seq_new(c2, &seq);
            if (!st) st = lc_context_prefill(c2, seq, g.tok, n, got, 1);
            w = worst_rows(&g, got, 0, n);
            CHECK(st == LC_OK && w < lat[i].tol && cost_matches(c2, seq, n) && (double)lc_context_cache_bytes(c2, seq) == lat[i].bytes,
                  "deepseek_v2: %s latents: %s, worst rel err %.3g, %zu bytes (want %.0f)", lc_dtype_name(lat[i].t), lc_last_error(), w,
                  c2 ? lc_context_cache_bytes(c2, seq) : 0, lat[i].bytes);
            printf("test_model: deepseek_v2: %s latent cache, worst rel err vs transformers %.3g\n", lc_dtype_name(lat[i].t), w);
            lc_context_destroy(c2);
        }
        /* a window of 6 with 2 sinks: the prompt in one call (chunks of 6 inside) and token by
         * token give the same logits; after each decoded token the latents held are the wall's */
        lc_context_config wc = cfg;
        wc.window = 6, wc.sinks = 2;
        lc_context *cw = NULL, *ct = NULL;
        int sw = -1, stk = -1, same = 1, wall = 1;
        st = lc_context_create(m, &wc, &cw);
        if (!st) st = lc_context_create(m, &wc, &ct);
        if (!st) st = lc_context_seq_new(cw, &sw);
        if (!st) st = lc_context_seq_new(ct, &stk);
        if (!st) st = lc_context_prefill(cw, sw, g.tok, n, got, 1);
        for (int i = 0; i < n && !st; i++) {
            st = lc_context_decode(ct, 1, &stk, &g.tok[i], two);
            same &= rel_err_f(two, got + (size_t)i * V, V) < 1e-5;
            wall &= cost_matches(ct, stk, i + 1);
        }
        CHECK(st == LC_OK && same && wall && (double)lc_context_cache_bytes(ct, stk) == arch_state_bytes(name, 8),
              "deepseek_v2: window 6 + 2 sinks: %s, same %d, the wall's bytes %d", lc_last_error(), same, wall);
        lc_context_destroy(cw), lc_context_destroy(ct);
    }
    free(got), free(two), free(g.tok), free(g.want);
    lc_model_destroy(m);
}

/* A copy of fixture `name` in tmp_dir/tag whose config.json has `key` set to the JSON `value`
 * (two pairs at most; NULL ends them), the weights linked; dir receives its path. */
static void variant(const char *name, const char *tag, const char *const *kv, char *dir, size_t cap) {
    char src[1300], path[1400];
    snprintf(src, sizeof src, "%s/fixtures/models/%s", src_dir, name);
    snprintf(dir, cap, "%s/%s", tmp_dir, tag);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/config.json", src);
    char *text = slurp(path, NULL);
    cJSON *c = text ? cJSON_Parse(text) : NULL;
    free(text);
    for (int i = 0; c && kv[i]; i += 2) {
        cJSON_DeleteItemFromObjectCaseSensitive(c, kv[i]);
        cJSON_AddItemToObject(c, kv[i], cJSON_Parse(kv[i + 1]));
    }
    char *out = c ? cJSON_Print(c) : NULL;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (out) write_text(path, out);
    free(out), cJSON_Delete(c);
    char from[1400];
    snprintf(from, sizeof from, "%s/model.safetensors", src);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    if (symlink(from, path)) fprintf(stderr, "symlink %s failed\n", path);
}

static void test_arch_variants(void) {
    char dir[600];
    /* DeepSeek's group_limited_greedy, where the chosen groups hold the greedy top-2 (all groups
     * kept, or one expert per group): transformers' greedy logits */
    const char *g4[] = {"topk_method", "\"group_limited_greedy\"", "n_group", "4", "topk_group", "2", NULL};
    const char *g2[] = {"topk_method", "\"group_limited_greedy\"", "n_group", "2", "topk_group", "2", NULL};
    const char *const *groups[] = {g4, g2};
    char fx[1200];
    snprintf(fx, sizeof fx, "%s/fixtures/models/deepseek_v2", src_dir);
    golden g;
    if (golden_read(fx, &g)) {
        float *got = malloc(sizeof(float) * (size_t)g.n * g.V);
        for (int v = 0; v < 2; v++) {
            variant("deepseek_v2", v ? "ds_groups2" : "ds_groups4", groups[v], dir, sizeof dir);
            lc_model *m = NULL;
            lc_status st = lc_model_load(dir, &m);
            lc_context_config cfg;
            memset(&cfg, 0, sizeof cfg);
            cfg.max_tokens = g.n;
            if (!st) st = run_prefill(m, &cfg, g.tok, g.n, got);
            double w = st ? 1 : worst_rows(&g, got, 0, g.n);
            CHECK(st == LC_OK && w < 1e-4 && lc_model_config_of(m)->moe.groups == (v ? 2 : 4), "deepseek_v2 group_limited_greedy (%s): %s, %.3g",
                  groups[v][3], lc_last_error(), w);
            lc_model_destroy(m);
        }
        free(got), free(g.tok), free(g.want);
    }
    /* Mamba's time_step_rank "auto": ceil(hidden / 16) = 4, the fixture's */
    const char *dt_auto[] = {"time_step_rank", "\"auto\"", NULL};
    variant("mamba", "mamba_auto", dt_auto, dir, sizeof dir);
    lc_model *m = NULL;
    CHECK(lc_model_load(dir, &m) == LC_OK && lc_model_config_of(m)->ssm.dt_rank == 4, "mamba time_step_rank auto: %s", lc_last_error());
    lc_model_destroy(m);
    /* configs the weights or longctx do not fit: a status and a sentence naming the cause */
    struct {
        const char *name, *tag, *kv[4];
        lc_status want;
        const char *says;
    } bad[] = {
        {"deepseek_v2", "ds_noaux", {"topk_method", "\"noaux_tc\"", NULL, NULL}, LC_EUNSUPPORTED, "noaux_tc"},
        {"deepseek_v2", "ds_rank", {"kv_lora_rank", "16", NULL, NULL}, LC_EFORMAT, "kv_a_proj_with_mqa"},
        {"deepseek_v2", "ds_topk", {"num_experts_per_tok", "5", NULL, NULL}, LC_EFORMAT, "num_experts_per_tok"},
        {"jamba", "jamba_state", {"mamba_d_state", "16", NULL, NULL}, LC_EFORMAT, "x_proj"},
        {"jamba", "jamba_experts", {"num_experts", "3", NULL, NULL}, LC_EFORMAT, "router"},
        {"mamba2", "mamba2_heads", {"num_heads", "7", NULL, NULL}, LC_EFORMAT, "num_heads"},
        {"mamba2", "mamba2_groups", {"n_groups", "3", NULL, NULL}, LC_EFORMAT, "n_groups"},
        {"mamba2", "mamba2_limit", {"time_step_limit", "[0.5, 0.1]", NULL, NULL}, LC_EFORMAT, "time_step_limit"},
        {"mamba", "mamba_bias", {"use_bias", "true", NULL, NULL}, LC_EFORMAT, "in_proj.bias"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        variant(bad[i].name, bad[i].tag, bad[i].kv, dir, sizeof dir);
        expect_load(dir, bad[i].want, bad[i].says, bad[i].tag);
    }
}

/* The per-layer kinds and the wall's counts come from one reading of config.json: they agree
 * on every config in the fixtures (published ones and transformers' tiny ones). */
static void test_layer_kinds(void) {
    const char *files[] = {"config/llama-3.1-8b.json", "config/mistral-7b-v0.1.json", "config/gemma-2-9b.json", "config/jamba-v0.1.json",
                           "config/mamba-2.8b.json",   "config/layer-types.json",     "config/deepseek-v2.json", "models/gemma2/config.json",
                           "models/mistral/config.json", "models/qwen2/config.json",  "models/jamba/config.json", "models/llama/config.json"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[1300];
        snprintf(path, sizeof path, "%s/fixtures/%s", src_dir, files[f]);
        char *text = slurp(path, NULL);
        lc_model_shape m;
        if (!text || lc_model_from_config_text(text, path, 1e9, &m)) {
            CHECK(0, "%s: %s", files[f], text ? lc_last_error() : "unreadable");
            free(text);
            continue;
        }
        lc_layer_kind *k = malloc(sizeof *k * (size_t)m.layers);
        lc_status s = lc_model_layer_kinds_from_config_text(text, path, k, m.layers);
        int64_t attn = 0, local = 0;
        for (int64_t l = 0; l < m.layers && !s; l++) attn += k[l] != LC_LAYER_MAMBA, local += k[l] == LC_LAYER_SLIDING;
        CHECK(s == LC_OK && attn == m.attn_layers && local == m.local_layers, "%s: kinds give %lld attention / %lld sliding layers, the wall %lld / %lld (%s)",
              files[f], (long long)attn, (long long)local, (long long)m.attn_layers, (long long)m.local_layers, lc_last_error());
        CHECK(lc_model_layer_kinds_from_config_text(text, path, k, m.layers - 1) == LC_EINVAL, "%s: wrong layer count accepted", files[f]);
        free(k), free(text);
    }
    /* Qwen2 with use_sliding_window: layers from max_window_layers on slide */
    const char *q = "{\"model_type\": \"qwen2\", \"hidden_size\": 64, \"num_hidden_layers\": 6, \"num_attention_heads\": 4,"
                    " \"num_key_value_heads\": 2, \"use_sliding_window\": true, \"sliding_window\": 16, \"max_window_layers\": 4}";
    lc_layer_kind k[6];
    lc_model_shape m;
    CHECK(lc_model_from_config_text(q, "qwen2", 1e6, &m) == LC_OK && m.local_layers == 2 && m.window == 16, "qwen2 local layers %lld",
          (long long)m.local_layers);
    CHECK(lc_model_layer_kinds_from_config_text(q, "qwen2", k, 6) == LC_OK && k[3] == LC_LAYER_ATTENTION && k[4] == LC_LAYER_SLIDING &&
              k[5] == LC_LAYER_SLIDING,
          "qwen2 kinds");
}

int main(void) {
    uint64_t seed = test_seed("test_model");
    snprintf(src_dir, sizeof src_dir, "%s", __FILE__);
    char *slash = strrchr(src_dir, '/');
    if (slash) *slash = 0;
    else strcpy(src_dir, ".");
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/lc_model_XXXXXX");
    if (!mkdtemp(tmp_dir)) return fprintf(stderr, "mkdtemp failed\n"), 1;
    const char *golden[] = {"llama", "llama_yarn", "mistral", "qwen2", "gemma2", "mamba", "mamba2", "jamba", "deepseek_v2"};
    for (size_t i = 0; i < sizeof golden / sizeof golden[0]; i++) test_golden(golden[i]);
    const char *arch[] = {"mamba", "mamba2", "jamba", "deepseek_v2"};
    for (size_t i = 0; i < sizeof arch / sizeof arch[0]; i++) test_arch(arch[i]);
    test_arch_variants();
    test_layer_kinds();
    test_synthetic(seed);
    test_bf16_weights(seed);
    test_bad(seed);
    test_sampling();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    if (getenv("LONGCTX_TEST_KEEP")) printf("test_model: checkpoints kept in %s\n", tmp_dir); /* for trying `longctx run` */
    else if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmp_dir);
    return test_finish("test_model");
}
