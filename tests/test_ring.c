/* Ring attention without MPI: the plan (chunk positions, which slices a rank needs, how far
 * each slice travels) against brute force over every (query, key) pair with
 * lc_mask_allows; the log-sum-exp merge against float64; lc_ring_check's sentences; and
 * the whole driver on one rank through an in-process transport, against flash. The ring
 * on 1..4 processes is tests/mpi/test_ring_mpi.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* A one-rank transport: nothing is ever sent; the allgather is a copy. */
static lc_status self_send(void *ctx, const void *buf, size_t bytes, int to, int tag) {
    (void)ctx, (void)buf, (void)bytes, (void)to, (void)tag;
    return lc_error(LC_EINTERNAL, "a one-rank ring sent a message");
}
static lc_status self_recv(void *ctx, void *buf, size_t bytes, int from, int tag) {
    (void)ctx, (void)buf, (void)bytes, (void)from, (void)tag;
    return lc_error(LC_EINTERNAL, "a one-rank ring posted a receive");
}
static lc_status self_wait(void *ctx, int slot, double timeout_s) {
    (void)ctx, (void)slot, (void)timeout_s;
    return LC_OK;
}
static lc_status self_allgather(void *ctx, const void *in, void *out, size_t bytes, double timeout_s) {
    (void)ctx, (void)timeout_s;
    memcpy(out, in, bytes);
    return LC_OK;
}

static lc_ring_transport fake(int rank, int size) {
    lc_ring_transport t = {NULL, rank, size, self_send, self_recv, self_wait, NULL, self_allgather};
    return t;
}

/* Brute force: may some query of q_rank see some key of kv_rank? */
static int brute_needs(const lc_mask *m, lc_ring_layout layout, int P, int64_t n_local, int qr, int kr) {
    const int nc = lc_ring_chunks(layout);
    const int64_t c = n_local / nc;
    for (int x = 0; x < nc; x++)
        for (int y = 0; y < nc; y++) {
            int64_t qs = lc_ring_chunk_start(layout, P, qr, x, n_local), ks = lc_ring_chunk_start(layout, P, kr, y, n_local);
            for (int64_t i = qs; i < qs + c; i++)
                for (int64_t j = ks; j < ks + c; j++)
                    if (lc_mask_allows(m, i, j)) return 1;
        }
    return 0;
}

static void test_plan(test_rng *rng) {
    for (int trial = 0; trial < 400; trial++) {
        const int P = 1 + (int)test_below(rng, 6);
        const lc_ring_layout layout = (lc_ring_layout)test_below(rng, 2);
        int64_t n_local = 1 + (int64_t)test_below(rng, 12);
        if (layout == LC_RING_ZIGZAG) n_local *= 2;
        const int64_t N = n_local * P;
        lc_mask m = lc_mask_full();
        int kind = (int)test_below(rng, 5), exact = 1;
        if (kind == 1) m = lc_mask_causal();
        if (kind == 2) m = lc_mask_sliding_window(1 + (int64_t)test_below(rng, (uint64_t)N));
        if (kind == 3) m = lc_mask_sliding_window(1 + (int64_t)test_below(rng, (uint64_t)N)), m.window.dilation = 3, exact = 0;
        if (kind == 4) m = lc_mask_causal(), m.stride.every = 2 + (int64_t)test_below(rng, 4), exact = 0;
        lc_ring_transport t = fake(0, P);
        lc_ring r = {0};
        r.attn.q.shape[1] = n_local, r.attn.mask = m, r.layout = layout, r.transport = &t;

        /* Chunks tile the sequence exactly once. */
        uint8_t *seen = calloc((size_t)N, 1);
        for (int rank = 0; rank < P; rank++)
            for (int x = 0; x < lc_ring_chunks(layout); x++)
                for (int64_t s = 0; s < n_local / lc_ring_chunks(layout); s++) seen[lc_ring_chunk_start(layout, P, rank, x, n_local) + s]++;
        int once = 1;
        for (int64_t s = 0; s < N; s++) once &= seen[s] == 1;
        CHECK(once, "P=%d layout %d n_local=%lld: chunks do not tile the sequence", P, (int)layout, (long long)n_local);
        free(seen);

        for (int kr = 0; kr < P; kr++) {
            int brute_last = -1;
            for (int q = 0; q < P; q++) {
                int b = brute_needs(&m, layout, P, n_local, q, kr), n = lc_ring_needs(&r, q, kr);
                CHECK(exact ? n == b : (n || !b), "P=%d layout %d n_local=%lld mask kind %d: needs(%d, %d)=%d, brute force %d", P, (int)layout, (long long)n_local, kind, q, kr, n, b);
            }
            for (int hop = P - 1; hop >= 0 && brute_last < 0; hop--)
                if (brute_needs(&m, layout, P, n_local, (kr + hop) % P, kr)) brute_last = hop;
            int last = lc_ring_last_hop(&r, kr);
            CHECK(exact ? last == brute_last : last >= brute_last, "P=%d layout %d kind %d: last hop of slice %d is %d, brute force %d", P, (int)layout, kind, kr, last, brute_last);
        }
        /* Causal contiguous: slice o goes to every later rank and no further. */
        if (kind == 1 && layout == LC_RING_CONTIGUOUS)
            for (int kr = 0; kr < P; kr++) CHECK(lc_ring_last_hop(&r, kr) == P - 1 - kr, "causal contiguous: slice %d travels %d hops", kr, lc_ring_last_hop(&r, kr));
    }
}

