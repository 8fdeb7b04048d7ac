/* RoPE: inv_freq and the attention factor against Hugging Face transformers' values
 * (tests/fixtures/rope/hf_rope.txt, written by scripts/gen_rope_fixtures.py), then the
 * rotation's properties on random vectors: norms kept (times the attention factor), q.k
 * a function of the position difference only, the two layouts being one permutation
 * apart, partial dims untouched; and bad configs refused with a sentence. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "longctx/rope.h"

#define MAXF 256

static int parse_list(const char *s, double *out) {
    int n = 0;
    while (*s && n < MAXF) {
        char *end;
        out[n++] = strtod(s, &end);
        s = *end == ',' ? end + 1 : end;
        if (end == s && *end != ',') break;
    }
    return n;
}

static lc_rope_type type_of(const char *s) {
    const char *n[] = {"default", "linear", "ntk", "dynamic", "yarn", "llama3", "longrope"};
    for (int i = 0; i < 7; i++)
        if (!strcmp(s, n[i])) return (lc_rope_type)i;
    return (lc_rope_type)99;
}

static void test_fixture(void) {
    char path[1024];
    const char *file = __FILE__, *slash = strrchr(file, '/');
    snprintf(path, sizeof path, "%.*s/fixtures/rope/hf_rope.txt", slash ? (int)(slash - file) : 1, slash ? file : ".");
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    if (!f) return;
    static char line[65536];
    static double shortf[MAXF], longf[MAXF], ref[MAXF], got[MAXF];
    lc_rope r;
    int64_t seq_len = 0;
    char name[128] = "";
    double ref_attn = 0;
    int configs = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "config ", 7)) {
            memset(&r, 0, sizeof r);
            seq_len = 0;
            for (char *tok = strtok(line + 7, " \n"); tok; tok = strtok(NULL, " \n")) {
                char *eq = strchr(tok, '=');
                if (!eq) continue;
                *eq = 0;
                const char *k = tok, *v = eq + 1;
                if (!strcmp(k, "name")) snprintf(name, sizeof name, "%s", v);
                else if (!strcmp(k, "type")) r.type = type_of(v);
                else if (!strcmp(k, "head_dim")) r.head_dim = atoi(v);
                else if (!strcmp(k, "partial")) r.partial = atof(v);
                else if (!strcmp(k, "theta")) r.theta = atof(v);
                else if (!strcmp(k, "max_pos")) r.max_pos = atoll(v);
                else if (!strcmp(k, "seq_len")) seq_len = atoll(v);
                else if (!strcmp(k, "factor")) r.factor = atof(v);
                else if (!strcmp(k, "original_max_position_embeddings")) r.original_max_pos = (int64_t)atof(v);
                else if (!strcmp(k, "attention_factor")) r.attention_factor = atof(v);
                else if (!strcmp(k, "beta_fast")) r.beta_fast = atof(v);
                else if (!strcmp(k, "beta_slow")) r.beta_slow = atof(v);
                else if (!strcmp(k, "mscale")) r.mscale = atof(v);
                else if (!strcmp(k, "mscale_all_dim")) r.mscale_all_dim = atof(v);
                else if (!strcmp(k, "truncate")) r.no_truncate = !atoi(v);
                else if (!strcmp(k, "low_freq_factor")) r.low_freq_factor = atof(v);
                else if (!strcmp(k, "high_freq_factor")) r.high_freq_factor = atof(v);
                else if (!strcmp(k, "short_factor")) parse_list(v, shortf), r.short_factor = shortf;
                else if (!strcmp(k, "long_factor")) parse_list(v, longf), r.long_factor = longf;
                else CHECK(0, "%s: unknown key %s", name, k);
            }
        } else if (!strncmp(line, "attention_factor ", 17)) {
            ref_attn = atof(line + 17);
        } else if (!strncmp(line, "inv_freq ", 9)) {
            char *p = line + 9, *end;
            int n = (int)strtol(p, &end, 10);
            for (int i = 0; i < n && i < MAXF; i++) ref[i] = strtod(end, &end);
            double attn = -1;
            lc_status st = lc_rope_inv_freq(&r, seq_len, got, &attn);
            CHECK(st == LC_OK, "%s: %s %s", name, lc_status_str(st), lc_last_error());
            if (st) continue;
            CHECK(lc_rope_dim(&r) / 2 == n, "%s: %d frequencies, HF has %d", name, lc_rope_dim(&r) / 2, n);
            double worst = 0;
            for (int i = 0; i < n; i++) worst = fmax(worst, fabs(got[i] - ref[i]) / fabs(ref[i]));
            CHECK(worst <= 1e-6, "%s: inv_freq relative error %.3g", name, worst);
            CHECK(fabs(attn - ref_attn) <= 1e-6 * fabs(ref_attn), "%s: attention factor %.9g, HF %.9g", name, attn, ref_attn);
            configs++;
        }
    }
    fclose(f);
    CHECK(configs >= 20, "only %d fixture configs", configs);
    printf("rope: %d Hugging Face configs matched\n", configs);
}

static double dot(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* A rope of each type with random but valid parameters. */
static lc_rope random_rope(test_rng *g, lc_rope_type t, double *sf, double *lf) {
    lc_rope r = {0};
    r.type = t;
    r.layout = (lc_rope_layout)test_below(g, 2);
    int hd[] = {2, 4, 6, 64, 80, 128};
    r.head_dim = hd[test_below(g, 6)];
    if (r.head_dim < 4 && (t == LC_ROPE_NTK || t == LC_ROPE_DYNAMIC)) r.head_dim = 4;
    r.partial = test_below(g, 2) && r.head_dim >= 8 ? 0.5 : 1.0;
    r.theta = 10000 * (1 + test_below(g, 100));
    r.max_pos = 2048;
    r.original_max_pos = 1024;
    r.factor = 1 + 7 * test_uniform(g);
    r.low_freq_factor = 1, r.high_freq_factor = 4;
    for (int i = 0; i < MAXF; i++) sf[i] = 1 + test_uniform(g), lf[i] = 1 + 10 * test_uniform(g);
    r.short_factor = sf, r.long_factor = lf;
    return r;
}

