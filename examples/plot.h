/* plot.h - figures for the 2D toy: panels "samples over the class regions"
   composed into one PNG, like the papers' toy figures.  The .npy and PNG
   writers and the bitmap font are in image.h.

   Header-only and static; include it from ONE .c file (after ig.h).  Needs
   only libc + libm.

     plot_view_from_mixture         a square viewport around both trees
     plot_background_render / _free the orange / grey class regions, once
     plot_panel_draw                background + samples + title at (ox, oy)
     plot_figure                    K panels in a grid, written as one PNG   */
#ifndef PLOT_H
#define PLOT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include "toy2d_truth.h"
#include "image.h"

/* static inline: private to the including file, no unused-function warnings */
#define PLOTDEF static inline

/* ------------------------------------------------------------------------- */
/* panels                                                                    */
/* ------------------------------------------------------------------------- */

/* Data coordinates shown in a panel: x in [x0, x1] left to right, y in
   [y0, y1] bottom to top. */
typedef struct plot_view { double x0, x1, y0, y1; } plot_view;

/* A square view around the component means of both classes, with a margin
   (in data units) on every side: about [-1.4, 1.4] x [-1.4, 1.5]. */
PLOTDEF plot_view plot_view_from_mixture(const toy_mixture *m, double margin) {
    double lo[2] = { HUGE_VAL, HUGE_VAL }, hi[2] = { -HUGE_VAL, -HUGE_VAL }, c[2], half;
    plot_view v;
    int cls, k, d;
    for (cls = 0; cls < 2; cls++)
        for (k = 0; k < TOY_NCOMP; k++)
            for (d = 0; d < 2; d++) {
                double u = m->comp[cls][k].mu[d];
                lo[d] = u < lo[d] ? u : lo[d];
                hi[d] = u > hi[d] ? u : hi[d];
            }
    for (d = 0; d < 2; d++) c[d] = 0.5 * (lo[d] + hi[d]);
    half = 0.5 * (hi[0] - lo[0] > hi[1] - lo[1] ? hi[0] - lo[0] : hi[1] - lo[1]) + margin;
    v.x0 = c[0] - half; v.x1 = c[0] + half;
    v.y0 = c[1] - half; v.y1 = c[1] + half;
    return v;
}

/* Figure colors. */
static const unsigned char plot_white[3]  = { 255, 255, 255 };
static const unsigned char plot_orange[3] = { 250, 176, 95 };   /* class A region */
static const unsigned char plot_grey[3]   = { 218, 218, 218 };  /* class B region */
static const unsigned char plot_black[3]  = { 0, 0, 0 };
static const unsigned char plot_frame[3]  = { 150, 150, 150 };

/* The class regions of one panel, rendered once and reused by every panel
   of a figure (this is the slow part: log p at every subpixel). */
typedef struct plot_background {
    int size;            /* the panel is size x size pixels          */
    plot_view view;
    unsigned char *rgb;  /* size * size * 3                           */
} plot_background;

/* Region of a class = { x : log p(x | class) >= level }, the level being the
   1% quantile of log p under the class itself (toy_outlier_threshold), so
   the region holds ~99% of the class's mass.  Class A (orange) is drawn over
   class B (grey).  Each pixel averages ss x ss subpixels (anti-aliasing). */
PLOTDEF int plot_background_render(plot_background *bg, toy_mixture *m, plot_view v, int size, int ss) {
    double la = toy_outlier_threshold(m, TOY_CLASS_A), lb = toy_outlier_threshold(m, TOY_CLASS_B);
    long row;
    bg->size = size; bg->view = v;
    bg->rgb = (unsigned char *)malloc((size_t)size * (size_t)size * 3);
    if (!bg->rgb) { fprintf(stderr, "plot_background_render: out of memory\n"); return -1; }
    if (ss < 1) ss = 1;
    TOY_OMP_FOR
    for (row = 0; row < size; row++) {
        int col, i, j, k;
        for (col = 0; col < size; col++) {
            double acc[3] = { 0, 0, 0 };
            for (i = 0; i < ss; i++)
                for (j = 0; j < ss; j++) {
                    /* subpixel center; pixel row 0 is the top (y1) */
                    double x = v.x0 + (v.x1 - v.x0) * (col + (j + 0.5) / ss) / size;
                    double y = v.y1 - (v.y1 - v.y0) * (row + (i + 0.5) / ss) / size;
                    const unsigned char *c = plot_white;
                    if (toy_logp(m, TOY_CLASS_A, x, y) >= la) c = plot_orange;
                    else if (toy_logp(m, TOY_CLASS_B, x, y) >= lb) c = plot_grey;
                    for (k = 0; k < 3; k++) acc[k] += c[k];
                }
            for (k = 0; k < 3; k++)
                bg->rgb[((size_t)row * (size_t)size + (size_t)col) * 3 + (size_t)k] =
                    (unsigned char)(acc[k] / (ss * ss) + 0.5);
        }
    }
    return 0;
}

