/* longctx wall: what a context of n tokens costs with each long-context technique, for a
 * model (preset or config.json) on a device, and where each one hits the memory wall.
 * The numbers come from the library's cost model (include/longctx/cost.h, docs/cost-model.md);
 * this file parses flags and prints the table, CSV, JSON or plot. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "longctx.h"
#include "plot.h"

enum { MAX_LENGTHS = 64 };

typedef struct wall_opts {
    lc_cost_problem p;
    int64_t lengths[MAX_LENGTHS];
    int n_lengths;
    int use[LC_TECH_COUNT];
    double device;
    char device_name[64];
    int csv, json;
    const char *plot;
} wall_opts;

/* ---- formatting ---------------------------------------------------------------------------- */

static const char *fmt_bytes(double b, char *buf, int n) {
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB"};
    int u = 0;
    while (b >= 1024 && u < 7) b /= 1024, u++;
    snprintf(buf, (size_t)n, u == 0 ? "%.0f %s" : b < 10 ? "%.2f %s" : b < 100 ? "%.1f %s" : "%.0f %s", b, unit[u]);
    return buf;
}

static const char *fmt_si(double v, char *buf, int n) {
    static const char *unit[] = {"", "K", "M", "G", "T", "P", "E", "Z", "Y"};
    int u = 0;
    while (v >= 1000 && u < 8) v /= 1000, u++;
    snprintf(buf, (size_t)n, v < 10 ? "%.2f%s" : v < 100 ? "%.1f%s" : "%.0f%s", v, unit[u]);
    return buf;
}

/* Token counts in binary K/M/G when exact (1K = 1024), else plain. */
static const char *fmt_tokens(double t, char *buf, int n) {
    int64_t v = (int64_t)t;
    if (v >= (1 << 30) && v % (1 << 30) == 0) snprintf(buf, (size_t)n, "%lldG", (long long)(v >> 30));
    else if (v >= (1 << 20) && v % (1 << 20) == 0) snprintf(buf, (size_t)n, "%lldM", (long long)(v >> 20));
    else if (v >= 1024 && v % 1024 == 0) snprintf(buf, (size_t)n, "%lldK", (long long)(v >> 10));
    else snprintf(buf, (size_t)n, "%lld", (long long)v);
    return buf;
}

static const char *fmt_fit(int64_t fit, char *buf, int n) {
    if (fit < 0) return snprintf(buf, (size_t)n, "unbounded"), buf;
    if (fit == 0) return snprintf(buf, (size_t)n, "none: the weights alone do not fit"), buf;
    char t[32];
    if (fit >= 10000) snprintf(buf, (size_t)n, "%lld (%s)", (long long)fit, fmt_si((double)fit, t, sizeof t));
    else snprintf(buf, (size_t)n, "%lld", (long long)fit);
    return buf;
}

/* ---- parsing ------------------------------------------------------------------------------- */

static const char *cmd = "longctx wall";

static int fail(const char *what) {
    fprintf(stderr, "%s: %s\n", cmd, what);
    return ARGS_USAGE;
}

