/* longctx recall: the recall-versus-memory frontier. For each model x technique, recall (mean
 * over depths) against the KV / state bytes per token and the time per token at each length:
 * runs the niah grid of every model, or reads the JSON files longctx niah wrote (--inputs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "bench_util.h"
#include "commands.h"
#include "longctx.h"
#include "niah_grid.h"
#include "plot.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: longctx recall (--models DIR,DIR,... | --inputs NIAH.json,...) [OPTIONS]\n"
            "  the recall frontier: every model x technique, recall (mean over depths) against KV cache / state\n"
            "  bytes per token and against prefill time per token, at each length (docs/recall.md). A table on\n"
            "  stdout, the figure with --plot, everything with --json.\n"
            "\n"
            "  --models LIST        checkpoint directories (NAME=DIR to name one), comma-separated: each runs the\n"
            "                       niah grid below with every technique (plans a model refuses are skipped)\n"
            "  --inputs LIST        instead: JSON files written by longctx niah --json, comma-separated\n"
            "  --technique T        repeatable (default full); as longctx niah\n"
            "  --lengths, --depths, --keys, --values, --samples, --seed, --max-new, --threads, --batch\n"
            "                       as longctx niah (defaults 1K..8K, 0..100:10, 1, 1, 1, 0)\n"
            "  --json FILE          the frontier table and every model's grid\n"
            "  --plot FILE          the frontier figure (.png or .svg)\n"
            "  --quiet              no progress lines on stderr\n");
}

static int fail(const char *what) {
    fprintf(stderr, "longctx recall: %s\n", what);
    return 2;
}

/* Splits a comma list into a malloc'd copy and pointers into it. */
static int split(const char *text, char **copy, char *items[], int max) {
    int n = 0;
    *copy = strdup(text);
    if (!*copy) return -1;
    for (char *p = *copy; *p && n < max;) {
        char *e = strchr(p, ',');
        if (e) *e = 0;
        if (!*p) return -1;
        items[n++] = p;
        if (!e) break;
        p = e + 1;
    }
    return n;
}

static void print_table(const niah_grid *gs, int n, FILE *f) {
    fprintf(f, "| model | technique | length | recall | state B/token | prefill ms/token | decode ms/token |\n|---|---|---|---|---|---|---|\n");
    for (int gi = 0; gi < n; gi++)
        for (int ti = 0; ti < gs[gi].n_tech; ti++) {
            const niah_tech *T = &gs[gi].tech[ti];
            if (T->refused[0]) {
                fprintf(f, "| %s | %s | - | refused | | | |\n", gs[gi].label, T->tech.name);
                continue;
            }
            for (int li = 0; T->by_length && li < gs[gi].n_lengths; li++) {
                const niah_summary *s = &T->by_length[li];
                if (!s->cells) continue;
                fprintf(f, "| %s | %s | %lld | %.3f | %.1f | %.4f | %.3f |\n", gs[gi].label, T->tech.name, (long long)s->length, s->recall,
                        s->bytes_per_token, 1e3 * s->prefill_s_per_token, 1e3 * s->decode_s_per_token);
            }
        }
}

static cJSON *frontier_json(const niah_grid *gs, int n) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "command", "recall");
    cJSON *rows = cJSON_AddArrayToObject(j, "frontier");
    for (int gi = 0; gi < n; gi++)
        for (int ti = 0; ti < gs[gi].n_tech; ti++) {
            const niah_tech *T = &gs[gi].tech[ti];
            for (int li = 0; !T->refused[0] && T->by_length && li < gs[gi].n_lengths; li++) {
                const niah_summary *s = &T->by_length[li];
                if (!s->cells) continue;
                cJSON *o = cJSON_CreateObject();
                cJSON_AddItemToArray(rows, o);
                cJSON_AddStringToObject(o, "model", gs[gi].label);
                cJSON_AddStringToObject(o, "model_type", gs[gi].model_type);
                cJSON_AddStringToObject(o, "technique", T->tech.name);
                cJSON_AddNumberToObject(o, "length", (double)s->length);
                cJSON_AddNumberToObject(o, "recall", s->recall);
                cJSON_AddNumberToObject(o, "state_bytes_per_token", s->bytes_per_token);
                cJSON_AddNumberToObject(o, "prefill_s_per_token", s->prefill_s_per_token);
                cJSON_AddNumberToObject(o, "decode_s_per_token", s->decode_s_per_token);
            }
        }
    cJSON *ms = cJSON_AddArrayToObject(j, "models");
    for (int gi = 0; gi < n; gi++) cJSON_AddItemToArray(ms, niah_grid_json(&gs[gi]));
    return j;
}

