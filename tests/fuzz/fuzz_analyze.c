/*
 * fuzz_analyze.c - libFuzzer target for the analysis behind `clearcap report`: frames of every
 * supported link type through tools/analyze.c, then the text, JSON and exit-table printers.
 *
 * Input: one byte picks the link type, then frames as [16-bit big-endian length][bytes].  The analyzer
 * outlives inputs (allocating its tables per input would make each run slow) and is renewed
 * every 512 inputs, so full tables and their overflow paths are reached too.
 */
#include <stdio.h>

#include "tests/fuzz/fuzz_util.h"
#include "tools/analyze.h"
#include "tools/report.h"

static const int dlts[] = { 0, 1, 12, 101, 108, 113, 228, 229, 276 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cc_an *a;
	static unsigned runs;
	static FILE *null;
	struct cc_report_src src = { .file = "fuzz", .dlt = 276 };
	uint64_t ts = 1000000000ull;
	size_t off = 1;
	int dlt;

	if (size < 1)
		return 0;
	if (null == NULL)
		null = fopen("/dev/null", "w");
	if (a == NULL || ++runs % 512 == 0) {
		cc_an_free(a);
		a = cc_an_new();
		if (a == NULL)
			return 0;
	}
	dlt = dlts[data[0] % (sizeof dlts / sizeof dlts[0])];
	while (off + 2 <= size) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];

		off += 2;
		if (len > size - off)
			len = size - off;
		/* Every other frame carries its own bytes as its comment (tools/noplain.c reads notes). */
		a->comment = off & 1 ? (const char *)data + off : NULL;
		a->comment_len = off & 1 ? len : 0;
		cc_an_frame(a, dlt, ts, data + off, len, len);
		a->comment = NULL;
		a->comment_len = 0;
		ts += (uint64_t)(len & 0xff) * 1000000u;
		off += len;
	}
	if (runs % 64 == 0) {
		cc_an_finish(a);
		cc_report_text(null, a, &src);
		cc_report_json(null, a, &src);
		cc_report_compact(null, a);
	}
	return 0;
}
