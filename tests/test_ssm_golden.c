/* The Mamba and Mamba-2 layers against Hugging Face transformers: tests/fixtures/ssm/ holds
 * the weights, inputs and outputs of transformers' MambaMixer and Mamba2Mixer with random
 * weights (scripts/gen_ssm_fixtures.py, transformers 5.17 on the CPU). Each output must
 * match to 1e-4 max absolute error, computed by one prefill and by a prefill continued with
 * one step per token, for several SSD chunk sizes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

typedef struct fx_tensor {
    char name[64];
    int64_t count;
    float *data;
} fx_tensor;

typedef struct fixture {
    fx_tensor t[64];
    int nt;
    char iname[32][64];
    double ival[32];
    int ni;
} fixture;

/* The fixtures sit beside this source file: tests/fixtures/ssm/. */
static FILE *open_fixture(const char *file) {
    char path[1024];
    const char *src = __FILE__, *slash = strrchr(src, '/');
    if (slash) {
        snprintf(path, sizeof path, "%.*s/fixtures/ssm/%s", (int)(slash - src), src, file);
        FILE *f = fopen(path, "r");
        if (f) return f;
    }
    static const char *dirs[] = {"tests/fixtures/ssm", "../tests/fixtures/ssm", "../../tests/fixtures/ssm"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dirs[i], file);
        FILE *f = fopen(path, "r");
        if (f) return f;
    }
    return NULL;
}

static int load(const char *file, fixture *fx) {
    memset(fx, 0, sizeof *fx);
    FILE *f = open_fixture(file);
    if (!f) return 0;
    char word[16], name[64];
    int ok = 1;
    while (ok && fscanf(f, "%15s", word) == 1) {
        if (word[0] == '#') {
            int c;
            while ((c = fgetc(f)) != '\n' && c != EOF) {}
        } else if (!strcmp(word, "int") || !strcmp(word, "float")) {
            ok = fx->ni < 32 && fscanf(f, "%63s %lf", fx->iname[fx->ni], &fx->ival[fx->ni]) == 2;
            fx->ni++;
        } else if (!strcmp(word, "tensor") && fx->nt < 64) {
            fx_tensor *t = &fx->t[fx->nt++];
            ok = fscanf(f, "%63s", name) == 1;
            snprintf(t->name, sizeof t->name, "%s", name);
            t->count = 1;
            int c;
            long dim;
            while (ok && (c = fgetc(f)) != '\n' && c != EOF)
                if (c != ' ') ungetc(c, f), ok = fscanf(f, "%ld", &dim) == 1, t->count *= dim;
            t->data = malloc(sizeof(float) * (size_t)t->count);
            for (int64_t i = 0; ok && i < t->count; i++) ok = fscanf(f, "%f", &t->data[i]) == 1;
        } else {
            ok = 0;
        }
    }
    fclose(f);
    return ok;
}

static const fx_tensor *find(const fixture *fx, const char *name) {
    for (int i = 0; i < fx->nt; i++)
        if (!strcmp(fx->t[i].name, name)) return &fx->t[i];
    return NULL;
}

static const float *get(const fixture *fx, const char *name) {
    const fx_tensor *t = find(fx, name);
    CHECK(t != NULL, "fixture has no tensor %s", name);
    return t ? t->data : NULL;
}

static double num(const fixture *fx, const char *name) {
    for (int i = 0; i < fx->ni; i++)
        if (!strcmp(fx->iname[i], name)) return fx->ival[i];
    CHECK(0, "fixture has no value %s", name);
    return 0;
}

static void release(fixture *fx) {
    for (int i = 0; i < fx->nt; i++) free(fx->t[i].data);
}

typedef lc_status (*layer_fn)(const void *w, const lc_mixer_io *io);
static lc_status m1_pre(const void *w, const lc_mixer_io *io) { return lc_mamba_prefill(w, io); }
static lc_status m1_step(const void *w, const lc_mixer_io *io) { return lc_mamba_step(w, io); }
static lc_status m2_pre(const void *w, const lc_mixer_io *io) { return lc_mamba2_prefill(w, io); }
static lc_status m2_step(const void *w, const lc_mixer_io *io) { return lc_mamba2_step(w, io); }