static void test_properties(test_rng *g) {
    static double sf[MAXF], lf[MAXF];
    for (int trial = 0; trial < 60; trial++) {
        lc_rope r = random_rope(g, (lc_rope_type)(trial % 7), sf, lf);
        int d = r.head_dim, rot = lc_rope_dim(&r);
        double attn;
        double f[MAXF];
        CHECK(lc_rope_inv_freq(&r, 4000, f, &attn) == LC_OK, "%s", lc_last_error());
        /* x: [1, 4, 1, d]: rows 0,1 are q at positions p and p + delta, rows 2,3 are k at
         * m and m + delta; then q_p.k_m must equal q_{p+delta}.k_{m+delta}. */
        float *x = malloc(sizeof(float) * 4 * d), *orig = malloc(sizeof(float) * 4 * d);
        lc_rng_fill_normal(orig, (size_t)(4 * d), g->seed, g->counter, 0, 1, 1);
        g->counter += (uint64_t)(4 * d);
        memcpy(x, orig, sizeof(float) * 4 * d);
        for (int i = 0; i < d; i++) orig[d + i] = orig[i], orig[3 * d + i] = orig[2 * d + i];
        memcpy(x, orig, sizeof(float) * 4 * d);
        int64_t p = (int64_t)test_below(g, 5000), m = (int64_t)test_below(g, 5000), delta = (int64_t)test_below(g, 3000);
        int64_t pos[4] = {p, p + delta, m, m + delta};
        lc_tensor t = lc_tensor_bshd(x, LC_F32, 1, 4, 1, d);
        CHECK(lc_rope_apply(&r, &t, pos, 0, 4000) == LC_OK, "%s", lc_last_error());
        for (int row = 0; row < 4; row++) {
            double n0 = dot(orig + row * d, orig + row * d, rot), n1 = dot(x + row * d, x + row * d, rot);
            CHECK(fabs(n1 - attn * attn * n0) <= 1e-5 * (n0 * attn * attn + 1), "type %d: norm %g -> %g (attn %g)", r.type, n0, n1, attn);
            CHECK(!memcmp(x + row * d + rot, orig + row * d + rot, sizeof(float) * (size_t)(d - rot)), "type %d: pass-through dims changed", r.type);
        }
        double a = dot(x, x + 2 * d, rot), b = dot(x + d, x + 3 * d, rot);
        CHECK(fabs(a - b) <= 1e-4 * (fabs(a) + sqrt(dot(orig, orig, rot) * dot(orig + 2 * d, orig + 2 * d, rot)) * attn * attn),
              "type %d: q.k %g at (%lld,%lld) vs %g at +%lld", r.type, a, (long long)p, (long long)m, b, (long long)delta);
        /* GPT-J layout = NeoX layout after moving dim 2i -> i and 2i+1 -> i + rot/2. */
        lc_rope r2 = r;
        r2.layout = r.layout == LC_ROPE_NEOX ? LC_ROPE_GPTJ : LC_ROPE_NEOX;
        float *y = malloc(sizeof(float) * d), *z = malloc(sizeof(float) * d);
        memcpy(y, orig, sizeof(float) * d);
        for (int i = 0; i < d; i++) z[i] = orig[i];
        for (int i = 0; i < rot / 2; i++) { /* z = y permuted into r2's layout */
            int ya = r.layout == LC_ROPE_NEOX ? i : 2 * i, yb = r.layout == LC_ROPE_NEOX ? i + rot / 2 : 2 * i + 1;
            int za = r2.layout == LC_ROPE_NEOX ? i : 2 * i, zb = r2.layout == LC_ROPE_NEOX ? i + rot / 2 : 2 * i + 1;
            z[za] = y[ya], z[zb] = y[yb];
        }
        lc_tensor ty = lc_tensor_bshd(y, LC_F32, 1, 1, 1, d), tz = lc_tensor_bshd(z, LC_F32, 1, 1, 1, d);
        CHECK(lc_rope_apply(&r, &ty, &p, 0, 4000) == LC_OK && lc_rope_apply(&r2, &tz, &p, 0, 4000) == LC_OK, "%s", lc_last_error());
        for (int i = 0; i < rot / 2; i++) {
            int ya = r.layout == LC_ROPE_NEOX ? i : 2 * i, yb = r.layout == LC_ROPE_NEOX ? i + rot / 2 : 2 * i + 1;
            int za = r2.layout == LC_ROPE_NEOX ? i : 2 * i, zb = r2.layout == LC_ROPE_NEOX ? i + rot / 2 : 2 * i + 1;
            CHECK(y[ya] == z[za] && y[yb] == z[zb], "layouts disagree at pair %d", i);
        }
        /* f16 storage: same rotation within f16 rounding. */
        uint16_t h[MAXF];
        lc_convert(h, LC_F16, orig, LC_F32, (size_t)d);
        lc_tensor th = lc_tensor_bshd(h, LC_F16, 1, 1, 1, d);
        CHECK(lc_rope_apply(&r, &th, &p, 0, 4000) == LC_OK, "%s", lc_last_error());
        for (int i = 0; i < d; i++)
            CHECK(fabs(lc_f16_to_f32(h[i]) - y[i]) <= 4e-3 * (fabs(y[i]) + 1) * attn, "f16 dim %d: %g vs %g", i, lc_f16_to_f32(h[i]), y[i]);
        free(x), free(orig), free(y), free(z);
    }
    /* Hand-computed: default rope, d = 2, position 1 rotates (1, 0) by one radian. */
    lc_rope r = {.type = LC_ROPE_DEFAULT, .head_dim = 2, .theta = 10000, .max_pos = 16};
    float v[2] = {1, 0};
    lc_tensor tv = lc_tensor_bshd(v, LC_F32, 1, 1, 1, 2);
    CHECK(lc_rope_apply(&r, &tv, NULL, 1, 0) == LC_OK && fabs(v[0] - cos(1.0)) < 1e-7 && fabs(v[1] - sin(1.0)) < 1e-7, "(%g, %g)", v[0], v[1]);
}