static void test_merge(test_rng *rng) {
    const lc_ring_compute *cp = lc_ring_compute_cpu();
    enum { B = 2, H = 3, DV = 5, N = 7 };
    for (int trial = 0; trial < 50; trial++) {
        const int64_t rows = 1 + (int64_t)test_below(rng, N), row0 = (int64_t)test_below(rng, (uint64_t)(N - rows + 1));
        lc_ring_rows all = {B, H, DV, N, 0, N}, g = {B, H, DV, N, row0, rows};
        float acc[B * N * H * DV], lse[B * H * N], part[B * N * H * DV], plse[B * H * N];
        double want[B * N * H * DV], want_lse[B * H * N];
        cp->begin(NULL, acc, lse, &all);
        for (int i = 0; i < B * H * N; i++) CHECK(lse[i] == -INFINITY, "begin: lse[%d]=%g", i, lse[i]);
        for (int i = 0; i < B * N * H * DV; i++) CHECK(acc[i] == 0, "begin: out[%d]=%g", i, acc[i]);
        /* A first partial over all rows, then one over [row0, row0+rows). */
        for (int i = 0; i < B * N * H * DV; i++) part[i] = (float)(test_uniform(rng) * 4 - 2);
        for (int i = 0; i < B * H * N; i++) plse[i] = test_below(rng, 6) == 0 ? -INFINITY : (float)(test_uniform(rng) * 20 - 10);
        cp->merge(NULL, acc, lse, part, plse, &all);
        for (int i = 0; i < B * N * H * DV; i++) want[i] = plse[(i / DV % H + (i / DV / H / N) * H) * N + i / DV / H % N] == -INFINITY ? 0 : part[i];
        for (int i = 0; i < B * H * N; i++) want_lse[i] = plse[i];
        for (int i = 0; i < B * rows * H * DV; i++) part[i] = (float)(test_uniform(rng) * 4 - 2);
        for (int i = 0; i < B * H * rows; i++) plse[i] = test_below(rng, 6) == 0 ? -INFINITY : (float)(test_uniform(rng) * 20 - 10);
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
                for (int r = 0; r < rows; r++) {
                    double L = want_lse[(b * H + h) * N + row0 + r], l = plse[(b * H + h) * rows + r];
                    if (l == -INFINITY) continue;
                    double m = L > l ? L : l, s = exp(L - m) + exp(l - m);
                    for (int d = 0; d < DV; d++) {
                        double *O = &want[((b * N + row0 + r) * H + h) * DV + d];
                        *O = (*O * exp(L - m) + part[((b * rows + r) * H + h) * DV + d] * exp(l - m)) / s;
                    }
                    want_lse[(b * H + h) * N + row0 + r] = m + log(s);
                }
        cp->merge(NULL, acc, lse, part, plse, &g);
        for (int i = 0; i < B * N * H * DV; i++) CHECK(fabs(acc[i] - want[i]) <= 1e-6, "merge: out[%d]=%.9g, float64 %.9g", i, acc[i], want[i]);
        for (int i = 0; i < B * H * N; i++)
            CHECK(lse[i] == want_lse[i] || fabs(lse[i] - want_lse[i]) <= 1e-5, "merge: lse[%d]=%.9g, float64 %.9g", i, lse[i], want_lse[i]);
    }
}

