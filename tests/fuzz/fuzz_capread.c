/*
 * fuzz_capread.c - libFuzzer target for tools/capread.c: the input as a capture file read by
 * libpcap, with the walk beside it that takes each frame's comment (pcapng block options), the
 * one part of the reader that is our own code.  Half the inputs are read from an offset, as the
 * wrapper reads what one run appended.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/fuzz/fuzz_util.h"
#include "tools/capread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct cc_capread r;
	const struct pcap_pkthdr *h;
	const uint8_t *d;
	uint64_t ts;
	size_t sum = 0;
	FILE *f;

	if (!path[0])
		snprintf(path, sizeof path, "/tmp/fuzz-capread-%d.pcapng", (int)getpid());
	f = fopen(path, "wb");
	if (f == NULL)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	off_t start = size > 64 && (data[size - 1] & 1) ? (off_t)(data[size - 2] % (size / 2)) : 0;
	if (cc_capread_open(&r, path, start) == 0) {
		cc_capread_comments(&r, path, start);
		while (cc_capread_next(&r, &h, &d, &ts) == 1)
			for (size_t i = 0; r.comment != NULL && i < r.comment_len; i++)
				sum += (unsigned char)r.comment[i];
		cc_capread_close(&r);
	}
	return (int)(sum & 0);
}
