/* Aligned allocation. */
#include "longctx/core.h"

#include <stdlib.h>

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
