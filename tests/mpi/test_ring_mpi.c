/* Ring attention over MPI against single-process flash attention, run on P = 1..4 ranks
 * (mpirun -np P). Every rank draws the same global q, k, v from the shared seed, keeps its
 * slice (contiguous or zigzag), runs lc_ring_attention, and compares its rows with
 * lc_attention_flash over the whole key sequence (f32: max abs error <= 1e-5, lse too).
 * Also: the bytes each rank sends match the plan (blocks a window excludes are not sent),
 * and bad input (mismatched slices, a rank whose own check fails, unsupported masks)
 * gives the same error on every rank, after which the ring still works.
 * With --fault R, rank R dies in the middle of the ring (tests/mpi/ring_fault.sh). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "longctx/ring_mpi.h"

static int P, me;

typedef struct ring_case {
    int64_t batch, n_local, hq, hkv, dk, dv;
    lc_ring_layout layout;
    lc_mask mask;
    lc_dtype tin;
    int bhsd; /* local tensors stored [batch, heads, seq, dim] */
} ring_case;

/* Global [batch, N, heads, d] f32 draws under (seed, stream). */
static float *global_draws(uint64_t seed, uint64_t stream, int64_t b, int64_t n, int64_t h, int64_t d) {
    size_t count = (size_t)(b * n * h * d);
    float *x = malloc(sizeof(float) * count);
    lc_rng_fill_normal(x, count, seed, stream << 40, 0, 1, 1);
    return x;
}

/* This rank's slice of a global array as a local tensor of the case's dtype and layout. */
static lc_tensor local_slice(const ring_case *c, const float *g, int64_t n_total, int64_t h, int64_t d) {
    const int nc = lc_ring_chunks(c->layout);
    const int64_t n = c->n_local, len = n / nc;
    lc_tensor t = c->bhsd ? lc_tensor_bhsd(NULL, c->tin, c->batch, n, h, d) : lc_tensor_bshd(NULL, c->tin, c->batch, n, h, d);
    t.data = malloc(lc_dtype_size(c->tin) * (size_t)t.capacity);
    for (int x = 0; x < nc; x++) {
        int64_t s0 = lc_ring_chunk_start(c->layout, P, me, x, n);
        for (int64_t b = 0; b < c->batch; b++)
            for (int64_t s = 0; s < len; s++)
                for (int64_t hh = 0; hh < h; hh++)
                    for (int64_t dd = 0; dd < d; dd++) {
                        float v = g[((b * n_total + s0 + s) * h + hh) * d + dd];
                        lc_convert((uint8_t *)t.data + (size_t)lc_tensor_offset(&t, b, x * len + s, hh, dd) * lc_dtype_size(c->tin), c->tin, &v, LC_F32, 1);
                    }
    }
    return t;
}

/* The global array rounded through the input dtype, as a [batch, N, heads, d] f32 tensor. */
static lc_tensor global_tensor(const ring_case *c, float *g, int64_t n_total, int64_t h, int64_t d) {
    lc_tensor t = lc_tensor_bshd(g, LC_F32, c->batch, n_total, h, d);
    for (int64_t i = 0; i < t.capacity; i++) {
        uint16_t u;
        if (c->tin == LC_F16) u = lc_f32_to_f16(g[i]), g[i] = lc_f16_to_f32(u);
        if (c->tin == LC_BF16) u = lc_f32_to_bf16(g[i]), g[i] = lc_bf16_to_f32(u);
    }
    return t;
}

typedef struct ring_run {
    lc_status st;
    double max_err, max_lse_err;
    lc_ring_stats stats;
} ring_run;