static lc_ring valid_ring(lc_ring_transport *t, float *buf, int64_t n) {
    lc_ring r = {0};
    r.attn.q = lc_tensor_bshd(buf, LC_F32, 1, n, 2, 8);
    r.attn.k = lc_tensor_bshd(buf + n * 16, LC_F32, 1, n, 2, 8);
    r.attn.v = lc_tensor_bshd(buf + n * 32, LC_F32, 1, n, 2, 8);
    r.attn.out = lc_tensor_bshd(buf + n * 48, LC_F32, 1, n, 2, 8);
    r.attn.threads = 1;
    r.transport = t;
    return r;
}

static void expect(const lc_ring *r, lc_status want, const char *says, const char *what) {
    lc_status st = lc_ring_check(r);
    CHECK(st == want && strstr(lc_last_error(), says), "%s: %s '%s' (want %s naming '%s')", what, lc_status_str(st), lc_last_error(), lc_status_str(want), says);
    if (want) CHECK(lc_ring_workspace_size(r) == 0, "%s: workspace size of a bad descriptor", what);
}

static void test_check(void) {
    float *buf = calloc(64 * 16, sizeof(float));
    lc_ring_transport t = fake(0, 3), bad_t = fake(3, 3);
    lc_ring r = valid_ring(&t, buf, 16);
    CHECK(lc_ring_check(&r) == LC_OK && lc_ring_workspace_size(&r) > 0, "valid ring refused: %s", lc_last_error());
    lc_ring x = r;
    x.transport = NULL, expect(&x, LC_EINVAL, "ring.transport", "no transport");
    x = r, x.transport = &bad_t, expect(&x, LC_EINVAL, "rank=3", "rank past size");
    x = r, x.layout = (lc_ring_layout)7, expect(&x, LC_EINVAL, "ring.layout", "layout");
    x = r, x.timeout_s = -1, expect(&x, LC_EINVAL, "timeout_s", "timeout");
    x = r, x.attn.k.shape[1] = 8, x.attn.v.shape[1] = 8, expect(&x, LC_EINVAL, "k.shape[1]=8", "k slice shorter than q");
    x = r, x.layout = LC_RING_ZIGZAG, x.attn.q.shape[1] = x.attn.k.shape[1] = x.attn.v.shape[1] = x.attn.out.shape[1] = 15;
    expect(&x, LC_EINVAL, "odd", "zigzag odd slice");
    x = r, x.attn.mask.sinks = 2, expect(&x, LC_EUNSUPPORTED, "mask.sinks", "sinks");
    x = r, x.attn.mask.q_offset = 5, expect(&x, LC_EUNSUPPORTED, "mask.q_offset", "q_offset");
    x = r, x.attn.mask.stride = (lc_mask_stride){4, 1}, expect(&x, LC_EUNSUPPORTED, "mask.stride.summary", "fixed stride");
    int64_t g[1] = {0};
    x = r, x.attn.mask.global = (lc_mask_global){g, 1}, expect(&x, LC_EUNSUPPORTED, "mask.global", "global tokens");
    x = r, x.attn.mask.window = (lc_mask_window){1, 2, 2, 0}, expect(&x, LC_EUNSUPPORTED, "negative q_offset", "non-causal window");
    x = r, x.attn.mask = lc_mask_sliding_window(5), expect(&x, LC_OK, "", "causal window");
    lc_ring_compute half = *lc_ring_compute_cpu();
    half.merge = NULL;
    x = r, x.compute = &half, expect(&x, LC_EINVAL, "ring.compute", "incomplete compute table");
    x = r, x.attn.q.data = NULL, expect(&x, LC_EINVAL, "q", "q without data");
    CHECK(lc_ring_split_check(LC_RING_CONTIGUOUS, 4, 10) == LC_EINVAL && strstr(lc_last_error(), "12"), "split 10 over 4: %s", lc_last_error());
    CHECK(lc_ring_split_check(LC_RING_CONTIGUOUS, 0, 10) == LC_EINVAL, "split over 0 ranks");
    CHECK(lc_ring_split_check(LC_RING_ZIGZAG, 2, 2) == LC_EINVAL, "2 tokens over 2 zigzag ranks (4 chunks)");
    CHECK(lc_ring_split_check(LC_RING_ZIGZAG, 2, 8) == LC_OK, "8 tokens over 2 zigzag ranks: %s", lc_last_error());
    /* The driver refuses too, and a too-small workspace. */
    x = r, x.attn.mask.sinks = 2;
    CHECK(lc_ring_attention_alloc(&x, NULL) == LC_EUNSUPPORTED, "driver with sinks");
    lc_ring one = r;
    lc_ring_transport t1 = fake(0, 1);
    one.transport = &t1;
    size_t need = lc_ring_workspace_size(&one);
    void *ws = lc_aligned_alloc(need, 64);
    CHECK(lc_ring_attention(&one, ws, need - 1, NULL) == LC_EINVAL && strstr(lc_last_error(), "workspace_bytes"), "short workspace: %s", lc_last_error());
    CHECK(lc_ring_attention(&one, NULL, need, NULL) == LC_EINVAL && strstr(lc_last_error(), "workspace is NULL"), "NULL workspace: %s", lc_last_error());
    lc_aligned_free(ws);
    free(buf);
}