static void test_errors(void) {
    double f[64];
    lc_rope r = {.type = LC_ROPE_YARN, .head_dim = 64, .theta = 10000, .max_pos = 4096};
    CHECK(lc_rope_inv_freq(&r, 0, f, NULL) == LC_EINVAL && strstr(lc_last_error(), "original_max_pos"), "%s", lc_last_error());
    r = (lc_rope){.type = LC_ROPE_DEFAULT, .head_dim = 64, .partial = 0.3, .theta = 10000, .max_pos = 4096};
    CHECK(lc_rope_check(&r) == LC_EINVAL && strstr(lc_last_error(), "even"), "%s", lc_last_error());
    r.partial = 1, r.theta = 0.5;
    CHECK(lc_rope_check(&r) == LC_EINVAL && strstr(lc_last_error(), "theta"), "%s", lc_last_error());
    r.theta = 10000, r.type = LC_ROPE_LINEAR;
    CHECK(lc_rope_check(&r) == LC_EINVAL && strstr(lc_last_error(), "factor"), "%s", lc_last_error());
    r.type = LC_ROPE_LONGROPE, r.original_max_pos = 1024;
    CHECK(lc_rope_check(&r) == LC_EINVAL && strstr(lc_last_error(), "short_factor"), "%s", lc_last_error());
    r.type = LC_ROPE_LLAMA3, r.factor = 8, r.low_freq_factor = 4, r.high_freq_factor = 1;
    CHECK(lc_rope_check(&r) == LC_EINVAL && strstr(lc_last_error(), "low_freq_factor"), "%s", lc_last_error());
    r.type = (lc_rope_type)42;
    CHECK(lc_rope_check(&r) == LC_EINVAL && strstr(lc_last_error(), "rope.type"), "%s", lc_last_error());
    float x[8];
    r = (lc_rope){.type = LC_ROPE_DEFAULT, .head_dim = 4, .theta = 10000, .max_pos = 16};
    lc_tensor t = lc_tensor_bshd(x, LC_F32, 1, 1, 1, 8);
    CHECK(lc_rope_apply(&r, &t, NULL, 0, 0) == LC_EINVAL && strstr(lc_last_error(), "head_dim"), "%s", lc_last_error());
}

int main(void) {
    test_rng g = {test_seed("test_rope"), 0};
    test_fixture();
    test_properties(&g);
    test_errors();
    return test_finish("test_rope");
}
