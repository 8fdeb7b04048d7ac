/* Aligned allocation. */
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */
#include "longctx/core.h"

#include <stdlib.h>
#include <sys/mman.h>

void *lc_aligned_alloc(size_t bytes, size_t align) {
    if (align < sizeof(void *) || (align & (align - 1))) {
        lc_error(LC_EINVAL, "alignment %zu must be a power of two >= %zu", align, sizeof(void *));
        return NULL;
    }
    void *p = NULL;
    if (posix_memalign(&p, align, bytes ? bytes : align) != 0) {
        lc_error(LC_ENOMEM, "could not allocate %zu bytes", bytes);
        return NULL;
    }
    return p;
}

void lc_aligned_free(void *p) { free(p); }

void *lc_stream_alloc(size_t bytes) {
    const size_t huge = (size_t)2 << 20;
    void *p = lc_aligned_alloc(bytes, bytes >= 2 * huge ? huge : 64);
#ifdef MADV_HUGEPAGE
    if (p && bytes >= 2 * huge) madvise(p, bytes / huge * huge, MADV_HUGEPAGE); /* a hint: nothing changes where refused */
#endif
    return p;
}
