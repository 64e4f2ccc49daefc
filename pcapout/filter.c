/*
 * The capture filter: a tcpdump expression compiled by libpcap, run on each synthesized frame
 * before it is stored.
 *
 * libpcap is loaded with dlopen only when a filter is given (the shim links libc alone), and the
 * expression is compiled for LINKTYPE_LINUX_SLL2 frames, so "ifindex 2", "outbound", "udp port
 * 3478" and byte tests such as "udp[8] & 0xc0 = 0x80" mean exactly what they mean in tcpdump
 * on our file.  Per packet, libpcap's bpf_filter() interprets the program: pure, no allocation,
 * safe from any thread.
 */
#include "pcapout/filter.h"
#include "pcapout/frame.h"

#include <dlfcn.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>

static const char *const sonames[] = { "libpcap.so.0.8", "libpcap.so.1", "libpcap.so" };

static struct {
	struct bpf_program prog;
	u_int (*run)(const struct bpf_insn *, const u_char *, u_int, u_int);
} F;

int cc_filter_on;

int cc_filter_compile(const char *expr, char *err, size_t errlen)
{
	pcap_t *(*open_dead)(int, int);
	int (*compile)(pcap_t *, struct bpf_program *, const char *, int, bpf_u_int32);
	char *(*geterr)(pcap_t *);
	void (*close)(pcap_t *);
	void *h = NULL;
	pcap_t *p;

	for (size_t i = 0; !h && i < sizeof(sonames) / sizeof(sonames[0]); i++)
		h = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, errlen, "libpcap is needed for a filter and cannot be loaded (apt install libpcap0.8)");
		return -1;
	}
	open_dead = (pcap_t *(*)(int, int))dlsym(h, "pcap_open_dead");
	compile = (int (*)(pcap_t *, struct bpf_program *, const char *, int, bpf_u_int32))dlsym(h, "pcap_compile");
	geterr = (char *(*)(pcap_t *))dlsym(h, "pcap_geterr");
	close = (void (*)(pcap_t *))dlsym(h, "pcap_close");
	F.run = (u_int (*)(const struct bpf_insn *, const u_char *, u_int, u_int))dlsym(h, "bpf_filter");
	if (!open_dead || !compile || !geterr || !close || !F.run) {
		snprintf(err, errlen, "the loaded libpcap lacks pcap_compile or bpf_filter");
		return -1;
	}
	p = open_dead(CC_LINKTYPE_LINUX_SLL2, CC_SNAPLEN);
	if (!p) {
		snprintf(err, errlen, "libpcap cannot open a dead handle");
		return -1;
	}
	if (compile(p, &F.prog, expr, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		snprintf(err, errlen, "%s", geterr(p));
		close(p);
		return -1;
	}
	close(p);
	/* The library stays loaded: bpf_filter runs for every frame from now on. */
	__atomic_store_n(&cc_filter_on, 1, __ATOMIC_RELEASE);
	return 0;
}

int cc_filter_match(const uint8_t *frame, size_t caplen, size_t wirelen)
{
	return F.run(F.prog.bf_insns, frame, (u_int)wirelen, (u_int)caplen) != 0;
}
