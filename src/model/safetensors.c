/* The safetensors reader: one file or the shards of an index, mmap'd read-only and validated
 * whole before anything is returned (include/longctx/safetensors.h). */
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "longctx/safetensors.h"

/* The reference implementation's limit on the header (safetensors' MAX_HEADER_SIZE). */
#define MAX_HEADER_BYTES ((uint64_t)100000000)

typedef struct st_file {
    char *path;
    void *map;
    size_t size;
} st_file;

typedef struct st_meta {
    char *key, *value;
} st_meta;

struct lc_safetensors {
    st_file *files;
    int n_files;
    lc_st_tensor *tensors; /* sorted by name */
    int64_t n_tensors, cap_tensors;
    st_meta *meta;
    int64_t n_meta;
    size_t mapped;
};

const char *lc_st_dtype_name(lc_dtype t) {
    switch (t) {
    case LC_F32: return "F32";
    case LC_F16: return "F16";
    case LC_BF16: return "BF16";
    default: return "?";
    }
}

void lc_safetensors_destroy(lc_safetensors *st) {
    if (!st) return;
    for (int f = 0; f < st->n_files; f++) {
        if (st->files[f].map) munmap(st->files[f].map, st->files[f].size);
        free(st->files[f].path);
    }
    for (int64_t i = 0; i < st->n_tensors; i++) free((char *)st->tensors[i].name);
    for (int64_t i = 0; i < st->n_meta; i++) free(st->meta[i].key), free(st->meta[i].value);
    free(st->files), free(st->tensors), free(st->meta), free(st);
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Safetensors dtypes longctx does not read: known, so the refusal can say what they are. */
static int other_dtype(const char *s) {
    static const char *known[] = {"F64", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL",
                                  "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64", NULL};
    for (int i = 0; known[i]; i++)
        if (!strcmp(s, known[i])) return 1;
    return 0;
}

/* A JSON number that is an integer in [0, 2^53]. */
static int json_count(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return 0;
    double v = j->valuedouble;
    if (!(v >= 0) || v > 9007199254740992.0 || v != (double)(uint64_t)v) return 0;
    *out = (uint64_t)v;
    return 1;
}

typedef struct span {
    uint64_t begin, end;
    int64_t index; /* into the set's tensors */
} span;

static int by_begin(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int by_name(const void *a, const void *b) { return strcmp(((const lc_st_tensor *)a)->name, ((const lc_st_tensor *)b)->name); }

static lc_status add_tensor(lc_safetensors *st, const lc_st_tensor *t) {
    if (st->n_tensors == st->cap_tensors) {
        int64_t cap = st->cap_tensors ? 2 * st->cap_tensors : 64;
        lc_st_tensor *n = realloc(st->tensors, sizeof *n * (size_t)cap);
        if (!n) return lc_error(LC_ENOMEM, "safetensors: %lld tensors", (long long)cap);
        st->tensors = n, st->cap_tensors = cap;
    }
    st->tensors[st->n_tensors++] = *t;
    return LC_OK;
}

static lc_status read_metadata(lc_safetensors *st, const cJSON *m, const char *path) {
    if (!cJSON_IsObject(m)) return lc_error(LC_EFORMAT, "%s: __metadata__ must be an object of strings", path);
    const cJSON *e;
    cJSON_ArrayForEach(e, m) {
        if (!cJSON_IsString(e)) return lc_error(LC_EFORMAT, "%s: __metadata__ '%s' must be a string", path, e->string);
        st_meta *n = realloc(st->meta, sizeof *n * (size_t)(st->n_meta + 1));
        if (!n) return lc_error(LC_ENOMEM, "safetensors metadata");
        st->meta = n;
        st->meta[st->n_meta].key = dup_str(e->string);
        st->meta[st->n_meta].value = dup_str(e->valuestring);
        st->n_meta++;
        if (!st->meta[st->n_meta - 1].key || !st->meta[st->n_meta - 1].value) return lc_error(LC_ENOMEM, "safetensors metadata");
    }
    return LC_OK;
}

/* One tensor entry of a header: checked and added (data pointer set by the caller's pass). */
static lc_status read_entry(lc_safetensors *st, const cJSON *e, const char *path, const uint8_t *data, uint64_t data_size, span *sp) {
    const char *name = e->string;
    if (!cJSON_IsObject(e)) return lc_error(LC_EFORMAT, "%s: tensor '%s' must be an object with dtype, shape and data_offsets", path, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt)) return lc_error(LC_EFORMAT, "%s: tensor '%s': missing or non-string field 'dtype'", path, name);
    lc_dtype dtype;
    if (!strcmp(dt->valuestring, "F32")) dtype = LC_F32;
    else if (!strcmp(dt->valuestring, "F16")) dtype = LC_F16;
    else if (!strcmp(dt->valuestring, "BF16")) dtype = LC_BF16;
    else if (other_dtype(dt->valuestring))
        return lc_error(LC_EUNSUPPORTED, "%s: tensor '%s' has dtype %s; longctx reads F32, F16 and BF16", path, name, dt->valuestring);
    else return lc_error(LC_EFORMAT, "%s: tensor '%s': dtype '%s' is not a safetensors dtype", path, name, dt->valuestring);
    if (!cJSON_IsArray(sh)) return lc_error(LC_EFORMAT, "%s: tensor '%s': missing or non-array field 'shape'", path, name);
    int nd = cJSON_GetArraySize(sh);
    if (nd > LC_ST_MAX_DIMS) return lc_error(LC_EUNSUPPORTED, "%s: tensor '%s' has %d dimensions, at most %d are read", path, name, nd, LC_ST_MAX_DIMS);
    lc_st_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dtype, t.ndim = nd, t.numel = 1;
    uint64_t numel = 1;
    for (int d = 0; d < nd; d++) {
        uint64_t v;
        if (!json_count(cJSON_GetArrayItem(sh, d), &v) || v > ((uint64_t)1 << 48))
            return lc_error(LC_EFORMAT, "%s: tensor '%s': shape[%d] must be a non-negative integer", path, name, d);
        if (v && numel > ((uint64_t)1 << 50) / v) return lc_error(LC_EFORMAT, "%s: tensor '%s': the shape's product overflows", path, name);
        numel *= v;
        t.shape[d] = (int64_t)v;
    }
    t.numel = (int64_t)numel;
    uint64_t b, en;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || !json_count(cJSON_GetArrayItem(off, 0), &b) ||
        !json_count(cJSON_GetArrayItem(off, 1), &en))
        return lc_error(LC_EFORMAT, "%s: tensor '%s': field 'data_offsets' must be [begin, end], two non-negative integers", path, name);
    if (en < b) return lc_error(LC_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu) ends before it begins", path, name,
                                (unsigned long long)b, (unsigned long long)en);
    if (en > data_size)
        return lc_error(LC_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu) run past the end of the data (%llu bytes; truncated file?)",
                        path, name, (unsigned long long)b, (unsigned long long)en, (unsigned long long)data_size);
    t.bytes = (size_t)numel * lc_dtype_size(dtype);
    if (en - b != (uint64_t)t.bytes)
        return lc_error(LC_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu) hold %llu bytes, but %s x shape needs %zu", path, name,
                        (unsigned long long)b, (unsigned long long)en, (unsigned long long)(en - b), dt->valuestring, t.bytes);
    t.data = data + b;
    t.name = dup_str(name);
    if (!t.name) return lc_error(LC_ENOMEM, "safetensors: tensor name");
    t.file = path;
    sp->begin = b, sp->end = en, sp->index = st->n_tensors;
    lc_status s = add_tensor(st, &t);
    if (s) free((char *)t.name);
    return s;
}