/* A config.json that cannot be read or is not one the wall can price: a run-time failure. */
static int fail_file(const char *what) {
    fprintf(stderr, "%s: %s\n", cmd, what);
    return ARGS_FAILED;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: longctx wall [--model NAME | --config config.json] [OPTIONS]\n"
            "  the memory and FLOPs of every long-context technique from 1K to 2M tokens, and the\n"
            "  longest context that fits next to the weights (formulas: docs/cost-model.md)\n"
            "\n"
            "  --model NAME          a preset (default llama-3.1-8b); --list shows them\n"
            "  --config FILE         a Hugging Face config.json instead (fields it lacks and transformers\n"
            "                        defaults are said on stderr)\n"
            "  --params N            parameter count for the weights (8B, 70.6B, 236e9); a config\n"
            "                        without it is counted from its shape (dense, MoE, MLA and Mamba)\n"
            "  --active-params N     parameters used per token (mixture of experts)\n"
            "  --lengths L           1K,4K,128K or 1K..2M (doubling); default 1K..2M\n"
            "  --batch B             sequences (default 1)\n"
            "  --gpu NAME | --mem M  device memory (default h100-80gb; --mem 80GB, 141GiB)\n"
            "  --score-dtype T       materialised scores (default f32)   T: f32 f16 bf16 int8 fp8 int4\n"
            "  --cache-dtype T       KV cache and recurrent states (default bf16)\n"
            "  --weight-dtype T      weights (default bf16)\n"
            "  --quant-dtype T       kv-quant's cache (default int4, groups of 32 with an fp16 scale;\n"
            "                        int8, fp8: one f32 scale per token and head, as lc_kv_cache)\n"
            "  --window W            sliding: keys per query (default the model's, else 4096)\n"
            "  --kv-heads K          gqa: KV heads (default the model's, else 8)\n"
            "  --techniques a,b      some of: native standard flash mha gqa mqa sliding longformer\n"
            "                        bigbird linear mamba mla kv-quant (default all that apply)\n"
            "  --csv | --json        machine-readable output on stdout instead of the table; max_context is\n"
            "                        the longest context that fits (0: not even the weights), \"unbounded\"\n"
            "                        in CSV and null with \"unbounded\": true in JSON when nothing walls it\n"
            "  --plot FILE           total memory vs length, log-log, .png or .svg\n"
            "  --list                the presets and GPUs\n"
            "exit status: 0 done; 1 the config cannot be read or priced, or the plot not written;\n"
            "2 a bad option or value\n");
}

static int set_dtype(const char *v, lc_dtype *out) {
    if (lc_dtype_parse(v, out)) return fail(lc_last_error());
    return 0;
}

