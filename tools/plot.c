/* Cairo drawing helpers for the command's plots (tools/plot.h). */
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cairo-svg.h>

#define PLOT_PI 3.14159265358979323846

struct plot_file {
    cairo_surface_t *surface;
    cairo_t *cr;
    char *path;
    int png;
};

static int ends_with(const char *s, const char *tail) {
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && !strcmp(s + a - b, tail);
}

int plot_path_ok(const char *path) { return ends_with(path, ".png") || ends_with(path, ".svg"); }

plot_file *plot_open(const char *path, int w, int h) {
    int png = ends_with(path, ".png"), svg = ends_with(path, ".svg");
    if (!png && !svg) {
        fprintf(stderr, "plot '%s': the file name must end in .png or .svg\n", path);
        return NULL;
    }
    plot_file *p = calloc(1, sizeof *p);
    p->png = png;
    p->path = strdup(path);
    p->surface = png ? cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h) : cairo_svg_surface_create(path, w, h);
    if (cairo_surface_status(p->surface) != CAIRO_STATUS_SUCCESS) {
        fprintf(stderr, "plot '%s': %s\n", path, cairo_status_to_string(cairo_surface_status(p->surface)));
        cairo_surface_destroy(p->surface);
        free(p->path), free(p);
        return NULL;
    }
    p->cr = cairo_create(p->surface);
    cairo_set_source_rgb(p->cr, 1, 1, 1);
    cairo_paint(p->cr);
    cairo_select_font_face(p->cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    return p;
}

cairo_t *plot_cairo(plot_file *p) { return p->cr; }

int plot_close(plot_file *p) {
    cairo_status_t s = cairo_status(p->cr);
    cairo_destroy(p->cr);
    if (s == CAIRO_STATUS_SUCCESS && p->png) s = cairo_surface_write_to_png(p->surface, p->path);
    cairo_surface_finish(p->surface);
    if (s == CAIRO_STATUS_SUCCESS) s = cairo_surface_status(p->surface);
    cairo_surface_destroy(p->surface);
    int rc = 0;
    if (s != CAIRO_STATUS_SUCCESS) {
        fprintf(stderr, "plot '%s': %s\n", p->path, cairo_status_to_string(s));
        rc = -1;
    }
    free(p->path), free(p);
    return rc;
}

void plot_color(int i, double rgb[3]) {
    static const unsigned palette[16] = {0x1f77b4, 0xd62728, 0x2ca02c, 0xff7f0e, 0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f,
                                         0xbcbd22, 0x17becf, 0x000000, 0x393b79, 0xff00ff, 0x637939, 0x843c39, 0x5254a3};
    unsigned c = palette[(unsigned)i % 16];
    rgb[0] = ((c >> 16) & 255) / 255.0, rgb[1] = ((c >> 8) & 255) / 255.0, rgb[2] = (c & 255) / 255.0;
}

static void set_style(cairo_t *cr, int i, double width) {
    double rgb[3];
    plot_color(i, rgb);
    cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
    cairo_set_line_width(cr, width);
    static const double dashes[4][2] = {{0, 0}, {8, 4}, {2, 3}, {10, 3}};
    int d = (i / 4) % 4; /* neighbours in the palette differ by colour, every fourth also by dash */
    cairo_set_dash(cr, dashes[d], d ? 2 : 0, 0);
}

double plot_x(const plot_chart *c, double x) { return c->left + c->width * log2(x / c->xmin) / log2(c->xmax / c->xmin); }
double plot_y(const plot_chart *c, double y) { return c->top + c->height * (1 - log2(y / c->ymin) / log2(c->ymax / c->ymin)); }

void plot_text(cairo_t *cr, double x, double y, double size, double align, const char *text) {
    cairo_text_extents_t e;
    cairo_set_font_size(cr, size);
    cairo_text_extents(cr, text, &e);
    cairo_move_to(cr, x - align * e.x_advance, y);
    cairo_show_text(cr, text);
}

/* Ticks at powers of two, every `step` doublings so that at most ~12 appear. */
static int tick_step(double lo, double hi) {
    int span = (int)ceil(log2(hi / lo)), step = 1;
    while (span / step > 12) step *= 2;
    return step;
}

