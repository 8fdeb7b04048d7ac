/* The kNN memory on fresh random inputs: search against a float64 brute force, memory
 * attention with top_k = size against lc_attention_naive over the held pairs, FIFO
 * eviction, save / load round trips, refused files, and bad input that changes nothing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memory_util.h"

static const char *kind_name[] = {"exact", "hnsw", "ivf"};

/* A memory of a random shape fed `total` tokens in random chunks of random dtypes; the
 * IVF index probes every list, so it is exact. */
static lc_knn_memory *random_memory(test_rng *r, lc_memory_index kind, int64_t total) {
    static const int64_t dims[] = {1, 8, 33, 64};
    lc_knn_memory_config c = {0};
    c.heads = 1 + (int64_t)test_below(r, 2);
    c.d_k = dims[test_below(r, 4)];
    c.d_v = test_below(r, 2) ? c.d_k : dims[test_below(r, 4)];
    c.capacity = 1 + (int64_t)test_below(r, 300);
    c.segment = test_below(r, 3) ? 1 + (int64_t)test_below(r, (uint64_t)c.capacity) : 0;
    c.index = kind;
    c.threads = 1 + (int)test_below(r, 2);
    if (kind == LC_MEMORY_IVF) c.ivf_lists = 1 + (int)test_below(r, 4), c.ivf_probe = c.ivf_lists;
    lc_knn_memory *m = NULL;
    lc_status st = lc_knn_memory_create(&c, &m);
    CHECK(st == LC_OK, "create: %s", lc_last_error());
    for (int64_t done = 0; m && done < total;) {
        int64_t n = 1 + (int64_t)test_below(r, 100);
        if (n > total - done) n = total - done;
        lc_dtype t = (lc_dtype)test_below(r, 3);
        lc_tensor k = mem_test_tensor(t, 1, n, c.heads, c.d_k, r), v = mem_test_tensor(t, 1, n, c.heads, c.d_v, r);
        st = lc_knn_memory_append(m, &k, &v);
        CHECK(st == LC_OK, "append %lld: %s", (long long)n, lc_last_error());
        free(k.data), free(v.data);
        done += n;
    }
    return m;
}

/* The held keys or values of a memory as an f32 [1, size, heads, d] tensor. */
static lc_tensor held(const lc_knn_memory *m, int values) {
    const lc_knn_memory_config *c = lc_knn_memory_config_of(m);
    int64_t n = lc_knn_memory_size(m), first = lc_knn_memory_first(m), d = values ? c->d_v : c->d_k;
    lc_tensor t = lc_tensor_bshd(malloc((size_t)(n * c->heads * d) * sizeof(float)), LC_F32, 1, n, c->heads, d);
    float *k = malloc((size_t)c->d_k * sizeof(float)), *v = malloc((size_t)c->d_v * sizeof(float));
    for (int64_t p = 0; p < n; p++)
        for (int64_t h = 0; h < c->heads; h++) {
            lc_knn_memory_get(m, h, first + p, k, v);
            memcpy((float *)t.data + lc_tensor_offset(&t, 0, p, h, 0), values ? v : k, (size_t)d * sizeof(float));
        }
    free(k), free(v);
    return t;
}

/* Every returned position is held, distinct, and among the true top_k up to 1e-4; scores
 * are the inner products, best first. For approximate kinds only the consistency is checked. */