int cmd_recall(int argc, char **argv) {
    const char *models = NULL, *inputs = NULL, *lengths = "1K..8K", *depths = "0..100:10", *json = NULL, *plot = NULL;
    const char *techs[64];
    int nt = 0, quiet = 0, keys = 0, values = 0, samples = 1;
    uint64_t seed = 0;
    lc_niah_run_config rc = {0, 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), 0;
        if (!strcmp(a, "--quiet")) { quiet = 1; continue; }
        if (!v || strncmp(a, "--", 2)) {
            fprintf(stderr, "longctx recall: unknown option or missing value: '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(a, "--models")) models = v;
        else if (!strcmp(a, "--inputs")) inputs = v;
        else if (!strcmp(a, "--lengths")) lengths = v;
        else if (!strcmp(a, "--depths")) depths = v;
        else if (!strcmp(a, "--technique")) { if (nt == 64) return fail("at most 64 techniques"); techs[nt++] = v; }
        else if (!strcmp(a, "--keys")) { if (args_int("longctx recall", a, v, 1, 64, &keys)) return 2; }
        else if (!strcmp(a, "--values")) { if (args_int("longctx recall", a, v, 1, LC_NIAH_MAX_NEEDLES, &values)) return 2; }
        else if (!strcmp(a, "--samples")) { if (args_int("longctx recall", a, v, 1, 100000, &samples)) return 2; }
        else if (!strcmp(a, "--seed")) { if (args_u64("longctx recall", a, v, &seed)) return 2; }
        else if (!strcmp(a, "--max-new")) { if (args_int("longctx recall", a, v, 1, 100000, &rc.max_new)) return 2; }
        else if (!strcmp(a, "--threads")) { if (args_int("longctx recall", a, v, 1, ARGS_MAX_THREADS, &rc.threads)) return 2; }
        else if (!strcmp(a, "--batch")) { if (args_i64("longctx recall", a, v, 1, 1 << 20, &rc.max_batch)) return 2; }
        else if (!strcmp(a, "--json")) json = v;
        else if (!strcmp(a, "--plot")) { if (!plot_path_ok(v)) return fail("--plot must name a .png or .svg file"); plot = v; }
        else {
            fprintf(stderr, "longctx recall: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!!models + !!inputs != 1) return fail("give --models DIR,... or --inputs NIAH.json,... (one of them)");
    if (nt == 0) techs[nt++] = "full";
    lc_recall_technique probe;
    for (int i = 0; i < nt; i++)
        if (lc_recall_technique_parse(techs[i], &probe)) {
            fprintf(stderr, "longctx recall: --technique %s: %s\n", techs[i], lc_last_error());
            return 2;
        }
    char *copy = NULL, *items[64];
    int n = split(models ? models : inputs, &copy, items, 64);
    if (n < 1) return free(copy), fail("the list of models or inputs is empty or has an empty item");
    niah_grid *gs = calloc((size_t)n, sizeof(niah_grid));
    if (!gs) return free(copy), fail("out of memory");
    int rcode = 0, made = 0;
    for (int gi = 0; gi < n && !rcode; gi++) {
        niah_grid *g = &gs[gi];
        if (inputs) {
            cJSON *j = niah_read_json(items[gi]);
            rcode = !j || niah_grid_from_json(j, items[gi], g) ? 1 : 0;
            cJSON_Delete(j);
            made += !rcode;
            continue;
        }
        char *dir = items[gi], *eq = strchr(items[gi], '=');
        const char *label = NULL;
        if (eq) *eq = 0, label = items[gi], dir = eq + 1;
        g->samples = samples, g->keys = keys, g->values = values, g->seed = seed;
        if (niah_parse_lengths(lengths, &g->lengths, &g->n_lengths) || niah_parse_depths(depths, &g->depths, &g->n_depths)) {
            rcode = 2;
            break;
        }
        made++;
        if (!(g->tech = calloc((size_t)nt, sizeof(niah_tech)))) { rcode = 1; break; }
        g->n_tech = nt;
        for (int i = 0; i < nt; i++) lc_recall_technique_parse(techs[i], &g->tech[i].tech);
        lc_model *m = NULL;
        lc_tokenizer *t = NULL;
        bench_blas_warn("longctx recall"); /* measured once, said once */
        if (lc_model_load(dir, &m) || lc_tokenizer_load(dir, &t)) {
            fprintf(stderr, "longctx recall: cannot load '%s': %s\n", dir, lc_last_error());
            lc_model_destroy(m);
            rcode = 1;
            break;
        }
        const lc_model_config *mc = lc_model_config_of(m);
        lc_model_info info;
        lc_model_get_info(m, &info);
        snprintf(g->model, sizeof g->model, "%s", dir);
        if (label) snprintf(g->label, sizeof g->label, "%s", label);
        else {
            size_t len = strlen(dir), b;
            while (len > 1 && dir[len - 1] == '/') len--;
            for (b = len; b > 0 && dir[b - 1] != '/';) b--;
            snprintf(g->label, sizeof g->label, "%.*s", (int)(len - b), dir + b);
        }
        snprintf(g->model_type, sizeof g->model_type, "%s", mc->model_type);
        g->params = info.params, g->train_length = mc->max_pos;
        if (!quiet) fprintf(stderr, "longctx recall: %s (%s)\n", g->label, g->model_type);
        rcode = niah_grid_run(g, m, t, &rc, quiet);
        lc_tokenizer_destroy(t);
        lc_model_destroy(m);
    }
    if (!rcode) {
        print_table(gs, n, stdout);
        if (plot && niah_plot_frontier(gs, n, plot)) rcode = 1;
        else if (plot && !quiet) fprintf(stderr, "longctx recall: wrote %s\n", plot);
        if (!rcode && json && niah_write_json(frontier_json(gs, n), json)) rcode = 1;
        else if (json && !quiet && !rcode) fprintf(stderr, "longctx recall: wrote %s\n", json);
    }
    for (int gi = 0; gi < made; gi++) niah_grid_free(&gs[gi]);
    free(gs), free(copy);
    return rcode;
}
