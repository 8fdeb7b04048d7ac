/* Shared by the fuzz harnesses: the fresh-sentence check and private temporary files. */
#include "fuzz_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The planted sentence carries a number that changes on every call, so that an input cannot
 * contain it (libFuzzer learns the strings a harness compares with and inserts them). */
static char stale[96];
static unsigned long long planted;

void fuzz_stale(void) {
    planted++;
    snprintf(stale, sizeof stale, "stale sentence %llu-%llx", planted, ((unsigned long long)(uintptr_t)&planted * 0x9e3779b97f4a7c15ull) ^ planted);
    lc_error(LC_EINTERNAL, "%s", stale);
}

void fuzz_assert(int cond, const char *what) {
    if (cond) return;
    fprintf(stderr, "fuzz: invariant broken: %s\n", what);
    abort();
}

void fuzz_status(lc_status st, const char *what) {
    if (st == LC_OK) return;
    const char *s = lc_last_error();
    if ((unsigned)st > LC_EINTERNAL || !*s || strstr(s, stale)) {
        fprintf(stderr, "fuzz: %s returned %s (%d) with the sentence '%s'\n", what, lc_status_str(st), (int)st, s);
        abort();
    }
    if (st == LC_EINTERNAL) { /* "a bug in longctx": never the answer to bad input */
        fprintf(stderr, "fuzz: %s returned LC_EINTERNAL: %s\n", what, s);
        abort();
    }
}

static char dir[256];

static void remove_dir(void) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[600];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) snprintf(p, sizeof p, "%s/%s", dir, e->d_name), unlink(p);
        closedir(d);
    }
    rmdir(dir);
}

const char *fuzz_dir(void) {
    if (!dir[0]) {
        struct stat sb;
        const char *base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) && access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(dir, sizeof dir, "%s/longctx-fuzz-XXXXXX", base);
        if (!mkdtemp(dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(remove_dir);
    }
    return dir;
}

const char *fuzz_write(const char *name, const void *bytes, size_t n) {
    static char path[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(path[k], "wb");
    if (!f || (n && fwrite(bytes, 1, n, f) != n) || fclose(f)) {
        perror("fuzz: writing a temporary file");
        abort();
    }
    return path[k];
}
