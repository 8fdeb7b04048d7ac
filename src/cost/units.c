/* Names and units of the cost model: dtypes, techniques, byte sizes, GPU memories. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "longctx/cost.h"

static const char *const tech_names[LC_TECH_COUNT] = {"native", "standard", "flash",   "mha",   "gqa",  "mqa",     "sliding",
                                                     "longformer", "bigbird", "linear", "mamba", "mla", "kv-quant"};

const char *lc_technique_name(lc_technique t) { return (unsigned)t < LC_TECH_COUNT ? tech_names[t] : "?"; }

lc_status lc_technique_parse(const char *text, lc_technique *out) {
    if (!out) return lc_error(LC_EINVAL, "lc_technique_parse: out must not be NULL");
    for (int i = 0; text && i < LC_TECH_COUNT; i++)
        if (!strcasecmp(text, tech_names[i])) {
            *out = (lc_technique)i;
            return LC_OK;
        }
    return lc_error(LC_EINVAL,
                    "unknown technique '%s' (known: native, standard, flash, mha, gqa, mqa, sliding, longformer, bigbird, "
                    "linear, mamba, mla, kv-quant)",
                    text ? text : "(null)");
}

lc_status lc_cost_parse_bytes(const char *text, double *out) {
    static const struct {
        const char *suffix;
        double scale;
    } units[] = {{"", 1},           {"B", 1},         {"KB", 1e3},         {"MB", 1e6},         {"GB", 1e9},
                 {"TB", 1e12},      {"KiB", 1024.0},  {"MiB", 1048576.0},  {"GiB", 1073741824.0},
                 {"TiB", 1099511627776.0}, {"K", 1e3}, {"M", 1e6},         {"G", 1e9},          {"T", 1e12}};
    if (!out) return lc_error(LC_EINVAL, "lc_cost_parse_bytes: out must not be NULL");
    if (!text || !*text) return lc_error(LC_EINVAL, "memory size is empty");
    char *end;
    errno = 0;
    /* decimal digits only: strtod would also take blanks, hexadecimal, inf and nan */
    double v = (*text >= '0' && *text <= '9') || *text == '.' ? strtod(text, &end) : 0;
    if (v == 0 || errno || !isfinite(v) || v <= 0 || strpbrk(text, "xX") || ((*end == 'e' || *end == 'E') && end[1]))
        return lc_error(LC_EINVAL, "memory size '%s' must be a positive number with an optional unit (80GB, 80GiB)", text);
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcasecmp(end, units[i].suffix)) {
            double bytes = v * units[i].scale;
            if (bytes > 1e18) return lc_error(LC_EINVAL, "memory size '%s' is absurd (more than an exabyte)", text);
            *out = bytes;
            return LC_OK;
        }
    return lc_error(LC_EINVAL, "memory size '%s': unknown unit '%s' (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)", text, end);
}

/* Marketed memory of each part: "80 GB" on an H100 is 80 GiB of HBM3 (NVIDIA's data sheets). */
static const struct {
    const char *name;
    double bytes;
} gpus[] = {
    {"h100-80gb", 80.0 * 1073741824}, {"h200-141gb", 141e9},         {"a100-40gb", 40.0 * 1073741824},
    {"a100-80gb", 80.0 * 1073741824}, {"l40s-48gb", 48.0 * 1073741824}, {"rtx4090-24gb", 24.0 * 1073741824},
    {"mi300x-192gb", 192.0 * 1073741824},
};
enum { N_GPUS = sizeof gpus / sizeof gpus[0] };

const char *const *lc_cost_gpu_names(void) {
    static const char *names[N_GPUS + 1];
    for (int i = 0; i < N_GPUS; i++) names[i] = gpus[i].name;
    names[N_GPUS] = NULL;
    return names;
}

lc_status lc_cost_gpu_memory(const char *name, double *bytes) {
    if (!bytes) return lc_error(LC_EINVAL, "lc_cost_gpu_memory: bytes must not be NULL");
    for (int i = 0; name && i < N_GPUS; i++)
        if (!strcasecmp(name, gpus[i].name)) {
            *bytes = gpus[i].bytes;
            return LC_OK;
        }
    return lc_error(LC_EINVAL, "unknown GPU '%s' (known: h100-80gb, h200-141gb, a100-40gb, a100-80gb, l40s-48gb, rtx4090-24gb, mi300x-192gb)",
                    name ? name : "(null)");
}
