/* Saving a kNN memory to a file and loading it back. Layout (native byte order, checked
 * by a mark):
 *   "LCKNNMEM" | u32 version | u32 byte-order mark 0x01020304 | 14 x i64 header fields |
 *   for each head: the held keys, oldest first, then the held values (f32) |
 *   u64 FNV-1a checksum of every byte before it.
 * Loading replays the rows through lc_knn_memory_append, which rebuilds the indexes. */
#include "memory_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LC_MEMORY_MAGIC "LCKNNMEM"
enum { LC_MEMORY_VERSION = 1, N_FIELDS = 14 };
static const uint32_t BYTE_ORDER_MARK = 0x01020304u;

typedef struct sink {
    FILE *f;
    uint64_t hash; /* FNV-1a 64 */
    int failed;
} sink;

static void fnv(uint64_t *h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) *h = (*h ^ b[i]) * 0x100000001b3ull;
}

static void put(sink *s, const void *p, size_t n) {
    fnv(&s->hash, p, n);
    if (!s->failed && fwrite(p, 1, n, s->f) != n) s->failed = 1;
}

static void header_fields(const lc_knn_memory *m, int64_t f[N_FIELDS]) {
    const lc_knn_memory_config *c = &m->c;
    int64_t v[N_FIELDS] = {c->heads, c->d_k, c->d_v, c->capacity, c->segment, c->index, c->hnsw_m, c->hnsw_ef_search, c->ivf_lists,
                           c->ivf_probe, m->first, m->end, 0, 0};
    memcpy(f, v, sizeof v);
}

lc_status lc_knn_memory_save(const lc_knn_memory *m, const char *path) {
    if (!m || !path) return lc_error(LC_EINVAL, "memory and path must not be NULL");
    sink s = {fopen(path, "wb"), 0xcbf29ce484222325ull, 0};
    if (!s.f) return lc_error(LC_EIO, "cannot open '%s' for writing: %s", path, strerror(errno));
    uint32_t version = LC_MEMORY_VERSION;
    int64_t f[N_FIELDS];
    header_fields(m, f);
    put(&s, LC_MEMORY_MAGIC, 8);
    put(&s, &version, 4);
    put(&s, &BYTE_ORDER_MARK, 4);
    put(&s, f, sizeof f);
    for (int64_t h = 0; h < m->c.heads; h++) {
        for (int64_t p = m->first; p < m->end; p++) put(&s, lc_mem_key(m, h, p), (size_t)m->c.d_k * sizeof(float));
        for (int64_t p = m->first; p < m->end; p++) put(&s, lc_mem_value(m, h, p), (size_t)m->c.d_v * sizeof(float));
    }
    uint64_t sum = s.hash;
    put(&s, &sum, 8);
    if (fclose(s.f) || s.failed) return lc_error(LC_EIO, "writing '%s' failed: %s", path, strerror(errno));
    return LC_OK;
}

/* Reads n bytes or says why not. */
static lc_status take(FILE *f, void *p, size_t n, uint64_t *hash, const char *path, const char *what) {
    if (fread(p, 1, n, f) != n)
        return ferror(f) ? lc_error(LC_EIO, "reading '%s' failed: %s", path, strerror(errno))
                         : lc_error(LC_EFORMAT, "'%s' is truncated: it ends inside the %s", path, what);
    if (hash) fnv(hash, p, n);
    return LC_OK;
}

