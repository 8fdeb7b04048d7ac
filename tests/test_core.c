/* Core: status codes and sentences, tensor views and their checks, allocation, threads,
 * CPU paths. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void *other_thread(void *arg) {
    (void)arg;
    const char *before = lc_last_error();
    int clean = before[0] == '\0';
    lc_error(LC_ERANGE, "from the other thread");
    return (void *)(intptr_t)clean;
}

static void test_status(void) {
    CHECK(!strcmp(lc_status_str(LC_OK), "LC_OK"), "LC_OK name");
    CHECK(!strcmp(lc_status_str(LC_EINVAL), "LC_EINVAL"), "LC_EINVAL name");
    CHECK(!strcmp(lc_status_str(LC_EINTERNAL), "LC_EINTERNAL"), "LC_EINTERNAL name");
    CHECK(!strcmp(lc_status_str((lc_status)99), "LC_E?"), "unknown status");
    CHECK(lc_error(LC_ENOMEM, "need %d bytes", 42) == LC_ENOMEM, "lc_error returns its status");
    CHECK(!strcmp(lc_last_error(), "need 42 bytes"), "sentence kept: '%s'", lc_last_error());
    pthread_t t;
    void *clean;
    pthread_create(&t, NULL, other_thread, NULL);
    pthread_join(t, &clean);
    CHECK(clean, "a new thread starts with no error sentence");
    CHECK(!strcmp(lc_last_error(), "need 42 bytes"), "another thread's error does not touch ours");
    CHECK(strlen(lc_version()) > 0, "version");
}

static void test_tensors(void) {
    float buf[2 * 3 * 4 * 5];
    lc_tensor t = lc_tensor_bshd(buf, LC_F32, 2, 3, 4, 5);
    CHECK(lc_tensor_offset(&t, 1, 2, 3, 4) == 2 * 3 * 4 * 5 - 1, "bshd last offset");
    CHECK(lc_tensor_offset(&t, 0, 1, 0, 0) == 20, "bshd seq stride");
    CHECK(lc_tensor_check(&t, "t", 1) == LC_OK, "bshd valid: %s", lc_last_error());
    lc_tensor u = lc_tensor_bhsd(buf, LC_F32, 2, 3, 4, 5);
    CHECK(lc_tensor_offset(&u, 0, 1, 0, 0) == 5 && lc_tensor_offset(&u, 0, 0, 1, 0) == 15, "bhsd strides");
    CHECK(lc_tensor_check(&u, "u", 1) == LC_OK, "bhsd valid: %s", lc_last_error());

    lc_tensor bad = t;
    bad.data = NULL;
    CHECK(lc_tensor_check(&bad, "q", 0) == LC_EINVAL && strstr(lc_last_error(), "q.data"), "null data: %s", lc_last_error());
    bad = t, bad.shape[2] = 0;
    CHECK(lc_tensor_check(&bad, "k", 0) == LC_EINVAL && strstr(lc_last_error(), "k.shape[2]"), "zero heads: %s", lc_last_error());
    bad = t, bad.shape[1] = -4;
    CHECK(lc_tensor_check(&bad, "k", 0) == LC_EINVAL && strstr(lc_last_error(), "k.shape[1]"), "negative seq: %s", lc_last_error());
    bad = t, bad.stride[3] = -1;
    CHECK(lc_tensor_check(&bad, "v", 0) == LC_EINVAL && strstr(lc_last_error(), "v.stride[3]"), "negative stride: %s", lc_last_error());
    bad = t, bad.stride[1] = 21;
    CHECK(lc_tensor_check(&bad, "v", 0) == LC_ERANGE && strstr(lc_last_error(), "capacity"), "stride past capacity: %s", lc_last_error());
    bad = t, bad.capacity = 0;
    CHECK(lc_tensor_check(&bad, "v", 0) == LC_EINVAL, "capacity 0");
    bad = t, bad.dtype = (lc_dtype)7;
    CHECK(lc_tensor_check(&bad, "v", 0) == LC_EINVAL && strstr(lc_last_error(), "dtype"), "bad dtype: %s", lc_last_error());
    bad = t, bad.stride[1] = INT64_MAX / 2;
    CHECK(lc_tensor_check(&bad, "v", 0) == LC_ERANGE, "overflowing stride");
    /* broadcasting (stride 0) is fine to read but not to write */
    bad = t, bad.stride[2] = 0;
    CHECK(lc_tensor_check(&bad, "k", 0) == LC_OK, "broadcast read allowed: %s", lc_last_error());
    CHECK(lc_tensor_check(&bad, "out", 1) == LC_EINVAL && strstr(lc_last_error(), "overlap"), "broadcast write refused: %s", lc_last_error());
    bad = t, bad.stride[3] = 1, bad.stride[2] = 3; /* heads overlap dims */
    CHECK(lc_tensor_check(&bad, "out", 1) == LC_EINVAL, "overlapping output refused");
    lc_tensor inter = lc_tensor_bshd(buf, LC_F32, 1, 3, 2, 5); /* dims interleaved with stride 2 */
    inter.stride[3] = 2, inter.stride[2] = 1, inter.stride[1] = 10, inter.capacity = 120;
    CHECK(lc_tensor_check(&inter, "out", 1) == LC_OK, "interleaved but distinct output ok: %s", lc_last_error());

    uintptr_t lo, hi;
    lc_tensor_byte_range(&t, &lo, &hi);
    CHECK(lo == (uintptr_t)buf && hi == (uintptr_t)(buf + 120), "byte range");
}

static void test_alloc_threads_isa(void) {
    for (size_t align = 16; align <= 4096; align *= 2) {
        void *p = lc_aligned_alloc(1000, align);
        CHECK(p && ((uintptr_t)p % align) == 0, "alignment %zu", align);
        lc_aligned_free(p);
    }
    CHECK(lc_aligned_alloc(10, 3) == NULL && strstr(lc_last_error(), "power of two"), "bad alignment");
    CHECK(lc_aligned_alloc((size_t)1 << 62, 64) == NULL, "huge allocation fails cleanly");

    setenv("LONGCTX_THREADS", "3", 1);
    CHECK(lc_threads_default() == 3, "LONGCTX_THREADS=3");
    setenv("LONGCTX_THREADS", "zero", 1);
    CHECK(lc_threads_default() >= 1, "bad LONGCTX_THREADS ignored");
    unsetenv("LONGCTX_THREADS");
    CHECK(lc_threads_resolve(5) == 5 && lc_threads_resolve(0) >= 1, "resolve");

    lc_isa r;
    CHECK(lc_isa_resolve(LC_ISA_AUTO, &r) == LC_OK && r == lc_isa_best(), "auto resolves to best");
    CHECK(lc_isa_resolve(LC_ISA_PORTABLE, &r) == LC_OK && r == LC_ISA_PORTABLE, "portable always");
    CHECK(lc_isa_resolve((lc_isa)9, &r) == LC_EINVAL, "unknown isa");
    printf("vector paths: avx2=%d avx512=%d, best %s\n", lc_isa_supported(LC_ISA_AVX2), lc_isa_supported(LC_ISA_AVX512), lc_isa_name(lc_isa_best()));
}

int main(void) {
    test_status();
    test_tensors();
    test_alloc_threads_isa();
    /* a sentence may quote the previous one */
    lc_error(LC_EINVAL, "inner problem %d", 7);
    lc_error(LC_EIO, "outer: %s", lc_last_error());
    CHECK(!strcmp(lc_last_error(), "outer: inner problem 7"), "nested sentence: \"%s\"", lc_last_error());
    return test_finish("test_core");
}
