/* Strict parsing of command-line numbers (args.h): every text is checked whole, and a
 * refusal is one sentence naming the flag and the range. */
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

static int quiet; /* the command's one setting: ranks other than 0 of an MPI run say nothing */

void args_quiet(int q) { quiet = q; }

static int refuse(const char *cmd, const char *flag, const char *text, const char *want) {
    if (!quiet) fprintf(stderr, "%s: %s must be %s; got '%s'\n", cmd, flag, want, text ? text : "");
    return ARGS_USAGE;
}

int args_missing(const char *cmd, const char *flag) {
    if (!quiet) fprintf(stderr, "%s: %s needs a value\n", cmd, flag);
    return ARGS_USAGE;
}

/* Decimal digits only, optional leading '-' (neg_ok): the integer's magnitude, or -1 when
 * the text is not that or passes UINT64_MAX. */
static int parse_uint(const char *s, uint64_t *out) {
    if (!s || !*s) return -1;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int args_i64(const char *cmd, const char *flag, const char *text, int64_t lo, int64_t hi, int64_t *out) {
    char want[96];
    snprintf(want, sizeof want, "an integer in [%lld, %lld]", (long long)lo, (long long)hi);
    if (!text) return args_missing(cmd, flag);
    int neg = text[0] == '-';
    uint64_t mag;
    if (parse_uint(text + neg, &mag)) return refuse(cmd, flag, text, want);
    int64_t v;
    if (neg) {
        if (mag > (uint64_t)INT64_MAX + 1) return refuse(cmd, flag, text, want);
        v = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    } else {
        if (mag > (uint64_t)INT64_MAX) return refuse(cmd, flag, text, want);
        v = (int64_t)mag;
    }
    if (v < lo || v > hi) return refuse(cmd, flag, text, want);
    *out = v;
    return ARGS_OK;
}

int args_int(const char *cmd, const char *flag, const char *text, int lo, int hi, int *out) {
    int64_t v;
    int rc = args_i64(cmd, flag, text, lo, hi, &v);
    if (!rc) *out = (int)v;
    return rc;
}

int args_u64(const char *cmd, const char *flag, const char *text, uint64_t *out) {
    if (!text) return args_missing(cmd, flag);
    if (parse_uint(text, out)) return refuse(cmd, flag, text, "an integer in [0, 18446744073709551615]");
    return ARGS_OK;
}

/* [+-]digits[.digits][(e|E)[+-]digits], at least one mantissa digit: what strtod may read. */
static int decimal_syntax(const char *s, const char **end) {
    const char *p = s;
    int digits = 0;
    if (*p == '+' || *p == '-') p++;
    while (*p >= '0' && *p <= '9') p++, digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') p++, digits++;
    }
    if (!digits) return -1;
    if (*p == 'e' || *p == 'E') {
        const char *q = p + 1;
        if (*q == '+' || *q == '-') q++;
        if (*q < '0' || *q > '9') return -1;
        while (*q >= '0' && *q <= '9') q++;
        p = q;
    }
    *end = p;
    return 0;
}

/* The decimal number at the start of s (syntax above) and where it ends; -1 if none, or
 * not finite, or under/overflowing. */
static int parse_decimal(const char *s, double *v, const char **end) {
    const char *e;
    if (decimal_syntax(s, &e)) return -1;
    size_t n = (size_t)(e - s);
    char buf[128];
    if (n >= sizeof buf) return -1;
    memcpy(buf, s, n), buf[n] = 0;
    errno = 0;
    char *stop;
    double x = strtod(buf, &stop);
    if (*stop || errno == ERANGE || !isfinite(x)) return -1;
    *v = x, *end = e;
    return 0;
}

int args_f64(const char *cmd, const char *flag, const char *text, double lo, double hi, double *out) {
    char want[96];
    snprintf(want, sizeof want, "a number in [%g, %g]", lo, hi);
    if (!text) return args_missing(cmd, flag);
    double v;
    const char *e;
    if (parse_decimal(text, &v, &e) || *e || !(v >= lo && v <= hi)) return refuse(cmd, flag, text, want);
    *out = v == 0 ? 0 : v; /* no -0 */
    return ARGS_OK;
}

/* One count between s and end (exclusive): digits, optional .digits (at most 3) with a
 * suffix, optional K/M/G/T. -1 when malformed or not whole or past INT64_MAX. */
static int parse_count(const char *s, const char *end, int64_t *out) {
    uint64_t ip = 0, frac = 0, scale = 1;
    const char *p = s;
    int digits = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) {
        unsigned d = (unsigned)(*p - '0');
        if (ip > (UINT64_MAX - d) / 10) return -1;
        ip = ip * 10 + d;
    }
    if (!digits) return -1;
    int nfrac = 0;
    if (p < end && *p == '.') {
        p++;
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            if (++nfrac > 3) return -1;
            frac = frac * 10 + (uint64_t)(*p - '0'), scale *= 10;
        }
        if (!nfrac) return -1;
    }
    int shift = 0;
    if (p < end) {
        switch (*p) {
        case 'K': case 'k': shift = 10; break;
        case 'M': case 'm': shift = 20; break;
        case 'G': case 'g': shift = 30; break;
        case 'T': case 't': shift = 40; break;
        default: return -1;
        }
        p++;
    }
    if (p != end || (nfrac && !shift)) return -1;
    if (ip > ((uint64_t)INT64_MAX >> shift)) return -1;
    uint64_t v = ip << shift, f = frac << shift; /* frac < 1000, shift <= 40: no overflow */
    if (f % scale) return -1;
    v += f / scale;
    if (v > (uint64_t)INT64_MAX) return -1;
    *out = (int64_t)v;
    return 0;
}