static void test_search(test_rng *r, lc_memory_index kind) {
    for (int rep = 0; rep < 12; rep++) {
        lc_knn_memory *m = random_memory(r, kind, 1 + (int64_t)test_below(r, 700));
        if (!m) return;
        const lc_knn_memory_config *c = lc_knn_memory_config_of(m);
        int64_t size = lc_knn_memory_size(m), hq = c->heads * (1 + (int64_t)test_below(r, 3)), n_q = 1 + (int64_t)test_below(r, 30);
        int64_t top_k = test_below(r, 4) ? 1 + (int64_t)test_below(r, (uint64_t)size) : size;
        lc_tensor q = mem_test_tensor((lc_dtype)test_below(r, 3), 1, n_q, hq, c->d_k, r), keys = held(m, 0);
        int64_t *pos = malloc((size_t)(hq * n_q * top_k) * sizeof(int64_t));
        float *score = malloc((size_t)(hq * n_q * top_k) * sizeof(float));
        double *all = malloc((size_t)size * sizeof(double));
        lc_status st = lc_knn_memory_search(m, &q, top_k, pos, score);
        CHECK(st == LC_OK, "search: %s", lc_last_error());
        int ok = st == LC_OK;
        for (int64_t h = 0; ok && h < hq; h++)
            for (int64_t i = 0; i < n_q; i++) {
                int64_t hm = h / (hq / c->heads), first = lc_knn_memory_first(m);
                for (int64_t p = 0; p < size; p++) {
                    double s = 0;
                    for (int64_t d = 0; d < c->d_k; d++) s += (double)mem_test_elem(&q, 0, i, h, d) * mem_test_elem(&keys, 0, p, hm, d);
                    all[p] = s;
                }
                double kth; /* the true top_k-th score: a selection by repeated max is fine at this size */
                {
                    double *sorted = malloc((size_t)size * sizeof(double));
                    memcpy(sorted, all, (size_t)size * sizeof(double));
                    for (int64_t a = 0; a < top_k; a++)
                        for (int64_t b = a + 1; b < size; b++)
                            if (sorted[b] > sorted[a]) { double t = sorted[a]; sorted[a] = sorted[b], sorted[b] = t; }
                    kth = sorted[top_k - 1];
                    free(sorted);
                }
                const int64_t *pr = pos + (h * n_q + i) * top_k;
                const float *sr = score + (h * n_q + i) * top_k;
                for (int64_t a = 0; a < top_k; a++) {
                    if (pr[a] < 0 && kind == LC_MEMORY_HNSW) continue; /* HNSW may find fewer */
                    if (pr[a] < first || pr[a] >= first + size) { ok = 0; break; }
                    double s = all[pr[a] - first];
                    if (!(fabs(sr[a] - s) <= 1e-4 * (1 + fabs(s)))) ok = 0;
                    if (a && !(sr[a] <= sr[a - 1])) ok = 0;
                    for (int64_t b = 0; b < a; b++)
                        if (pr[b] == pr[a]) ok = 0;
                    if (kind != LC_MEMORY_HNSW && !(s >= kth - 1e-4 * (1 + fabs(kth)))) ok = 0;
                }
            }
        CHECK(ok, "%s search: heads %lld/%lld d_k=%lld capacity=%lld segment=%lld size=%lld n_q=%lld top_k=%lld", kind_name[kind], (long long)hq,
              (long long)c->heads, (long long)c->d_k, (long long)c->capacity, (long long)c->segment, (long long)size, (long long)n_q, (long long)top_k);
        free(q.data), free(keys.data), free(pos), free(score), free(all);
        lc_knn_memory_destroy(m);
    }
}

/* top_k = size over an exact index: out = g mem + (1 - g) local, with mem the full
 * attention over the held pairs and local the masked attention, both by the reference. */
