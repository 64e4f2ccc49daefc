/*
 * fuzz_capread.c - libFuzzer target for tools/capread.c: the input as a capture file read by
 * libpcap, with the walk beside it that takes each frame's comment (pcapng block options), the
 * one part of the reader that is our own code.  Half the inputs are read from an offset, as the
 * wrapper reads what one run appended.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/fuzz/fuzz_util.h"
#include "tools/capread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	static int fd = -1;
	struct cc_capread r;
	const struct pcap_pkthdr *h;
	const uint8_t *d;
	uint64_t ts;
	size_t sum = 0;

	/* A memory file, named by its /proc path: nothing left behind in /tmp. */
	if (fd < 0) {
		fd = memfd_create("fuzz-capread", MFD_CLOEXEC);
		if (fd < 0)
			return 0;
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
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
