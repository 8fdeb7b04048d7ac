/* Strict parsing of what a user types on the longctx command line, shared by every
 * subcommand (tools/cmd_*.c) and every benchmark (bench/X_bench.c).
 *
 * Each parser takes the command's name ("longctx ring") and the flag ("--n-local") for its
 * sentence. It accepts the whole text or nothing: no leading blanks, no trailing garbage,
 * no overflow, no inf or nan, no hexadecimal. A refused value prints one sentence on
 * stderr naming the command, the flag, the text and the accepted range, and the parser
 * returns ARGS_USAGE (2, the usage-error exit status); success returns 0.
 *
 * Exit statuses of every longctx subcommand: 0 success (and --help), ARGS_FAILED (1) a
 * step failed at run time (a file that cannot be read or is malformed, out of memory, a
 * kernel's error), ARGS_USAGE (2) the command line is wrong (unknown option, malformed or
 * out-of-range value, a size that needs more memory than the machine has). */
#ifndef LONGCTX_TOOLS_ARGS_H
#define LONGCTX_TOOLS_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "longctx/core.h"

enum { ARGS_OK = 0, ARGS_FAILED = 1, ARGS_USAGE = 2 };

/* The most threads a --threads flag accepts (the library clamps to the same, LC_THREADS_MAX). */
#define ARGS_MAX_THREADS 1024

/* A decimal integer in [lo, hi]. */
int args_i64(const char *cmd, const char *flag, const char *text, int64_t lo, int64_t hi, int64_t *out);
int args_int(const char *cmd, const char *flag, const char *text, int lo, int hi, int *out);
/* A non-negative decimal integer up to UINT64_MAX (seeds). */
int args_u64(const char *cmd, const char *flag, const char *text, uint64_t *out);
/* A finite decimal number in [lo, hi] ("0.5", "1e-3"). */
int args_f64(const char *cmd, const char *flag, const char *text, double lo, double hi, double *out);

/* A count of tokens or elements: digits with an optional binary suffix K, M, G or T
 * (1K = 1024; "1.5K" = 1536 when whole), in [lo, hi]. */
int args_count(const char *cmd, const char *flag, const char *text, int64_t lo, int64_t hi, int64_t *out);
/* A list of counts: "1K,4K,64K", or "A..B" (A, 2A, 4A, ... up to B). Each in [lo, hi]; at
 * most `max` of them (more is refused, naming max); *n gets the count (>= 1). */
int args_counts(const char *cmd, const char *flag, const char *text, int64_t lo, int64_t hi, int64_t *out, int max, int *n);
/* A number of parameters with a decimal suffix: 8B, 70.6B, 236e9, 7000M, 1.2T (K = 1e3,
 * M = 1e6, B or G = 1e9, T = 1e12), in (0, 1e15]. */
int args_params(const char *cmd, const char *flag, const char *text, double *out);

/* A thread count: 0 (all of this machine's processors) .. ARGS_MAX_THREADS. A count above
 * the processors is accepted with a note on stderr (the threads will share them). */
int args_threads(const char *cmd, const char *flag, const char *text, int *out);

/* A vector path by name: auto, portable, avx2 or avx512. */
int args_isa(const char *cmd, const char *flag, const char *text, lc_isa *out);

/* This machine's physical memory in bytes (0 when unknown). */
double args_physical_memory(void);
/* Refuses, up front, a run that would allocate `bytes` when the machine has less physical
 * memory: "longctx ring: --n-local 1000000000000000 (q, k, v and out) needs 3.2 PiB of
 * memory; this machine has 31 GiB". `what` names the flags and the buffers. ARGS_OK when
 * it fits (or the memory is unknown), else ARGS_USAGE. */
int args_fits(const char *cmd, const char *what, double bytes);

/* "1.5 GiB" into buf. */
const char *args_bytes_str(double bytes, char *buf, size_t n);

/* Silences the sentences (1) or restores them (0): the ranks of an MPI run but rank 0. */
void args_quiet(int quiet);

/* A missing value: "longctx X: FLAG needs a value". Returns ARGS_USAGE. */
int args_missing(const char *cmd, const char *flag);

#endif
