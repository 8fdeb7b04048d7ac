/* longctx niah: needle-in-a-haystack recall of one checkpoint under each technique, over a
 * grid of prompt lengths and needle depths (include/longctx/recall.h, docs/recall.md); or,
 * with --parity, longctx's greedy answers to a file of prompts against PyTorch's. */
#include <errno.h>
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
            "usage: longctx niah --model DIR [OPTIONS]\n"
            "       longctx niah --model DIR --parity FILE\n"
            "  needle in a haystack: prompts of exact token lengths made of seeded filler, needles (a key and a\n"
            "  7-digit value) with the asked one at each depth, and a question; the model's greedy answer scores\n"
            "  1 when it holds the value (docs/recall.md). Each cell records the KV / state bytes and the time.\n"
            "\n"
            "  --model DIR          checkpoint directory with its tokenizer.json\n"
            "  --label NAME         the model's name in tables and plots (default: the directory's name)\n"
            "  --train-length N     the training length named in titles (default: max_position_embeddings)\n"
            "  --lengths LIST       prompt tokens: 4096, 4K, doubling ranges 1K..32K, comma-separated (default 1K..8K)\n"
            "  --depths LIST        percents: 50, ranges with a step 0..100:10 (default), comma-separated\n"
            "  --technique T        repeatable (default full): full, window:W, sinks:S,W, kv:int8, kv:fp8, kv:f16,\n"
            "                       rope:TYPE:F (linear or pi, ntk, dynamic, yarn, llama3), rag:K[,CHUNK],\n"
            "                       knn:K or blocks:K[,B] (retrieval beyond a window: window:64+knn:16);\n"
            "                       joined by '+' (sinks:4,252+kv:int8)\n"
            "  --keys K             MK-NIAH: K needles of distinct keys, one asked (default 1)\n"
            "  --values V           MV-NIAH: V values of the asked key, all asked (default 1)\n"
            "  --samples N          prompts per cell, seeds seed..seed+N-1 (default 1)\n"
            "  --seed S             default 0\n"
            "  --max-new N          answer tokens at most (default 9 per value + 2)\n"
            "  --threads N          context threads (default: all)\n"
            "  --batch N            prompt tokens per forward (default 512)\n"
            "  --json FILE          every cell, the per-length summaries (for longctx recall --inputs)\n"
            "  --plot FILE          depth x length heatmaps, one panel per technique (.png or .svg)\n"
            "  --quiet              no progress lines on stderr\n"
            "  --parity FILE        prompts with PyTorch's greedy answers (scripts/train_recall_models.py writes\n"
            "                       parity.json): longctx answers each and the ids are compared\n");
}

static int fail(const char *what) {
    fprintf(stderr, "longctx niah: %s\n", what);
    return 2;
}

static void base_name(const char *dir, char *out, size_t cap) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && dir[b - 1] != '/') b--;
    snprintf(out, cap, "%.*s", (int)(n - b), dir + b);
}