static int parse_args(int argc, char **argv, wall_opts *o) {
    const char *model = "llama-3.1-8b", *config = NULL;
    double params = 0, active = 0;
    memset(o, 0, sizeof *o);
    for (int64_t n = 1024; n <= 2097152; n *= 2) o->lengths[o->n_lengths++] = n;
    const char *gpu = "h100-80gb", *mem = NULL, *techniques = NULL;
    const char *sd = NULL, *cd = NULL, *wd = NULL, *qd = NULL;
    int64_t batch = 1, window = 0, kv_heads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), -1;
        if (!strcmp(a, "--list")) {
            printf("presets:");
            for (const char *const *n = lc_model_preset_names(); *n; n++) printf(" %s", *n);
            printf("\ngpus:");
            for (const char *const *n = lc_cost_gpu_names(); *n; n++) printf(" %s", *n);
            printf("\n");
            return -1;
        }
        if (!strcmp(a, "--csv")) { o->csv = 1; continue; }
        if (!strcmp(a, "--json")) { o->json = 1; continue; }
        if (!v || v[0] == '\0') {
            fprintf(stderr, "longctx wall: unknown option or missing value: '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
        i++;
        int rc = 0;
        if (!strcmp(a, "--model")) model = v, config = NULL;
        else if (!strcmp(a, "--config")) config = v;
        else if (!strcmp(a, "--params")) rc = args_params(cmd, a, v, &params);
        else if (!strcmp(a, "--active-params")) rc = args_params(cmd, a, v, &active);
        else if (!strcmp(a, "--lengths")) {
            rc = args_counts(cmd, a, v, 1, LC_COST_MAX_TOKENS, o->lengths, MAX_LENGTHS, &o->n_lengths);
            for (int x = 1; !rc && x < o->n_lengths; x++) /* ascending, for the table and the plot's axis */
                for (int y = x; y > 0 && o->lengths[y] < o->lengths[y - 1]; y--) {
                    int64_t t = o->lengths[y];
                    o->lengths[y] = o->lengths[y - 1], o->lengths[y - 1] = t;
                }
        } else if (!strcmp(a, "--batch")) rc = args_count(cmd, a, v, 1, (int64_t)1 << 24, &batch);
        else if (!strcmp(a, "--window")) rc = args_count(cmd, a, v, 1, LC_COST_MAX_TOKENS, &window);
        else if (!strcmp(a, "--kv-heads")) rc = args_i64(cmd, a, v, 1, (int64_t)1 << 20, &kv_heads);
        else if (!strcmp(a, "--gpu")) gpu = v, mem = NULL;
        else if (!strcmp(a, "--mem")) mem = v;
        else if (!strcmp(a, "--score-dtype")) sd = v;
        else if (!strcmp(a, "--cache-dtype")) cd = v;
        else if (!strcmp(a, "--weight-dtype")) wd = v;
        else if (!strcmp(a, "--quant-dtype")) qd = v;
        else if (!strcmp(a, "--techniques")) techniques = v;
        else if (!strcmp(a, "--plot")) o->plot = v;
        else {
            fprintf(stderr, "longctx wall: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
        if (rc) return rc;
    }
    if (o->csv && o->json) return fail("--csv and --json exclude each other");
    if (o->plot && !plot_path_ok(o->plot)) return fail("--plot: the file name must end in .png or .svg");
    lc_model_shape m;
    if (config) {
        char notes[512] = "";
        if (lc_model_from_config_file_noted(config, params, &m, notes, sizeof notes)) return fail_file(lc_last_error());
        if (*notes) fprintf(stderr, "%s: %s\n", cmd, notes);
    } else if (lc_model_preset(model, &m)) {
        return fail(lc_last_error());
    }
    if (params > 0) m.params = params, m.active_params = params < m.active_params ? params : m.active_params;
    if (active > 0) m.active_params = active;
    if (m.active_params > m.params) return fail("--active-params must not exceed the parameter count");
    lc_cost_defaults(&o->p, &m);
    o->p.batch = batch;
    if (window) o->p.window = window;
    if (kv_heads) o->p.gqa_kv_heads = kv_heads;
    int rc;
    if ((sd && (rc = set_dtype(sd, &o->p.score_dtype))) || (cd && (rc = set_dtype(cd, &o->p.cache_dtype))) ||
        (wd && (rc = set_dtype(wd, &o->p.weight_dtype))) || (qd && (rc = set_dtype(qd, &o->p.quant_dtype))))
        return rc;
    if (o->p.quant_dtype != LC_INT4 && o->p.quant_dtype != LC_INT8 && o->p.quant_dtype != LC_FP8)
        return fail("--quant-dtype must be int4, int8 or fp8");
    if (lc_cost_check(&o->p)) return fail(lc_last_error());
    if (mem) {
        if (lc_cost_parse_bytes(mem, &o->device)) return fail(lc_last_error());
        if (!(o->device >= 1) || o->device > 1e18) return fail("--mem must be a memory size in [1 B, 1 EB] like 80GB or 141GiB");
        snprintf(o->device_name, sizeof o->device_name, "memory");
    } else {
        if (lc_cost_gpu_memory(gpu, &o->device)) return fail(lc_last_error());
        snprintf(o->device_name, sizeof o->device_name, "%s", gpu);
    }
    if (techniques) {
        char buf[512];
        snprintf(buf, sizeof buf, "%s", techniques);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            lc_technique k;
            if (lc_technique_parse(t, &k)) return fail(lc_last_error());
            if (!lc_cost_applies(&o->p, k)) {
                fprintf(stderr, "longctx wall: technique %s needs attention heads; %s has none\n", t, m.name);
                return 2;
            }
            o->use[k] = 1;
        }
    } else {
        for (int k = 0; k < LC_TECH_COUNT; k++) o->use[k] = lc_cost_applies(&o->p, (lc_technique)k);
    }
    return 0;
}

/* ---- outputs -------------------------------------------------------------------------------- */

static void describe(const wall_opts *o, FILE *f) {
    const lc_model_shape *m = &o->p.model;
    char b1[32], b2[32];
    fprintf(f, "model %s: %lld layers", m->name, (long long)m->layers);
    if (m->attn_layers > 0)
        fprintf(f, " (%lld attention, %lld heads, %lld KV heads, head dim %lld/%lld", (long long)m->attn_layers, (long long)m->heads,
                (long long)m->kv_heads, (long long)m->head_dim_k, (long long)m->head_dim_v);
    if (m->local_layers > 0) fprintf(f, ", %lld with a %lld-token window", (long long)m->local_layers, (long long)m->window);
    if (m->kv_lora_rank > 0) fprintf(f, ", MLA latent %lld + %lld", (long long)m->kv_lora_rank, (long long)m->qk_rope_dim);
    if (m->attn_layers > 0) fprintf(f, ")");
    if (m->layers > m->attn_layers)
        fprintf(f, ", %lld Mamba (d_inner %lld, d_state %lld)", (long long)(m->layers - m->attn_layers), (long long)m->ssm_inner,
                (long long)m->ssm_state);
    fprintf(f, ", %s params", fmt_si(m->params, b1, sizeof b1));
    if (m->active_params < m->params) fprintf(f, " (%s active)", fmt_si(m->active_params, b2, sizeof b2));
    fprintf(f, "\ndevice %s = %s; batch %lld; weights %s, scores %s, cache %s\n", o->device_name, fmt_bytes(o->device, b1, sizeof b1),
            (long long)o->p.batch, lc_dtype_name(o->p.weight_dtype), lc_dtype_name(o->p.score_dtype), lc_dtype_name(o->p.cache_dtype));
}

static void print_table(const wall_opts *o, const int64_t *fits) {
    describe(o, stdout);
    printf("\n%-10s %6s %10s %10s %10s %10s %10s %9s %9s %10s %4s\n", "technique", "n", "scores/hd", "scores/lyr", "scores/mdl", "KV/state",
           "total mem", "prefill", "decode", "dec.bytes", "fits");
    printf("%-10s %6s %10s %10s %10s %10s %10s %9s %9s %10s %4s\n", "", "tokens", "one head", "one layer", "all layers", "", "+weights",
           "FLOP", "FLOP/tok", "read/tok", "");
    for (int k = 0; k < LC_TECH_COUNT; k++) {
        if (!o->use[k]) continue;
        printf("%.*s\n", 106, "----------------------------------------------------------------------------------------------------------------");
        for (int li = 0; li < o->n_lengths; li++) {
            lc_cost_row r;
            lc_cost_eval(&o->p, (lc_technique)k, o->lengths[li], &r);
            char n[32], s1[32] = "-", s2[32] = "-", s3[32] = "-", c[32], t[32], pf[32], df[32], db[32];
            if (r.score_matrix_bytes > 0) {
                fmt_bytes(r.score_matrix_bytes, s1, sizeof s1);
                fmt_bytes(r.score_layer_bytes, s2, sizeof s2);
                fmt_bytes(r.score_model_bytes, s3, sizeof s3);
            }
            printf("%-10s %6s %10s %10s %10s %10s %10s %9s %9s %10s %4s\n", li == 0 ? lc_technique_name((lc_technique)k) : "",
                   fmt_tokens((double)o->lengths[li], n, sizeof n), s1, s2, s3, fmt_bytes(r.cache_bytes, c, sizeof c),
                   fmt_bytes(r.total_bytes, t, sizeof t), fmt_si(r.prefill_flops, pf, sizeof pf), fmt_si(r.decode_flops, df, sizeof df),
                   fmt_bytes(r.decode_bytes, db, sizeof db), r.total_bytes <= o->device ? "yes" : "NO");
        }
    }
    char b[32];
    printf("\nthe wall: the longest context that fits in %s next to %s of weights\n", fmt_bytes(o->device, b, sizeof b),
           fmt_bytes(o->p.model.params * lc_dtype_bytes(o->p.weight_dtype), (char[32]){0}, 32));
    for (int k = 0; k < LC_TECH_COUNT; k++) {
        if (!o->use[k]) continue;
        char f[80];
        printf("  %-10s %s\n", lc_technique_name((lc_technique)k), fmt_fit(fits[k], f, sizeof f));
    }
}

static void print_csv(const wall_opts *o, const int64_t *fits) {
    printf("technique,n,pairs_per_head,score_matrix_bytes,score_layer_bytes,score_model_bytes,workspace_bytes,cache_bytes,weight_bytes,"
           "total_bytes,prefill_flops,decode_flops,decode_bytes,fits,max_context\n");
    for (int k = 0; k < LC_TECH_COUNT; k++) {
        if (!o->use[k]) continue;
        for (int li = 0; li < o->n_lengths; li++) {
            lc_cost_row r;
            lc_cost_eval(&o->p, (lc_technique)k, o->lengths[li], &r);
            char fit[32] = "unbounded"; /* no wall up to 2^40 tokens */
            if (fits[k] >= 0) snprintf(fit, sizeof fit, "%lld", (long long)fits[k]);
            printf("%s,%lld,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%d,%s\n", lc_technique_name((lc_technique)k),
                   (long long)o->lengths[li], r.pairs, r.score_matrix_bytes, r.score_layer_bytes, r.score_model_bytes, r.workspace_bytes,
                   r.cache_bytes, r.weight_bytes, r.total_bytes, r.prefill_flops, r.decode_flops, r.decode_bytes,
                   r.total_bytes <= o->device, fit);
        }
    }
}

static void print_json(const wall_opts *o, const int64_t *fits) {
    const lc_model_shape *m = &o->p.model;
    cJSON *root = cJSON_CreateObject(), *jm = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(jm, "name", m->name);
    struct {
        const char *k;
        int64_t v;
    } ints[] = {{"layers", m->layers},       {"attn_layers", m->attn_layers}, {"local_layers", m->local_layers}, {"window", m->window},
                {"hidden", m->hidden},       {"heads", m->heads},             {"kv_heads", m->kv_heads},         {"head_dim_k", m->head_dim_k},
                {"head_dim_v", m->head_dim_v}, {"kv_lora_rank", m->kv_lora_rank}, {"qk_rope_dim", m->qk_rope_dim}, {"ssm_inner", m->ssm_inner},
                {"ssm_state", m->ssm_state}, {"ssm_conv", m->ssm_conv}, {"ssm_conv_dim", m->ssm_conv_dim}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) cJSON_AddNumberToObject(jm, ints[i].k, (double)ints[i].v);
    cJSON_AddNumberToObject(jm, "params", m->params);
    cJSON_AddNumberToObject(jm, "active_params", m->active_params);
    cJSON_AddStringToObject(root, "device", o->device_name);
    cJSON_AddNumberToObject(root, "device_bytes", o->device);
    cJSON_AddNumberToObject(root, "batch", (double)o->p.batch);
    cJSON_AddStringToObject(root, "score_dtype", lc_dtype_name(o->p.score_dtype));
    cJSON_AddStringToObject(root, "cache_dtype", lc_dtype_name(o->p.cache_dtype));
    cJSON_AddStringToObject(root, "weight_dtype", lc_dtype_name(o->p.weight_dtype));
    cJSON *techs = cJSON_AddArrayToObject(root, "techniques");
    for (int k = 0; k < LC_TECH_COUNT; k++) {
        if (!o->use[k]) continue;
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "name", lc_technique_name((lc_technique)k));
        if (fits[k] >= 0) cJSON_AddNumberToObject(t, "max_context", (double)fits[k]); /* 0: the weights alone do not fit */
        else cJSON_AddNullToObject(t, "max_context");                                  /* no wall up to 2^40 tokens */
        cJSON_AddBoolToObject(t, "unbounded", fits[k] < 0);
        cJSON *rows = cJSON_AddArrayToObject(t, "rows");
        for (int li = 0; li < o->n_lengths; li++) {
            lc_cost_row r;
            lc_cost_eval(&o->p, (lc_technique)k, o->lengths[li], &r);
            cJSON *j = cJSON_CreateObject();
            cJSON_AddNumberToObject(j, "n", (double)o->lengths[li]);
            cJSON_AddNumberToObject(j, "pairs_per_head", r.pairs);
            cJSON_AddNumberToObject(j, "score_matrix_bytes", r.score_matrix_bytes);
            cJSON_AddNumberToObject(j, "score_layer_bytes", r.score_layer_bytes);
            cJSON_AddNumberToObject(j, "score_model_bytes", r.score_model_bytes);
            cJSON_AddNumberToObject(j, "workspace_bytes", r.workspace_bytes);
            cJSON_AddNumberToObject(j, "cache_bytes", r.cache_bytes);
            cJSON_AddNumberToObject(j, "weight_bytes", r.weight_bytes);
            cJSON_AddNumberToObject(j, "total_bytes", r.total_bytes);
            cJSON_AddNumberToObject(j, "prefill_flops", r.prefill_flops);
            cJSON_AddNumberToObject(j, "decode_flops", r.decode_flops);
            cJSON_AddNumberToObject(j, "decode_bytes", r.decode_bytes);
            cJSON_AddBoolToObject(j, "fits", r.total_bytes <= o->device);
            cJSON_AddItemToArray(rows, j);
        }
        cJSON_AddItemToArray(techs, t);
    }
    char *text = cJSON_Print(root);
    printf("%s\n", text);
    free(text);
    cJSON_Delete(root);
}

