/*
 * The secrets history: every NSS key log line this process wrote as a Decryption Secrets Block,
 * kept (up to 1 MiB) so that a new file after a rotation or a reopen starts with the secrets the
 * packets still to come may need.
 */
#include "pcapout/writer_int.h"
#include "pcapout/lock.h"
#include "pcapout/wmem.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/*
 * Secrets are kept (up to 1 MiB) so that a new file, after a rotation or a reopen, starts with
 * every secret the packets still to come may need: each process re-emits its own.
 */
void cc_ws_keep(const char *keylog, size_t len)
{
	cc_lock(&W.dsb_lock);
	if (W.dsb_len + len <= DSB_HISTORY_MAX) {
		if (W.dsb_len + len > W.dsb_cap) {
			size_t cap = W.dsb_cap ? W.dsb_cap : 4096;
			while (cap < W.dsb_len + len)
				cap *= 2;
			char *p = cc_wmem_grow(W.dsb_hist, W.dsb_cap, cap);
			if (p) {
				W.dsb_hist = p;
				W.dsb_cap = cap;
			}
		}
		if (W.dsb_len + len <= W.dsb_cap) {
			memcpy(W.dsb_hist + W.dsb_len, keylog, len);
			W.dsb_len += len;
		}
	}
	cc_unlock(&W.dsb_lock);
}

void cc_ws_emit(int fd)
{
	if (W.fmt != CC_FMT_PCAPNG || fd < 0)
		return;
	cc_lock(&W.dsb_lock);
	if (W.dsb_len) {
		size_t n = cc_dsb_len(W.dsb_len);
		uint8_t *b = cc_wmem_alloc(n);
		if (b) {
			struct iovec v = { b, n };
			cc_dsb_write(b, W.dsb_hist, W.dsb_len);
			/*
			 * Like any batch: under the file's lock, so that a writer sharing the file
			 * never finds this block half written and takes it for a killed writer's.
			 */
			cc_wf_write_fd(fd, &v, 1);
			cc_wmem_free(b, n);
		}
	}
	cc_unlock(&W.dsb_lock);
}