/* Maps one file, validates its header and data, and adds its tensors. */
static lc_status read_file(lc_safetensors *st, const char *path) {
    st_file *nf = realloc(st->files, sizeof *nf * (size_t)(st->n_files + 1));
    if (!nf) return lc_error(LC_ENOMEM, "safetensors: file table");
    st->files = nf;
    st_file *f = &st->files[st->n_files];
    memset(f, 0, sizeof *f);
    f->path = dup_str(path);
    if (!f->path) return lc_error(LC_ENOMEM, "safetensors: path");
    st->n_files++;
    path = f->path; /* tensors point at the set's copy */

    int fd = open(path, O_RDONLY);
    if (fd < 0) return lc_error(LC_EIO, "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        close(fd);
        return lc_error(LC_EIO, "'%s' is not a regular file", path);
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size < 8) {
        close(fd);
        return lc_error(LC_EFORMAT, "%s: truncated: %llu bytes, a safetensors file starts with an 8-byte header length", path,
                        (unsigned long long)size);
    }
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return lc_error(LC_EIO, "cannot map '%s' (%llu bytes): %s", path, (unsigned long long)size, strerror(errno));
#ifdef MADV_HUGEPAGE
    /* A hint, refused harmlessly where unsupported: where the kernel keeps the file in large
     * folios it maps them with 2 MiB entries, and a decode step, which streams every weight
     * once, stops paying a TLB walk every 4 KiB (reading a 2 GiB checkpoint on 2 threads: 35
     * GB/s with 4 KiB pages, 45 with the hint). */
    madvise(map, (size_t)size, MADV_HUGEPAGE);
#endif
    f->map = map, f->size = (size_t)size;
    st->mapped += f->size;
    const uint8_t *base = map;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | base[i];
    if (n > size - 8)
        return lc_error(LC_EFORMAT, "%s: header length %llu runs past the end of the file (%llu bytes; truncated or not safetensors)",
                        path, (unsigned long long)n, (unsigned long long)size);
    if (n > MAX_HEADER_BYTES) return lc_error(LC_EFORMAT, "%s: header length %llu is over the 100 MB limit", path, (unsigned long long)n);
    if (n < 2 || base[8] != '{') return lc_error(LC_EFORMAT, "%s: the header is not a JSON object", path);
    cJSON *h = cJSON_ParseWithLength((const char *)base + 8, (size_t)n);
    if (!h || !cJSON_IsObject(h)) {
        cJSON_Delete(h);
        return lc_error(LC_EFORMAT, "%s: the %llu-byte header is not a JSON object (malformed or truncated)", path, (unsigned long long)n);
    }
    const uint8_t *data = base + 8 + n;
    uint64_t data_size = size - 8 - n;
    int64_t first = st->n_tensors, count = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, h) count += strcmp(e->string, "__metadata__") != 0;
    span *spans = malloc(sizeof *spans * (size_t)(count + 1));
    lc_status s = spans ? LC_OK : lc_error(LC_ENOMEM, "safetensors: %lld tensors", (long long)count);
    int64_t k = 0;
    cJSON_ArrayForEach(e, h) {
        if (s) break;
        if (!strcmp(e->string, "__metadata__")) s = read_metadata(st, e, path);
        else s = read_entry(st, e, path, data, data_size, &spans[k++]);
    }
    cJSON_Delete(h);
    if (!s) { /* the data covered exactly once, in offset order */
        qsort(spans, (size_t)k, sizeof *spans, by_begin);
        uint64_t at = 0;
        for (int64_t i = 0; i < k && !s; i++) {
            const lc_st_tensor *t = &st->tensors[spans[i].index];
            if (spans[i].begin < at) {
                const lc_st_tensor *p = &st->tensors[spans[i - 1].index];
                s = lc_error(LC_EFORMAT, "%s: tensor '%s' [%llu, %llu) overlaps tensor '%s' [%llu, %llu)", path, t->name,
                             (unsigned long long)spans[i].begin, (unsigned long long)spans[i].end, p->name,
                             (unsigned long long)spans[i - 1].begin, (unsigned long long)spans[i - 1].end);
            } else if (spans[i].begin > at) {
                s = lc_error(LC_EFORMAT, "%s: data bytes [%llu, %llu) before tensor '%s' belong to no tensor", path, (unsigned long long)at,
                             (unsigned long long)spans[i].begin, t->name);
            }
            at = spans[i].end;
        }
        if (!s && at != data_size)
            s = lc_error(LC_EFORMAT, "%s: %llu data bytes after the last tensor belong to no tensor", path, (unsigned long long)(data_size - at));
    }
    free(spans);
    if (!s && st->n_tensors > first) { /* a name twice in one header (none: st->tensors may still be NULL) */
        qsort(st->tensors + first, (size_t)(st->n_tensors - first), sizeof *st->tensors, by_name);
        for (int64_t i = first + 1; i < st->n_tensors && !s; i++)
            if (!strcmp(st->tensors[i].name, st->tensors[i - 1].name))
                s = lc_error(LC_EFORMAT, "%s: tensor '%s' appears twice in the header", path, st->tensors[i].name);
    }
    return s;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static char *read_text(const char *path, size_t limit, lc_status *s) {
    FILE *f = fopen(path, "rb");
    if (!f) return *s = lc_error(LC_EIO, "cannot open '%s': %s", path, strerror(errno)), NULL;
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 + 1 > cap) {
            cap = cap ? 2 * cap : 131072;
            char *t = cap <= limit ? realloc(text, cap) : NULL;
            if (!t) {
                free(text), fclose(f);
                *s = cap > limit ? lc_error(LC_EFORMAT, "'%s' is larger than %zu bytes", path, limit) : lc_error(LC_ENOMEM, "reading '%s'", path);
                return NULL;
            }
            text = t;
        }
        size_t got = fread(text + len, 1, 65536, f);
        len += got;
        if (got < 65536) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) return free(text), *s = lc_error(LC_EIO, "cannot read '%s'", path), NULL;
    text[len] = 0;
    *s = LC_OK;
    return text;
}

