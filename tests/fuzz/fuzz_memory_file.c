/* Fuzz harness: the kNN memory file loader (lc_knn_memory_load). Input: one mode byte, then
 * the file. Mode bit 0 set: the file's last 8 bytes are replaced by the FNV-1a checksum of
 * the bytes before them, so that mutated headers and rows with a valid checksum reach the
 * checks behind it. Checked: no crash or sanitizer report; a refusal is a status with a
 * fresh sentence (never an earlier call's); a loaded memory holds at most its capacity,
 * answers a search and gives back its rows. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1 << 20)) return 0;
    const int fix_checksum = data[0] & 1;
    size_t n = size - 1;
    uint8_t *file = malloc(n ? n : 1);
    if (!file) return 0;
    memcpy(file, data + 1, n);
    if (fix_checksum && n >= 8) {
        uint64_t h = 0xcbf29ce484222325ull;
        for (size_t i = 0; i < n - 8; i++) h = (h ^ file[i]) * 0x100000001b3ull;
        memcpy(file + n - 8, &h, 8);
    }
    const char *path = fuzz_write("memory.lcknn", file, n);
    free(file);

    lc_knn_memory *m = (lc_knn_memory *)&m; /* not NULL: a failed load must set it to NULL */
    fuzz_stale();
    lc_status st = lc_knn_memory_load(path, 1, &m);
    fuzz_status(st, "lc_knn_memory_load");
    fuzz_assert(st ? m == NULL : m != NULL, "a failed load leaves no memory, a good one gives one");
    if (st) return 0;
    const lc_knn_memory_config *c = lc_knn_memory_config_of(m);
    const int64_t held = lc_knn_memory_size(m), first = lc_knn_memory_first(m);
    fuzz_assert(held >= 0 && held <= c->capacity && first >= 0, "a loaded memory holds at most its capacity");
    if (held > 0 && c->d_k <= 4096 && c->d_v <= 4096) {
        float *q = calloc((size_t)c->d_k, sizeof(float)), *key = malloc(sizeof(float) * (size_t)c->d_k), *val = malloc(sizeof(float) * (size_t)c->d_v);
        int64_t k = held < 4 ? held : 4, pos[4 * 64];
        float score[4 * 64];
        if (q && key && val && c->heads <= 64) {
            lc_tensor qt = lc_tensor_bshd(q, LC_F32, 1, 1, c->heads, 1); /* one query per head: [1, 1, heads, d_k] with stride 0 over heads */
            qt.shape[3] = c->d_k, qt.stride[3] = 1, qt.stride[2] = 0, qt.stride[1] = c->d_k, qt.stride[0] = c->d_k, qt.capacity = c->d_k;
            fuzz_stale();
            fuzz_status(lc_knn_memory_search(m, &qt, k, pos, score), "lc_knn_memory_search");
            fuzz_stale();
            fuzz_status(lc_knn_memory_get(m, c->heads - 1, first + held - 1, key, val), "lc_knn_memory_get");
        }
        free(q), free(key), free(val);
    }
    lc_knn_memory_destroy(m);
    return 0;
}