void plot_axes(const plot_chart *c, const char *title, const char *xtitle, const char *ytitle, const char *(*fmt_x)(double, char *, int),
               const char *(*fmt_y)(double, char *, int)) {
    cairo_t *cr = c->cr;
    char buf[64];
    cairo_set_dash(cr, NULL, 0, 0);
    int sx = tick_step(c->xmin, c->xmax), sy = tick_step(c->ymin, c->ymax);
    for (int axis = 0; axis < 2; axis++) {
        double lo = axis ? c->ymin : c->xmin, hi = axis ? c->ymax : c->xmax;
        int step = axis ? sy : sx;
        for (int e = (int)ceil(log2(lo)); e <= (int)floor(log2(hi)); e++) {
            if (e % step) continue;
            double v = ldexp(1, e);
            cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
            cairo_set_line_width(cr, 1);
            if (axis) {
                double y = plot_y(c, v);
                cairo_move_to(cr, c->left, y), cairo_line_to(cr, c->left + c->width, y), cairo_stroke(cr);
                cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
                plot_text(cr, c->left - 6, y + 4, 11, 1, fmt_y(v, buf, sizeof buf));
            } else {
                double x = plot_x(c, v);
                cairo_move_to(cr, x, c->top), cairo_line_to(cr, x, c->top + c->height), cairo_stroke(cr);
                cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
                plot_text(cr, x, c->top + c->height + 16, 11, 0.5, fmt_x(v, buf, sizeof buf));
            }
        }
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1.2);
    cairo_rectangle(cr, c->left, c->top, c->width, c->height);
    cairo_stroke(cr);
    plot_text(cr, c->left + c->width / 2, c->top + c->height + 36, 13, 0.5, xtitle);
    plot_text(cr, c->left + c->width / 2, c->top - 14, 15, 0.5, title);
    cairo_save(cr);
    cairo_translate(cr, c->left - 62, c->top + c->height / 2);
    cairo_rotate(cr, -PLOT_PI / 2);
    plot_text(cr, 0, 0, 13, 0.5, ytitle);
    cairo_restore(cr);
}

void plot_line(const plot_chart *c, const double *x, const double *y, int n, int color) {
    cairo_t *cr = c->cr;
    cairo_save(cr);
    cairo_rectangle(cr, c->left, c->top, c->width, c->height);
    cairo_clip(cr);
    set_style(cr, color, 2.2);
    int started = 0;
    for (int i = 0; i < n; i++) {
        if (!(y[i] > 0)) { started = 0; continue; }
        double px = plot_x(c, x[i]), py = plot_y(c, y[i]);
        if (started) cairo_line_to(cr, px, py);
        else cairo_move_to(cr, px, py), started = 1;
    }
    cairo_stroke(cr);
    cairo_restore(cr);
}

void plot_hline(const plot_chart *c, double y, const char *label, int strong) {
    cairo_t *cr = c->cr;
    double py = plot_y(c, y);
    cairo_save(cr);
    static const double dash[2] = {12, 5};
    if (strong) cairo_set_source_rgb(cr, 0.75, 0, 0), cairo_set_line_width(cr, 2.5), cairo_set_dash(cr, dash, 2, 0);
    else cairo_set_source_rgb(cr, 0.45, 0.45, 0.45), cairo_set_line_width(cr, 1), cairo_set_dash(cr, NULL, 0, 0);
    cairo_new_path(cr);
    cairo_move_to(cr, c->left, py), cairo_line_to(cr, c->left + c->width, py), cairo_stroke(cr);
    plot_text(cr, c->left + 8, strong ? py - 7 : py + 14, strong ? 13 : 11, 0, label);
    cairo_restore(cr);
}

void plot_marker(const plot_chart *c, double x, double y, int color, const char *label, int slot) {
    cairo_t *cr = c->cr;
    double px = plot_x(c, x), py = plot_y(c, y), rgb[3];
    plot_color(color, rgb);
    cairo_save(cr);
    cairo_set_dash(cr, NULL, 0, 0);
    cairo_new_path(cr); /* no segment from a previous text's current point */
    cairo_arc(cr, px, py, 5.5, 0, 2 * PLOT_PI);
    cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    /* labels below the line, stacked by slot so that neighbours do not overprint */
    double ly = py + 20 + 14 * slot;
    cairo_set_source_rgb(cr, rgb[0] * 0.8, rgb[1] * 0.8, rgb[2] * 0.8);
    cairo_new_path(cr);
    cairo_move_to(cr, px, py + 6), cairo_line_to(cr, px, ly - 10);
    cairo_set_line_width(cr, 0.8);
    cairo_stroke(cr);
    cairo_text_extents_t e; /* on a white box, so that curves do not hide it */
    cairo_set_font_size(cr, 11);
    cairo_text_extents(cr, label, &e);
    cairo_save(cr);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_rectangle(cr, px - e.x_advance / 2 - 2, ly - 10, e.x_advance + 4, 13);
    cairo_fill(cr);
    cairo_restore(cr);
    plot_text(cr, px, ly, 11, 0.5, label);
    cairo_restore(cr);
}

void plot_legend(cairo_t *cr, double x, double y, const char *const *names, const int *colors, int n) {
    cairo_save(cr);
    double row = 18, w = 0;
    cairo_set_font_size(cr, 12);
    for (int i = 0; i < n; i++) {
        cairo_text_extents_t e;
        cairo_text_extents(cr, names[i], &e);
        if (e.x_advance > w) w = e.x_advance;
    }
    cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
    cairo_rectangle(cr, x, y, w + 50, row * n + 10);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    for (int i = 0; i < n; i++) {
        double ly = y + 5 + row * i + row / 2;
        set_style(cr, colors[i], 2.2);
        cairo_move_to(cr, x + 6, ly), cairo_line_to(cr, x + 36, ly), cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        plot_text(cr, x + 42, ly + 4, 12, 0, names[i]);
    }
    cairo_restore(cr);
}
