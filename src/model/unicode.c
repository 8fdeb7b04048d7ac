/* UTF-8 and the lookups into the generated Unicode tables. */
#include "unicode.h"

unsigned tok_uni_class(uint32_t c) {
    if (c < 0x80) { /* ASCII fast path */
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return TOK_UNI_LETTER;
        if (c >= '0' && c <= '9') return TOK_UNI_NUMBER | TOK_UNI_DIGIT;
        if ((c >= 0x09 && c <= 0x0D) || c == ' ') return TOK_UNI_SPACE;
        return c == '_' ? TOK_UNI_PC : 0;
    }
    int32_t lo = 0, hi = tok_uni_class_count - 1; /* last entry with start <= c */
    while (lo < hi) {
        int32_t mid = lo + (hi - lo + 1) / 2;
        if ((tok_uni_class_ranges[mid] >> 8) <= c) lo = mid;
        else hi = mid - 1;
    }
    return tok_uni_class_ranges[lo] & 0xFF;
}

int tok_uni_lower(uint32_t c, uint32_t out[3]) {
    if (c < 0x80) {
        out[0] = c >= 'A' && c <= 'Z' ? c + 32 : c;
        return 1;
    }
    for (int32_t i = 0; i < tok_uni_lower_multi_count; i++)
        if (tok_uni_lower_multi[i][0] == c) {
            int n = (int)tok_uni_lower_multi[i][1];
            for (int k = 0; k < n; k++) out[k] = tok_uni_lower_multi[i][2 + k];
            return n;
        }
    int32_t lo = 0, hi = tok_uni_lower_run_count - 1, at = -1;
    while (lo <= hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if ((uint32_t)tok_uni_lower_runs[mid][0] <= c) at = mid, lo = mid + 1;
        else hi = mid - 1;
    }
    if (at >= 0 && c < (uint32_t)(tok_uni_lower_runs[at][0] + tok_uni_lower_runs[at][1])) {
        out[0] = (uint32_t)((int32_t)c + tok_uni_lower_runs[at][2]);
        return 1;
    }
    out[0] = c;
    return 1;
}

size_t tok_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) return *cp = c, 1;
    size_t len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) len = 2, v = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, v = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, v = c & 0x07, min = 0x10000;
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v < 0xE000)) return 0;
    *cp = v;
    return len;
}

size_t tok_utf8_encode(uint32_t c, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (c < 0x80) return o[0] = (unsigned char)c, 1;
    if (c < 0x800) return o[0] = (unsigned char)(0xC0 | c >> 6), o[1] = (unsigned char)(0x80 | (c & 0x3F)), 2;
    if (c < 0x10000) {
        o[0] = (unsigned char)(0xE0 | c >> 12), o[1] = (unsigned char)(0x80 | (c >> 6 & 0x3F)), o[2] = (unsigned char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | c >> 18), o[1] = (unsigned char)(0x80 | (c >> 12 & 0x3F));
    o[2] = (unsigned char)(0x80 | (c >> 6 & 0x3F)), o[3] = (unsigned char)(0x80 | (c & 0x3F));
    return 4;
}

size_t tok_utf8_valid_prefix(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t k = tok_utf8_decode(u + i, n - i, &cp);
        if (!k) return i;
        i += k;
    }
    return n;
}
