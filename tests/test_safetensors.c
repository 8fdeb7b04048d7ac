/* The safetensors reader on files this test writes: good single files and shards read back
 * bit for bit; every kind of bad input (truncated at every byte, header length past the
 * end, offsets out of range / overlapping / leaving holes / disagreeing with dtype x shape,
 * duplicate and missing tensors, bad index maps, refused dtypes) is a status and a
 * sentence naming the file and the field, never a crash. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "longctx/safetensors.h"

static char dir[256];

static const char *at(const char *name) {
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static void write_bytes(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(b, 1, n, f);
    fclose(f);
}

/* A file from a header text and data bytes; header padded with spaces to 8 bytes. */
static void write_st(const char *path, const char *header, const void *data, size_t data_bytes) {
    size_t h = strlen(header), padded = (h + 7) / 8 * 8;
    size_t n = 8 + padded + data_bytes;
    uint8_t *b = malloc(n);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    memcpy(b + 8, header, h);
    memset(b + 8 + h, ' ', padded - h);
    if (data_bytes) memcpy(b + 8 + padded, data, data_bytes);
    write_bytes(path, b, n);
    free(b);
}

static char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    *n = 0;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

/* a: F32 [2, 3] at [0, 24); b: BF16 [4] at [24, 32); c: F16 scalar at [32, 34); e: F32 [0] at [34, 34) */
static const char *good_header =
    "{\"__metadata__\": {\"format\": \"pt\"},"
    " \"b\": {\"dtype\": \"BF16\", \"shape\": [4], \"data_offsets\": [24, 32]},"
    " \"a\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]},"
    " \"c\": {\"dtype\": \"F16\", \"shape\": [], \"data_offsets\": [32, 34]},"
    " \"e\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [34, 34]}}";

static uint8_t good_data[34];

static void make_good_data(void) {
    float a[6] = {1, -2, 3.5f, 0.25f, -1e-3f, 7};
    memcpy(good_data, a, 24);
    uint16_t b[4] = {lc_f32_to_bf16(1.5f), lc_f32_to_bf16(-2), lc_f32_to_bf16(0), lc_f32_to_bf16(3)};
    memcpy(good_data + 24, b, 8);
    uint16_t c = lc_f32_to_f16(0.5f);
    memcpy(good_data + 32, &c, 2);
}

static void test_good(void) {
    write_st(at("good.safetensors"), good_header, good_data, sizeof good_data);
    lc_safetensors *st = NULL;
    lc_status s = lc_safetensors_open(at("good.safetensors"), &st);
    CHECK(s == LC_OK, "open good: %s", lc_last_error());
    if (s) return;
    CHECK(lc_safetensors_count(st) == 4, "count %lld", (long long)lc_safetensors_count(st));
    CHECK(!strcmp(lc_safetensors_at(st, 0)->name, "a") && !strcmp(lc_safetensors_at(st, 3)->name, "e"), "name order");
    const lc_st_tensor *a = lc_safetensors_find(st, "a"), *b = lc_safetensors_find(st, "b"), *c = lc_safetensors_find(st, "c");
    const lc_st_tensor *e = lc_safetensors_find(st, "e");
    CHECK(a && a->dtype == LC_F32 && a->ndim == 2 && a->shape[0] == 2 && a->shape[1] == 3 && a->numel == 6 && a->bytes == 24, "a");
    CHECK(a && !memcmp(a->data, good_data, 24), "a's data");
    CHECK(b && b->dtype == LC_BF16 && b->numel == 4 && lc_bf16_to_f32(((const uint16_t *)b->data)[0]) == 1.5f, "b");
    CHECK(c && c->dtype == LC_F16 && c->ndim == 0 && c->numel == 1 && lc_f16_to_f32(*(const uint16_t *)c->data) == 0.5f, "c");
    CHECK(e && e->numel == 0 && e->bytes == 0, "e");
    CHECK(!lc_safetensors_find(st, "zz") && !lc_safetensors_find(st, "__metadata__"), "absent names");
    CHECK(lc_safetensors_metadata(st, "format") && !strcmp(lc_safetensors_metadata(st, "format"), "pt"), "metadata");
    CHECK(lc_safetensors_file_count(st) == 1 && lc_safetensors_mapped_bytes(st) > 34, "files");
    lc_safetensors_destroy(st);

    /* a directory with model.safetensors */
    char sub[300];
    snprintf(sub, sizeof sub, "%s/single", dir);
    mkdir(sub, 0755);
    char p[400];
    snprintf(p, sizeof p, "%s/model.safetensors", sub);
    write_st(p, good_header, good_data, sizeof good_data);
    s = lc_safetensors_open(sub, &st);
    CHECK(s == LC_OK && lc_safetensors_count(st) == 4, "directory: %s", lc_last_error());
    lc_safetensors_destroy(st);
}

