/* Plots for the longctx command, drawn with cairo: a surface chosen by the file name
 * (.png or .svg) and a log-log chart with lines, a horizontal reference, markers and a
 * legend. */
#ifndef LONGCTX_TOOLS_PLOT_H
#define LONGCTX_TOOLS_PLOT_H

#include <cairo.h>

typedef struct plot_file plot_file;

/* A w x h drawing to be written to `path` (.png or .svg); NULL with a message on stderr
 * if the extension is neither. Draw on plot_cairo(); plot_close() writes and frees, and
 * returns 0, or -1 with a message. */
plot_file *plot_open(const char *path, int w, int h);
/* 1 if `path` ends in .png or .svg (check flags before computing anything). */
int plot_path_ok(const char *path);
cairo_t *plot_cairo(plot_file *p);
int plot_close(plot_file *p);

/* Distinct colours for up to 16 curves, and a dash style per index. */
void plot_color(int i, double rgb[3]);

/* A chart: the data range and the pixel box it maps to. Both axes logarithmic (base 2 on
 * x, which holds token counts, and base 2 on y, which holds bytes). */
typedef struct plot_chart {
    cairo_t *cr;
    double left, top, width, height; /* pixel box of the data area */
    double xmin, xmax, ymin, ymax;   /* data range, all > 0 */
} plot_chart;

double plot_x(const plot_chart *c, double x);
double plot_y(const plot_chart *c, double y);
/* Frame, grid, ticks with labels made by fmt_x / fmt_y, axis titles and the title. */
void plot_axes(const plot_chart *c, const char *title, const char *xtitle, const char *ytitle, const char *(*fmt_x)(double, char *, int),
               const char *(*fmt_y)(double, char *, int));
/* A polyline through (x[i], y[i]), clipped to the data area; colour i of the palette. */
void plot_line(const plot_chart *c, const double *x, const double *y, int n, int color);
/* A horizontal reference at y: strong (red, dashed: the device) or faint (grey: the weights). */
void plot_hline(const plot_chart *c, double y, const char *label, int strong);
/* A filled circle at (x, y) in colour i with a short label beside it; `slot` staggers
 * labels of nearby markers. */
void plot_marker(const plot_chart *c, double x, double y, int color, const char *label, int slot);
/* Legend entries (colour i, name) in a box at pixel (x, y). */
void plot_legend(cairo_t *cr, double x, double y, const char *const *names, const int *colors, int n);

/* Text with its left (align 0), centre (0.5) or right (1) edge at x, baseline at y. */
void plot_text(cairo_t *cr, double x, double y, double size, double align, const char *text);

#endif