/* Every input_N / output_N pair of the fixture: one prefill, and prefill(N - N/2) + steps. */
static void compare_all(const fixture *fx, const void *w, int64_t hidden, int64_t conv1, int64_t ssm1, layer_fn pre, layer_fn step, const char *what) {
    int pairs = 0;
    for (int i = 0; i < fx->nt; i++) {
        if (strncmp(fx->t[i].name, "input_", 6)) continue;
        char oname[64];
        snprintf(oname, sizeof oname, "output_%s", fx->t[i].name + 6);
        const fx_tensor *in = &fx->t[i], *out = find(fx, oname);
        CHECK(out != NULL, "%s: no %s", what, oname);
        if (!out) continue;
        const int64_t n = atoll(fx->t[i].name + 6), batch = in->count / (n * hidden);
        float *y = malloc(sizeof(float) * (size_t)in->count), *cs = calloc((size_t)(batch * conv1), sizeof(float));
        float *ss = calloc((size_t)(batch * ssm1), sizeof(float));
        for (int mode = 0; mode < 2; mode++) {
            memset(y, 0xff, sizeof(float) * (size_t)in->count);
            memset(cs, 0, sizeof(float) * (size_t)(batch * conv1)), memset(ss, 0, sizeof(float) * (size_t)(batch * ssm1));
            const int64_t k = mode ? n - n / 2 : n; /* prefill length */
            float *xb = malloc(sizeof(float) * (size_t)(batch * k * hidden)), *yb = malloc(sizeof(float) * (size_t)(batch * k * hidden));
            for (int64_t t0 = 0; t0 < n; t0 += t0 ? 1 : k) {
                const int64_t m = t0 ? 1 : k;
                for (int64_t b = 0; b < batch; b++) memcpy(xb + b * m * hidden, in->data + (b * n + t0) * hidden, sizeof(float) * (size_t)(m * hidden));
                lc_mixer_io io = {batch, m, xb, yb, cs, batch * conv1, ss, batch * ssm1, 1};
                lc_status st = t0 ? step(w, &io) : pre(w, &io);
                CHECK(st == LC_OK, "%s: %s", what, lc_last_error());
                for (int64_t b = 0; b < batch; b++) memcpy(y + (b * n + t0) * hidden, yb + b * m * hidden, sizeof(float) * (size_t)(m * hidden));
            }
            double worst = 0;
            for (int64_t j = 0; j < in->count; j++) {
                double e = fabs((double)y[j] - out->data[j]);
                if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
            }
            CHECK(worst <= 1e-4, "%s n=%lld batch=%lld %s: max |C - transformers| = %g (limit 1e-4)", what, (long long)n, (long long)batch,
                  mode ? "prefill + steps" : "prefill", worst);
            printf("%s n=%lld %-16s max |C - transformers| = %.3g\n", what, (long long)n, mode ? "prefill + steps" : "prefill", worst);
            free(xb), free(yb);
        }
        free(y), free(cs), free(ss);
        pairs++;
    }
    CHECK(pairs >= 3, "%s: %d input/output pairs in the fixture, expected 3", what, pairs);
}

static void test_mamba(void) {
    fixture fx;
    int ok = load("mamba.txt", &fx);
    CHECK(ok, "tests/fixtures/ssm/mamba.txt is missing or malformed");
    if (!ok) return release(&fx);
    lc_mamba_weights w = {(int64_t)num(&fx, "hidden_size"), (int64_t)num(&fx, "intermediate_size"), (int64_t)num(&fx, "state_size"),
                          (int64_t)num(&fx, "conv_kernel"), (int64_t)num(&fx, "time_step_rank"), get(&fx, "in_proj.weight"),
                          get(&fx, "in_proj.bias"), get(&fx, "conv1d.weight"), get(&fx, "conv1d.bias"), get(&fx, "x_proj.weight"),
                          get(&fx, "dt_proj.weight"), get(&fx, "dt_proj.bias"), get(&fx, "A_log"), get(&fx, "D"), get(&fx, "out_proj.weight"),
                          get(&fx, "out_proj.bias"), NULL, NULL, NULL, 0};
    if (lc_mamba_weights_check(&w) == LC_OK)
        compare_all(&fx, &w, w.hidden, lc_mamba_conv_state_floats(&w, 1), lc_mamba_ssm_state_floats(&w, 1), m1_pre, m1_step, "mamba");
    else
        CHECK(0, "mamba fixture weights: %s", lc_last_error());
    release(&fx);
}

static void test_mamba2(void) {
    fixture fx;
    int ok = load("mamba2.txt", &fx);
    CHECK(ok, "tests/fixtures/ssm/mamba2.txt is missing or malformed");
    if (!ok) return release(&fx);
    lc_mamba2_weights w = {0};
    w.hidden = (int64_t)num(&fx, "hidden_size"), w.heads = (int64_t)num(&fx, "num_heads"), w.head_dim = (int64_t)num(&fx, "head_dim");
    w.groups = (int64_t)num(&fx, "n_groups"), w.state = (int64_t)num(&fx, "state_size"), w.conv_kernel = (int64_t)num(&fx, "conv_kernel");
    w.norm_group = (int64_t)num(&fx, "norm_group_size"), w.norm_eps = (float)num(&fx, "norm_eps");
    double lo = num(&fx, "dt_min"), hi = num(&fx, "dt_max");
    if (!(lo == 0 && hi >= 1e38)) w.dt_min = (float)lo, w.dt_max = (float)hi; /* (0, inf) is no clamp */
    w.in_proj_w = get(&fx, "in_proj.weight"), w.in_proj_b = get(&fx, "in_proj.bias"), w.conv_w = get(&fx, "conv1d.weight");
    w.conv_b = get(&fx, "conv1d.bias"), w.dt_bias = get(&fx, "dt_bias"), w.A_log = get(&fx, "A_log"), w.D = get(&fx, "D");
    w.norm_w = get(&fx, "norm.weight"), w.out_proj_w = get(&fx, "out_proj.weight"), w.out_proj_b = get(&fx, "out_proj.bias");
    const int64_t chunks[3] = {(int64_t)num(&fx, "chunk_size"), 5, 0};
    for (int c = 0; c < 3; c++) {
        w.chunk = chunks[c];
        if (lc_mamba2_weights_check(&w) != LC_OK) {
            CHECK(0, "mamba2 fixture weights: %s", lc_last_error());
            break;
        }
        char what[32];
        snprintf(what, sizeof what, "mamba2 chunk=%lld", (long long)w.chunk);
        compare_all(&fx, &w, w.hidden, lc_mamba2_conv_state_floats(&w, 1), lc_mamba2_ssm_state_floats(&w, 1), m2_pre, m2_step, what);
    }
    release(&fx);
}

int main(void) {
    test_seed("test_ssm_golden"); /* no randomness here: the fixtures are the inputs */
    test_mamba();
    test_mamba2();
    return test_finish("test_ssm_golden");
}
