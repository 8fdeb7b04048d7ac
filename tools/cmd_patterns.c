/* longctx patterns: every sparse attention pattern of the catalogue (pattern_build),
 * drawn cell by cell from lc_mask_allows, so the picture is what the kernels compute,
 * with its count of active cells against the full grid and the speed-up that implies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "longctx.h"
#include "patterns.h"
#include "plot.h"

enum { TERMINAL_MAX = 64 };

typedef struct drawn {
    pattern pat;
    uint8_t *cells; /* n x n, row = query, column = key */
    int64_t active;
} drawn;

static int64_t draw_cells(drawn *d) {
    int64_t n = d->pat.n, active = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) active += d->cells[i * n + j] = (uint8_t)lc_mask_allows(&d->pat.mask, i, j);
    return active;
}

static void print_pattern(const drawn *d) {
    int64_t n = d->pat.n;
    double full = (double)(n * n), causal = (double)(n * (n + 1) / 2);
    printf("%s: %s\n", d->pat.name, d->pat.description);
    if (n <= TERMINAL_MAX) {
        for (int64_t i = 0; i < n; i++) {
            printf("  ");
            for (int64_t j = 0; j < n; j++) fputs(d->cells[i * n + j] ? "\u25a0 " : "\u00b7 ", stdout);
            putchar('\n');
        }
    }
    printf("  active %lld of %lld cells (%.1f%%): speed-up %.2fx over full", (long long)d->active, (long long)(n * n),
           100.0 * (double)d->active / full, full / (double)d->active);
    if (d->pat.mask.causal) printf(", %.2fx over causal", causal / (double)d->active);
    printf("\n\n");
}

static int plot_patterns(const char *path, drawn *all, int count) {
    int64_t n = all[0].pat.n;
    int cols = 3, rows = (count + cols - 1) / cols;
    double cell = n <= 24 ? 12 : n <= 64 ? 5 : 300.0 / (double)n, side = cell * (double)n, pad = 70;
    int w = (int)(cols * (side + pad) + pad), h = (int)(rows * (side + pad + 40) + 70);
    plot_file *pf = plot_open(path, w, h);
    if (!pf) return 1;
    cairo_t *cr = plot_cairo(pf);
    char title[128];
    snprintf(title, sizeof title, "Sparse attention patterns, %lld x %lld (row = query, column = key), drawn from lc_mask", (long long)n, (long long)n);
    cairo_set_source_rgb(cr, 0, 0, 0);
    plot_text(cr, w / 2.0, 34, 17, 0.5, title);
    for (int k = 0; k < count; k++) {
        const drawn *d = &all[k];
        double x0 = pad + (k % cols) * (side + pad), y0 = 90 + (k / cols) * (side + pad + 40);
        cairo_set_source_rgb(cr, 0.93, 0.93, 0.93);
        cairo_rectangle(cr, x0, y0, side, side);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0.12, 0.30, 0.62);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++)
                if (d->cells[i * n + j]) cairo_rectangle(cr, x0 + (double)j * cell, y0 + (double)i * cell, cell, cell);
        cairo_fill(cr);
        if (cell >= 5) { /* cell borders */
            cairo_set_source_rgb(cr, 1, 1, 1);
            cairo_set_line_width(cr, cell >= 10 ? 1 : 0.5);
            for (int64_t i = 0; i <= n; i++) {
                cairo_move_to(cr, x0, y0 + (double)i * cell), cairo_line_to(cr, x0 + side, y0 + (double)i * cell);
                cairo_move_to(cr, x0 + (double)i * cell, y0), cairo_line_to(cr, x0 + (double)i * cell, y0 + side);
            }
            cairo_stroke(cr);
        }
        cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
        cairo_set_line_width(cr, 1);
        cairo_rectangle(cr, x0, y0, side, side);
        cairo_stroke(cr);
        char line[128];
        cairo_set_source_rgb(cr, 0, 0, 0);
        plot_text(cr, x0 + side / 2, y0 - 24, 15, 0.5, d->pat.name);
        snprintf(line, sizeof line, "%lld / %lld cells, %.2fx faster than full", (long long)d->active, (long long)(n * n),
                 (double)(n * n) / (double)d->active);
        plot_text(cr, x0 + side / 2, y0 - 8, 11, 0.5, line);
        cairo_set_source_rgb(cr, 0.35, 0.35, 0.35); /* "Source: parameters" on two lines */
        const char *colon = strstr(d->pat.description, ": ");
        int head = colon ? (int)(colon - d->pat.description) : 0;
        snprintf(line, sizeof line, "%.*s", head, d->pat.description);
        plot_text(cr, x0 + side / 2, y0 + side + 16, 11, 0.5, line);
        plot_text(cr, x0 + side / 2, y0 + side + 30, 11, 0.5, colon ? colon + 2 : d->pat.description);
    }
    return plot_close(pf) ? 1 : 0;
}

int cmd_patterns(int argc, char **argv) {
    int64_t n = 24;
    const char *plot = NULL, *only = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--n") && v) {
            int rc = args_i64("longctx patterns", "--n", v, 4, 4096, &n);
            if (rc) return rc;
            i++;
        } else if (!strcmp(argv[i], "--plot") && v) {
            plot = v, i++;
            if (!plot_path_ok(plot)) return fprintf(stderr, "longctx patterns: --plot: the file name must end in .png or .svg\n"), 2;
        } else if (!strcmp(argv[i], "--only") && v) {
            only = v, i++;
        } else {
            int help = !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
            fprintf(help ? stdout : stderr,
                    "usage: longctx patterns [--n N] [--only NAME] [--plot FILE.png|FILE.svg]\n"
                    "  each sparse pattern (full, causal, sliding-window, dilated-window, strided, local+global,\n"
                    "  bigbird, block-sparse, sinks+window) as an N x N grid (default 24) drawn from lc_mask,\n"
                    "  with its active cells and the speed-up over full attention (docs/patterns.md)\n");
            return help ? 0 : 2;
        }
    }
    int count = pattern_count(), rc = 0, shown = 0;
    drawn *all = calloc((size_t)count, sizeof *all);
    if (!all) return fprintf(stderr, "longctx patterns: out of memory\n"), ARGS_FAILED;
    for (int k = 0; k < count && !rc; k++) {
        drawn *d = &all[shown];
        if (pattern_build(k, n, &d->pat)) {
            fprintf(stderr, "longctx patterns: %s\n", lc_last_error());
            rc = 2;
            break;
        }
        if (only && strcmp(only, d->pat.name)) continue;
        d->cells = malloc((size_t)(n * n));
        if (!d->cells) {
            fprintf(stderr, "longctx patterns: out of memory for %lld x %lld cells\n", (long long)n, (long long)n);
            rc = ARGS_FAILED;
            break;
        }
        d->active = draw_cells(d);
        int64_t counted = lc_mask_count(&d->pat.mask, n, n);
        if (counted != d->active) { /* the cell-by-cell truth and the tile counter must agree */
            fprintf(stderr, "longctx patterns: %s: %lld cells drawn but lc_mask_count says %lld\n", d->pat.name, (long long)d->active,
                    (long long)counted);
            rc = 1;
        }
        print_pattern(d);
        shown++;
    }
    if (!rc && only && shown == 0) {
        fprintf(stderr, "longctx patterns: no pattern named '%s'\n", only);
        rc = 2;
    }
    if (!rc && plot) {
        rc = plot_patterns(plot, all, shown);
        if (!rc) fprintf(stderr, "longctx patterns: wrote %s\n", plot);
    }
    for (int k = 0; k < count; k++) free(all[k].cells);
    free(all);
    return rc;
}
