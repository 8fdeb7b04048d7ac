/* longctx: the command. `longctx` alone runs the report; `longctx help` lists the rest. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "longctx.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: longctx [COMMAND] [OPTIONS]\n"
            "\n"
            "  report            exact attention, naive and flash, at growing lengths on this machine:\n"
            "                    time and peak memory, the quadratic wall and the way past it (default)\n"
            "  bench attention   flash vs naive vs the OpenBLAS sgemm and tile-product ceilings; table and JSON\n"
            "  ring              ring attention over MPI: mpirun -np P longctx ring [--check]\n"
            "  wall              memory and FLOPs of every long-context technique, 1K..2M tokens, and where\n"
            "                    each hits the device's memory (--plot wall.png)\n"
            "  run               a Hugging Face checkpoint on the CPU: generate, or write every position's logits\n"
            "  patterns          every sparse attention pattern drawn from lc_mask, active cells and speed-up\n"
            "  tokenize          text to token ids and back with a Hugging Face tokenizer.json\n"
            "  niah              needle-in-a-haystack recall of a checkpoint per technique: depth x length heatmaps\n"
            "  recall            the recall-versus-memory frontier across models and techniques\n"
            "  version           print the library version\n"
            "  help              this text; `longctx COMMAND --help` for a command's options\n"
            "\n"
            "Every number is checked whole (no trailing text, no overflow, no inf or nan) against its\n"
            "range; sizes that need more memory than this machine has are refused before anything runs;\n"
            "--threads takes 0 (all processors) up to 1024. Benchmarks write JSON only with --json FILE.\n"
            "\n"
            "exit status, every command:\n"
            "  0  done (and --help)\n"
            "  1  a step failed at run time: a file that cannot be read or is malformed, out of memory,\n"
            "     a kernel's error, a check that found a difference; nothing is reported as a result\n"
            "  2  the command line is wrong: an unknown option, a value malformed or out of range, or a\n"
            "     size that needs more memory than this machine has\n");
}

int main(int argc, char **argv) {
    if (argc < 2) return cmd_report(argc, argv);
    const char *c = argv[1];
    if (!strcmp(c, "report")) return cmd_report(argc - 1, argv + 1);
    if (!strcmp(c, "bench")) return cmd_bench(argc - 1, argv + 1);
    if (!strcmp(c, "ring")) return cmd_ring(argc - 1, argv + 1);
    if (!strcmp(c, "wall")) return cmd_wall(argc - 1, argv + 1);
    if (!strcmp(c, "patterns")) return cmd_patterns(argc - 1, argv + 1);
    if (!strcmp(c, "run")) return cmd_run(argc - 1, argv + 1);
    if (!strcmp(c, "tokenize")) return cmd_tokenize(argc - 1, argv + 1);
    if (!strcmp(c, "niah")) return cmd_niah(argc - 1, argv + 1);
    if (!strcmp(c, "recall")) return cmd_recall(argc - 1, argv + 1);
    if (!strcmp(c, "version") || !strcmp(c, "--version")) {
        printf("longctx %s\n", lc_version());
        return 0;
    }
    if (!strcmp(c, "help") || !strcmp(c, "--help") || !strcmp(c, "-h")) {
        usage(stdout);
        return 0;
    }
    if (c[0] == '-') return cmd_report(argc, argv); /* options of the default command */
    fprintf(stderr, "longctx: unknown command '%s'\n\n", c);
    usage(stderr);
    return 2;
}