/* Shards: x, y in one file, z in another, and the index. */
static void write_shards(const char *index_text) {
    float x[2] = {1, 2}, y[1] = {3}, z[3] = {4, 5, 6};
    uint8_t d1[12];
    memcpy(d1, x, 8), memcpy(d1 + 8, y, 4);
    write_st(at("m-1.safetensors"),
             "{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, \"y\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]}}",
             d1, 12);
    write_st(at("m-2.safetensors"), "{\"z\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 12]}}", z, 12);
    write_bytes(at("model.safetensors.index.json"), index_text, strlen(index_text));
}

static void expect(const char *path, lc_status want, const char *says, const char *says2, const char *what) {
    lc_safetensors *st = (lc_safetensors *)0x1;
    lc_status s = lc_safetensors_open(path, &st);
    CHECK(s == want && st == NULL && strstr(lc_last_error(), says) && (!says2 || strstr(lc_last_error(), says2)), "%s: %s '%s'", what,
          lc_status_str(s), lc_last_error());
    if (s == LC_OK) lc_safetensors_destroy(st);
}

static void test_shards(void) {
    write_shards("{\"metadata\": {\"total_size\": 24}, \"weight_map\": {\"x\": \"m-1.safetensors\", \"y\": \"m-1.safetensors\", \"z\": \"m-2.safetensors\"}}");
    lc_safetensors *st = NULL;
    lc_status s = lc_safetensors_open(dir, &st); /* the directory: the index is preferred */
    CHECK(s == LC_OK, "shards: %s", lc_last_error());
    if (!s) {
        CHECK(lc_safetensors_count(st) == 3 && lc_safetensors_file_count(st) == 2, "shards: count");
        const lc_st_tensor *z = lc_safetensors_find(st, "z"), *y = lc_safetensors_find(st, "y");
        CHECK(z && ((const float *)z->data)[2] == 6 && strstr(z->file, "m-2"), "z");
        CHECK(y && ((const float *)y->data)[0] == 3 && strstr(y->file, "m-1"), "y");
        lc_safetensors_destroy(st);
    }
    char idx[512];
    snprintf(idx, sizeof idx, "%s", at("model.safetensors.index.json"));
    write_shards("{\"weight_map\": {\"x\": \"m-1.safetensors\", \"y\": \"m-1.safetensors\", \"z\": \"m-2.safetensors\", \"w\": \"m-2.safetensors\"}}");
    expect(idx, LC_EFORMAT, "tensor 'w' is mapped to m-2.safetensors, which holds no such tensor", "index.json", "missing tensor");
    write_shards("{\"weight_map\": {\"x\": \"m-1.safetensors\", \"y\": \"m-2.safetensors\", \"z\": \"m-2.safetensors\"}}");
    expect(idx, LC_EFORMAT, "tensor 'y' is mapped to m-2.safetensors but lies in", NULL, "wrong shard");
    write_shards("{\"weight_map\": {\"x\": \"m-1.safetensors\", \"z\": \"m-3.safetensors\"}}");
    expect(idx, LC_EIO, "m-3.safetensors", NULL, "absent shard");
    write_shards("{\"weight_map\": {\"x\": \"../m-1.safetensors\"}}");
    expect(idx, LC_EFORMAT, "weight_map['x']", NULL, "shard outside the directory");
    write_shards("{\"weight_map\": {}}");
    expect(idx, LC_EFORMAT, "'weight_map'", NULL, "empty map");
    write_shards("{\"weight_map\": {\"x\": \"m-1.safetensors\"");
    expect(idx, LC_EFORMAT, "not a JSON object", NULL, "truncated index");
    /* the same tensor in two shards */
    write_shards("{\"weight_map\": {\"x\": \"m-1.safetensors\", \"z\": \"m-2.safetensors\", \"y\": \"m-dup.safetensors\"}}");
    float y2 = 9;
    write_st(at("m-dup.safetensors"), "{\"y\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", &y2, 4);
    expect(idx, LC_EFORMAT, "tensor 'y' appears in both", NULL, "duplicate across shards");
    unlink(idx);
}

typedef struct bad_case {
    const char *header;
    size_t data_bytes;
    lc_status status;
    const char *says;
} bad_case;