/* Runs one case; `tweak` lets a bad-input test alter this rank's descriptor. */
static ring_run run_case(const ring_case *c, lc_ring_mpi *m, uint64_t seed, uint64_t stream, void (*tweak)(lc_ring *)) {
    ring_run res = {0};
    const int64_t N = c->n_local * P, B = c->batch;
    float *gq = global_draws(seed, 3 * stream, B, N, c->hq, c->dk), *gk = global_draws(seed, 3 * stream + 1, B, N, c->hkv, c->dk),
          *gv = global_draws(seed, 3 * stream + 2, B, N, c->hkv, c->dv);
    lc_ring r = {0};
    r.attn.q = local_slice(c, gq, N, c->hq, c->dk);
    r.attn.k = local_slice(c, gk, N, c->hkv, c->dk);
    r.attn.v = local_slice(c, gv, N, c->hkv, c->dv);
    float *out = malloc(sizeof(float) * (size_t)(B * c->n_local * c->hq * c->dv));
    float *lse = malloc(sizeof(float) * (size_t)(B * c->hq * c->n_local));
    memset(out, 0xff, sizeof(float) * (size_t)(B * c->n_local * c->hq * c->dv)); /* NaN: unwritten fails */
    r.attn.out = lc_tensor_bshd(out, LC_F32, B, c->n_local, c->hq, c->dv);
    r.attn.lse = lse;
    r.attn.mask = c->mask;
    r.attn.threads = 1;
    r.layout = c->layout;
    r.timeout_s = 30;
    r.transport = &m->transport;
    if (tweak) tweak(&r);
    res.st = lc_ring_attention_alloc(&r, &res.stats);

    if (res.st == LC_OK) {
        /* The reference: single-process flash over all N keys, for this rank's query rows. */
        lc_attention ref = {0};
        ref.k = global_tensor(c, gk, N, c->hkv, c->dk);
        ref.v = global_tensor(c, gv, N, c->hkv, c->dv);
        lc_tensor qg = global_tensor(c, gq, N, c->hq, c->dk);
        const int nc = lc_ring_chunks(c->layout);
        const int64_t len = c->n_local / nc;
        float *rout = malloc(sizeof(float) * (size_t)(B * len * c->hq * c->dv)), *rlse = malloc(sizeof(float) * (size_t)(B * c->hq * len));
        for (int x = 0; x < nc; x++) {
            int64_t s0 = lc_ring_chunk_start(c->layout, P, me, x, c->n_local);
            ref.q = qg;
            ref.q.data = (float *)qg.data + s0 * qg.stride[1], ref.q.shape[1] = len, ref.q.capacity -= s0 * qg.stride[1];
            ref.out = lc_tensor_bshd(rout, LC_F32, B, len, c->hq, c->dv);
            ref.lse = rlse, ref.mask = c->mask, ref.mask.q_offset = s0, ref.threads = 1;
            lc_status st = lc_attention_flash_alloc(&ref);
            CHECK(st == LC_OK, "reference flash: %s", lc_last_error());
            for (int64_t b = 0; b < B; b++)
                for (int64_t i = 0; i < len; i++)
                    for (int64_t h = 0; h < c->hq; h++) {
                        for (int64_t d = 0; d < c->dv; d++) {
                            double e = fabs((double)out[((b * c->n_local + x * len + i) * c->hq + h) * c->dv + d] - rout[((b * len + i) * c->hq + h) * c->dv + d]);
                            if (!(e <= res.max_err)) res.max_err = isnan(e) ? INFINITY : e;
                        }
                        float l1 = lse[(b * c->hq + h) * c->n_local + x * len + i], l2 = rlse[(b * c->hq + h) * len + i];
                        double e = (l1 == l2) ? 0 : fabs((double)l1 - l2);
                        if (!(e <= res.max_lse_err)) res.max_lse_err = isnan(e) ? INFINITY : e;
                    }
        }
        free(rout), free(rlse);
    }
    free(r.attn.q.data), free(r.attn.k.data), free(r.attn.v.data), free(out), free(lse), free(gq), free(gk), free(gv);
    return res;
}

static const char *mask_name(const lc_mask *m) {
    static char buf[96];
    if (m->window.enabled)
        snprintf(buf, sizeof buf, "%swindow[%lld,%lld,d%lld]", m->causal ? "causal " : "", (long long)m->window.left, (long long)m->window.right, (long long)m->window.dilation);
    else if (m->stride.every) snprintf(buf, sizeof buf, "causal stride %lld", (long long)m->stride.every);
    else snprintf(buf, sizeof buf, "%s", m->causal ? "causal" : "full");
    return buf;
}