/* --parity: {"prompts": [{"ids": [...], "generated_ids": [...], "expected": ["1234567"], ...}], "max_new": N} */
static int parity(const lc_model *m, const lc_tokenizer *t, const char *path, const lc_niah_run_config *rc, const char *json_out) {
    cJSON *j = niah_read_json(path);
    if (!j) return 1;
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(j, "prompts");
    if (!cJSON_IsArray(ps)) return cJSON_Delete(j), fprintf(stderr, "longctx niah: %s has no \"prompts\" array\n", path), 1;
    const cJSON *mn = cJSON_GetObjectItemCaseSensitive(j, "max_new");
    int max_new = cJSON_IsNumber(mn) && mn->valueint > 0 ? mn->valueint : 16;
    int n = cJSON_GetArraySize(ps), same = 0, rc_ = 0, tok_diff = 0;
    double lc_recall = 0, pt_recall = 0;
    cJSON *out = cJSON_CreateArray();
    for (int i = 0; i < n && !rc_; i++) {
        const cJSON *p = cJSON_GetArrayItem(ps, i), *ids = cJSON_GetObjectItemCaseSensitive(p, "ids");
        const cJSON *gen = cJSON_GetObjectItemCaseSensitive(p, "generated_ids"), *exp = cJSON_GetObjectItemCaseSensitive(p, "expected");
        int np = cJSON_GetArraySize(ids), ng = cJSON_GetArraySize(gen);
        if (!cJSON_IsArray(ids) || np < 1 || !cJSON_IsArray(gen) || !cJSON_IsArray(exp)) {
            fprintf(stderr, "longctx niah: %s: prompt %d needs ids, generated_ids and expected arrays\n", path, i);
            rc_ = 1;
            break;
        }
        int32_t *pr = malloc(sizeof(int32_t) * (size_t)np), *g = malloc(sizeof(int32_t) * (size_t)max_new);
        if (!pr || !g) { free(pr), free(g), rc_ = 1; break; }
        for (int k = 0; k < np; k++) pr[k] = (int32_t)cJSON_GetArrayItem(ids, k)->valueint;
        const cJSON *txt = cJSON_GetObjectItemCaseSensitive(p, "text");
        if (cJSON_IsString(txt)) { /* the prompt's text through longctx's tokenizer gives the ids PyTorch read */
            int32_t *mine = NULL;
            int64_t nm = 0;
            if (lc_tokenizer_encode_alloc(t, txt->valuestring, strlen(txt->valuestring), 1, &mine, &nm) || nm != np ||
                memcmp(mine, pr, sizeof(int32_t) * (size_t)np))
                tok_diff++;
            free(mine);
        }
        lc_context_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.threads = rc->threads, cfg.max_batch = rc->max_batch;
        int n_gen = 0;
        if (lc_recall_generate(m, t, &cfg, pr, np, max_new, g, &n_gen, NULL, NULL, NULL, NULL)) {
            fprintf(stderr, "longctx niah: parity prompt %d: %s\n", i, lc_last_error());
            free(pr), free(g), rc_ = 1;
            break;
        }
        /* PyTorch's ids stop where longctx stops: at an eos id, which generated_ids leave out too */
        int equal = n_gen == ng;
        for (int k = 0; k < n_gen && equal; k++) equal = g[k] == cJSON_GetArrayItem(gen, k)->valueint;
        same += equal;
        char *text = NULL, *ptext = NULL;
        size_t len;
        int32_t *pg = malloc(sizeof(int32_t) * (size_t)(ng + 1));
        for (int k = 0; pg && k < ng; k++) pg[k] = (int32_t)cJSON_GetArrayItem(gen, k)->valueint;
        if (n_gen ? lc_tokenizer_decode_alloc(t, g, n_gen, 1, &text, &len) : !(text = calloc(1, 1))) text = NULL;
        if (!pg || (ng ? lc_tokenizer_decode_alloc(t, pg, ng, 1, &ptext, &len) : !(ptext = calloc(1, 1)))) ptext = NULL;
        int ne = cJSON_GetArraySize(exp), fl = 0, fp = 0;
        for (int k = 0; k < ne; k++) {
            const char *v = cJSON_GetArrayItem(exp, k)->valuestring;
            if (!v) continue;
            fl += text && strstr(text, v) != NULL;
            fp += ptext && strstr(ptext, v) != NULL;
        }
        lc_recall += ne ? (double)fl / ne : 0, pt_recall += ne ? (double)fp / ne : 0;
        fprintf(stderr, "parity %3d: %d tokens: longctx \"%s\" PyTorch \"%s\" %s\n", i, np, text ? text : "?", ptext ? ptext : "?",
                equal ? "same ids" : "DIFFERENT ids");
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "prompt_tokens", np);
        cJSON_AddStringToObject(o, "longctx", text ? text : "");
        cJSON_AddStringToObject(o, "pytorch", ptext ? ptext : "");
        cJSON_AddBoolToObject(o, "same_ids", equal);
        cJSON_AddItemToArray(out, o);
        free(text), free(ptext), free(pg), free(pr), free(g);
    }
    if (!rc_) {
        printf("parity: %s: %d prompts; longctx's greedy ids equal PyTorch's on %d; recall longctx %.4f, PyTorch %.4f; "
               "the prompt texts encode to other ids than PyTorch read on %d\n",
               path, n, same, n ? lc_recall / n : 0, n ? pt_recall / n : 0, tok_diff);
        if (json_out) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "command", "niah --parity");
            cJSON_AddStringToObject(r, "file", path);
            cJSON_AddNumberToObject(r, "prompts", n);
            cJSON_AddNumberToObject(r, "same_ids", same);
            cJSON_AddNumberToObject(r, "recall_longctx", n ? lc_recall / n : 0);
            cJSON_AddNumberToObject(r, "recall_pytorch", n ? pt_recall / n : 0);
            cJSON_AddNumberToObject(r, "text_encodes_to_other_ids", tok_diff);
            cJSON_AddItemToObject(r, "prompts_compared", out);
            out = NULL;
            if (niah_write_json(r, json_out)) rc_ = 1;
        }
    }
    cJSON_Delete(out);
    cJSON_Delete(j);
    return rc_;
}

