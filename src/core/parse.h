/* Strict numbers from text (internal): the library's own small parsers (techniques, retrieval
 * flags) take exactly a decimal number, no blanks, signs beyond a leading '-', hexadecimal,
 * inf / nan or trailing text. */
#ifndef LONGCTX_PARSE_H
#define LONGCTX_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* s[0, n) as a decimal integer in [lo, hi]: 0, or -1 when it is not one. */
int lc_parse_i64(const char *s, size_t n, int64_t lo, int64_t hi, int64_t *out);
/* s[0, n) as a finite decimal number in [lo, hi] (digits, '.', an exponent): 0, or -1. */
int lc_parse_f64(const char *s, size_t n, double lo, double hi, double *out);

#endif
