/* longctx bench WHAT: the benchmark programs of bench/, reachable from the command. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "attention_bench.h"
#include "cpu_peers_bench.h"
#include "commands.h"
#include "decode_bench.h"
#include "linear_bench.h"
#include "memory_bench.h"
#include "mla_bench.h"
#include "model_bench.h"
#include "prefill_bench.h"
#include "ssm_bench.h"

static void usage(FILE *f) {
    fprintf(f, "usage: longctx bench attention|memory|decode|prefill|linear|mla|model|ssm|peers [OPTIONS]   (longctx bench WHAT --help for its options)\n"
               "  each prints a table on stdout and writes JSON only to the file given with --json FILE\n");
}

int cmd_bench(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "attention")) return lc_bench_attention_main(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "memory")) return lc_bench_memory_main(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "decode")) return lc_bench_decode_main(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "prefill")) return lc_bench_prefill_main(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "linear")) return lc_bench_linear_main(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "mla")) return lc_bench_mla_main(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "model")) return lc_bench_model_main(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "ssm")) return lc_bench_ssm_main(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "peers")) return lc_bench_cpu_peers_main(argc - 1, argv + 1);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) return usage(stdout), 0;
    if (argc >= 2) fprintf(stderr, "longctx bench: unknown benchmark '%s'\n", argv[1]);
    usage(stderr);
    return ARGS_USAGE;
}