static void test_attention_full(test_rng *r, lc_memory_index kind) {
    for (int rep = 0; rep < 12; rep++) {
        lc_knn_memory *m = random_memory(r, kind, 1 + (int64_t)test_below(r, 600));
        if (!m) return;
        const lc_knn_memory_config *c = lc_knn_memory_config_of(m);
        int64_t hq = c->heads * (1 + (int64_t)test_below(r, 3)), n_l = 1 + (int64_t)test_below(r, 40), n_q = 1 + (int64_t)test_below(r, (uint64_t)n_l);
        lc_knn_attention a = {0};
        a.memory = m, a.top_k = lc_knn_memory_size(m);
        a.local.q = mem_test_tensor((lc_dtype)test_below(r, 3), 1, n_q, hq, c->d_k, r);
        a.local.k = mem_test_tensor((lc_dtype)test_below(r, 3), 1, n_l, c->heads, c->d_k, r);
        a.local.v = mem_test_tensor((lc_dtype)test_below(r, 3), 1, n_l, c->heads, c->d_v, r);
        a.local.out = mem_test_tensor(LC_F32, 1, n_q, hq, c->d_v, r);
        a.local.scale = test_below(r, 2) ? 0.0f : (float)(0.05 + test_uniform(r));
        a.local.mask = lc_mask_sliding_window(1 + (int64_t)test_below(r, (uint64_t)n_l));
        a.local.mask.q_offset = n_l - n_q;
        a.local.threads = 1 + (int)test_below(r, 2);
        float *gate = malloc((size_t)hq * sizeof(float));
        for (int64_t h = 0; h < hq; h++) gate[h] = test_below(r, 3) == 0 ? (float)test_below(r, 2) : (float)test_uniform(r);
        a.gate = gate;

        lc_attention mem = {0}, loc = a.local;
        mem.q = a.local.q, mem.k = held(m, 0), mem.v = held(m, 1), mem.scale = a.local.scale;
        mem.out = mem_test_tensor(LC_F32, 1, n_q, hq, c->d_v, r);
        loc.out = mem_test_tensor(LC_F32, 1, n_q, hq, c->d_v, r);
        lc_status st = lc_knn_attention_retrieve(&a), s1 = lc_attention_naive(&mem, 0), s2 = lc_attention_naive(&loc, 0);
        CHECK(st == LC_OK && s1 == LC_OK && s2 == LC_OK, "knn attention %s / naive %s %s: %s", lc_status_str(st), lc_status_str(s1), lc_status_str(s2), lc_last_error());
        double worst = 0;
        int ok = st == LC_OK;
        for (int64_t i = 0; ok && i < n_q; i++)
            for (int64_t h = 0; h < hq; h++)
                for (int64_t d = 0; d < c->d_v; d++) {
                    double want = gate[h] * (double)mem_test_elem(&mem.out, 0, i, h, d) + (1 - (double)gate[h]) * mem_test_elem(&loc.out, 0, i, h, d);
                    double err = fabs(mem_test_elem(&a.local.out, 0, i, h, d) - want);
                    if (!(err <= 1e-5 * (1 + fabs(want)))) ok = 0;
                    if (err > worst) worst = err;
                }
        CHECK(ok, "%s knn attention top_k=size: heads %lld/%lld d_k=%lld d_v=%lld size=%lld n_q=%lld n_local=%lld: worst |err| %g", kind_name[kind],
              (long long)hq, (long long)c->heads, (long long)c->d_k, (long long)c->d_v, (long long)a.top_k, (long long)n_q, (long long)n_l, worst);
        free(a.local.q.data), free(a.local.k.data), free(a.local.v.data), free(a.local.out.data);
        free(mem.k.data), free(mem.v.data), free(mem.out.data), free(loc.out.data), free(gate);
        lc_knn_memory_destroy(m);
    }
}

/* FIFO: after appending T > capacity tokens the memory holds exactly the last capacity,
 * bit for bit. */
