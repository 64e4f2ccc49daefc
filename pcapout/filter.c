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

#include <arpa/inet.h>
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
uint32_t cc_filter_gen;

/* Compiles expr for our frames into *out (loading libpcap and bpf_filter on first use). */
static int compile_prog(const char *expr, struct bpf_program *out, char *err, size_t errlen)
{
	pcap_t *(*open_dead)(int, int);
	int (*compile)(pcap_t *, struct bpf_program *, const char *, int, bpf_u_int32);
	char *(*geterr)(pcap_t *);
	void (*close)(pcap_t *);
	void (*freecode)(struct bpf_program *);
	struct bpf_program prog;
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
	freecode = (void (*)(struct bpf_program *))dlsym(h, "pcap_freecode");
	F.run = (u_int (*)(const struct bpf_insn *, const u_char *, u_int, u_int))dlsym(h, "bpf_filter");
	if (!open_dead || !compile || !geterr || !close || !freecode || !F.run) {
		snprintf(err, errlen, "the loaded libpcap lacks pcap_compile or bpf_filter");
		return -1;
	}
	p = open_dead(CC_LINKTYPE_LINUX_SLL2, CC_SNAPLEN);
	if (!p) {
		snprintf(err, errlen, "libpcap cannot open a dead handle");
		return -1;
	}
	if (compile(p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		snprintf(err, errlen, "%s", geterr(p));
		close(p);
		return -1;
	}
	close(p);
	/* Set once at start-up; compiling again (the unit tests do) replaces the program. */
	if (out->bf_insns)
		freecode(out);
	*out = prog;
	return 0;
}

int cc_filter_compile(const char *expr, char *err, size_t errlen)
{
	if (compile_prog(expr, &F.prog, err, errlen) < 0)
		return -1;
	/* The library stays loaded: bpf_filter runs for every frame from now on. */
	__atomic_add_fetch(&cc_filter_gen, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&cc_filter_on, 1, __ATOMIC_RELEASE);
	return 0;
}

static struct bpf_program other;

int cc_filter_compile_other(const char *expr, char *err, size_t errlen)
{
	return compile_prog(expr, &other, err, errlen);
}

int cc_filter_match_other(const uint8_t *frame, size_t caplen, size_t wirelen)
{
	return other.bf_insns && F.run(other.bf_insns, frame, (u_int)wirelen, (u_int)caplen) != 0;
}

int cc_filter_match(const uint8_t *frame, size_t caplen, size_t wirelen)
{
	return F.run(F.prog.bf_insns, frame, (u_int)wirelen, (u_int)caplen) != 0;
}

/*
 * What the interpreter may read: avail bytes of a frame wirelen long (wirelen unknown when
 * len_unknown), minus the bytes in [hole_lo, hole_hi) and those set in `mask` (bit i: byte i of
 * the first 128), whose values are not known here.
 */
struct view {
	const uint8_t *p;
	size_t avail, wirelen, hole_lo, hole_hi;
	const uint64_t *mask;
	int complete, len_unknown;
};

static int masked(const uint64_t *mask, uint32_t k, unsigned n)
{
	for (uint32_t b = k; b < k + n && b < 128; b++)
		if (mask[b >> 6] >> (b & 63) & 1)
			return 1;
	return 0;
}

/* A load of n bytes at k: the value, or -1 when it settles nothing (see cc_filter_decide). */
static int64_t load(const struct view *v, uint32_t k, unsigned n, int *reject)
{
	const uint8_t *p = v->p;
	uint32_t w = 0;

	if ((uint64_t)k + n > v->avail) {
		/* Past the whole frame libpcap rejects; past a prefix the answer is not known here. */
		if (v->complete)
			*reject = 1;
		return -1;
	}
	if (k < v->hole_hi && k + n > v->hole_lo)
		return -1;
	if (v->mask && masked(v->mask, k, n))
		return -1;
	/* One load each (a byte loop was a twentieth of a filtered packet's cost). */
	if (n == 4) {
		memcpy(&w, p + k, 4);
		return ntohl(w);
	}
	if (n == 2) {
		uint16_t h;
		memcpy(&h, p + k, 2);
		return ntohs(h);
	}
	return p[k];
}

static int decide(const struct view *vw)
{
	const struct bpf_insn *pc = F.prog.bf_insns, *end = pc + F.prog.bf_len;
	uint32_t A = 0, X = 0, mem[BPF_MEMWORDS] = { 0 };
	int complete = vw->complete;

	/* Classic BPF, as libpcap's bpf_filter() runs it; jumps only go forward, so this ends. */
	for (; pc < end; pc++) {
		int reject = 0;
		int64_t v;
		uint32_t src = BPF_SRC(pc->code) == BPF_X ? X : pc->k;

		switch (pc->code) {
		case BPF_RET | BPF_K: return pc->k != 0;
		case BPF_RET | BPF_A: return A != 0;
		case BPF_LD | BPF_W | BPF_ABS: case BPF_LD | BPF_H | BPF_ABS: case BPF_LD | BPF_B | BPF_ABS:
		case BPF_LD | BPF_W | BPF_IND: case BPF_LD | BPF_H | BPF_IND: case BPF_LD | BPF_B | BPF_IND: {
			unsigned n = BPF_SIZE(pc->code) == BPF_W ? 4 : BPF_SIZE(pc->code) == BPF_H ? 2 : 1;
			uint64_t k = (uint64_t)pc->k + (BPF_MODE(pc->code) == BPF_IND ? X : 0);
			if (k > 0xffffffffu)
				return complete ? 0 : -1;
			v = load(vw, (uint32_t)k, n, &reject);
			if (v < 0)
				return reject ? 0 : -1;
			A = (uint32_t)v;
			break;
		}
		case BPF_LDX | BPF_MSH | BPF_B:
			v = load(vw, pc->k, 1, &reject);
			if (v < 0)
				return reject ? 0 : -1;
			X = ((uint32_t)v & 0xf) << 2;
			break;
		case BPF_LD | BPF_W | BPF_LEN: if (vw->len_unknown) return -1; A = (uint32_t)vw->wirelen; break;
		case BPF_LDX | BPF_W | BPF_LEN: if (vw->len_unknown) return -1; X = (uint32_t)vw->wirelen; break;
		case BPF_LD | BPF_IMM: A = pc->k; break;
		case BPF_LDX | BPF_IMM: X = pc->k; break;
		case BPF_LD | BPF_MEM: if (pc->k >= BPF_MEMWORDS) return -1; A = mem[pc->k]; break;
		case BPF_LDX | BPF_MEM: if (pc->k >= BPF_MEMWORDS) return -1; X = mem[pc->k]; break;
		case BPF_ST: if (pc->k >= BPF_MEMWORDS) return -1; mem[pc->k] = A; break;
		case BPF_STX: if (pc->k >= BPF_MEMWORDS) return -1; mem[pc->k] = X; break;
		case BPF_JMP | BPF_JA: pc += pc->k; break;
		case BPF_JMP | BPF_JGT | BPF_K: case BPF_JMP | BPF_JGT | BPF_X: pc += A > src ? pc->jt : pc->jf; break;
		case BPF_JMP | BPF_JGE | BPF_K: case BPF_JMP | BPF_JGE | BPF_X: pc += A >= src ? pc->jt : pc->jf; break;
		case BPF_JMP | BPF_JEQ | BPF_K: case BPF_JMP | BPF_JEQ | BPF_X: pc += A == src ? pc->jt : pc->jf; break;
		case BPF_JMP | BPF_JSET | BPF_K: case BPF_JMP | BPF_JSET | BPF_X: pc += A & src ? pc->jt : pc->jf; break;
		case BPF_ALU | BPF_ADD | BPF_K: case BPF_ALU | BPF_ADD | BPF_X: A += src; break;
		case BPF_ALU | BPF_SUB | BPF_K: case BPF_ALU | BPF_SUB | BPF_X: A -= src; break;
		case BPF_ALU | BPF_MUL | BPF_K: case BPF_ALU | BPF_MUL | BPF_X: A *= src; break;
		case BPF_ALU | BPF_DIV | BPF_K: case BPF_ALU | BPF_DIV | BPF_X: if (!src) return 0; A /= src; break;
		case BPF_ALU | BPF_MOD | BPF_K: case BPF_ALU | BPF_MOD | BPF_X: if (!src) return 0; A %= src; break;
		case BPF_ALU | BPF_AND | BPF_K: case BPF_ALU | BPF_AND | BPF_X: A &= src; break;
		case BPF_ALU | BPF_OR | BPF_K: case BPF_ALU | BPF_OR | BPF_X: A |= src; break;
		case BPF_ALU | BPF_XOR | BPF_K: case BPF_ALU | BPF_XOR | BPF_X: A ^= src; break;
		case BPF_ALU | BPF_LSH | BPF_K: case BPF_ALU | BPF_LSH | BPF_X: A = src < 32 ? A << src : 0; break;
		case BPF_ALU | BPF_RSH | BPF_K: case BPF_ALU | BPF_RSH | BPF_X: A = src < 32 ? A >> src : 0; break;
		case BPF_ALU | BPF_NEG: A = -A; break;
		case BPF_MISC | BPF_TAX: X = A; break;
		case BPF_MISC | BPF_TXA: A = X; break;
		default:
			return -1;      /* anything else (extensions): libpcap decides on the whole frame */
		}
	}
	return -1;
}

int cc_filter_decide(const uint8_t *p, size_t avail, size_t wirelen, size_t hole_lo, size_t hole_hi, int complete)
{
	struct view v = { p, avail, wirelen, hole_lo, hole_hi, NULL, complete, 0 };

	return decide(&v);
}

int cc_filter_flow_verdict(const uint8_t *hdr, size_t hl)
{
	/*
	 * What differs between two datagrams of the same headers: the payload (past hl), the frame's
	 * length, the IP length (and IPv4's header sum) and the UDP length and checksum.  IPv4's id
	 * and flags are constant (frame_int.h's put_ip4), as are the link-layer header, addresses,
	 * ports, TOS and TTL, which the caller keys on.
	 */
	uint64_t mask[2] = { 0, 0 };
	static const uint8_t v4[] = { 2, 3, 10, 11, 24, 25, 26, 27 }, v6[] = { 4, 5, 44, 45, 46, 47 };
	int ip6 = hdr[0] == 0x86 && hdr[1] == 0xdd;
	const uint8_t *b = ip6 ? v6 : v4;
	size_t nb = ip6 ? sizeof(v6) : sizeof(v4);

	for (size_t i = 0; i < nb; i++) {
		unsigned k = CC_SLL2_LEN + b[i];
		mask[k >> 6] |= 1ull << (k & 63);
	}
	struct view v = { hdr, hl, 0, 0, 0, mask, 0, 1 };
	return decide(&v);
}