static const char *fmt_tokens_axis(double v, char *buf, int n) { return fmt_tokens(v, buf, n); }
static const char *fmt_bytes_axis(double v, char *buf, int n) { /* powers of two: "16 GiB", not "16.0 GiB" */
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB"};
    int u = 0;
    while (v >= 1024 && u < 7) v /= 1024, u++;
    snprintf(buf, (size_t)n, "%.0f %s", v, unit[u]);
    return buf;
}

static int draw_plot(const wall_opts *o, const int64_t *fits) {
    plot_file *pf = plot_open(o->plot, 1200, 760);
    if (!pf) return 1;
    cairo_t *cr = plot_cairo(pf);
    double x[MAX_LENGTHS], y[LC_TECH_COUNT][MAX_LENGTHS], ymin = o->device, ymax = o->device;
    for (int k = 0; k < LC_TECH_COUNT; k++)
        for (int li = 0; o->use[k] && li < o->n_lengths; li++) {
            lc_cost_row r;
            lc_cost_eval(&o->p, (lc_technique)k, o->lengths[li], &r);
            x[li] = (double)o->lengths[li];
            y[k][li] = r.total_bytes;
            if (r.total_bytes < ymin) ymin = r.total_bytes;
            if (r.total_bytes > ymax) ymax = r.total_bytes;
        }
    double xmin = x[0], xmax = x[o->n_lengths - 1];
    if (xmax <= xmin) xmax = xmin * 2;
    plot_chart c = {cr, 110, 60, 800, 610, xmin, xmax, ldexp(1, (int)floor(log2(ymin * 0.7))), ldexp(1, (int)ceil(log2(ymax * 1.5)))};
    char title[256], dev[64], lbl[160];
    snprintf(title, sizeof title, "The wall: %s, batch %lld, %s cache, %s weights", o->p.model.name, (long long)o->p.batch,
             lc_dtype_name(o->p.cache_dtype), lc_dtype_name(o->p.weight_dtype));
    plot_axes(&c, title, "context length (tokens)", "memory: weights + KV cache/state + attention workspace", fmt_tokens_axis, fmt_bytes_axis);
    const char *names[LC_TECH_COUNT];
    char name_buf[LC_TECH_COUNT][64];
    int colors[LC_TECH_COUNT], n_names = 0, slot = 0;
    for (int k = 0; k < LC_TECH_COUNT; k++) {
        if (!o->use[k]) continue;
        plot_line(&c, x, y[k], o->n_lengths, k);
        char f[32];
        if (fits[k] < 0) snprintf(f, sizeof f, "no wall");
        else if (fits[k] == 0) snprintf(f, sizeof f, "weights do not fit");
        else snprintf(f, sizeof f, "wall at "), fmt_si((double)fits[k], f + 8, (int)sizeof f - 8);
        snprintf(name_buf[k], sizeof name_buf[k], "%s (%s)", lc_technique_name((lc_technique)k), f);
        names[n_names] = name_buf[k], colors[n_names++] = k;
    }
    snprintf(lbl, sizeof lbl, "%s: %s", o->device_name, fmt_bytes(o->device, dev, sizeof dev));
    plot_hline(&c, o->device, lbl, 1);
    double weights = o->p.model.params * lc_dtype_bytes(o->p.weight_dtype);
    snprintf(lbl, sizeof lbl, "weights: %s", fmt_bytes(weights, dev, sizeof dev));
    if (weights >= c.ymin) plot_hline(&c, weights, lbl, 0);
    /* the crossings, in the order of their length, labels stacked when close */
    int order[LC_TECH_COUNT], n_order = 0;
    for (int k = 0; k < LC_TECH_COUNT; k++)
        if (o->use[k] && fits[k] > 0 && (double)fits[k] >= xmin && (double)fits[k] <= xmax) order[n_order++] = k;
    for (int a = 1; a < n_order; a++) /* insertion sort by length */
        for (int b = a; b > 0 && fits[order[b]] < fits[order[b - 1]]; b--) {
            int t = order[b];
            order[b] = order[b - 1], order[b - 1] = t;
        }
    double last_px = -1e9;
    for (int i = 0; i < n_order; i++) {
        int k = order[i];
        if (i > 0 && fits[k] == fits[order[i - 1]]) continue; /* one marker where curves coincide */
        double px = plot_x(&c, (double)fits[k]);
        slot = px - last_px < 70 ? slot + 1 : 0;
        last_px = px;
        char f[32];
        plot_marker(&c, (double)fits[k], o->device, k, fmt_si((double)fits[k], f, sizeof f), slot);
    }
    plot_legend(cr, c.left + c.width + 12, c.top, names, colors, n_names);
    return plot_close(pf) ? 1 : 0;
}

