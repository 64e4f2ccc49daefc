/*
 * png.h - a PNG copy of an SVG picture (tools/png.c).
 */
#ifndef CC_PNG_H
#define CC_PNG_H

#include <stddef.h>

/* Renders svg into png with rsvg-convert.  0, 1 when rsvg-convert is not installed, -1 on
 * failure; err says why in one line. */
int cc_png_from_svg(const char *svg, const char *png, char *err, size_t errlen);

#endif