static void test_eviction(test_rng *r) {
    for (int rep = 0; rep < 10; rep++) {
        lc_knn_memory_config c = {1 + (int64_t)test_below(r, 2), 8, 5, 1 + (int64_t)test_below(r, 200), 0, (lc_memory_index)test_below(r, 3), 0, 0, 0, 0, 1};
        c.segment = 1 + (int64_t)test_below(r, (uint64_t)c.capacity);
        int64_t total = c.capacity + 1 + (int64_t)test_below(r, 500);
        lc_tensor k = mem_test_tensor(LC_F32, 1, total, c.heads, c.d_k, r), v = mem_test_tensor(LC_F32, 1, total, c.heads, c.d_v, r);
        lc_knn_memory *m = NULL;
        CHECK(lc_knn_memory_create(&c, &m) == LC_OK, "create: %s", lc_last_error());
        if (!m) return;
        for (int64_t done = 0; done < total;) {
            int64_t n = 1 + (int64_t)test_below(r, (uint64_t)(test_below(r, 2) ? 50 : total));
            if (n > total - done) n = total - done;
            lc_tensor kc = k, vc = v;
            kc.data = (float *)k.data + done * c.heads * c.d_k, vc.data = (float *)v.data + done * c.heads * c.d_v;
            kc.shape[1] = vc.shape[1] = n, kc.capacity = n * c.heads * c.d_k, vc.capacity = n * c.heads * c.d_v;
            CHECK(lc_knn_memory_append(m, &kc, &vc) == LC_OK, "append: %s", lc_last_error());
            done += n;
            int64_t want = done < c.capacity ? done : c.capacity;
            CHECK(lc_knn_memory_size(m) == want, "size %lld after %lld appended, capacity %lld", (long long)lc_knn_memory_size(m), (long long)done, (long long)c.capacity);
        }
        CHECK(lc_knn_memory_first(m) == total - c.capacity, "first %lld, want %lld", (long long)lc_knn_memory_first(m), (long long)(total - c.capacity));
        float kr[8], vr[5];
        int same = 1;
        for (int64_t p = total - c.capacity; p < total; p++)
            for (int64_t h = 0; h < c.heads; h++) {
                if (lc_knn_memory_get(m, h, p, kr, vr)) same = 0;
                if (memcmp(kr, (float *)k.data + (p * c.heads + h) * c.d_k, sizeof kr) || memcmp(vr, (float *)v.data + (p * c.heads + h) * c.d_v, sizeof vr)) same = 0;
            }
        CHECK(same, "%s memory does not hold exactly the last %lld of %lld tokens", kind_name[c.index], (long long)c.capacity, (long long)total);
        CHECK(lc_knn_memory_get(m, 0, total - c.capacity - 1, kr, vr) == LC_ERANGE, "an evicted position is still readable");
        CHECK(lc_knn_memory_get(m, 0, total, kr, vr) == LC_ERANGE, "a future position is readable");
        lc_knn_memory_destroy(m);
        free(k.data), free(v.data);
    }
}

static char *slurp(const char *path, long *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)*n + 1);
    if (fread(b, 1, (size_t)*n, f) != (size_t)*n) *n = -1;
    fclose(f);
    return b;
}

static void spit(const char *path, const char *b, long n) {
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, (size_t)n, f);
    fclose(f);
}

/* The load of `path` is refused with `want` and a sentence containing `words`. */
static void expect_refused(const char *path, lc_status want, const char *words, const char *what) {
    lc_knn_memory *m = (lc_knn_memory *)1;
    lc_status st = lc_knn_memory_load(path, 1, &m);
    CHECK(st == want && m == NULL && strstr(lc_last_error(), words), "%s: got %s '%s', want %s mentioning '%s'", what, lc_status_str(st), lc_last_error(),
          lc_status_str(want), words);
}

/* Save, load, save again: the same bytes, the same rows, the same search results; then
 * the damaged copies are refused. */