int cmd_wall(int argc, char **argv) {
    wall_opts o;
    int rc = parse_args(argc, argv, &o); /* -1: --help or --list, printed */
    if (rc) return rc < 0 ? 0 : rc;
    int64_t fits[LC_TECH_COUNT];
    for (int k = 0; k < LC_TECH_COUNT; k++) {
        if (!o.use[k]) continue;
        if (lc_cost_max_context(&o.p, (lc_technique)k, o.device, &fits[k])) return fail_file(lc_last_error());
        for (int li = 0; li < o.n_lengths; li++) { /* every row the outputs print, evaluated and finite before any is printed */
            lc_cost_row r;
            if (lc_cost_eval(&o.p, (lc_technique)k, o.lengths[li], &r)) return fail_file(lc_last_error());
            const double v[] = {r.pairs, r.score_matrix_bytes, r.score_layer_bytes, r.score_model_bytes, r.workspace_bytes, r.cache_bytes,
                                r.weight_bytes, r.total_bytes, r.prefill_flops, r.decode_flops, r.decode_bytes};
            for (size_t x = 0; x < sizeof v / sizeof v[0]; x++)
                if (!isfinite(v[x]) || v[x] < 0) {
                    fprintf(stderr, "%s: %s at n=%lld gives a cost of %g: the shape is too large to price\n", cmd, lc_technique_name((lc_technique)k),
                            (long long)o.lengths[li], v[x]);
                    return ARGS_FAILED;
                }
        }
    }
    if (o.csv) print_csv(&o, fits);
    else if (o.json) print_json(&o, fits);
    else print_table(&o, fits);
    if (o.plot) {
        if (draw_plot(&o, fits)) return 1;
        fprintf(stderr, "longctx wall: wrote %s\n", o.plot);
    }
    return 0;
}
