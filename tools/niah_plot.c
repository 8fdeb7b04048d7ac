/* The recall plots (niah_grid.h): depth x length heatmaps, one panel per technique, and the
 * frontier, recall against state bytes per token and against time per token at each length. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "niah_grid.h"
#include "plot.h"

#define PI 3.14159265358979323846

/* red (0) - yellow (0.5) - green (1) */
static void recall_color(double r, double rgb[3]) {
    static const double lo[3] = {0.84, 0.19, 0.15}, mid[3] = {0.99, 0.85, 0.35}, hi[3] = {0.10, 0.60, 0.32};
    r = r < 0 ? 0 : r > 1 ? 1 : r;
    const double *a = r < 0.5 ? lo : mid, *b = r < 0.5 ? mid : hi;
    double f = r < 0.5 ? r / 0.5 : (r - 0.5) / 0.5;
    for (int i = 0; i < 3; i++) rgb[i] = a[i] + f * (b[i] - a[i]);
}

static const char *fmt_len(double n, char *buf, int cap) {
    if (n >= 1024 && fmod(n, 1024) == 0) snprintf(buf, (size_t)cap, "%.0fK", n / 1024);
    else snprintf(buf, (size_t)cap, "%.0f", n);
    return buf;
}

static void heat_panel(cairo_t *cr, const niah_grid *g, const niah_tech *T, double x0, double y0, double cw, double ch) {
    char b[64];
    cairo_set_source_rgb(cr, 0, 0, 0);
    plot_text(cr, x0 + 48 + cw * g->n_lengths / 2, y0 + 16, 14, 0.5, T->tech.name);
    const double gx = x0 + 48, gy = y0 + 28;
    if (T->refused[0]) {
        cairo_set_source_rgb(cr, 0.4, 0.4, 0.4);
        plot_text(cr, gx + 4, gy + 20, 11, 0, "refused by the model:");
        char line[72];
        for (int k = 0, off = 0; k < 4 && T->refused[off]; k++, off += 60) {
            snprintf(line, sizeof line, "%.60s", T->refused + off);
            plot_text(cr, gx + 4, gy + 36 + 14 * k, 10, 0, line);
        }
        return;
    }
    for (int di = 0; di < g->n_depths; di++) {
        for (int li = 0; li < g->n_lengths; li++) {
            double sum = 0;
            int k = 0;
            for (int c = 0; c < T->n_cells; c++)
                if (T->cells[c].length == g->lengths[li] && T->cells[c].depth == g->depths[di]) sum += T->cells[c].r.score, k++;
            double x = gx + li * cw, y = gy + di * ch, rgb[3];
            if (k) recall_color(sum / k, rgb);
            else rgb[0] = rgb[1] = rgb[2] = 0.9;
            cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
            cairo_rectangle(cr, x, y, cw, ch);
            cairo_fill(cr);
            if (k && cw >= 26) {
                cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
                snprintf(b, sizeof b, "%.2g", sum / k);
                plot_text(cr, x + cw / 2, y + ch / 2 + 4, 10, 0.5, b);
            }
        }
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        snprintf(b, sizeof b, "%g%%", g->depths[di]);
        plot_text(cr, gx - 5, gy + di * ch + ch / 2 + 4, 10, 1, b);
    }
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_set_line_width(cr, 1);
    for (int li = 0; li <= g->n_lengths; li++) cairo_move_to(cr, gx + li * cw, gy), cairo_line_to(cr, gx + li * cw, gy + g->n_depths * ch);
    for (int di = 0; di <= g->n_depths; di++) cairo_move_to(cr, gx, gy + di * ch), cairo_line_to(cr, gx + g->n_lengths * cw, gy + di * ch);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    for (int li = 0; li < g->n_lengths; li++) plot_text(cr, gx + li * cw + cw / 2, gy + g->n_depths * ch + 14, 10, 0.5, fmt_len((double)g->lengths[li], b, sizeof b));
    if (T->by_length) { /* the mean of each column under it */
        plot_text(cr, gx - 5, gy + g->n_depths * ch + 30, 10, 1, "mean");
        for (int li = 0; li < g->n_lengths; li++) {
            snprintf(b, sizeof b, "%.2f", T->by_length[li].recall);
            plot_text(cr, gx + li * cw + cw / 2, gy + g->n_depths * ch + 30, 10, 0.5, b);
        }
    }
}

