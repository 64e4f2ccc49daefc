/*
 * fuzz_turn.c - the shim's TURN follower (shim/turn.c) on hostile traffic: allocations, channel
 * bindings, indications and ChannelData, over UDP and over a TCP stream cut anywhere.
 *
 * Input: records of [flags][length: 2 bytes, big-endian][bytes].  flags bit 0: sent by us (else
 * received); bit 1: a TCP stream chunk (else a whole UDP datagram); bits 2-3: which of four
 * local/server pairs.  Every relayed datagram the follower reports must lie inside the bytes it
 * was given (UDP) or inside its own stream buffer (TCP), and name two addresses of one family.
 */
#include "shim/turn.c"
#include "tests/fuzz/fuzz_util.h"

#include <netinet/in.h>

uint64_t cc_now(void)
{
	return 1;
}

/* The count a first Allocate moves (shim/fdtable.c): no hot lane here. */
uint32_t cc_fd_gen;

/* The fork lock table is the shim's (shim/ownfd.c): nothing forks here. */
void cc_forklock_add(pthread_mutex_t *m, enum cc_lock_rank rank)
{
	(void)m;
	(void)rank;
}

void cc_writer_count_relayed(void)
{
}

static const uint8_t *cur_base;
static size_t cur_size;

static void check_relay(int outgoing, const struct cc_relay *rl, uint64_t ts)
{
	(void)outgoing;
	(void)ts;
	if (rl->relayed.family != rl->peer.family || (rl->peer.family != AF_INET && rl->peer.family != AF_INET6))
		__builtin_trap();
	/* TCP frames are parsed from the stream's own buffer; UDP ones from the datagram. */
	int in_stream = 0;
	for (unsigned i = 0; i < STREAMS; i++)
		for (int d = 0; d < 2; d++)
			if (rl->data >= streams[i].buf[d] && rl->data + rl->len <= streams[i].buf[d] + STREAM_BUF)
				in_stream = 1;
	if (!in_stream)
		in_input(cur_base, cur_size, rl->data, rl->len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cc_addr local[4], server[4];

	cc_turn_set_relay(check_relay);
	memset(local, 0, sizeof(local));
	memset(server, 0, sizeof(server));
	for (int i = 0; i < 4; i++) {
		local[i].family = server[i].family = i & 1 ? AF_INET6 : AF_INET;
		local[i].port = (uint16_t)(40000 + i);
		server[i].port = 3478;
		local[i].ip[0] = 127;
		server[i].ip[0] = 127;
		server[i].ip[3] = (uint8_t)(1 + i / 2);
	}
	/* A fresh follower for every input: the tables are the file's statics. */
	memset(tab, 0, sizeof(tab));
	memset(streams, 0, sizeof(streams));
	cc_turn_allocated = 0;
	cc_turn_tcp_any = 0;
	while (size >= 3) {
		unsigned flags = data[0];
		size_t len = (size_t)data[1] << 8 | data[2];
		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		int who = (flags >> 2) & 3;
		if (flags & 2) {
			/* The stream in up to three iovecs, cut where the input says. */
			struct iovec v[3];
			size_t a = len ? data[0] % (len + 1) : 0, b = len > a ? (a + len) / 2 : a;
			v[0] = (struct iovec){ (void *)data, a };
			v[1] = (struct iovec){ (void *)(data + a), b - a };
			v[2] = (struct iovec){ (void *)(data + b), len - b };
			cur_base = data, cur_size = len;
			cc_turn_tcp(v, 3, len, flags & 1, &local[who], &server[who]);
		} else if (len && cc_turn_candidate(data[0])) {
			struct cc_relay rl;
			cur_base = data, cur_size = len;
			if (cc_turn_datagram(data, len, flags & 1, &local[who], &server[who], &rl))
				check_relay(flags & 1, &rl, 0);
		}
		data += len;
		size -= len;
	}
	return 0;
}
