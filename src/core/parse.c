/* Strict numbers from text (src/core/parse.h). */
#include "parse.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* s[0, n) copied into buf when it holds only characters of `allowed`. */
static int copy_if(const char *s, size_t n, const char *allowed, char *buf, size_t cap) {
    if (n == 0 || n >= cap) return -1;
    for (size_t i = 0; i < n; i++)
        if (!s[i] || !strchr(allowed, s[i])) return -1;
    memcpy(buf, s, n), buf[n] = 0;
    return 0;
}

int lc_parse_i64(const char *s, size_t n, int64_t lo, int64_t hi, int64_t *out) {
    char buf[32], *e;
    if (!s || copy_if(s, n, "-0123456789", buf, sizeof buf) || strchr(buf + 1, '-')) return -1;
    errno = 0;
    long long v = strtoll(buf, &e, 10);
    if (e == buf || *e || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int lc_parse_f64(const char *s, size_t n, double lo, double hi, double *out) {
    char buf[48], *e;
    if (!s || copy_if(s, n, "-+.0123456789eE", buf, sizeof buf) || buf[0] == '+') return -1;
    errno = 0;
    double v = strtod(buf, &e);
    if (e == buf || *e || errno || !isfinite(v) || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}
