/* The corpus replay: runs every file of the given files and directories (not recursive)
 * through the harness's LLVMFuzzerTestOneInput, the function libFuzzer calls, so that the
 * ordinary test suites (plain and ASan+UBSan) run each committed input on every run. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_util.h"

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return fprintf(stderr, "replay: cannot open %s\n", path), 1;
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap);
    for (size_t got; b && (got = fread(b + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) {
            uint8_t *c = realloc(b, cap *= 2);
            if (!c) free(b);
            b = c;
        }
    }
    fclose(f);
    if (!b) return fprintf(stderr, "replay: out of memory reading %s\n", path), 1;
    uint8_t *exact = malloc(n ? n : 1); /* exactly n bytes, as libFuzzer passes them: ASan sees any read past */
    if (!exact) return free(b), 1;
    memcpy(exact, b, n);
    free(b);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    int files = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb)) return fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]), 1;
        if (!S_ISDIR(sb.st_mode)) {
            bad |= run_file(argv[i]), files++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (!d) return fprintf(stderr, "replay: cannot read %s\n", argv[i]), 1;
        char **names = NULL;
        size_t n = 0, cap = 0;
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] == '.') continue;
            if (n == cap) {
                char **m = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
                if (!m) return 1;
                names = m;
            }
            names[n++] = strdup(e->d_name);
        }
        closedir(d);
        qsort(names, n, sizeof *names, cmp); /* a fixed order, so a failure names the same file every run */
        for (size_t k = 0; k < n; k++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], names[k]);
            bad |= run_file(path), files++;
            free(names[k]);
        }
        free(names);
    }
    if (files == 0) return fprintf(stderr, "replay: no inputs\n"), 1;
    fprintf(stderr, "replay: %d inputs, none crashed\n", files);
    return bad;
}
