/* longctx tokenize: text to token ids (or ids back to text) with a Hugging Face
 * tokenizer.json, as the `tokenizers` library would give them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "longctx.h"

static int usage(FILE *f, int rc) {
    fprintf(f, "usage: longctx tokenize --model DIR|tokenizer.json (--text TEXT | --text-file FILE | --decode \"ID ID ...\") [--no-special]\n"
               "  encodes the text and prints its token ids on one line, space-separated; with --decode, prints\n"
               "  the text of the ids. Special tokens (the post-processor's BOS/EOS) are added when encoding and\n"
               "  kept when decoding unless --no-special is given (docs/tokenizer.md)\n");
    return rc;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *p = malloc(cap);
    for (size_t k; p && (k = fread(p + n, 1, cap - n, f)) > 0;) {
        n += k;
        if (n == cap) {
            if (cap >= ((size_t)1 << 30)) { /* a text of more than 1 GiB (or /dev/zero): refused, not read into all of memory */
                fclose(f), free(p), errno = EFBIG;
                return NULL;
            }
            char *q = realloc(p, cap *= 2);
            if (!q) free(p);
            p = q;
        }
    }
    int err = ferror(f);
    fclose(f);
    if (err) return free(p), NULL;
    *len = n;
    return p;
}

/* "1 2 3" -> ids; -1 when a word is not an id. */
static int64_t parse_ids(const char *s, int32_t **out) {
    size_t cap = 16, n = 0;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v) return -1;
    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == ',') s++;
        if (!*s) break;
        char *end;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (end == s || errno || x < 0 || x > INT32_MAX || (*end && *end != ' ' && *end != '\t' && *end != '\n' && *end != ',')) return free(v), -1;
        if (n == cap) {
            int32_t *q = realloc(v, (cap *= 2) * sizeof *v);
            if (!q) return free(v), -1;
            v = q;
        }
        v[n++] = (int32_t)x;
        s = end;
    }
    *out = v;
    return (int64_t)n;
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *text = NULL, *text_file = NULL, *decode = NULL;
    int special = 1;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return usage(stdout, 0);
        if (!strcmp(argv[i], "--no-special")) special = 0;
        else if (!strcmp(argv[i], "--model") && v) model = v, i++;
        else if (!strcmp(argv[i], "--text") && v) text = v, i++;
        else if (!strcmp(argv[i], "--text-file") && v) text_file = v, i++;
        else if (!strcmp(argv[i], "--decode") && v) decode = v, i++;
        else {
            fprintf(stderr, "longctx tokenize: unknown or incomplete option '%s'\n", argv[i]);
            return usage(stderr, 2);
        }
    }
    if (!model || (!!text + !!text_file + !!decode) != 1) {
        fprintf(stderr, "longctx tokenize: give --model and exactly one of --text, --text-file, --decode\n");
        return usage(stderr, 2);
    }
    int32_t *ids = NULL;
    int64_t n = 0;
    if (decode && (n = parse_ids(decode, &ids)) < 0) {
        fprintf(stderr, "longctx tokenize: --decode wants non-negative integer ids separated by spaces\n");
        return 2;
    }
    lc_tokenizer *t;
    lc_status st = lc_tokenizer_load(model, &t);
    if (st) {
        fprintf(stderr, "longctx tokenize: %s: %s\n", lc_status_str(st), lc_last_error());
        return free(ids), 1;
    }
    int rc = 0;
    if (decode) {
        char *out;
        size_t len;
        if ((st = lc_tokenizer_decode_alloc(t, ids, n, !special, &out, &len))) {
            fprintf(stderr, "longctx tokenize: %s: %s\n", lc_status_str(st), lc_last_error());
            rc = 1;
        } else {
            fwrite(out, 1, len, stdout);
            putchar('\n');
            free(out);
        }
    } else {
        size_t len = text ? strlen(text) : 0;
        char *buf = NULL;
        if (text_file && !(buf = read_file(text_file, &len))) {
            fprintf(stderr, "longctx tokenize: cannot read '%s': %s\n", text_file, errno == EFBIG ? "larger than 1 GiB" : strerror(errno));
            rc = 1;
        } else if ((st = lc_tokenizer_encode_alloc(t, buf ? buf : text, len, special, &ids, &n))) {
            fprintf(stderr, "longctx tokenize: %s: %s\n", lc_status_str(st), lc_last_error());
            rc = 1;
        } else {
            for (int64_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
            putchar('\n');
        }
        free(buf);
    }
    free(ids);
    lc_tokenizer_destroy(t);
    return rc;
}
