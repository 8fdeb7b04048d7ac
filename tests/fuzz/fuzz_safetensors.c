/* Fuzz harness: the safetensors reader (lc_safetensors_open). Input: one mode byte, then
 * either a .safetensors file (mode bit 0 clear) or a model.safetensors.index.json (set)
 * whose shards may be the two small valid files a.safetensors and b.safetensors written
 * beside it. Checked: no crash or sanitizer report; a refusal is a status with a fresh
 * sentence; a set that opens is whole: every tensor's bytes are numel times its dtype's
 * size, lie in the mapping (the first and last are read), and are found by name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "longctx/safetensors.h"

/* "w": F32 [2] at [0, 8), header padded to 8 bytes. */
static void shard(const char *name, const char *tensor) {
    char header[128], file[256];
    int h = snprintf(header, sizeof header, "{\"%s\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", tensor);
    while (h % 8) header[h++] = ' ';
    uint64_t len = (uint64_t)h;
    memcpy(file, &len, 8); /* little-endian, as the fuzzing machines are */
    memcpy(file + 8, header, (size_t)h);
    memset(file + 8 + h, 0, 8);
    fuzz_write(name, file, 8 + (size_t)h + 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1 << 20)) return 0;
    const char *path;
    if (data[0] & 1) {
        static int shards;
        if (!shards) shard("a.safetensors", "w"), shard("b.safetensors", "v"), shards = 1;
        path = fuzz_write("model.safetensors.index.json", data + 1, size - 1);
    } else {
        path = fuzz_write("model.safetensors", data + 1, size - 1);
    }
    lc_safetensors *st = (lc_safetensors *)&st;
    fuzz_stale();
    lc_status s = lc_safetensors_open(path, &st);
    fuzz_status(s, "lc_safetensors_open");
    if (s) return 0;
    volatile uint8_t sink = 0;
    for (int64_t i = 0; i < lc_safetensors_count(st); i++) {
        const lc_st_tensor *t = lc_safetensors_at(st, i);
        fuzz_assert(t && t->name && t->ndim >= 0 && t->ndim <= LC_ST_MAX_DIMS, "a tensor has a name and at most 8 dims");
        fuzz_assert(t->bytes == (size_t)t->numel * lc_dtype_size(t->dtype), "bytes = numel x dtype size");
        if (t->bytes) sink ^= ((const uint8_t *)t->data)[0] ^ ((const uint8_t *)t->data)[t->bytes - 1];
        fuzz_assert(lc_safetensors_find(st, t->name) == t, "every tensor is found by its name");
    }
    (void)sink;
    lc_safetensors_metadata(st, "format");
    lc_safetensors_destroy(st);
    return 0;
}
