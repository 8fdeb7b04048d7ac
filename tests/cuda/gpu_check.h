// CHECK for the GPU test programs: counts checks and failures, prints each failure.
#pragma once

#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long checks, failures;
#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        checks++;                                                                             \
        if (!(cond)) {                                                                        \
            failures++;                                                                       \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);          \
            fprintf(stderr, __VA_ARGS__);                                                     \
            fputc('\n', stderr);                                                              \
        }                                                                                     \
    } while (0)

// The GPU tests' common start: `--quick` (*quick = 1), `--smoke` (2: a few small cases of
// each kind, for compute-sanitizer) and `--seed S` (default: the time), then the device.
// Returns 0 to go on, or 77 (CTest: skipped) when there is no CUDA device.
static int gpu_test_begin(const char *name, int argc, char **argv, int *quick, uint64_t *seed) {
    *quick = 0, *seed = (uint64_t)time(NULL);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) *quick = 1;
        else if (!strcmp(argv[i], "--smoke")) *quick = 2;
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) *seed = strtoull(argv[++i], NULL, 10);
    }
    int devices = 0;
    cudaDeviceProp prop;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0 || cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
        printf("%s: no CUDA device, skipped\n", name);
        return 77;
    }
    printf("%s: %s, seed %llu (replay with --seed)\n", name, prop.name, (unsigned long long)*seed);
    return 0;
}