static void test_save_load(test_rng *r) {
    char path[128], path2[128];
    snprintf(path, sizeof path, "/tmp/longctx_test_memory_%d.bin", (int)getpid());
    snprintf(path2, sizeof path2, "/tmp/longctx_test_memory_%d_b.bin", (int)getpid());
    for (lc_memory_index kind = LC_MEMORY_EXACT; kind <= LC_MEMORY_IVF; kind++)
        for (int rep = 0; rep < 3; rep++) {
            lc_knn_memory *m = random_memory(r, kind, (int64_t)test_below(r, 700)), *l = NULL;
            if (!m) return;
            CHECK(lc_knn_memory_save(m, path) == LC_OK, "save: %s", lc_last_error());
            CHECK(lc_knn_memory_load(path, 2, &l) == LC_OK, "load: %s", lc_last_error());
            if (!l) return;
            CHECK(lc_knn_memory_save(l, path2) == LC_OK, "save again: %s", lc_last_error());
            long n1 = 0, n2 = 0;
            char *b1 = slurp(path, &n1), *b2 = slurp(path2, &n2);
            CHECK(b1 && b2 && n1 == n2 && n1 > 0 && !memcmp(b1, b2, (size_t)n1), "%s: save / load / save changed the file (%ld vs %ld bytes)", kind_name[kind], n1, n2);
            const lc_knn_memory_config *a = lc_knn_memory_config_of(m), *b = lc_knn_memory_config_of(l);
            CHECK(a->heads == b->heads && a->d_k == b->d_k && a->d_v == b->d_v && a->capacity == b->capacity && a->segment == b->segment &&
                      a->index == b->index && a->ivf_lists == b->ivf_lists && lc_knn_memory_first(m) == lc_knn_memory_first(l) &&
                      lc_knn_memory_size(m) == lc_knn_memory_size(l),
                  "%s: loaded memory differs in shape", kind_name[kind]);
            int64_t size = lc_knn_memory_size(m);
            if (size > 0 && kind != LC_MEMORY_HNSW) {
                lc_tensor q = mem_test_tensor(LC_F32, 1, 7, a->heads, a->d_k, r);
                int64_t k = 1 + (int64_t)test_below(r, (uint64_t)size), *p1 = malloc((size_t)(7 * a->heads * k) * 8), *p2 = malloc((size_t)(7 * a->heads * k) * 8);
                float *s1 = malloc((size_t)(7 * a->heads * k) * 4), *s2 = malloc((size_t)(7 * a->heads * k) * 4);
                CHECK(lc_knn_memory_search(m, &q, k, p1, s1) == LC_OK && lc_knn_memory_search(l, &q, k, p2, s2) == LC_OK, "search: %s", lc_last_error());
                CHECK(!memcmp(p1, p2, (size_t)(7 * a->heads * k) * 8) && !memcmp(s1, s2, (size_t)(7 * a->heads * k) * 4), "%s: loaded memory searches differently", kind_name[kind]);
                free(q.data), free(p1), free(p2), free(s1), free(s2);
            }

            /* damaged copies */
            const long header = 8 + 4 + 4 + 14 * 8;
            if (n1 > header + 8) {
                char *bad = malloc((size_t)n1);
                memcpy(bad, b1, (size_t)n1);
                bad[header + (long)test_below(r, (uint64_t)(n1 - header))] ^= (char)(1 + test_below(r, 255));
                spit(path2, bad, n1);
                expect_refused(path2, LC_EFORMAT, "checksum", "a flipped byte after the header");
                free(bad);
            }
            long cut = (long)test_below(r, (uint64_t)n1);
            spit(path2, b1, cut);
            expect_refused(path2, LC_EFORMAT, "truncated", "a truncated file");
            memcpy(b2, b1, (size_t)n1);
            b2[8] ^= 0x7f; /* the version */
            spit(path2, b2, n1);
            expect_refused(path2, LC_EFORMAT, "version", "another version");
            memcpy(b2, b1, (size_t)n1);
            b2[16 + 8] = (char)0xff; /* d_k becomes negative */
            b2[16 + 15] = (char)0xff;
            spit(path2, b2, n1);
            expect_refused(path2, LC_EFORMAT, "header", "a damaged header");
            free(b1), free(b2);
            lc_knn_memory_destroy(m), lc_knn_memory_destroy(l);
        }
    spit(path2, "# a text file, not a memory\n", 28);
    expect_refused(path2, LC_EFORMAT, "not a longctx", "a foreign file");
    remove(path), remove(path2);
    expect_refused(path2, LC_EIO, "cannot open", "a missing file");
}