static lc_status load_open(FILE *f, const char *path, int threads, lc_knn_memory **out) {
    uint64_t hash = 0xcbf29ce484222325ull;
    char magic[8];
    uint32_t version, bom;
    int64_t fl[N_FIELDS];
    lc_status st = take(f, magic, 8, &hash, path, "header");
    if (!st && memcmp(magic, LC_MEMORY_MAGIC, 8)) return lc_error(LC_EFORMAT, "'%s' is not a longctx kNN memory file (no LCKNNMEM mark)", path);
    if (!st) st = take(f, &version, 4, &hash, path, "header");
    if (!st && version != LC_MEMORY_VERSION)
        return lc_error(LC_EFORMAT, "'%s' is a longctx memory of format version %u; this build reads version %d", path, version, LC_MEMORY_VERSION);
    if (!st) st = take(f, &bom, 4, &hash, path, "header");
    if (!st && bom != BYTE_ORDER_MARK) return lc_error(LC_EFORMAT, "'%s' was written on a machine of another byte order", path);
    if (!st) st = take(f, fl, sizeof fl, &hash, path, "header");
    if (st) return st;
    lc_knn_memory_config c = {fl[0], fl[1], fl[2], fl[3], fl[4], (lc_memory_index)fl[5], (int)fl[6], (int)fl[7], (int)fl[8], (int)fl[9], threads};
    int64_t first = fl[10], end = fl[11];
    /* each refusal says its own reason: never a sentence left by an earlier call */
    if (lc_knn_memory_config_check(&c)) {
        char why[400];
        snprintf(why, sizeof why, "%s", lc_last_error());
        return lc_error(LC_EFORMAT, "'%s' has an inconsistent header (%s)", path, why);
    }
    if (fl[6] != c.hnsw_m || fl[7] != c.hnsw_ef_search || fl[8] != c.ivf_lists || fl[9] != c.ivf_probe)
        return lc_error(LC_EFORMAT, "'%s' has an inconsistent header (hnsw_m=%lld, hnsw_ef_search=%lld, ivf_lists=%lld, ivf_probe=%lld must be ints)",
                        path, (long long)fl[6], (long long)fl[7], (long long)fl[8], (long long)fl[9]);
    if (first < 0 || end < first || end - first > c.capacity)
        return lc_error(LC_EFORMAT, "'%s' has an inconsistent header (held positions [%lld, %lld) must be at most capacity=%lld tokens from 0 on)",
                        path, (long long)first, (long long)end, (long long)c.capacity);
    if (fl[12] || fl[13])
        return lc_error(LC_EFORMAT, "'%s' has an inconsistent header (reserved fields %lld, %lld must be 0)", path, (long long)fl[12], (long long)fl[13]);
    if (end > ((int64_t)1 << 62)) return lc_error(LC_EFORMAT, "'%s' has an inconsistent header (end=%lld is past 2^62)", path, (long long)end);

    /* The file's size must be exactly what the header says, before anything is allocated. */
    long here = ftell(f);
    if (here < 0 || fseek(f, 0, SEEK_END)) return lc_error(LC_EIO, "cannot seek in '%s': %s", path, strerror(errno));
    double want = (double)here + (double)c.heads * (double)(end - first) * (double)(c.d_k + c.d_v) * 4.0 + 8.0;
    long size = ftell(f);
    if (size < 0 || fseek(f, here, SEEK_SET)) return lc_error(LC_EIO, "cannot seek in '%s': %s", path, strerror(errno));
    if ((double)size != want)
        return lc_error(LC_EFORMAT, "'%s' is %s: its header promises %.0f bytes, the file has %ld", path, (double)size < want ? "truncated" : "longer than its header says", want, size);

    lc_knn_memory *m = NULL;
    if ((st = lc_knn_memory_create(&c, &m))) return st;
    m->first = m->end = first;
    const int64_t n = end - first, C = c.capacity;
    for (int64_t h = 0; !st && h < c.heads; h++) { /* straight into the ring, then appended in place below */
        for (int64_t p = first; !st && p < end; p++) st = take(f, m->keys + (h * C + p % C) * c.d_k, (size_t)c.d_k * 4, &hash, path, "keys");
        for (int64_t p = first; !st && p < end; p++) st = take(f, m->values + (h * C + p % C) * c.d_v, (size_t)c.d_v * 4, &hash, path, "values");
    }
    uint64_t sum;
    if (!st) st = take(f, &sum, 8, NULL, path, "checksum");
    if (!st && sum != hash) st = lc_error(LC_EFORMAT, "'%s' is corrupted: its checksum %016llx does not match its contents (%016llx)", path, (unsigned long long)sum, (unsigned long long)hash);
    if (!st && n) { /* index the rows: append them as views of the ring itself, one run of slots at a time */
        for (int64_t p = first; !st && p < end;) {
            int64_t run = end - p, to_wrap = C - p % C;
            if (run > to_wrap) run = to_wrap;
            lc_tensor k = lc_tensor_bshd(m->keys + (p % C) * c.d_k, LC_F32, 1, run, c.heads, c.d_k);
            lc_tensor v = lc_tensor_bshd(m->values + (p % C) * c.d_v, LC_F32, 1, run, c.heads, c.d_v);
            k.stride[1] = c.d_k, v.stride[1] = c.d_v, k.stride[2] = C * c.d_k, v.stride[2] = C * c.d_v;
            k.capacity = c.heads * C * c.d_k - (p % C) * c.d_k, v.capacity = c.heads * C * c.d_v - (p % C) * c.d_v;
            st = lc_knn_memory_append(m, &k, &v);
            p += run;
        }
    }
    if (st) {
        lc_knn_memory_destroy(m);
        return st;
    }
    *out = m;
    return LC_OK;
}

lc_status lc_knn_memory_load(const char *path, int threads, lc_knn_memory **out) {
    if (!path || !out) return lc_error(LC_EINVAL, "path and out must not be NULL");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return lc_error(LC_EIO, "cannot open '%s': %s", path, strerror(errno));
    lc_status st = load_open(f, path, threads, out);
    fclose(f);
    return st;
}