static void test_bad(void) {
    char p[512];
    snprintf(p, sizeof p, "%s", at("bad.safetensors"));
    /* empty, short, header length past the end, header not JSON */
    write_bytes(p, "", 0);
    expect(p, LC_EFORMAT, "truncated", "bad.safetensors", "empty file");
    write_bytes(p, "\x10\0\0", 3);
    expect(p, LC_EFORMAT, "truncated", NULL, "3 bytes");
    uint8_t big[16] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, '{', '}'};
    write_bytes(p, big, sizeof big);
    expect(p, LC_EFORMAT, "header length 4294967295 runs past the end", NULL, "header length past the end");
    uint8_t huge[16] = {0, 0, 0, 0, 0, 0, 0, 0x80, '{', '}'};
    write_bytes(p, huge, sizeof huge);
    expect(p, LC_EFORMAT, "runs past the end", NULL, "2^63 header length");
    expect(at("no-such.safetensors"), LC_EIO, "cannot open", NULL, "absent file");

    bad_case cases[] = {
        {"[1, 2]", 0, LC_EFORMAT, "not a JSON object"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]", 8, LC_EFORMAT, "not a JSON object"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 12]}}", 8, LC_EFORMAT, "run past the end of the data"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 4]}}", 8, LC_EFORMAT, "ends before it begins"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8, LC_EFORMAT, "hold 8 bytes, but F32 x shape needs 12"},
        {"{\"a\": {\"dtype\": \"BF16\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}", 16, LC_EFORMAT, "hold 16 bytes, but BF16 x shape needs 8"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
         12, LC_EFORMAT, "overlaps tensor"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]}}",
         12, LC_EFORMAT, "data bytes [4, 8) before tensor 'b' belong to no tensor"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 8, LC_EFORMAT, "4 data bytes after the last tensor"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
         8, LC_EFORMAT, "tensor 'a' appears twice"},
        {"{\"a\": {\"dtype\": \"I64\", \"shape\": [1], \"data_offsets\": [0, 8]}}", 8, LC_EUNSUPPORTED, "dtype I64; longctx reads F32, F16 and BF16"},
        {"{\"a\": {\"dtype\": \"F8_E4M3\", \"shape\": [1], \"data_offsets\": [0, 1]}}", 1, LC_EUNSUPPORTED, "dtype F8_E4M3"},
        {"{\"a\": {\"dtype\": \"Q4\", \"shape\": [1], \"data_offsets\": [0, 1]}}", 1, LC_EFORMAT, "dtype 'Q4' is not a safetensors dtype"},
        {"{\"a\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, LC_EFORMAT, "field 'dtype'"},
        {"{\"a\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4, LC_EFORMAT, "field 'shape'"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4, LC_EFORMAT, "shape[0] must be a non-negative integer"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [\"2\"], \"data_offsets\": [0, 4]}}", 4, LC_EFORMAT, "shape[0]"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}", 4, LC_EFORMAT, "shape[0]"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 4, LC_EFORMAT, "'data_offsets' must be [begin, end]"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, -4]}}", 4, LC_EFORMAT, "'data_offsets'"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 4]}}", 4, LC_EUNSUPPORTED, "9 dimensions"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296], \"data_offsets\": [0, 4]}}", 4, LC_EFORMAT, "overflows"},
        {"{\"a\": 3}", 0, LC_EFORMAT, "tensor 'a' must be an object"},
        {"{\"__metadata__\": {\"k\": 1}}", 0, LC_EFORMAT, "__metadata__ 'k' must be a string"},
    };
    uint8_t zeros[64] = {0};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        write_st(p, cases[c].header, zeros, cases[c].data_bytes);
        char what[64];
        snprintf(what, sizeof what, "bad case %zu", c);
        expect(p, cases[c].status, cases[c].says, "bad.safetensors", what);
    }

    /* the good file cut at every length: an error every time, never a crash */
    write_st(at("good.safetensors"), good_header, good_data, sizeof good_data);
    size_t n = 0;
    char *whole = read_all(at("good.safetensors"), &n);
    int failures = 0;
    for (size_t cut = 0; cut < n; cut++) {
        write_bytes(p, whole, cut);
        lc_safetensors *st = NULL;
        lc_status s = lc_safetensors_open(p, &st);
        failures += s != LC_EFORMAT || st != NULL || !strstr(lc_last_error(), "bad.safetensors");
        if (!s) lc_safetensors_destroy(st);
    }
    CHECK(failures == 0, "%d truncations not refused as LC_EFORMAT naming the file", failures);
    /* every single byte of the header flipped to a space or a brace: never a crash */
    for (size_t i = 8; i < n - sizeof good_data; i++) {
        for (int v = 0; v < 3; v++) {
            char saved = whole[i];
            whole[i] = "} 9"[v];
            write_bytes(p, whole, n);
            lc_safetensors *st = NULL;
            if (lc_safetensors_open(p, &st) == LC_OK) lc_safetensors_destroy(st);
            whole[i] = saved;
        }
    }
    free(whole);
    unlink(p);
}

int main(void) {
    test_seed("test_safetensors");
    snprintf(dir, sizeof dir, "/tmp/lc_safetensors_XXXXXX");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "mkdtemp failed\n");
        return 1;
    }
    make_good_data();
    test_good();
    test_shards();
    test_bad();
    lc_safetensors *st = NULL;
    CHECK(lc_safetensors_open(NULL, &st) == LC_EINVAL, "NULL path");
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    return test_finish("test_safetensors");
}