/* Bytes the plan says travel, summed over ranks: each slice goes last_hop hops. */
static int64_t planned_bytes(lc_ring_mpi *m, const ring_case *c) {
    lc_ring r = {0};
    r.attn.q.shape[1] = c->n_local, r.attn.mask = c->mask, r.layout = c->layout, r.transport = &m->transport;
    int64_t hops = 0;
    for (int o = 0; o < P; o++) hops += lc_ring_last_hop(&r, o) > 0 ? lc_ring_last_hop(&r, o) : 0;
    size_t kv = (size_t)(c->batch * c->n_local * c->hkv) * (size_t)(c->dk + c->dv) * lc_dtype_size(c->tin);
    return hops * (int64_t)((kv + 63) / 64 * 64);
}

static void equality_cases(lc_ring_mpi *m, uint64_t seed) {
    const int64_t sizes[] = {1, 2, 3, 7, 16, 37, 130, 300};
    uint64_t stream = 0;
    test_rng rng = {seed ^ 0x5eed, 0};
    for (int layout = 0; layout < 2; layout++)
        for (int kind = 0; kind < 7; kind++)
            for (int rep = 0; rep < 3; rep++) {
                ring_case c = {0};
                c.layout = (lc_ring_layout)layout;
                c.n_local = sizes[test_below(&rng, 8)];
                if (layout == LC_RING_ZIGZAG && c.n_local % 2) c.n_local++;
                c.batch = 1 + (int64_t)test_below(&rng, 2);
                c.hkv = 1 + (int64_t)test_below(&rng, 2);
                c.hq = c.hkv * (1 + (int64_t)test_below(&rng, 2));
                c.dk = (int64_t[]){8, 16, 32}[test_below(&rng, 3)];
                c.dv = rep == 2 ? 24 : c.dk;
                c.tin = rep == 1 ? (test_below(&rng, 2) ? LC_F16 : LC_BF16) : LC_F32;
                c.bhsd = rep == 2;
                const int64_t N = c.n_local * P;
                int64_t w = 1 + (int64_t)test_below(&rng, (uint64_t)N + 1);
                switch (kind) {
                case 0: c.mask = lc_mask_full(); break;
                case 1: c.mask = lc_mask_causal(); break;
                case 2: c.mask = lc_mask_sliding_window(w); break;
                case 3: c.mask = lc_mask_sliding_window(1 + c.n_local / 2); break; /* skips blocks */
                case 4: c.mask = lc_mask_sliding_window(w), c.mask.window.dilation = 2; break;
                case 5: c.mask = lc_mask_causal(), c.mask.stride.every = 3; break; /* + no window: strided only */
                default: c.mask = lc_mask_causal(), c.mask.window = (lc_mask_window){1, w, 2, 0}; break; /* right > 0 */
                }
                ring_run res = run_case(&c, m, seed, ++stream, NULL);
                char what[200];
                snprintf(what, sizeof what, "%s %s B=%lld n_local=%lld hq=%lld hkv=%lld dk=%lld dv=%lld %s%s", layout ? "zigzag" : "contiguous", mask_name(&c.mask),
                         (long long)c.batch, (long long)c.n_local, (long long)c.hq, (long long)c.hkv, (long long)c.dk, (long long)c.dv, lc_dtype_name(c.tin), c.bhsd ? " bhsd" : "");
                CHECK(res.st == LC_OK, "rank %d %s: %s %s", me, what, lc_status_str(res.st), lc_last_error());
                if (res.st) continue;
                CHECK(res.max_err <= 1e-5, "rank %d %s: out differs from flash by %g", me, what, res.max_err);
                CHECK(res.max_lse_err <= 1e-5, "rank %d %s: lse differs from flash by %g", me, what, res.max_lse_err);
                long long sent = res.stats.bytes_sent, total = 0;
                MPI_Allreduce(&sent, &total, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
                CHECK(total == planned_bytes(m, &c), "%s: %lld bytes sent, the plan says %lld", what, total, (long long)planned_bytes(m, &c));
                if (kind == 3 && P >= 3 && layout == LC_RING_CONTIGUOUS) /* a window of half a slice: one hop each */
                    CHECK(res.stats.steps <= 2 && res.stats.blocks_computed <= 2, "%s: %d steps, %d blocks for a short window", what, res.stats.steps, res.stats.blocks_computed);
            }
}

/* ---- bad input: every rank must return the same kind of error, then the ring works ---- */

static void shrink_last_rank(lc_ring *r) { /* views of fewer tokens than the others hold */
    if (me == P - 1) r->attn.q.shape[1] -= 2, r->attn.k.shape[1] -= 2, r->attn.v.shape[1] -= 2, r->attn.out.shape[1] -= 2;
}
static void bad_threads_rank1(lc_ring *r) {
    if (me == P / 2) r->attn.threads = -1;
}
static void causal_rank0_only(lc_ring *r) {
    if (me == 0) r->attn.mask.causal = 1;
}
static void sinks_everywhere(lc_ring *r) { r->attn.mask.sinks = 4; }
static void odd_zigzag(lc_ring *r) {
    r->layout = LC_RING_ZIGZAG;
    r->attn.q.shape[1] -= 1, r->attn.k.shape[1] -= 1, r->attn.v.shape[1] -= 1, r->attn.out.shape[1] -= 1;
}

static void bad_input_cases(lc_ring_mpi *m, uint64_t seed) {
    ring_case c = {1, 12, 2, 1, 8, 8, LC_RING_CONTIGUOUS, lc_mask_full(), LC_F32, 0};
    struct {
        void (*tweak)(lc_ring *);
        lc_status want;
        const char *says; /* on the ranks whose own check passed */
        int needs_two;
    } bad[] = {
        {shrink_last_rank, LC_EINVAL, "tokens per rank", 1},
        {bad_threads_rank1, LC_EINVAL, "refused its descriptor", 0},
        {causal_rank0_only, LC_EINVAL, "mask.causal", 1},
        {sinks_everywhere, LC_EUNSUPPORTED, "mask.sinks", 0},
        {odd_zigzag, LC_EINVAL, "odd", 0},
    };
    if (P >= 2) { /* the last rank holds more tokens than the others */
        ring_case big = c;
        if (me == P - 1) big.n_local += 2;
        ring_run res = run_case(&big, m, seed, 999, NULL);
        CHECK(res.st == LC_EINVAL && strstr(lc_last_error(), "tokens per rank"), "rank %d larger last slice: %s %s", me, lc_status_str(res.st), lc_last_error());
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (bad[i].needs_two && P < 2) continue;
        ring_run res = run_case(&c, m, seed, 1000 + i, bad[i].tweak);
        CHECK(res.st == bad[i].want, "rank %d bad case %zu: %s (want %s): %s", me, i, lc_status_str(res.st), lc_status_str(bad[i].want), lc_last_error());
        int own_refusal = bad[i].tweak == bad_threads_rank1 && me == P / 2;
        if (!own_refusal) CHECK(strstr(lc_last_error(), bad[i].says) != NULL, "rank %d bad case %zu: sentence '%s' lacks '%s'", me, i, lc_last_error(), bad[i].says);
        /* and the ring still works afterwards */
        ring_run ok = run_case(&c, m, seed, 2000 + i, NULL);
        CHECK(ok.st == LC_OK && ok.max_err <= 1e-5, "rank %d after bad case %zu: %s, err %g", me, i, lc_last_error(), ok.max_err);
    }
    /* A non-causal window sees later keys: refused where a block would need q_offset < 0. */
    ring_case nc = c;
    nc.mask.window = (lc_mask_window){1, 3, 3, 0};
    nc.layout = LC_RING_ZIGZAG;
    ring_run res = run_case(&nc, m, seed, 3000, NULL);
    CHECK(res.st == LC_EUNSUPPORTED && strstr(lc_last_error(), "negative q_offset"), "non-causal window: %s %s", lc_status_str(res.st), lc_last_error());
    /* A length the ranks do not divide is refused, naming the padded length. */
    lc_status st = lc_ring_split_check(LC_RING_ZIGZAG, 3, 100);
    CHECK(st == LC_EINVAL && strstr(lc_last_error(), "102"), "split check: %s", lc_last_error());
    CHECK(lc_ring_split_check(LC_RING_ZIGZAG, 3, 102) == LC_OK, "102 over 3 zigzag ranks");
}

/* ---- a rank that dies ------------------------------------------------------------------ */

static int attends_before_death;
static size_t dying_ws(void *ctx, const lc_attention *a) { return lc_ring_compute_cpu()->attend_workspace(ctx, a); }
static lc_status dying_attend(void *ctx, const lc_attention *a, void *ws, size_t bytes) {
    if (--attends_before_death < 0) _exit(3); /* dies in the middle of the ring */
    return lc_ring_compute_cpu()->attend(ctx, a, ws, bytes);
}

static int fault_run(lc_ring_mpi *m, int fault_rank, double timeout_s) {
    ring_case c = {1, 64, 2, 2, 16, 16, LC_RING_ZIGZAG, lc_mask_causal(), LC_F32, 0};
    ring_run warm = run_case(&c, m, 7, 1, NULL); /* connections up, as in a real job */
    if (warm.st) {
        printf("ring_fault: rank %d: warm-up run failed: %s\n", me, lc_last_error());
        return 1;
    }
    lc_ring_compute dying = *lc_ring_compute_cpu();
    dying.attend_workspace = dying_ws, dying.attend = dying_attend;
    attends_before_death = 2;
    double t0 = MPI_Wtime();
    lc_ring r = {0};
    float *q = calloc(2 * 64 * 16, sizeof(float)), *k = calloc(2 * 64 * 16, sizeof(float)), *v = calloc(2 * 64 * 16, sizeof(float)),
          *out = calloc(2 * 64 * 16, sizeof(float));
    r.attn.q = lc_tensor_bshd(q, LC_F32, 1, 64, 2, 16), r.attn.k = lc_tensor_bshd(k, LC_F32, 1, 64, 2, 16);
    r.attn.v = lc_tensor_bshd(v, LC_F32, 1, 64, 2, 16), r.attn.out = lc_tensor_bshd(out, LC_F32, 1, 64, 2, 16);
    r.attn.mask = lc_mask_causal(), r.attn.threads = 1;
    r.layout = LC_RING_ZIGZAG, r.timeout_s = timeout_s, r.transport = &m->transport;
    if (me == fault_rank) r.compute = &dying;
    lc_status st = lc_ring_attention_alloc(&r, NULL);
    printf("ring_fault: survivor rank %d returned %s after %.2f s: %s\n", me, lc_status_str(st), MPI_Wtime() - t0, lc_last_error());
    fflush(stdout);
    _exit(st == LC_EIO ? 0 : 1); /* MPI_Finalize would wait for the dead rank */
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    MPI_Comm_size(MPI_COMM_WORLD, &P);
    lc_ring_mpi m;
    if (lc_ring_mpi_init(&m, MPI_COMM_WORLD, 30)) {
        fprintf(stderr, "lc_ring_mpi_init: %s\n", lc_last_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (argc >= 3 && !strcmp(argv[1], "--fault")) return fault_run(&m, atoi(argv[2]), argc >= 4 ? atof(argv[3]) : 2.0);

    char name[32];
    snprintf(name, sizeof name, "test_ring_mpi(np=%d)", P);
    unsigned long long seed = 0;
    if (me == 0) seed = test_seed(name);
    MPI_Bcast(&seed, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
    equality_cases(&m, seed);
    bad_input_cases(&m, seed);
    lc_ring_mpi_destroy(&m);

    long fails = test_failures, all = 0;
    MPI_Allreduce(&fails, &all, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    int rc = me == 0 ? test_finish(name) : 0;
    if (me == 0 && all != fails) printf("%s: %ld failures on other ranks\n", name, all - fails);
    MPI_Finalize();
    return all ? 1 : rc;
}