/* Bad input: a status and a sentence naming the field, and a failed append changes nothing. */
static void test_bad_input(test_rng *r) {
    lc_knn_memory_config c = {2, 16, 8, 50, 20, LC_MEMORY_EXACT, 0, 0, 0, 0, 1}, bad = c;
    lc_knn_memory *m = NULL;
    bad.capacity = 0;
    CHECK(lc_knn_memory_create(&bad, &m) == LC_EINVAL && strstr(lc_last_error(), "capacity"), "capacity 0: %s", lc_last_error());
    bad = c, bad.segment = 51;
    CHECK(lc_knn_memory_create(&bad, &m) == LC_EINVAL && strstr(lc_last_error(), "segment"), "segment > capacity: %s", lc_last_error());
    bad = c, bad.index = (lc_memory_index)7;
    CHECK(lc_knn_memory_create(&bad, &m) == LC_EINVAL && strstr(lc_last_error(), "index"), "index 7: %s", lc_last_error());
    /* search breadths FAISS would allocate per search: bounded (a fuzzed file asked for ef 2^30) */
    bad = c, bad.index = LC_MEMORY_HNSW, bad.hnsw_ef_search = 65537;
    CHECK(lc_knn_memory_create(&bad, &m) == LC_EINVAL && strstr(lc_last_error(), "hnsw_ef_search=65537"), "ef_search: %s", lc_last_error());
    bad = c, bad.index = LC_MEMORY_IVF, bad.ivf_probe = (1 << 24) + 1;
    CHECK(lc_knn_memory_create(&bad, &m) == LC_EINVAL && strstr(lc_last_error(), "ivf_probe"), "ivf_probe: %s", lc_last_error());
    CHECK(lc_knn_memory_create(&c, &m) == LC_OK, "create: %s", lc_last_error());
    if (!m) return;

    lc_tensor q = mem_test_tensor(LC_F32, 1, 3, 2, 16, r);
    int64_t pos[3 * 2 * 60];
    float score[3 * 2 * 60];
    CHECK(lc_knn_memory_search(m, &q, 1, pos, score) == LC_ESTATE && strstr(lc_last_error(), "empty"), "empty memory: %s", lc_last_error());
    float gate[2] = {0.5f, 0.5f};
    lc_knn_attention a = {0};
    a.local.q = q, a.local.k = mem_test_tensor(LC_F32, 1, 3, 2, 16, r), a.local.v = mem_test_tensor(LC_F32, 1, 3, 2, 8, r);
    a.local.out = mem_test_tensor(LC_F32, 1, 3, 2, 8, r), a.memory = m, a.top_k = 1, a.gate = gate;
    CHECK(lc_knn_attention_retrieve(&a) == LC_ESTATE && strstr(lc_last_error(), "empty"), "attention over an empty memory: %s", lc_last_error());

    lc_tensor k = mem_test_tensor(LC_F32, 1, 30, 2, 16, r), v = mem_test_tensor(LC_F32, 1, 30, 2, 8, r);
    CHECK(lc_knn_memory_append(m, &k, &v) == LC_OK, "append: %s", lc_last_error());
    lc_tensor before_k = held(m, 0), before_v = held(m, 1);

    /* failed appends */
    lc_tensor k2 = mem_test_tensor(LC_F32, 1, 40, 2, 16, r), v2 = mem_test_tensor(LC_F32, 1, 40, 2, 8, r), w = mem_test_tensor(LC_F32, 1, 40, 1, 16, r);
    lc_tensor wide = mem_test_tensor(LC_F32, 1, 40, 2, 17, r), b2 = mem_test_tensor(LC_F32, 2, 40, 2, 16, r), short_v = v2;
    short_v.shape[1] = 39;
    CHECK(lc_knn_memory_append(m, &w, &v2) == LC_EINVAL && strstr(lc_last_error(), "k.shape[2]"), "wrong heads: %s", lc_last_error());
    CHECK(lc_knn_memory_append(m, &wide, &v2) == LC_EINVAL && strstr(lc_last_error(), "k.shape[3]"), "wrong width: %s", lc_last_error());
    CHECK(lc_knn_memory_append(m, &b2, &v2) == LC_EINVAL && strstr(lc_last_error(), "batch"), "batch 2: %s", lc_last_error());
    CHECK(lc_knn_memory_append(m, &k2, &short_v) == LC_EINVAL && strstr(lc_last_error(), "shape[1]"), "length mismatch: %s", lc_last_error());
    ((float *)k2.data)[39 * 32 + 5] = NAN; /* the last token: the first 39 would evict and fill segments */
    CHECK(lc_knn_memory_append(m, &k2, &v2) == LC_EINVAL && strstr(lc_last_error(), "not finite"), "NaN key: %s", lc_last_error());
    ((float *)v2.data)[3] = INFINITY;
    CHECK(lc_knn_memory_append(m, &k, &v2) == LC_EINVAL, "mismatched lengths or inf value accepted");
    lc_tensor after_k = held(m, 0), after_v = held(m, 1);
    CHECK(lc_knn_memory_size(m) == 30 && lc_knn_memory_first(m) == 0 && !memcmp(before_k.data, after_k.data, 30 * 2 * 16 * 4) &&
              !memcmp(before_v.data, after_v.data, 30 * 2 * 8 * 4),
          "a failed append changed the memory");

    /* search and attention */
    CHECK(lc_knn_memory_search(m, &q, 31, pos, score) == LC_ERANGE && strstr(lc_last_error(), "top_k=31"), "top_k > size: %s", lc_last_error());
    CHECK(lc_knn_memory_search(m, &q, 0, pos, score) == LC_ERANGE, "top_k 0 accepted");
    lc_tensor q_wide = mem_test_tensor(LC_F32, 1, 3, 2, 15, r), q_heads = mem_test_tensor(LC_F32, 1, 3, 3, 16, r);
    CHECK(lc_knn_memory_search(m, &q_wide, 1, pos, score) == LC_EINVAL && strstr(lc_last_error(), "q.shape[3]=15"), "q width: %s", lc_last_error());
    CHECK(lc_knn_memory_search(m, &q_heads, 1, pos, score) == LC_EINVAL && strstr(lc_last_error(), "q.shape[2]=3"), "q heads: %s", lc_last_error());
    a.top_k = 31;
    CHECK(lc_knn_attention_retrieve(&a) == LC_ERANGE && strstr(lc_last_error(), "top_k"), "attention top_k > size: %s", lc_last_error());
    a.top_k = 30, gate[1] = 1.5f;
    CHECK(lc_knn_attention_retrieve(&a) == LC_EINVAL && strstr(lc_last_error(), "gate[1]"), "gate 1.5: %s", lc_last_error());
    gate[1] = 0.25f, a.local.softcap = 30;
    CHECK(lc_knn_attention_retrieve(&a) == LC_EUNSUPPORTED && strstr(lc_last_error(), "softcap"), "softcap: %s", lc_last_error());
    a.local.softcap = 0;
    CHECK(lc_knn_attention_retrieve(&a) == LC_OK, "a valid call after the bad ones: %s", lc_last_error());

    lc_knn_memory_destroy(m);
    void *bufs[] = {q.data, a.local.k.data, a.local.v.data, a.local.out.data, k.data, v.data, before_k.data, before_v.data, k2.data, v2.data, w.data,
                    wide.data, b2.data, after_k.data, after_v.data, q_wide.data, q_heads.data};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
}

int main(void) {
    uint64_t seed = test_seed("test_memory");
    test_rng r = {seed, 0};
    for (lc_memory_index kind = LC_MEMORY_EXACT; kind <= LC_MEMORY_IVF; kind++) test_search(&r, kind);
    test_attention_full(&r, LC_MEMORY_EXACT);
    test_attention_full(&r, LC_MEMORY_IVF);
    test_eviction(&r);
    test_save_load(&r);
    test_bad_input(&r);
    return test_finish("test_memory");
}
