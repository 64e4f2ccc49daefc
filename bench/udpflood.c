/*
 * udpflood: a loopback UDP flood and its receiver, the load that `make bench` puts through the shim.
 *
 *   udpflood send     ADDR PORT SIZE SECONDS [COUNT]
 *   udpflood sendmmsg ADDR PORT SIZE SECONDS [COUNT]
 *   udpflood recv     ADDR PORT SECONDS
 *
 * `send` calls sendto() on an unconnected socket, one datagram per call, so the shim's sendto hook is
 * what gets measured; `sendmmsg` hands the kernel 32 datagrams per call to measure the batched path.
 * Both send SIZE-byte datagrams as fast as they can for SECONDS (or until COUNT have gone) and print
 * one line for bench/run.sh to parse:
 *
 *   sent=N seconds=S pps=P maxrss_kb=R errors=E cpu_seconds=C thread_cpu_seconds=T
 *
 * cpu_seconds is the user plus system time of the whole process, every thread of a capturing shim
 * included; thread_cpu_seconds that of the sending thread alone, which is what the shim's hooks add
 * to (the shim's writer runs on a thread of its own).  On a shared or virtual machine they vary far
 * less from run to run than the wall-clock rate does, so sent / cpu_seconds shows a few per cent of
 * overhead that pps alone would blur.
 *
 * `recv` binds ADDR:PORT, says "listening on ADDR:PORT" on stderr once it is bound (run.sh waits for
 * that line before starting a sender, as it does for tcpdump's), counts datagrams until none has come
 * for 0.5 s or SECONDS have passed, and prints `received=N`.
 *
 * Only IPv4 loopback addresses are accepted: this is a flood, and it must never leave the machine.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define BATCH       32          /* datagrams per sendmmsg() call */
#define CLOCK_EVERY 1024        /* datagrams between two looks at the clock */
#define IDLE_TICKS  5           /* receive timeouts of 100 ms in a row that end `recv` */
#define RCVBUF      (64 << 20)

static void usage(void)
{
	fprintf(stderr,
	    "usage: udpflood send|sendmmsg ADDR PORT SIZE SECONDS [COUNT]\n"
	    "       udpflood recv ADDR PORT SECONDS\n");
	exit(2);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long long parse_num(const char *s, const char *what, unsigned long long max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max) {
		fprintf(stderr, "udpflood: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static double parse_seconds(const char *s)
{
	char *end;
	double v;

	v = strtod(s, &end);
	if (end == s || *end != '\0' || !(v > 0 && v <= 3600)) {
		fprintf(stderr, "udpflood: bad SECONDS '%s'\n", s);
		exit(2);
	}
	return v;
}

static void parse_addr(const char *addr, const char *port, struct sockaddr_in *sin)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)parse_num(port, "PORT", 65535));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1) {
		fprintf(stderr, "udpflood: bad IPv4 address '%s'\n", addr);
		exit(2);
	}
	/* 127.0.0.0/8 only: a flood sent anywhere else would be a denial of service. */
	if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "udpflood: %s is not a loopback address\n", addr);
		exit(2);
	}
}

/*
 * The peak resident set of this program image.  getrusage's ru_maxrss survives execve, so when a
 * shell forks and execs us it reports the shell's peak if that was larger; VmHWM belongs to the
 * current image only, which is what the shim should be charged with.
 */
static long peak_rss_kb(const struct rusage *ru)
{
	char line[128];
	long kb = -1;
	FILE *f;

	f = fopen("/proc/self/status", "r");
	if (f != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
				break;
		fclose(f);
	}
	return kb >= 0 ? kb : ru->ru_maxrss;    /* ru_maxrss is in kilobytes on Linux. */
}