/* The whole driver on one rank (zigzag: two chunks, four chunk pairs) against flash. */
static void test_one_rank(test_rng *rng) {
    for (int trial = 0; trial < 40; trial++) {
        const lc_ring_layout layout = (lc_ring_layout)(trial % 2);
        int64_t n = 1 + (int64_t)test_below(rng, 300);
        if (layout == LC_RING_ZIGZAG) n += n % 2;
        const int64_t B = 1 + (int64_t)test_below(rng, 2), hkv = 1 + (int64_t)test_below(rng, 2), hq = hkv * (1 + (int64_t)test_below(rng, 2)), d = 16;
        lc_mask m = trial % 3 == 0 ? lc_mask_full() : trial % 3 == 1 ? lc_mask_causal() : lc_mask_sliding_window(1 + (int64_t)test_below(rng, (uint64_t)n));
        size_t nq = (size_t)(B * n * hq * d), nk = (size_t)(B * n * hkv * d);
        float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *o1 = malloc(nq * 4), *o2 = malloc(nq * 4);
        float *l1 = malloc((size_t)(B * hq * n) * 4), *l2 = malloc((size_t)(B * hq * n) * 4);
        lc_rng_fill_normal(q, nq, rng->seed, rng->counter, 0, 1, 1), rng->counter += nq;
        lc_rng_fill_normal(k, nk, rng->seed, rng->counter, 0, 1, 1), rng->counter += nk;
        lc_rng_fill_normal(v, nk, rng->seed, rng->counter, 0, 1, 1), rng->counter += nk;
        lc_ring_transport t = fake(0, 1);
        lc_ring r = {0};
        r.attn.q = lc_tensor_bshd(q, LC_F32, B, n, hq, d), r.attn.k = lc_tensor_bshd(k, LC_F32, B, n, hkv, d);
        r.attn.v = lc_tensor_bshd(v, LC_F32, B, n, hkv, d), r.attn.out = lc_tensor_bshd(o1, LC_F32, B, n, hq, d);
        r.attn.lse = l1, r.attn.mask = m, r.attn.threads = 1, r.layout = layout, r.transport = &t;
        lc_attention ref = r.attn;
        ref.out.data = o2, ref.lse = l2;
        lc_ring_stats s;
        lc_status st = lc_ring_attention_alloc(&r, &s);
        CHECK(st == LC_OK, "one rank: %s", lc_last_error());
        CHECK(lc_attention_flash_alloc(&ref) == LC_OK, "flash: %s", lc_last_error());
        double err = 0, lerr = 0;
        for (size_t i = 0; i < nq; i++) err = fmax(err, fabs((double)o1[i] - o2[i]));
        for (int64_t i = 0; i < B * hq * n; i++) lerr = fmax(lerr, l1[i] == l2[i] ? 0 : fabs((double)l1[i] - l2[i]));
        CHECK(err <= 1e-5 && lerr <= 1e-5, "one rank, layout %d, n=%lld: out error %g, lse error %g", (int)layout, (long long)n, err, lerr);
        CHECK(s.steps == 1 && s.blocks_computed == 1 && s.bytes_sent == 0, "one rank: %d steps, %d slices, %lld bytes", s.steps, s.blocks_computed, (long long)s.bytes_sent);
        free(q), free(k), free(v), free(o1), free(o2), free(l1), free(l2);
    }
}

int main(void) {
    test_rng rng = {test_seed("test_ring"), 0};
    test_plan(&rng);
    test_merge(&rng);
    test_check();
    test_one_rank(&rng);
    return test_finish("test_ring");
}