/* The shards of an index, each once, then every weight_map entry checked against them. */
static lc_status read_index(lc_safetensors *st, const char *index_path) {
    lc_status s;
    char *text = read_text(index_path, (size_t)256 << 20, &s);
    if (!text) return s;
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *wm = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return lc_error(LC_EFORMAT, "%s: not a JSON object (malformed or truncated)", index_path);
    }
    if (!cJSON_IsObject(wm) || !wm->child) {
        cJSON_Delete(root);
        return lc_error(LC_EFORMAT, "%s: missing or empty field 'weight_map'", index_path);
    }
    const char *slash = strrchr(index_path, '/');
    size_t dir_len = slash ? (size_t)(slash - index_path + 1) : 0;
    const cJSON *e;
    s = LC_OK;
    char **names = NULL;
    int n_names = 0;
    cJSON_ArrayForEach(e, wm) { /* distinct shard names, in order of appearance */
        if (!cJSON_IsString(e) || !*e->valuestring || strchr(e->valuestring, '/') || !strcmp(e->valuestring, "..")) {
            s = lc_error(LC_EFORMAT, "%s: weight_map['%s'] must be a file name in the index's directory", index_path, e->string);
            break;
        }
        int seen = 0;
        for (int i = 0; i < n_names && !seen; i++) seen = !strcmp(names[i], e->valuestring);
        if (seen) continue;
        char **nn = realloc(names, sizeof *nn * (size_t)(n_names + 1));
        if (!nn) { s = lc_error(LC_ENOMEM, "index shards"); break; }
        names = nn, names[n_names++] = e->valuestring;
    }
    for (int i = 0; i < n_names && !s; i++) {
        size_t len = dir_len + strlen(names[i]) + 1;
        char *p = malloc(len);
        if (!p) { s = lc_error(LC_ENOMEM, "shard path"); break; }
        memcpy(p, index_path, dir_len);
        memcpy(p + dir_len, names[i], strlen(names[i]) + 1);
        s = read_file(st, p);
        free(p);
    }
    free(names);
    if (!s) {
        if (st->n_tensors > 0) qsort(st->tensors, (size_t)st->n_tensors, sizeof *st->tensors, by_name);
        for (int64_t i = 1; i < st->n_tensors && !s; i++)
            if (!strcmp(st->tensors[i].name, st->tensors[i - 1].name))
                s = lc_error(LC_EFORMAT, "%s: tensor '%s' appears in both %s and %s", index_path, st->tensors[i].name, st->tensors[i - 1].file,
                             st->tensors[i].file);
    }
    cJSON_ArrayForEach(e, wm) {
        if (s) break;
        const lc_st_tensor *t = lc_safetensors_find(st, e->string);
        const char *tf = t ? strrchr(t->file, '/') : NULL;
        tf = tf ? tf + 1 : t ? t->file : NULL;
        if (!t) s = lc_error(LC_EFORMAT, "%s: tensor '%s' is mapped to %s, which holds no such tensor", index_path, e->string, e->valuestring);
        else if (strcmp(tf, e->valuestring))
            s = lc_error(LC_EFORMAT, "%s: tensor '%s' is mapped to %s but lies in %s", index_path, e->string, e->valuestring, t->file);
    }
    cJSON_Delete(root);
    return s;
}

