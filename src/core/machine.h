/* This machine's physical memory: the bound past which a cache or memory that allocates its
 * whole capacity up front is refused (LC_ENOMEM with the bytes asked for) rather than
 * reserved and left for the kernel's OOM killer when its pages are touched. */
#ifndef LONGCTX_CORE_MACHINE_H
#define LONGCTX_CORE_MACHINE_H

#include <unistd.h>

/* Bytes of physical memory; 0 when unknown (then nothing is refused on this ground). */
static inline double lc_machine_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && size > 0 ? (double)pages * (double)size : 0;
}

/* 1 when `bytes` are more than this machine's memory. */
static inline int lc_past_machine(double bytes) {
    double mem = lc_machine_memory();
    return mem > 0 && bytes > mem;
}

#endif