static double tv_seconds(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void put_seq(uint8_t *p, size_t size, unsigned long long seq)
{
	/* A sequence number in each payload lets a missing datagram be named, not just counted. */
	if (size >= sizeof(seq))
		memcpy(p, &seq, sizeof(seq));
}

static int do_send(const struct sockaddr_in *dst, size_t size, double seconds,
    unsigned long long count, int batched)
{
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct rusage ru, rt;
	unsigned long long sent = 0, errors = 0, attempts = 0;
	double start, stop, end;
	uint8_t *buf;
	int fd, i;

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("udpflood: socket");
		return 1;
	}
	buf = malloc(size * BATCH);
	if (buf == NULL) {
		perror("udpflood: malloc");
		return 1;
	}
	memset(buf, 0xa5, size * BATCH);
	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < BATCH; i++) {
		iov[i].iov_base = buf + (size_t)i * size;
		iov[i].iov_len = size;
		msgs[i].msg_hdr.msg_name = (void *)dst;
		msgs[i].msg_hdr.msg_namelen = sizeof(*dst);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}

	start = now();
	end = start + seconds;
	stop = start;
	while (count == 0 || sent < count) {
		if (batched) {
			unsigned int n = BATCH;
			int r;

			if (count != 0 && count - sent < n)
				n = (unsigned int)(count - sent);
			for (i = 0; i < (int)n; i++)
				put_seq(buf + (size_t)i * size, size, sent + (unsigned long long)i);
			r = sendmmsg(fd, msgs, n, 0);
			if (r > 0) {
				sent += (unsigned long long)r;
			} else if (r < 0 && (errno == ENOBUFS || errno == EAGAIN)) {
				errors++;
			} else if (r < 0 && errno != EINTR) {
				perror("udpflood: sendmmsg");
				return 1;
			}
			/* Batches of 32 reach the clock check at the same 1024-datagram stride. */
			attempts += BATCH;
		} else {
			put_seq(buf, size, sent);
			if (sendto(fd, buf, size, 0, (const struct sockaddr *)dst, sizeof(*dst)) >= 0) {
				sent++;
			} else if (errno == ENOBUFS || errno == EAGAIN) {
				errors++;
			} else if (errno != EINTR) {
				perror("udpflood: sendto");
				return 1;
			}
			attempts++;
		}
		if (attempts % CLOCK_EVERY == 0) {
			stop = now();
			if (stop >= end)
				break;
		}
	}
	stop = now();
	close(fd);
	free(buf);

	if (getrusage(RUSAGE_SELF, &ru) != 0 || getrusage(RUSAGE_THREAD, &rt) != 0) {
		perror("udpflood: getrusage");
		return 1;
	}
	printf("sent=%llu seconds=%.3f pps=%.0f maxrss_kb=%ld errors=%llu cpu_seconds=%.3f thread_cpu_seconds=%.3f\n",
	    sent, stop - start, stop > start ? (double)sent / (stop - start) : 0.0, peak_rss_kb(&ru), errors,
	    tv_seconds(ru.ru_utime) + tv_seconds(ru.ru_stime), tv_seconds(rt.ru_utime) + tv_seconds(rt.ru_stime));
	/*
	 * UDPFLOOD_LINGER_MS: wait that long before exiting, so that a capturing shim's writer takes
	 * every record itself (bench/instr.sh counts per thread; at exit the program's thread would
	 * drain what is left, as much as the writer's pause happened to leave).
	 */
	const char *linger = getenv("UDPFLOOD_LINGER_MS");
	if (linger && atoi(linger) > 0) {
		fflush(stdout);
		usleep((useconds_t)atoi(linger) * 1000u);
	}
	return 0;
}

static int do_recv(const struct sockaddr_in *addr, double seconds)
{
	struct timeval tick = { .tv_sec = 0, .tv_usec = 100 * 1000 };
	unsigned long long received = 0;
	char buf[65536];
	double end;
	int fd, one = 1, size = RCVBUF, idle = 0;

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("udpflood: socket");
		return 1;
	}
	/* SO_RCVBUFFORCE passes rmem_max when we are root; otherwise take what SO_RCVBUF grants. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof(tick)) != 0) {
		perror("udpflood: SO_RCVTIMEO");
		return 1;
	}
	if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0) {
		perror("udpflood: bind");
		return 1;
	}
	fprintf(stderr, "listening on %s:%u\n", inet_ntoa(addr->sin_addr), ntohs(addr->sin_port));

	end = now() + seconds;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n >= 0) {
			received++;
			idle = 0;
			if (received % CLOCK_EVERY == 0 && now() >= end)
				break;
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			/* Idle only counts once the flood has begun: the sender may still be starting. */
			if (received > 0 && ++idle >= IDLE_TICKS)
				break;
			if (now() >= end)
				break;
		} else if (errno != EINTR) {
			perror("udpflood: recv");
			return 1;
		}
	}
	close(fd);
	printf("received=%llu\n", received);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin;
	const char *mode;

	if (argc < 2)
		usage();
	mode = argv[1];
	if (strcmp(mode, "send") == 0 || strcmp(mode, "sendmmsg") == 0) {
		unsigned long long count = 0;
		size_t size;

		if (argc != 6 && argc != 7)
			usage();
		parse_addr(argv[2], argv[3], &sin);
		size = (size_t)parse_num(argv[4], "SIZE", 65507);
		if (size == 0) {
			fprintf(stderr, "udpflood: SIZE must be at least 1\n");
			return 2;
		}
		if (argc == 7)
			count = parse_num(argv[6], "COUNT", ~0ULL);
		return do_send(&sin, size, parse_seconds(argv[5]), count, mode[4] == 'm');
	}
	if (strcmp(mode, "recv") == 0) {
		if (argc != 5)
			usage();
		parse_addr(argv[2], argv[3], &sin);
		return do_recv(&sin, parse_seconds(argv[4]));
	}
	usage();
	return 2;
}