int niah_plot_heatmaps(const niah_grid *g, const char *path) {
    const double cw = g->n_lengths > 8 ? 40 : 52, ch = g->n_depths > 12 ? 14 : 20;
    const double pw = 48 + cw * g->n_lengths + 24, ph = 28 + ch * g->n_depths + 44;
    const int cols = g->n_tech < 4 ? g->n_tech : 4, rows = (g->n_tech + cols - 1) / cols;
    const double top = 64, bottom = 56;
    int W = (int)(cols * pw + 20), H = (int)(top + rows * ph + bottom);
    if (W < 520) W = 520;
    plot_file *pf = plot_open(path, W, H);
    if (!pf) return -1;
    cairo_t *cr = plot_cairo(pf);
    char title[256];
    snprintf(title, sizeof title, "Needle in a haystack: %s (%s, %s %lld tokens), %d key%s, %d value%s", g->label, g->model_type,
             g->train_length_given ? "trained to" : "max_position_embeddings", (long long)g->train_length, g->keys > 1 ? g->keys : 1,
             g->keys > 1 ? "s" : "", g->values > 1 ? g->values : 1, g->values > 1 ? "s" : "");
    cairo_set_source_rgb(cr, 0, 0, 0);
    plot_text(cr, W / 2.0, 24, 16, 0.5, title);
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    plot_text(cr, W / 2.0, 44, 11, 0.5, "rows: depth of the needle in the haystack; columns: prompt tokens; cell: recall (exact match of the value)");
    for (int ti = 0; ti < g->n_tech; ti++) heat_panel(cr, g, &g->tech[ti], 10 + (ti % cols) * pw, top + (ti / cols) * ph, cw, ch);
    /* colour bar */
    double bx = W / 2.0 - 150, by = H - bottom + 18;
    for (int i = 0; i < 100; i++) {
        double rgb[3];
        recall_color(i / 99.0, rgb);
        cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
        cairo_rectangle(cr, bx + 3 * i, by, 3.2, 12);
        cairo_fill(cr);
    }
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    plot_text(cr, bx - 6, by + 10, 11, 1, "recall 0");
    plot_text(cr, bx + 306, by + 10, 11, 0, "1");
    return plot_close(pf);
}

/* ---- the frontier ------------------------------------------------------------------------------- */

static void marker(cairo_t *cr, double x, double y, int shape, const double rgb[3], double r) {
    cairo_new_path(cr);
    switch (shape % 4) {
    case 0: cairo_arc(cr, x, y, r, 0, 2 * PI); break;
    case 1: cairo_rectangle(cr, x - r, y - r, 2 * r, 2 * r); break;
    case 2: cairo_move_to(cr, x, y - r - 1), cairo_line_to(cr, x + r + 1, y + r), cairo_line_to(cr, x - r - 1, y + r), cairo_close_path(cr); break;
    default: cairo_move_to(cr, x, y - r - 1), cairo_line_to(cr, x + r + 1, y), cairo_line_to(cr, x, y + r + 1), cairo_line_to(cr, x - r - 1, y), cairo_close_path(cr); break;
    }
    cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 0.8);
    cairo_stroke(cr);
}

typedef struct fpoint {
    double x[2], recall; /* bytes per token, seconds per token */
    int tech, model;
} fpoint;

/* decimal units: the axis ticks are powers of ten */
static const char *fmt_bytes(double b, char *buf, int cap) {
    static const char *u[] = {"B", "kB", "MB", "GB"};
    int k = 0;
    while (b >= 1000 && k < 3) b /= 1000, k++;
    snprintf(buf, (size_t)cap, "%g %s", b, u[k]);
    return buf;
}

static const char *fmt_time(double s, char *buf, int cap) {
    if (s >= 1) snprintf(buf, (size_t)cap, "%g s", s);
    else if (s >= 1e-3) snprintf(buf, (size_t)cap, "%g ms", s * 1e3);
    else snprintf(buf, (size_t)cap, "%g us", s * 1e6);
    return buf;
}