lc_status lc_safetensors_open(const char *path, lc_safetensors **out) {
    if (!path || !out) return lc_error(LC_EINVAL, "lc_safetensors_open: path and out must not be NULL");
    *out = NULL;
    lc_safetensors *st = calloc(1, sizeof *st);
    if (!st) return lc_error(LC_ENOMEM, "safetensors set");
    struct stat sb;
    lc_status s;
    if (stat(path, &sb)) {
        s = lc_error(LC_EIO, "cannot open '%s': %s", path, strerror(errno));
    } else if (S_ISDIR(sb.st_mode)) {
        size_t len = strlen(path) + 64;
        char *p = malloc(len);
        if (!p) {
            s = lc_error(LC_ENOMEM, "path");
        } else {
            snprintf(p, len, "%s/model.safetensors.index.json", path);
            if (!access(p, F_OK)) {
                s = read_index(st, p);
            } else {
                snprintf(p, len, "%s/model.safetensors", path);
                if (!access(p, F_OK)) s = read_file(st, p);
                else s = lc_error(LC_EIO, "%s: neither model.safetensors.index.json nor model.safetensors is there", path);
            }
            free(p);
        }
    } else if (ends_with(path, ".json")) {
        s = read_index(st, path);
    } else {
        s = read_file(st, path);
        if (!s && st->n_tensors > 0) qsort(st->tensors, (size_t)st->n_tensors, sizeof *st->tensors, by_name);
    }
    if (s) {
        lc_safetensors_destroy(st);
        return s;
    }
    *out = st;
    return LC_OK;
}

int64_t lc_safetensors_count(const lc_safetensors *st) { return st ? st->n_tensors : 0; }

const lc_st_tensor *lc_safetensors_at(const lc_safetensors *st, int64_t i) {
    return st && i >= 0 && i < st->n_tensors ? &st->tensors[i] : NULL;
}

const lc_st_tensor *lc_safetensors_find(const lc_safetensors *st, const char *name) {
    if (!st || !name) return NULL;
    int64_t lo = 0, hi = st->n_tensors;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(st->tensors[mid].name, name);
        if (!c) return &st->tensors[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

int lc_safetensors_file_count(const lc_safetensors *st) { return st ? st->n_files : 0; }
size_t lc_safetensors_mapped_bytes(const lc_safetensors *st) { return st ? st->mapped : 0; }

const char *lc_safetensors_metadata(const lc_safetensors *st, const char *key) {
    if (!st || !key) return NULL;
    for (int64_t i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta[i].key, key)) return st->meta[i].value;
    return NULL;
}