int cmd_niah(int argc, char **argv) {
    const char *model = NULL, *label = NULL, *lengths = "1K..8K", *depths = "0..100:10", *json = NULL, *plot = NULL, *parity_file = NULL;
    const char *techs[64];
    int nt = 0, quiet = 0;
    int64_t train_length = 0;
    niah_grid g;
    memset(&g, 0, sizeof g);
    g.samples = 1;
    lc_niah_run_config rc = {0, 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), 0;
        if (!strcmp(a, "--quiet")) { quiet = 1; continue; }
        if (!v || strncmp(a, "--", 2)) {
            fprintf(stderr, "longctx niah: unknown option or missing value: '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--label")) label = v;
        else if (!strcmp(a, "--train-length")) { if (args_i64("longctx niah", a, v, 1, (int64_t)1 << 40, &train_length)) return 2; }
        else if (!strcmp(a, "--lengths")) lengths = v;
        else if (!strcmp(a, "--depths")) depths = v;
        else if (!strcmp(a, "--technique")) { if (nt == 64) return fail("at most 64 techniques"); techs[nt++] = v; }
        else if (!strcmp(a, "--keys")) { if (args_int("longctx niah", a, v, 1, 64, &g.keys)) return 2; }
        else if (!strcmp(a, "--values")) { if (args_int("longctx niah", a, v, 1, LC_NIAH_MAX_NEEDLES, &g.values)) return 2; }
        else if (!strcmp(a, "--samples")) { if (args_int("longctx niah", a, v, 1, 100000, &g.samples)) return 2; }
        else if (!strcmp(a, "--seed")) { if (args_u64("longctx niah", a, v, &g.seed)) return 2; }
        else if (!strcmp(a, "--max-new")) { if (args_int("longctx niah", a, v, 1, 100000, &rc.max_new)) return 2; }
        else if (!strcmp(a, "--threads")) { if (args_int("longctx niah", a, v, 1, ARGS_MAX_THREADS, &rc.threads)) return 2; }
        else if (!strcmp(a, "--batch")) { if (args_i64("longctx niah", a, v, 1, 1 << 20, &rc.max_batch)) return 2; }
        else if (!strcmp(a, "--json")) json = v;
        else if (!strcmp(a, "--plot")) { if (!plot_path_ok(v)) return fail("--plot must name a .png or .svg file"); plot = v; }
        else if (!strcmp(a, "--parity")) parity_file = v;
        else {
            fprintf(stderr, "longctx niah: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model) return fail("--model DIR is required");
    bench_blas_warn("longctx niah");
    if (nt == 0) techs[nt++] = "full";
    if (niah_parse_lengths(lengths, &g.lengths, &g.n_lengths) || niah_parse_depths(depths, &g.depths, &g.n_depths)) return niah_grid_free(&g), 2;
    if (!(g.tech = calloc((size_t)nt, sizeof(niah_tech)))) return niah_grid_free(&g), fail("out of memory");
    g.n_tech = nt;
    for (int i = 0; i < nt; i++)
        if (lc_recall_technique_parse(techs[i], &g.tech[i].tech)) {
            fprintf(stderr, "longctx niah: --technique %s: %s\n", techs[i], lc_last_error());
            niah_grid_free(&g);
            return 2;
        }

    lc_model *m = NULL;
    lc_tokenizer *t = NULL;
    if (lc_model_load(model, &m) || lc_tokenizer_load(model, &t)) {
        fprintf(stderr, "longctx niah: cannot load '%s': %s\n", model, lc_last_error());
        lc_model_destroy(m), niah_grid_free(&g);
        return 1;
    }
    int rcode = 0;
    if (parity_file) {
        rcode = parity(m, t, parity_file, &rc, json);
    } else {
        const lc_model_config *mc = lc_model_config_of(m);
        lc_model_info info;
        lc_model_get_info(m, &info);
        snprintf(g.model, sizeof g.model, "%s", model);
        if (label) snprintf(g.label, sizeof g.label, "%s", label);
        else base_name(model, g.label, sizeof g.label);
        snprintf(g.model_type, sizeof g.model_type, "%s", mc->model_type);
        g.params = info.params, g.train_length = train_length ? train_length : mc->max_pos, g.train_length_given = train_length > 0;
        rcode = niah_grid_run(&g, m, t, &rc, quiet);
        if (!rcode) {
            niah_grid_print(&g, stdout);
            if (plot && niah_plot_heatmaps(&g, plot)) rcode = 1;
            else if (plot && !quiet) fprintf(stderr, "longctx niah: wrote %s\n", plot);
            if (json && niah_write_json(niah_grid_json(&g), json)) rcode = 1;
            else if (json && !quiet) fprintf(stderr, "longctx niah: wrote %s\n", json);
        }
    }
    lc_tokenizer_destroy(t);
    lc_model_destroy(m);
    niah_grid_free(&g);
    return rcode;
}