/* One panel: recall (linear, 0..1) against x (log10 from xlo to xhi). */
static void frontier_panel(cairo_t *cr, double L, double T, double W, double H, double xlo, double xhi, int axis, const fpoint *pts, int n,
                           const char *title) {
    char b[64];
    double l10 = log10(xhi / xlo);
#define PX(v) (L + W * log10((v) / xlo) / l10)
#define PY(r) (T + H * (1 - (r) / 1.05))
    cairo_set_line_width(cr, 1);
    for (int e = (int)floor(log10(xlo)); e <= (int)ceil(log10(xhi)); e++)
        for (int m = 1; m < 10; m++) {
            double v = m * pow(10, e);
            if (v < xlo || v > xhi) continue;
            cairo_set_source_rgb(cr, m == 1 ? 0.85 : 0.94, m == 1 ? 0.85 : 0.94, m == 1 ? 0.85 : 0.94);
            cairo_move_to(cr, PX(v), T), cairo_line_to(cr, PX(v), T + H), cairo_stroke(cr);
            if (m == 1 || (l10 < 2.5 && (m == 2 || m == 5))) {
                cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
                plot_text(cr, PX(v), T + H + 14, 10, 0.5, axis ? fmt_time(v, b, sizeof b) : fmt_bytes(v, b, sizeof b));
            }
        }
    for (int i = 0; i <= 4; i++) {
        double r = 0.25 * i;
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, L, PY(r)), cairo_line_to(cr, L + W, PY(r)), cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        snprintf(b, sizeof b, "%.2g", r);
        plot_text(cr, L - 5, PY(r) + 4, 10, 1, b);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, L, T, W, H);
    cairo_stroke(cr);
    plot_text(cr, L + W / 2, T - 6, 12, 0.5, title);
    /* the frontier: points no other point beats on both (less x and at least as much recall) */
    int *on = calloc((size_t)n + 1, sizeof(int)), k = 0;
    double *fx = malloc(sizeof(double) * (size_t)(n + 1)), *fy = malloc(sizeof(double) * (size_t)(n + 1));
    if (on && fx && fy) {
        for (int i = 0; i < n; i++) {
            on[i] = pts[i].x[axis] > 0;
            for (int j = 0; j < n && on[i]; j++)
                if (j != i && pts[j].x[axis] > 0 && pts[j].x[axis] <= pts[i].x[axis] && pts[j].recall >= pts[i].recall &&
                    (pts[j].x[axis] < pts[i].x[axis] || pts[j].recall > pts[i].recall))
                    on[i] = 0;
            if (on[i]) fx[k] = pts[i].x[axis], fy[k] = pts[i].recall, k++;
        }
        for (int i = 1; i < k; i++)
            for (int j = i; j > 0 && fx[j] < fx[j - 1]; j--) {
                double t = fx[j];
                fx[j] = fx[j - 1], fx[j - 1] = t, t = fy[j], fy[j] = fy[j - 1], fy[j - 1] = t;
            }
        static const double dash[2] = {6, 4};
        cairo_save(cr);
        cairo_set_source_rgb(cr, 0.45, 0.45, 0.45);
        cairo_set_dash(cr, dash, 2, 0);
        cairo_set_line_width(cr, 1.4);
        for (int i = 0; i < k; i++) { /* a staircase: recall holds until the next point of the frontier */
            if (i == 0) cairo_move_to(cr, PX(fx[i]), PY(fy[i]));
            else cairo_line_to(cr, PX(fx[i]), PY(fy[i - 1])), cairo_line_to(cr, PX(fx[i]), PY(fy[i]));
        }
        if (k) cairo_line_to(cr, L + W, PY(fy[k - 1]));
        cairo_stroke(cr);
        cairo_restore(cr);
    }
    free(on), free(fx), free(fy);
    for (int i = 0; i < n; i++) { /* a marker on top of others is smaller, so that each shows as a ring */
        if (!(pts[i].x[axis] > 0)) continue;
        double rgb[3], px = PX(pts[i].x[axis]), py = PY(pts[i].recall);
        int under = 0;
        for (int j = 0; j < i; j++)
            if (pts[j].x[axis] > 0 && fabs(PX(pts[j].x[axis]) - px) < 5 && fabs(PY(pts[j].recall) - py) < 5) under++;
        plot_color(pts[i].tech, rgb);
        marker(cr, px, py, pts[i].model, rgb, under < 3 ? 7.0 - 1.8 * under : 2.0);
    }
#undef PX
#undef PY
}

