/* Fuzz harness: the command line. Input: one mode byte, then text. Modes 0-7 run one of the
 * strict number parsers of tools/args.h on the text and check that an accepted value lies in
 * its range; 8-11 the library's text parsers the command uses (byte sizes, dtypes,
 * techniques, GPU names); 12 and 13 split the text at newlines into the arguments of
 * `longctx wall` and `longctx patterns` (without --plot and --config, which touch files) and
 * check the exit status is 0, 1 or 2. Checked throughout: no crash or sanitizer report. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "fuzz_util.h"

static const char *cmd = "fuzz";

static void parsers(int mode, const char *t) {
    int64_t i = 0, list[16];
    int k = 0, n = 0;
    uint64_t u = 0;
    double d = 0;
    lc_dtype dt;
    lc_technique tech;
    switch (mode) {
    case 0:
        if (!args_i64(cmd, "--x", t, -5, 1000, &i)) fuzz_assert(i >= -5 && i <= 1000, "args_i64 in range");
        if (!args_i64(cmd, "--x", t, INT64_MIN, INT64_MAX, &i)) fuzz_assert(1, "");
        break;
    case 1:
        if (!args_int(cmd, "--x", t, 1, 4096, &k)) fuzz_assert(k >= 1 && k <= 4096, "args_int in range");
        break;
    case 2: args_u64(cmd, "--x", t, &u); break;
    case 3:
        if (!args_f64(cmd, "--x", t, 0, 1, &d)) fuzz_assert(d >= 0 && d <= 1, "args_f64 in range");
        if (!args_f64(cmd, "--x", t, -1e300, 1e300, &d)) fuzz_assert(isfinite(d), "args_f64 finite");
        break;
    case 4:
        if (!args_count(cmd, "--x", t, 1, LC_COST_MAX_TOKENS, &i)) fuzz_assert(i >= 1 && i <= LC_COST_MAX_TOKENS, "args_count in range");
        if (!args_count(cmd, "--x", t, 0, INT64_MAX, &i)) fuzz_assert(i >= 0, "args_count non-negative");
        break;
    case 5:
        if (!args_counts(cmd, "--x", t, 1, (int64_t)1 << 40, list, 16, &n)) {
            fuzz_assert(n >= 1 && n <= 16, "args_counts count");
            for (int j = 0; j < n; j++) fuzz_assert(list[j] >= 1 && list[j] <= ((int64_t)1 << 40), "args_counts in range");
        }
        break;
    case 6:
        if (!args_params(cmd, "--x", t, &d)) fuzz_assert(d >= 1 && d <= 1e15, "args_params in range");
        break;
    case 7:
        if (!args_threads(cmd, "--x", t, &k)) fuzz_assert(k >= 0 && k <= ARGS_MAX_THREADS, "args_threads in range");
        break;
    case 8:
        fuzz_stale();
        fuzz_status(lc_cost_parse_bytes(t, &d), "lc_cost_parse_bytes");
        break;
    case 9:
        fuzz_stale();
        fuzz_status(lc_dtype_parse(t, &dt), "lc_dtype_parse");
        break;
    case 10:
        fuzz_stale();
        fuzz_status(lc_technique_parse(t, &tech), "lc_technique_parse");
        break;
    default:
        fuzz_stale();
        fuzz_status(lc_cost_gpu_memory(t, &d), "lc_cost_gpu_memory");
        lc_model_shape m;
        fuzz_stale();
        fuzz_status(lc_model_preset(t, &m), "lc_model_preset");
        break;
    }
}

/* The text's lines as argv[1..], after the subcommand's name; 0 when refused by the harness. */
static int split(char *t, const char *name, char **argv, int max) {
    int argc = 0;
    argv[argc++] = (char *)name;
    for (char *p = t; p && argc < max;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        argv[argc++] = p;
        p = nl ? nl + 1 : NULL;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--plot") || !strcmp(argv[i], "--config")) return 0; /* files: not the parsers' business */
        if (!strcmp(name, "patterns") && !strcmp(argv[i], "--n") && i + 1 < argc && strlen(argv[i + 1]) > 2) return 0; /* n^2 cells: keep it fast */
    }
    return argc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) { /* the commands' tables are not what is fuzzed */
        init = 1;
        if (!freopen("/dev/null", "w", stdout)) abort();
        args_quiet(1);
    }
    if (size < 1 || size > 4096) return 0;
    char *t = malloc(size);
    if (!t) return 0;
    memcpy(t, data + 1, size - 1);
    t[size - 1] = 0;
    int mode = data[0] % 14;
    if (mode < 12) {
        parsers(mode, t);
    } else {
        char *argv[17];
        int argc = split(t, mode == 12 ? "wall" : "patterns", argv, 16);
        if (argc) {
            int rc = mode == 12 ? cmd_wall(argc, argv) : cmd_patterns(argc, argv);
            fuzz_assert(rc == 0 || rc == 1 || rc == 2, "a subcommand's exit status is 0, 1 or 2");
            fflush(stdout);
        }
    }
    free(t);
    return 0;
}
