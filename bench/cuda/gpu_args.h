// Strict command-line numbers for the GPU benchmarks.
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

// A command-line integer in [lo, hi], the whole text or nothing (tools/args.h's rule for the
// CPU commands): 0, or 2 (the usage-error status) with a sentence naming the flag and range.
static int gpu_arg_int(const char *prog, const char *flag, const char *text, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = text && *text >= '0' && *text <= '9' ? strtol(text, &end, 10) : lo - 1;
    if (!text || *text < '0' || *text > '9' || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "%s: %s must be an integer in [%ld, %ld]; got '%s'\n", prog, flag, lo, hi, text ? text : "");
        return 2;
    }
    *out = (int)v;
    return 0;
}