int niah_plot_frontier(const niah_grid *grids, int n, const char *path) {
    /* the techniques by name across models (one colour each), the lengths in any grid */
    const char *tn[64];
    int nt = 0;
    int64_t lens[64];
    int nl = 0;
    for (int gi = 0; gi < n; gi++) {
        for (int ti = 0; ti < grids[gi].n_tech; ti++) {
            int k = 0;
            while (k < nt && strcmp(tn[k], grids[gi].tech[ti].tech.name)) k++;
            if (k == nt && nt < 64) tn[nt++] = grids[gi].tech[ti].tech.name;
        }
        for (int li = 0; li < grids[gi].n_lengths; li++) {
            int k = 0;
            while (k < nl && lens[k] != grids[gi].lengths[li]) k++;
            if (k == nl && nl < 64) lens[nl++] = grids[gi].lengths[li];
        }
    }
    for (int i = 1; i < nl; i++)
        for (int j = i; j > 0 && lens[j] < lens[j - 1]; j--) {
            int64_t t = lens[j];
            lens[j] = lens[j - 1], lens[j - 1] = t;
        }
    fpoint *pts = malloc(sizeof(fpoint) * (size_t)(n * 64 + 1));
    if (!pts) return fprintf(stderr, "frontier plot: out of memory\n"), -1;
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {0, 0};
    for (int gi = 0; gi < n; gi++)
        for (int ti = 0; ti < grids[gi].n_tech; ti++)
            for (int li = 0; grids[gi].tech[ti].by_length && li < grids[gi].n_lengths; li++) {
                const niah_summary *s = &grids[gi].tech[ti].by_length[li];
                double x[2] = {s->bytes_per_token, s->prefill_s_per_token};
                for (int a = 0; a < 2; a++)
                    if (s->cells && x[a] > 0) lo[a] = x[a] < lo[a] ? x[a] : lo[a], hi[a] = x[a] > hi[a] ? x[a] : hi[a];
            }
    for (int a = 0; a < 2; a++) {
        if (!(hi[a] > 0)) lo[a] = 1, hi[a] = 10;
        lo[a] = pow(10, floor(log10(lo[a]) - 0.05)), hi[a] = pow(10, ceil(log10(hi[a]) + 0.05));
    }
    const double pw = 430, ph = 230, left = 70, top = 70, legend_w = 300;
    int W = (int)(left + 2 * (pw + 60) + legend_w), H = (int)(top + nl * (ph + 60) + 20);
    plot_file *pf = plot_open(path, W, H);
    if (!pf) return free(pts), -1;
    cairo_t *cr = plot_cairo(pf);
    cairo_set_source_rgb(cr, 0, 0, 0);
    plot_text(cr, left + pw + 30, 26, 16, 0.5, "Recall against memory and time: every model x technique at each length");
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    plot_text(cr, left + pw + 30, 46, 11, 0.5,
              "y: recall (mean over depths); x: KV cache / state bytes per prompt token (left), prefill time per prompt token (right); dashed: the frontier");
    char title[128], b[32];
    for (int li = 0; li < nl; li++) {
        int np = 0;
        for (int gi = 0; gi < n; gi++)
            for (int ti = 0; ti < grids[gi].n_tech; ti++) {
                const niah_tech *T = &grids[gi].tech[ti];
                for (int k = 0; T->by_length && k < grids[gi].n_lengths; k++) {
                    const niah_summary *s = &T->by_length[k];
                    if (s->length != lens[li] || !s->cells) continue;
                    int tc = 0;
                    while (tc < nt && strcmp(tn[tc], T->tech.name)) tc++;
                    pts[np++] = (fpoint){{s->bytes_per_token, s->prefill_s_per_token}, s->recall, tc, gi};
                }
            }
        double y = top + li * (ph + 60);
        snprintf(title, sizeof title, "%s tokens: recall vs state bytes / token", fmt_len((double)lens[li], b, sizeof b));
        frontier_panel(cr, left, y, pw, ph, lo[0], hi[0], 0, pts, np, title);
        snprintf(title, sizeof title, "%s tokens: recall vs prefill time / token", fmt_len((double)lens[li], b, sizeof b));
        frontier_panel(cr, left + pw + 60, y, pw, ph, lo[1], hi[1], 1, pts, np, title);
    }
    /* legend: colours are techniques, shapes are models */
    double lx = left + 2 * (pw + 60) - 20, ly = top;
    cairo_set_source_rgb(cr, 0, 0, 0);
    plot_text(cr, lx, ly, 12, 0, "models");
    for (int gi = 0; gi < n; gi++) {
        double grey[3] = {0.6, 0.6, 0.6};
        marker(cr, lx + 8, ly + 18 + 18 * gi - 4, gi, grey, 5.5);
        cairo_set_source_rgb(cr, 0, 0, 0);
        snprintf(title, sizeof title, "%s (%s)", grids[gi].label, grids[gi].model_type);
        plot_text(cr, lx + 20, ly + 18 + 18 * gi, 11, 0, title);
    }
    ly += 18 * n + 36;
    plot_text(cr, lx, ly, 12, 0, "techniques");
    for (int i = 0; i < nt; i++) {
        double rgb[3];
        plot_color(i, rgb);
        marker(cr, lx + 8, ly + 18 + 17 * i - 4, 0, rgb, 5.5);
        cairo_set_source_rgb(cr, 0, 0, 0);
        plot_text(cr, lx + 20, ly + 18 + 17 * i, 11, 0, tn[i]);
    }
    free(pts);
    return plot_close(pf);
}
