/*
 * svg.c - one picture per RTP stream: bitrate, lost packets and jitter over time, as three
 * stacked line charts in a hand-written SVG (a browser or any image viewer shows it; no
 * library is needed to write a few polylines).
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "tools/png.h"
#include "tools/report.h"

#define W 900
#define PANEL_H 160
#define LEFT 70
#define RIGHT 20
#define TOP 40

/* Lost packets per bucket: expected (highest sequence number advance) minus received. */
static void series(const struct cc_stream *s, double *rate, double *lost, double *jit)
{
	uint32_t prev = 0;
	double secs = (double)s->bucket_ns / 1e9, surplus = 0;

	for (uint32_t i = 0; i < s->nbuckets; i++) {
		const struct cc_bucket *b = &s->buckets[i];

		rate[i] = (double)b->bytes * 8 / secs / 1000;
		lost[i] = 0;
		if (b->ext_max) {
			if (prev) {
				/*
				 * A packet received a bucket after its sequence number was passed makes the
				 * earlier bucket look short by one and this one long by one: the surplus is
				 * kept and pays for later shortfalls.
				 */
				double l = (double)(int64_t)(b->ext_max - prev) - b->pkts - surplus;

				lost[i] = l > 0 ? l : 0;
				surplus = l < 0 ? -l : 0;
			}
			prev = b->ext_max;
		}
		jit[i] = b->pkts ? b->jitter_ms : (i ? jit[i - 1] : 0);
	}
}

static void panel(FILE *f, int y0, const char *title, const char *unit, const double *v, uint32_t n,
		  double secs, const char *colour)
{
	double max = 0;
	int h = PANEL_H - 40;

	for (uint32_t i = 0; i < n; i++)
		if (v[i] > max)
			max = v[i];
	if (max <= 0)
		max = 1;
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"13\">%s (max %.3g %s)</text>\n", LEFT, y0 - 6, title,
		max, unit);
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>\n", LEFT,
		y0, W - LEFT - RIGHT, h);
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%.3g</text>\n", LEFT - 4,
		y0 + 10, max);
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">0</text>\n", LEFT - 4, y0 + h);
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%.1f s</text>\n", W - RIGHT,
		y0 + h + 14, n * secs);
	fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", colour);
	for (uint32_t i = 0; i < n; i++) {
		double x = LEFT + (W - LEFT - RIGHT) * (n > 1 ? (double)i / (n - 1) : 0.5);
		double y = y0 + h - h * v[i] / max;

		fprintf(f, "%.1f,%.1f ", x, y);
	}
	fprintf(f, "\"/>\n");
}

int cc_report_svg(const char *dir, const struct cc_an *a)
{
	static double rate[CC_AN_BUCKETS], lost[CC_AN_BUCKETS], jit[CC_AN_BUCKETS];
	int written = 0, png_state = 0;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -1;
	for (size_t i = 0; i < a->nstreams; i++) {
		const struct cc_stream *s = &a->streams[i];
		char path[4096], b1[64], b2[64];
		FILE *f;

		if (s->nbuckets == 0)
			continue;
		snprintf(path, sizeof path, "%s/stream-%zu-ssrc-%08x.svg", dir, i + 1, s->ssrc);
		f = fopen(path, "w");
		if (f == NULL)
			return -1;
		series(s, rate, lost, jit);
		fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
			"font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
			W, TOP + 3 * PANEL_H);
		fprintf(f, "<text x=\"%d\" y=\"20\" font-size=\"15\">SSRC 0x%08x pt %d %s -&gt; %s, %s %s, "
			"%" PRIu64 " packets, %.1f s per point</text>\n", LEFT, s->ssrc, s->pt == 0xff ? -1 : s->pt,
			cc_endpoint_str(&s->src, b1, sizeof b1), cc_endpoint_str(&s->dst, b2, sizeof b2),
			cc_report_ifname(s->ifindex), cc_report_dirname(s->dir), s->pkts, (double)s->bucket_ns / 1e9);
		panel(f, TOP + 20, "bitrate", "kbit/s", rate, s->nbuckets, (double)s->bucket_ns / 1e9, "#1f77b4");
		panel(f, TOP + 20 + PANEL_H, "lost packets", "per point", lost, s->nbuckets,
		      (double)s->bucket_ns / 1e9, "#d62728");
		panel(f, TOP + 20 + 2 * PANEL_H, "jitter (RFC 3550 A.8)", "ms", jit, s->nbuckets,
		      (double)s->bucket_ns / 1e9, "#2ca02c");
		fprintf(f, "</svg>\n");
		if (fclose(f) != 0)
			return -1;
		written++;
		if (png_state < 0)
			return -1;
		/* The PNG copy: rsvg-convert's absence is said once, and the SVGs still stand. */
		if (png_state == 0) {
			char png[4200], err[256];
			int rc;

			snprintf(png, sizeof png, "%.*s.png", (int)(strlen(path) - 4), path);
			rc = cc_png_from_svg(path, png, err, sizeof err);
			if (rc != 0) {
				fprintf(stderr, "clearcap report: %s\n", err);
				png_state = rc;
			}
		}
	}
	return written;
}