static const char *count_range(int64_t lo, int64_t hi, char *buf, size_t n) {
    snprintf(buf, n, "a count in [%lld, %lld] (digits with an optional K, M, G or T = 2^10, 2^20, 2^30, 2^40)", (long long)lo, (long long)hi);
    return buf;
}

int args_count(const char *cmd, const char *flag, const char *text, int64_t lo, int64_t hi, int64_t *out) {
    char want[160];
    if (!text) return args_missing(cmd, flag);
    int64_t v;
    if (parse_count(text, text + strlen(text), &v) || v < lo || v > hi) return refuse(cmd, flag, text, count_range(lo, hi, want, sizeof want));
    *out = v;
    return ARGS_OK;
}

int args_counts(const char *cmd, const char *flag, const char *text, int64_t lo, int64_t hi, int64_t *out, int max, int *n) {
    char want[256], range[160];
    snprintf(want, sizeof want, "a list like 1K,4K,64K or a range like 1K..1M of at most %d counts, each %s", max, count_range(lo, hi, range, sizeof range));
    if (!text) return args_missing(cmd, flag);
    const char *dots = strstr(text, "..");
    int k = 0;
    if (dots) {
        int64_t a, b;
        if (parse_count(text, dots, &a) || parse_count(dots + 2, dots + strlen(dots), &b) || a < lo || b > hi || a < 1 || b < a)
            return refuse(cmd, flag, text, want);
        for (int64_t v = a; v <= b; v = v > INT64_MAX / 2 ? INT64_MAX : v * 2) {
            if (k == max) return refuse(cmd, flag, text, want);
            out[k++] = v;
            if (v == INT64_MAX) break;
        }
    } else {
        for (const char *p = text;;) {
            const char *comma = strchr(p, ',');
            const char *end = comma ? comma : p + strlen(p);
            int64_t v;
            if (k == max || parse_count(p, end, &v) || v < lo || v > hi) return refuse(cmd, flag, text, want);
            out[k++] = v;
            if (!comma) break;
            p = comma + 1;
        }
    }
    *n = k;
    return ARGS_OK;
}

int args_params(const char *cmd, const char *flag, const char *text, double *out) {
    const char *want = "a positive parameter count up to 1e15 like 8B, 70.6B, 236e9 or 7000M (K, M, B or G, T = 1e3, 1e6, 1e9, 1e12)";
    if (!text) return args_missing(cmd, flag);
    double v;
    const char *e;
    if (parse_decimal(text, &v, &e)) return refuse(cmd, flag, text, want);
    switch (*e) {
    case 'K': case 'k': v *= 1e3, e++; break;
    case 'M': case 'm': v *= 1e6, e++; break;
    case 'B': case 'b': case 'G': case 'g': v *= 1e9, e++; break;
    case 'T': case 't': v *= 1e12, e++; break;
    default: break;
    }
    if (*e || !(v >= 1) || v > 1e15) return refuse(cmd, flag, text, want);
    *out = v;
    return ARGS_OK;
}

static int processors(void) {
#ifdef _OPENMP
    return omp_get_num_procs();
#else
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
#endif
}

int args_threads(const char *cmd, const char *flag, const char *text, int *out) {
    char want[128];
    int procs = processors();
    snprintf(want, sizeof want, "a thread count in [0, %d] (0: all %d processors of this machine)", ARGS_MAX_THREADS, procs);
    if (!text) return args_missing(cmd, flag);
    int64_t v;
    if (parse_count(text, text + strlen(text), &v) || strpbrk(text, "KkMmGgTt.") || v > ARGS_MAX_THREADS) return refuse(cmd, flag, text, want);
    if (v > procs && !quiet) fprintf(stderr, "%s: note: %s %lld is more than this machine's %d processors; the threads will share them\n", cmd, flag, (long long)v, procs);
    *out = (int)v;
    return ARGS_OK;
}

int args_isa(const char *cmd, const char *flag, const char *text, lc_isa *out) {
    if (!text) return args_missing(cmd, flag);
    static const char *const names[] = {"auto", "portable", "avx2", "avx512"};
    static const lc_isa isas[] = {LC_ISA_AUTO, LC_ISA_PORTABLE, LC_ISA_AVX2, LC_ISA_AVX512};
    for (int i = 0; i < 4; i++)
        if (!strcmp(text, names[i])) {
            *out = isas[i];
            return ARGS_OK;
        }
    return refuse(cmd, flag, text, "auto, portable, avx2 or avx512");
}

double args_physical_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && size > 0 ? (double)pages * (double)size : 0;
}

const char *args_bytes_str(double bytes, char *buf, size_t n) {
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"};
    int u = 0;
    while (bytes >= 1024 && u < 8) bytes /= 1024, u++;
    snprintf(buf, n, u == 0 ? "%.0f %s" : "%.1f %s", bytes, unit[u]);
    return buf;
}

int args_fits(const char *cmd, const char *what, double bytes) {
    double mem = args_physical_memory();
    if (mem <= 0 || bytes <= mem) return ARGS_OK;
    char b1[32], b2[32];
    if (!quiet) fprintf(stderr, "%s: %s needs %s of memory; this machine has %s\n", cmd, what, args_bytes_str(bytes, b1, sizeof b1),
            args_bytes_str(mem, b2, sizeof b2));
    return ARGS_USAGE;
}