PLOTDEF void plot_background_free(plot_background *bg) { free(bg->rgb); bg->rgb = NULL; }

#define PLOT_TITLE_SCALE 2
#define PLOT_TITLE_H     (IMG_GLYPH_H * PLOT_TITLE_SCALE + 10)  /* band above a panel */

/* One panel with its top-left corner at (ox, oy) of the image: the title
   centered in a band of PLOT_TITLE_H pixels, below it the background, the
   samples xy (n points, interleaved) as black dots of dot x dot pixels, and a
   thin frame.  Samples outside the view are not drawn. */
PLOTDEF void plot_panel_draw(img_image *im, int ox, int oy, const plot_background *bg,
                             const char *title, const float *xy, size_t n, int dot) {
    const plot_view *v = &bg->view;
    int s = bg->size, y0 = oy + PLOT_TITLE_H, r, i, j;
    size_t k;
    for (r = 0; r < s; r++)
        if (y0 + r >= 0 && y0 + r < im->h && ox >= 0 && ox + s <= im->w)
            memcpy(im->rgb + ((size_t)(y0 + r) * (size_t)im->w + (size_t)ox) * 3,
                   bg->rgb + (size_t)r * (size_t)s * 3, (size_t)s * 3);
    if (title)
        img_text(im, ox + (s - img_text_width(title, PLOT_TITLE_SCALE)) / 2, oy + 4,
                  title, PLOT_TITLE_SCALE, plot_black);
    if (dot < 1) dot = 1;
    for (k = 0; k < n; k++) {
        /* pixel of the dot's top-left corner, centered on the sample */
        double px = (xy[2 * k] - v->x0) / (v->x1 - v->x0) * s - 0.5 * dot;
        double py = (v->y1 - xy[2 * k + 1]) / (v->y1 - v->y0) * s - 0.5 * dot;
        int ix, iy;
        if (!(px > -dot && px < s && py > -dot && py < s)) continue;   /* also drops NaN */
        ix = (int)floor(px + 0.5); iy = (int)floor(py + 0.5);
        for (i = 0; i < dot; i++)
            for (j = 0; j < dot; j++)
                if (ix + j >= 0 && ix + j < s && iy + i >= 0 && iy + i < s)
                    img_blend(im, ox + ix + j, y0 + iy + i, plot_black, 0.85f);
    }
    for (i = 0; i < s; i++) {                   /* frame */
        img_blend(im, ox + i, y0, plot_frame, 1.0f);
        img_blend(im, ox + i, y0 + s - 1, plot_frame, 1.0f);
        img_blend(im, ox, y0 + i, plot_frame, 1.0f);
        img_blend(im, ox + s - 1, y0 + i, plot_frame, 1.0f);
    }
}

#define PLOT_GAP 12   /* pixels between and around panels */

/* K panels in a grid of ncols columns, written as one PNG: panel p shows
   samples[p] (counts[p] points) under titles[p].  The view is chosen from
   the mixture; the regions are rendered once (2 x 2 subpixels).  0 or -1. */
PLOTDEF int plot_figure(const char *path, toy_mixture *m, int k, int ncols, int size,
                        const char *const *titles, const float *const *samples,
                        const size_t *counts, int dot) {
    plot_background bg;
    img_image im;
    int nrows, p, rc;
    if (k < 1 || ncols < 1 || size < 16) { fprintf(stderr, "plot_figure: bad layout for %s\n", path); return -1; }
    if (ncols > k) ncols = k;
    nrows = (k + ncols - 1) / ncols;
    if (plot_background_render(&bg, m, plot_view_from_mixture(m, 0.08), size, 2) != 0) return -1;
    if (img_image_new(&im, PLOT_GAP + ncols * (size + PLOT_GAP),
                       nrows * (PLOT_TITLE_H + size + PLOT_GAP) + PLOT_GAP / 2) != 0) {
        plot_background_free(&bg); return -1;
    }
    for (p = 0; p < k; p++) {
        int ox = PLOT_GAP + (p % ncols) * (size + PLOT_GAP);
        int oy = PLOT_GAP / 2 + (p / ncols) * (PLOT_TITLE_H + size + PLOT_GAP);
        plot_panel_draw(&im, ox, oy, &bg, titles ? titles[p] : NULL,
                        samples ? samples[p] : NULL, samples ? counts[p] : 0, dot);
    }
    rc = img_write_png(path, im.rgb, im.w, im.h);
    img_image_free(&im);
    plot_background_free(&bg);
    return rc;
}

#endif /* PLOT_H */
