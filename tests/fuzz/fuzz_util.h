/* Shared by the libFuzzer harnesses of tests/fuzz/ (and their replay in the test suite).
 *
 * Every harness defines LLVMFuzzerTestOneInput. Built with -DLONGCTX_FUZZ=ON and clang it
 * links libFuzzer; in the ordinary build it links replay_main.c instead, which runs the
 * committed corpus (tests/fuzz/corpus/<harness>/) through the same function. */
#ifndef LONGCTX_FUZZ_UTIL_H
#define LONGCTX_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "longctx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Before a call that may fail: plants a sentence no longctx call ever writes. */
void fuzz_stale(void);
/* After it: a failing status must be a known lc_status with a fresh, non-empty sentence
 * (not the planted one); anything else aborts, which the fuzzer reports. `what` names the call. */
void fuzz_status(lc_status st, const char *what);
/* Aborts with a message when cond is false: an invariant a harness checks. */
void fuzz_assert(int cond, const char *what);

/* A private directory of this process (removed at exit), and a file in it holding bytes. */
const char *fuzz_dir(void);
const char *fuzz_write(const char *name, const void *bytes, size_t n);

#endif
