/*
 * clearcap: run a program with the capture shim preloaded.
 *
 * `clearcap -w out.pcapng -- prog args` sets the environment the shim reads (CLEARCAP_FILE,
 * CLEARCAP_FORMAT, ...), creates the counters page every captured process adds to, runs the
 * program as its child and otherwise stays out of the way: the terminal's ^C and ^\ go to the
 * program alone, the signals a supervisor sends to the wrapper are passed on, and the wrapper
 * ends the way the program ended.  That is what lets `clearcap -w f --` be put in front of any
 * command line (a script, a systemd unit, a test driver) without changing how it behaves.
 *
 * Subcommands (`clearcap ctl`, `clearcap report FILE`, `clearcap extract FILE`) are dispatched
 * on argv[1] so that they never collide with running a program: a run always starts with an
 * option, since -w is required.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "decoders/impairspec.h"
#include "pcapout/pages.h"
#include "pcapout/format.h"
#include "pcapout/hep.h"
#include "tools/heprelay.h"
#include "pcapout/rotate.h"
#include "tools/daily.h"
#include "tools/decrypt.h"
#include "tools/envcheck.h"
#include "tools/exitstats.h"
#include "tools/report.h"
#include "tools/trace.h"
#include "tools/usage.h"

#define CLEARCAP_VERSION "0.1"
#define SHIM_NAME        "libclearcap.so"

/* Our own failures use 2 (like grep and diff), so they stay apart from 126/127 for exec. */
#define EXIT_TROUBLE     2
#define EXIT_NOEXEC      126
#define EXIT_NOTFOUND    127

struct options {
	const char *file;       /* -w as the user wrote it, for messages */
	bool append;
	const char *format;
	const char *programs;
	const char *keylog;
	const char *srtp_keylog;
	const char *filter;     /* -f: a tcpdump expression */
	const char *capture;    /* --capture: class list */
	bool plain_ipv4;        /* --plain-ipv4: CLEARCAP_PLAIN_MAPPED=0 */
	bool verbose;           /* -v: CLEARCAP_VERBOSE=1 */
	char buffer[32];        /* -B converted to bytes, empty when not given */
	bool quiet;
	long long rotate_size;  /* -C, bytes */
	long rotate_seconds;    /* -G */
	long rotate_files;      /* -W */
	bool to_stdout;         /* -w -: the capture goes to our standard output */
	int live_fd;            /* a pipe or FIFO we hold open for the capture's lifetime, or -1 */
	const char *stats;      /* --stats: exit statistics as JSON */
	int trace;              /* --trace 1, --no-trace 0; -1: when the shim cannot enter PROGRAM */
	bool no_decrypt;        /* --no-decrypt: no pass over the file for SRTP with known keys */
	const char *hep, *hep_id, *hep_name, *hep_password, *hep_classes;    /* --hep and its companions */
	bool hep_tls;           /* --hep tls:HOST:PORT: relayed by this process (tools/heprelay.c) */
	const char *hep_ca;     /* --hep-ca FILE */
	bool hep_insecure;      /* --hep-insecure */
	bool impair_seed, impair_filter;        /* given: they need --impair or CLEARCAP_IMPAIR */
	char **argv;            /* the program and its arguments */
};

struct counters {
	char path[PATH_MAX];
	const char *file;       /* the capture file, for the live count */
	struct cc_counters *page;
	struct cc_tcp_gens *gens;       /* the file's pages after the first, or NULL */
};

#define MAX_FILES 16     /* files of a run named in the summary (ctl reopen); more are counted */

struct totals {
	uint64_t captured, dropped, processes, unmatched, write_errors;
	uint64_t plain[5];
	uint64_t srtp_failed;
	uint64_t filtered, relayed;
	uint64_t impaired[4];   /* dropped, delayed, duplicated, reordered by --impair */
	uint64_t loaded, refused, start_failed, rot_done;
	char start_why[sizeof(((struct cc_counters *)0)->start_why)];
	uint64_t paused, paused_ns;     /* frames a pause kept out; the longest pause a process reported */
	uint64_t run_ns;                /* from the program's start to its end */
	struct { char *path; off_t start; } files[MAX_FILES];  /* after the first, from ctl reopen */
	size_t nfiles, more_files;
	uint64_t hep_sent, hep_dropped;
};

/* Whether path names a directory (an option naming a file refuses it at once). */
static int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Whether path is a regular file we may read (a FIFO's lines went to its own reader). */
static int regular_readable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0;
}

__attribute__((format(printf, 1, 0)))
static void vwarn(const char *fmt, va_list ap)
{
	fputs("clearcap: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

__attribute__((format(printf, 1, 2)))
static void warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

/* Setup errors happen before the program runs, so there is nothing to clean up but the message. */
__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	exit(EXIT_TROUBLE);
}

__attribute__((noreturn))
static void usage_error(const char *what)
{
	exit(cc_usage_error(NULL, "%s", what));
}

__attribute__((format(printf, 1, 2), noreturn))
static void usage_error_fmt(const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	usage_error(what);
}

static void print_help(void)
{
	fputs(
"Usage: clearcap -w FILE|- [-aq] [-F FORMAT] [-P LIST] [-B KiB] [-k KEYLOG] [-f EXPR]\n"
"                [--capture CLASSES] [--plain-ipv4] [-C MB] [-G SECS] [-W COUNT] [--stats PATH]\n"
"                [--trace|--no-trace] [--no-decrypt]\n"
"                [--hep udp|tcp|tls:HOST:PORT [--hep-id N] [--hep-name NAME] [--hep-password KEY]\n"
"                [--hep-classes CLASSES] [--hep-ca FILE] [--hep-insecure]] [--]\n"
"                PROGRAM [ARGS...]\n"
"       clearcap ctl PID|all status|pause|resume|reopen FILE\n"
"       clearcap report FILE [--json] [--svg DIR]\n"
"       clearcap extract FILE [-o DIR] [--both]\n"
"       clearcap decrypt IN -o OUT [--keylog FILE] [--srtp-keylog FILE]   (see --help there)\n"
"       clearcap lab [--nat cone|symmetric] -- 'COMMAND A' 'COMMAND B'   (the NAT lab: --help there)\n"
"\n"
"Run PROGRAM with the clearcap shim preloaded and write the UDP and TCP traffic of PROGRAM\n"
"and of every process it starts to FILE, without capture privileges, with the addresses\n"
"each packet really used.  The exit status is PROGRAM's.\n"
"\n"
"Options:\n"
"  -w FILE            Write the captured packets to FILE.  An existing regular file or\n"
"                     symbolic link at FILE is removed first (the link itself, never its\n"
"                     target), as tcpdump -w does; a directory, or a FILE that cannot be\n"
"                     created, is refused before PROGRAM starts.\n"
"                     '-w -' writes to standard output for live view\n"
"                     (clearcap -w - -- prog | wireshark -k -i -); PROGRAM's standard\n"
"                     output then goes to standard error.  A FIFO is written live too;\n"
"                     clearcap waits for its reader first.\n"
"  -a, --append       Append to an existing capture in FILE instead of replacing it.  The\n"
"                     file must be empty or a clearcap capture in the format selected with\n"
"                     -F; anything else (another file, the other format, a symbolic link)\n"
"                     is refused before PROGRAM starts.\n"
"  -F, --format FORMAT\n"
"                     Write FORMAT: 'pcapng' (the default) or 'pcap' (classic libpcap\n"
"                     format, without the decryption secrets and interface names that\n"
"                     only pcapng can hold).\n"
"  -P, --programs LIST\n"
"                     Capture only in the processes whose program name matches one of\n"
"                     the comma-separated names or fnmatch(3) patterns in LIST, e.g.\n"
"                     'janus,gst-*'.  The other processes of the tree run uncaptured.  A list\n"
"                     naming no program (',,') is refused.\n"
"  -B, --buffer-size KiB\n"
"                     Let the capture buffer of each captured process grow to KiB\n"
"                     kibibytes (units of 1024 bytes); default 8192, from 1024 to 1048576.\n"
"                     It starts at 1024 and doubles under load.  A producer waits up to\n"
"                     2 s for room before a packet counts as dropped.\n"
"  -k, --keylog FILE  Also append the TLS and DTLS secrets of OpenSSL, GnuTLS, NSS, mbedTLS\n"
"                     and wolfSSL connections to FILE as NSS key log lines (Wireshark's\n"
"                     tls.keylog_file).  A pcapng capture carries them anyway, in\n"
"                     Decryption Secrets Blocks.\n"
"      --srtp-keylog FILE\n"
"                     Append the SRTP master keys that DTLS-SRTP exports (WebRTC media) to\n"
"                     FILE, one line per flow and direction in SDP a=crypto inline form:\n"
"                     SRTP LOCAL PEER outbound|inbound SUITE inline:BASE64(KEY||SALT)\n"
"  -f, --filter EXPR  Store only the packets that match EXPR, in tcpdump syntax (pcap-filter(7)),\n"
"                     run on each frame as it appears in FILE: 'udp port 3478', 'ifindex 2'\n"
"                     (plaintext), 'outbound', 'udp[8] & 0xc0 = 0x80'.  Needs libpcap at run\n"
"                     time.  A bad expression is refused before PROGRAM starts.\n"
"      --capture CLASSES\n"
"                     Store only these classes, comma-separated: stun, turn, dtls-handshake,\n"
"                     dtls-app, dtls, rtp, rtcp, sctp, tcp, sip, other (what a packet carries)\n"
"                     and wire, plaintext, relay (the interface).  sip: SIP over UDP, TCP\n"
"                     segments that start a SIP message (and TLS's plaintext), and whole TCP\n"
"                     streams on ports 5060/5061.  Naming no interface means all\n"
"                     interfaces, naming only interfaces all content; e.g. 'rtp,plaintext' is\n"
"                     the decrypted RTP only.  Default: all.\n"
"      --plain-ipv4   Write plaintext (TLS, RTP) of IPv4 flows with the real IPv4 addresses,\n"
"                     not IPv4-mapped IPv6 (::ffff:a.b.c.d), so ip.addr filters find both\n"
"                     copies; Wireshark then shares a conversation between them (README).\n"
"                     Sets CLEARCAP_PLAIN_MAPPED=0.\n"
"  -C MB              Before a file grows past MB millions of bytes, start a new one (as\n"
"                     tcpdump -C): FILE, FILE1, FILE2, ...  A file may pass the size by\n"
"                     one write batch of each process.\n"
"  -G SECS            Start a new file every SECS seconds; FILE is a strftime(3) format\n"
"                     (e.g. 'cap-%Y%m%d-%H%M%S.pcapng').\n"
"  -W COUNT           With -C: a ring of COUNT files, FILE0 ... FILE<COUNT-1>, reused\n"
"                     oldest first.  With -G alone: stop capturing after COUNT files.\n"
"      --hep udp:HOST:PORT, --hep tcp:HOST:PORT\n"
"                     Also send what is captured to a Homer collector as HEPv3 (Kamailio's\n"
"                     sipcapture, heplify-server, sngrep -L): SIP (the decrypted SIP of SIP over\n"
"                     TLS too, one HEP packet per message, Call-ID as correlation id) and RTCP\n"
"                     reports.  HOST is a numeric IPv4 or IPv6 address ([::1] for IPv6).  It\n"
"                     never waits for the collector: what cannot be sent at once is dropped and\n"
"                     counted in the summary.  Secrets are never sent.  Without -w, the\n"
"                     collector is the only output: no file is written.\n"
"      --hep tls:HOST:PORT\n"
"                     The same over TLS, relayed by clearcap itself (the shim loads no TLS\n"
"                     library into PROGRAM): the processes send to clearcap on the loopback,\n"
"                     clearcap forwards every HEP packet over one TLS connection.  HOST may be\n"
"                     a name; the collector's certificate must be valid for it.\n"
"      --hep-ca FILE  With tls: the CA certificates (PEM) to verify the collector with, instead\n"
"                     of the system's.\n"
"      --hep-insecure With tls: do not verify the collector's certificate.\n"
"      --hep-id N     The capture agent id in every HEP packet (default 0).\n"
"      --hep-name NAME  The node name (HEP chunk 19), at most 63 bytes.\n"
"      --hep-password KEY  The collector's authentication key (HEP chunk 14).\n"
"      --hep-classes CLASSES\n"
"                     What goes over HEP, comma-separated: sip, rtcp, rtp, other (any other UDP)\n"
"                     and wire, plaintext, relay (the interface), as --capture.  Default:\n"
"                     sip,rtcp on every interface.\n"
"  -q, --quiet        Do not print the summary line and statistics when PROGRAM exits.\n"
"  -v, --verbose      Each process says, on standard error, that it runs the shim and which\n"
"                     libraries it found and hooked (OpenSSL, GnuTLS, NSS, mbedTLS, wolfSSL,\n"
"                     libsrtp2), with\n"
"                     their files: why a program's plaintext is there or not.\n"
"      --trace        Capture by tracing PROGRAM's network system calls (ptrace and a\n"
"                     seccomp filter, no privileges) instead of preloading the shim: wire\n"
"                     packets only, no plaintext, and slower.  The default for a static or\n"
"                     Go program, which the shim cannot enter; -P, --capture, -B and -k do\n"
"                     not apply, -C/-G are refused.\n"
"      --no-trace     Never trace; preload the shim even into a static or Go program.\n"
"      --no-decrypt   After PROGRAM exits, do not decrypt the SRTP that has no plaintext copy\n"
"                     but whose keys are known (not through libsrtp2, as baresip's): by\n"
"                     default its plaintext is appended to FILE, marked 'decrypted by\n"
"                     clearcap' (not with -f or --capture, nor to a pipe or rotated files).\n"
"      --stats PATH   Also write the exit statistics (what this run added to FILE: flows,\n"
"                     RTP streams, STUN, DTLS) to PATH as JSON, as 'clearcap report --json'.\n"
"      --impair SPEC  Impair the captured processes' UDP: SPEC is sections separated by ';',\n"
"                     each 'out:' or 'in:' (none: out) then comma-separated items: loss=P%,\n"
"                     gloss=p%,r%[,h%,k%] (Gilbert-Elliott bursts), delay=T, jitter=T, dup=P%,\n"
"                     reorder=P%, rate=R (2mbit, 64kbps), limit=N; e.g.\n"
"                     'out:loss=10%,delay=50ms;in:loss=2%'.  'in:' takes loss and gloss only;\n"
"                     an item given twice for one direction is refused.\n"
"                     Every impaired datagram is in FILE with a comment saying what was done\n"
"                     (see README, Impairment).\n"
"      --impair-seed N\n"
"                     Seed of the impairment's PRNG: the same seed and the same packets give\n"
"                     the same fates.  Without it a seed is drawn and printed.  Needs --impair\n"
"                     (or CLEARCAP_IMPAIR), as --impair-filter does.\n"
"      --impair-filter EXPR\n"
"                     Impair only the datagrams matching EXPR (tcpdump syntax, run on the frame\n"
"                     as FILE would hold it), e.g. 'udp and not port 3478'.\n"
"  -h, --help         Print this help and exit.\n"
"  -V, --version      Print the version and exit.\n"
"\n"
"On a terminal, a live line (packets, bytes, file size, drops) is updated 4 times a second.\n"
"\n"
"clearcap ctl PID|all CMD controls running captured processes (started by clearcap or with\n"
"CLEARCAP_FILE), without signals, through their control pages in $XDG_RUNTIME_DIR/clearcap/\n"
"(or /tmp/clearcap-UID/):\n"
"  status             State, file, packets, bytes, drops, and the capture buffer's size\n"
"                     (it grows under load up to CLEARCAP_BUFFER, -B).\n"
"  pause, resume      Stop and restart capturing packets (secrets are still kept).\n"
"  reopen FILE        Write to FILE from now on; also starts a process run with\n"
"                     CLEARCAP_CTL=1 and no CLEARCAP_FILE.  The summary at exit names\n"
"                     and counts every file written.\n"
"'all' is every process of this user with a control page.\n"
"\n"
"'clearcap extract FILE' writes a pcap per RTP SSRC and, per stream in the clear, a .wav\n"
"(G.711), .opus (Ogg Opus), .ivf (VP8) or .h264 (H.264 Annex B) file; an SRTP stream without\n"
"a plaintext copy is not decoded, and one line says why ('clearcap extract --help').\n"
"\n"
"An option's argument is never '--', and a file name given to one never starts with '-' (but\n"
"for '-w -'; write ./-x for a file named -x): such a word is taken for a forgotten argument.\n"
"\n"
"Signals: while PROGRAM runs, clearcap ignores SIGINT and SIGQUIT (the terminal sends them to\n"
"PROGRAM too) and passes SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH and SIGCONT on to PROGRAM.\n"
"\n"
"Environment:\n"
"  CLEARCAP_LIB       Path of libclearcap.so.  By default it is looked for next to the\n"
"                     clearcap executable, then in ../lib/clearcap/ from there.\n"
"  TMPDIR             Directory of the temporary counters file (default /tmp).\n"
"  XDG_RUNTIME_DIR    Where control pages and rotation state live (else /tmp/clearcap-UID).\n"
"  CLEARCAP_ROTATE_SIZE, CLEARCAP_ROTATE_SECONDS, CLEARCAP_ROTATE_FILES\n"
"                     What -C (in bytes here), -G and -W set, for use without clearcap.\n"
"                     CLEARCAP_ROTATE_FILES without a size or seconds is refused, as -W is.\n"
"  CLEARCAP_CTL       0: no control page; 1 without CLEARCAP_FILE: capture off until\n"
"                     'clearcap ctl PID reopen FILE'.\n"
"  CLEARCAP_STATS     Like --stats PATH, when --stats is not given.\n"
"  CLEARCAP_IMPAIR, CLEARCAP_IMPAIR_SEED, CLEARCAP_IMPAIR_FILTER\n"
"                     What --impair, --impair-seed and --impair-filter set, for use\n"
"                     without clearcap (with CLEARCAP_FILE: impairment needs capture).\n"
"  CLEARCAP_*         Other shim settings in the environment are passed on unchanged,\n"
"                     after a check with the shim's own rules: a bad value stops clearcap\n"
"                     with one line naming the variable before PROGRAM starts.\n"
"\n"
"Exit status: PROGRAM's exit status.  If PROGRAM is killed by a signal, clearcap prints its\n"
"summary and then kills itself with the same signal (without a core dump).  126 if PROGRAM\n"
"cannot be executed, 127 if it is not found, 2 for a usage or setup error of clearcap.\n",
	      stdout);
}

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
};

static int cmd_lab(int argc, char **argv);

static const struct subcommand subcommands[] = {
	{ "ctl",     cmd_ctl },
	{ "lab",     cmd_lab },
	{ "report",  cc_cmd_report },
	{ "extract", cc_cmd_extract },
	{ "decrypt", cc_cmd_decrypt },
};

static const struct subcommand *find_subcommand(const char *name)
{
	for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
		if (strcmp(subcommands[i].name, name) == 0)
			return &subcommands[i];
	return NULL;
}

/* -------------------------------------------------------------------------------------------
 * Options
 */

static void parse_format(const char *arg, struct options *o)
{
	if (strcmp(arg, "pcapng") != 0 && strcmp(arg, "pcap") != 0)
		die("invalid -F/--format '%s': expected pcapng or pcap", arg);
	o->format = arg;
}

/* The option is in KiB like tcpdump's -B; the shim takes bytes. */
static void parse_buffer_size(const char *arg, struct options *o)
{
	char *end;
	unsigned long long kib;

	/* The shim's limits (1 MiB to 1 GiB, shim/config.c), which help gives in KiB. */
	errno = 0;
	kib = strtoull(arg, &end, 10);
	if (arg[0] < '0' || arg[0] > '9' || *end != '\0' || errno != 0 || kib < 1024 ||
	    kib > 1048576)
		die("invalid -B/--buffer-size '%s': expected KiB from 1024 to 1048576", arg);
	snprintf(o->buffer, sizeof o->buffer, "%llu", kib * 1024);
}

/* tcpdump's -C/-G/-W take whole numbers (-C in millions of bytes). */
static long long parse_count(const char *arg, const char *opt, long long min, long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(arg, &end, 10);
	if (arg[0] < '0' || arg[0] > '9' || *end != '\0' || errno != 0 || v < min || v > max)
		die("invalid %s '%s': expected a whole number from %lld to %lld", opt, arg, min, max);
	return v;
}

/*
 * --impair, --impair-seed, --impair-filter: checked here and handed to the shim as
 * CLEARCAP_IMPAIR, CLEARCAP_IMPAIR_SEED and CLEARCAP_IMPAIR_FILTER.  Without a seed none is
 * set: each process the program execs draws its own (one drawn here and shared would give every
 * one of them the same fates), and prints it at its first impaired datagram.
 */
static void check_option(const char *var, const char *opt, const char *val);

static void impair_option(int c, const char *arg)
{
	struct cc_impair_spec spec;
	char why[256];

	if (c == 0x120) {
		if (cc_impair_parse(arg, &spec, why, sizeof why) < 0)
			die("invalid --impair '%.200s': %s", arg, why);
		if (setenv("CLEARCAP_IMPAIR", arg, 1) < 0)
			die("cannot set CLEARCAP_IMPAIR: %s", strerror(errno));
	} else if (c == 0x121) {
		uint64_t seed;
		if (cc_impair_parse_seed(arg, &seed) < 0)
			die("invalid --impair-seed '%.200s': " CC_IMPAIR_SEED_EXPECTED, arg);
		setenv("CLEARCAP_IMPAIR_SEED", arg, 1);
	} else {
		check_option("CLEARCAP_FILTER", "--impair-filter", arg);
		setenv("CLEARCAP_IMPAIR_FILTER", arg, 1);
	}
}

/*
 * An option's argument that is "--" or looks like an option was most likely not meant as its
 * argument: `clearcap -k -- prog` would write keys to a file named "--".  A file name may not
 * start with '-' at all (./-x says it is one); other arguments may, but for "--" itself.
 */
static void check_optarg(int c, const char *arg, char **argv)
{
	static const int file_opts[] = { 'w', 'k', 'S', 0x100, 0x115 };
	const char *opt = argv[optind - 1];
	bool file = false;

	for (size_t i = 0; i < sizeof file_opts / sizeof file_opts[0]; i++)
		file |= c == file_opts[i];
	/* "-w -" is standard output. */
	if (c == 'w' && strcmp(arg, "-") == 0)
		return;
	if (strcmp(arg, "--") != 0 && !(file && arg[0] == '-'))
		return;
	/* The option's own word: the one before when its argument was the next word. */
	if (strcmp(opt, arg) == 0 && optind >= 2)
		opt = argv[optind - 2];
	if (strncmp(opt, "--", 2) != 0)
		usage_error_fmt("option -%c needs %s, not '%s'%s%s%s", c, file ? "a file name" : "an argument", arg,
				file ? " (write ./" : "", file ? arg : "", file ? " for a file of that name)" : "");
	usage_error_fmt("option '%.*s' needs %s, not '%s'%s%s%s", (int)strcspn(opt, "="), opt,
			file ? "a file name" : "an argument", arg, file ? " (write ./" : "", file ? arg : "",
			file ? " for a file of that name)" : "");
}

static void parse_options(int argc, char **argv, struct options *o)
{
	/* '+' stops at the first non-option, so the program's own options are left alone. */
	static const char shortopts[] = "+:w:aF:P:B:k:f:qvhVC:G:W:";
	static const struct option longopts[] = {
		{ "append",      no_argument,       NULL, 'a' },
		{ "format",      required_argument, NULL, 'F' },
		{ "programs",    required_argument, NULL, 'P' },
		{ "buffer-size", required_argument, NULL, 'B' },
		{ "keylog",      required_argument, NULL, 'k' },
		{ "srtp-keylog", required_argument, NULL, 'S' },
		{ "filter",      required_argument, NULL, 'f' },
		{ "capture",     required_argument, NULL, 'K' },
		{ "quiet",       no_argument,       NULL, 'q' },
		{ "verbose",     no_argument,       NULL, 'v' },
		{ "stats",       required_argument, NULL, 0x100 },
		{ "trace",       no_argument,       NULL, 0x101 },
		{ "no-trace",    no_argument,       NULL, 0x102 },
		{ "no-decrypt",  no_argument,       NULL, 0x103 },
		{ "hep",         required_argument, NULL, 0x110 },
		{ "hep-id",      required_argument, NULL, 0x111 },
		{ "hep-name",    required_argument, NULL, 0x112 },
		{ "hep-password", required_argument, NULL, 0x113 },
		{ "hep-classes", required_argument, NULL, 0x114 },
		{ "hep-ca",      required_argument, NULL, 0x115 },
		{ "hep-insecure", no_argument,      NULL, 0x116 },
		{ "plain-ipv4",  no_argument,       NULL, 0x104 },
		{ "impair",      required_argument, NULL, 0x120 },
		{ "impair-seed", required_argument, NULL, 0x121 },
		{ "impair-filter", required_argument, NULL, 0x122 },
		{ "help",        no_argument,       NULL, 'h' },
		{ "version",     no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof *o);
	o->format = "pcapng";
	o->live_fd = -1;
	o->trace = -1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (optarg != NULL)
			check_optarg(c, optarg, argv);
		switch (c) {
		case 'w': o->file = optarg; break;
		case 'a': o->append = true; break;
		case 'F': parse_format(optarg, o); break;
		case 'P':
			if (optarg[0] == '\0')
				die("invalid -P/--programs '': expected program names");
			o->programs = optarg;
			break;
		case 'B': parse_buffer_size(optarg, o); break;
		case 'S':
			if (optarg[0] == '\0' || is_dir(optarg))
				die("invalid --srtp-keylog '%s': expected a file name", optarg);
			o->srtp_keylog = optarg;
			break;
		case 'k':
			if (optarg[0] == '\0' || is_dir(optarg))
				die("invalid -k/--keylog '%s': expected a file name", optarg);
			o->keylog = optarg;
			break;
		case 'f': o->filter = optarg; break;
		case 'K':
			if (optarg[0] == '\0')
				die("invalid --capture '': expected a list of classes");
			o->capture = optarg;
			break;
		case 'q': o->quiet = true; break;
		case 'v': o->verbose = true; break;
		case 'C': o->rotate_size = parse_count(optarg, "-C", 1, 1000000) * 1000000LL; break;
		case 'G': o->rotate_seconds = (long)parse_count(optarg, "-G", 1, 100000000); break;
		case 'W': o->rotate_files = (long)parse_count(optarg, "-W", 1, 1000000); break;
		case 0x100: o->stats = optarg; break;
		case 0x101: o->trace = 1; break;
		case 0x102: o->trace = 0; break;
		case 0x103: o->no_decrypt = true; break;
		case 0x110: {
			struct cc_hep_cfg hc;
			const char *why;
			if (strncmp(optarg, "tls:", 4) == 0) {
				const char *colon = strrchr(optarg + 4, ':');
				if (!colon || colon == optarg + 4)
					die("invalid --hep '%s': expected tls:HOST:PORT", optarg);
				parse_count(colon + 1, "--hep tls: PORT", 1, 65535);
				o->hep_tls = true;
			} else if (cc_hep_parse_url(optarg, &hc, &why) < 0) {
				die("invalid --hep '%s': %s", optarg, why);
			}
			o->hep = optarg;
			break;
		}
		case 0x115: o->hep_ca = optarg; break;
		case 0x116: o->hep_insecure = true; break;
		case 0x111: parse_count(optarg, "--hep-id", 0, 4294967295LL); o->hep_id = optarg; break;
		case 0x112: o->hep_name = optarg; break;
		case 0x113: o->hep_password = optarg; break;
		case 0x114: {
			char word[64];
			unsigned mask;
			if (cc_hep_parse_classes(optarg, &mask, word, sizeof word) < 0)
				die("invalid --hep-classes '%s': unknown class '%s' (known: sip rtcp rtp other wire "
				    "plaintext relay all)", optarg, word);
			o->hep_classes = optarg;
			break;
		}
		case 0x104: o->plain_ipv4 = true; break;
		case 0x120: case 0x121: case 0x122:
			impair_option(c, optarg);
			o->impair_seed |= c == 0x121;
			o->impair_filter |= c == 0x122;
			break;
		case 'h': print_help(); exit(0);
		case 'V': puts("clearcap " CLEARCAP_VERSION); exit(0);
		/* getopt's own messages would name the wrapper by its full path; ours say "clearcap:". */
		default: exit(cc_usage_bad_option(NULL, c, argv, longopts));
		}
	}
	/* --hep without -w: the collector is the only output. */
	if (o->file == NULL && o->hep == NULL)
		usage_error("no capture file given: -w FILE is required (or --hep alone)");
	if (o->file == NULL && (o->append || o->rotate_size || o->rotate_seconds || o->rotate_files || o->stats))
		usage_error("-a, -C, -G, -W and --stats need -w FILE");
	if (o->file != NULL && o->file[0] == '\0')
		usage_error("-w needs a file name");
	o->to_stdout = o->file != NULL && strcmp(o->file, "-") == 0;
	/* Before anything is written to standard output, where the file header would go. */
	if (o->to_stdout && (o->rotate_size || o->rotate_seconds))
		usage_error("-C/-G: standard output (-w -) cannot be rotated");
	if (o->rotate_files && !o->rotate_size && !o->rotate_seconds)
		usage_error("-W needs -C or -G");
	if (optind >= argc)
		usage_error("no program to run");
	o->argv = argv + optind;
	if ((o->hep_id || o->hep_name || o->hep_password || o->hep_classes) && !o->hep)
		usage_error("--hep-id, --hep-name, --hep-password and --hep-classes need --hep");
	/* --impair set CLEARCAP_IMPAIR as it was parsed; an inherited one is what the seed joins too. */
	const char *imp = getenv("CLEARCAP_IMPAIR");
	if ((o->impair_seed || o->impair_filter) && !(imp && *imp))
		usage_error("--impair-seed and --impair-filter need --impair (or CLEARCAP_IMPAIR)");
	if ((o->hep_ca || o->hep_insecure) && !o->hep_tls)
		usage_error("--hep-ca and --hep-insecure need --hep tls:HOST:PORT");
	if (o->hep_ca && o->hep_insecure)
		usage_error("--hep-ca and --hep-insecure: choose one");
}

/*
 * Every setting the shim will read is checked here with the shim's own rules (tools/envcheck.c),
 * so that a bad one stops us with one line before the program starts; the shim would instead
 * print it once in every process of the tree and capture nothing.  An option's value is named
 * as the option; a variable the user exported, as the variable.
 */
static void check_option(const char *var, const char *opt, const char *val)
{
	char why[768];

	if (val != NULL && cc_envcheck(var, val, why, sizeof why) < 0)
		die("invalid %s '%.200s': %s", opt, val, why);
}

/* Whether the wrapper sets var itself (from an option or always), replacing what it inherited. */
static bool wrapper_sets(const struct options *o, const char *var)
{
	static const char *const always[] = { "CLEARCAP_FILE", "CLEARCAP_FORMAT", "CLEARCAP_COUNTERS" };
	const struct { const char *var; bool set; } given[] = {
		{ "CLEARCAP_BUFFER", o->buffer[0] != '\0' },
		{ "CLEARCAP_PROGRAMS", o->programs != NULL },
		{ "CLEARCAP_KEYLOG", o->keylog != NULL },
		{ "CLEARCAP_SRTP_KEYLOG", o->srtp_keylog != NULL },
		{ "CLEARCAP_FILTER", o->filter != NULL },
		{ "CLEARCAP_CAPTURE", o->capture != NULL },
		{ "CLEARCAP_PLAIN_MAPPED", o->plain_ipv4 },
		{ "CLEARCAP_VERBOSE", o->verbose },
		{ "CLEARCAP_ROTATE_SIZE", o->rotate_size != 0 },
		{ "CLEARCAP_ROTATE_SECONDS", o->rotate_seconds != 0 },
		{ "CLEARCAP_ROTATE_FILES", o->rotate_files != 0 },
		{ "CLEARCAP_HEP", o->hep != NULL },
		{ "CLEARCAP_HEP_ID", o->hep_id != NULL },
		{ "CLEARCAP_HEP_NAME", o->hep_name != NULL },
		{ "CLEARCAP_HEP_PASSWORD", o->hep_password != NULL },
		{ "CLEARCAP_HEP_CLASSES", o->hep_classes != NULL },
	};

	for (size_t i = 0; i < sizeof always / sizeof always[0]; i++)
		if (strcmp(always[i], var) == 0)
			return true;
	for (size_t i = 0; i < sizeof given / sizeof given[0]; i++)
		if (strcmp(given[i].var, var) == 0)
			return given[i].set;
	return false;
}

static void check_settings(const struct options *o)
{
	char why[768];

	/* -F, -B, -C, -G and -W were checked as they were parsed. */
	check_option("CLEARCAP_PROGRAMS", "-P/--programs", o->programs);
	check_option("CLEARCAP_KEYLOG", "-k/--keylog", o->keylog);
	check_option("CLEARCAP_SRTP_KEYLOG", "--srtp-keylog", o->srtp_keylog);
	check_option("CLEARCAP_FILTER", "-f/--filter", o->filter);
	check_option("CLEARCAP_CAPTURE", "--capture", o->capture);
	check_option("CLEARCAP_HEP_NAME", "--hep-name", o->hep_name);
	if (o->hep_password != NULL && cc_envcheck("CLEARCAP_HEP_PASSWORD", o->hep_password, why, sizeof why) < 0)
		die("invalid --hep-password: %s", why);
	/*
	 * --impair and its companions were checked as parsed and are in the environment now, as
	 * the inherited CLEARCAP_HEP and CLEARCAP_IMPAIR families are: all are checked here.
	 */
	for (size_t i = 0; cc_envcheck_vars[i] != NULL; i++) {
		const char *var = cc_envcheck_vars[i], *val = getenv(var);

		if (wrapper_sets(o, var) || val == NULL || cc_envcheck(var, val, why, sizeof why) == 0)
			continue;
		/* A key is not echoed to a terminal or a log. */
		die("%s=%.200s: %s", var, strcmp(var, "CLEARCAP_HEP_PASSWORD") == 0 ? "(not shown)" : val, why);
	}
	/* -W without -C or -G was refused as parsed; an inherited count is checked with what it joins. */
	const char *files = getenv("CLEARCAP_ROTATE_FILES");
	if (!o->rotate_files &&
	    cc_envcheck_rotation(files, o->rotate_size ? "-C" : getenv("CLEARCAP_ROTATE_SIZE"),
				 o->rotate_seconds ? "-G" : getenv("CLEARCAP_ROTATE_SECONDS"), why, sizeof why) < 0)
		die("CLEARCAP_ROTATE_FILES=%.200s: %s", files, why);
}

/* -------------------------------------------------------------------------------------------
 * Finding the shim and the capture file
 */

static bool is_regular_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Returns a malloc'ed "DIR/NAME" with the directory made absolute, or NULL when DIR is gone. */
static char *join_real(const char *dir, const char *name)
{
	char *real = realpath(dir, NULL);
	char *out;

	if (real == NULL)
		return NULL;
	if (asprintf(&out, "%s%s%s", real, strcmp(real, "/") == 0 ? "" : "/", name) < 0)
		die("out of memory");
	free(real);
	return out;
}

static char *shim_from_env(const char *lib)
{
	char *real = realpath(lib, NULL);

	if (real == NULL)
		die("CLEARCAP_LIB=%s: %s", lib, strerror(errno));
	if (!is_regular_file(real))
		die("CLEARCAP_LIB=%s: not a shared library file", lib);
	return real;
}

/*
 * An installed clearcap finds the shim in PREFIX/lib/clearcap/, a build tree next to the
 * command.  The path must be absolute: the program may chdir before it starts a child.
 */
static char *find_shim(void)
{
	const char *env = getenv("CLEARCAP_LIB");
	char *exe, *slash, *cand;

	if (env != NULL && env[0] != '\0')
		return shim_from_env(env);
	exe = realpath("/proc/self/exe", NULL);
	if (exe == NULL)
		die("cannot find my own executable (/proc/self/exe): %s; set CLEARCAP_LIB",
		    strerror(errno));
	slash = strrchr(exe, '/');
	*slash = '\0';
	cand = join_real(exe[0] ? exe : "/", SHIM_NAME);
	if (cand != NULL && is_regular_file(cand)) {
		free(exe);
		return cand;
	}
	free(cand);
	cand = join_real(exe[0] ? exe : "/", "../lib/clearcap/" SHIM_NAME);
	if (cand != NULL) {
		char *real = realpath(cand, NULL);

		free(cand);
		if (real != NULL && is_regular_file(real)) {
			free(exe);
			return real;
		}
		free(real);
	}
	die("cannot find " SHIM_NAME " in %s/ or %s/../lib/clearcap/; set CLEARCAP_LIB", exe, exe);
}

/*
 * clearcap lab: the NAT lab script (tools/lab.sh), found like the shim: beside the command's own
 * tree (build/clearcap -> tools/lab.sh) or installed (bin/clearcap -> lib/clearcap/lab.sh).  It
 * runs its programs under this very command (CLEARCAP).
 */
static int cmd_lab(int argc, char **argv)
{
	static const char *const cands[] = { "../tools/lab.sh", "../lib/clearcap/lab.sh" };
	char *exe = realpath("/proc/self/exe", NULL), *slash;

	if (exe == NULL || (slash = strrchr(exe, '/')) == NULL)
		die("cannot find my own executable (/proc/self/exe)");
	setenv("CLEARCAP", exe, 1);
	*slash = '\0';
	for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
		char *script = join_real(exe[0] ? exe : "/", cands[i]);
		char *real = script ? realpath(script, NULL) : NULL;

		free(script);
		if (real == NULL || !is_regular_file(real)) {
			free(real);
			continue;
		}
		char **args = calloc((size_t)argc + 2, sizeof(*args));
		if (args == NULL)
			die("out of memory");
		args[0] = "bash";
		args[1] = real;
		for (int k = 1; k < argc; k++)
			args[k + 1] = argv[k];
		execvp("bash", args);
		die("cannot run bash for %s: %s", real, strerror(errno));
	}
	die("cannot find the lab script in %s/../tools/ or %s/../lib/clearcap/", exe, exe);
}

/* LD_PRELOAD has no quoting: a path with a separator in it would be split. */
static void check_preloadable(const char *path)
{
	if (strpbrk(path, " :\t\n") != NULL)
		die("cannot preload '%s': LD_PRELOAD cannot hold a path with a space or colon", path);
}

/* A sanitizer runtime aborts the program unless it is the first library loaded. */
static bool must_stay_first(const char *entry, size_t len)
{
	static const char *const runtimes[] = {
		"libasan", "libhwasan", "libtsan",
		"libclang_rt.asan", "libclang_rt.hwasan", "libclang_rt.tsan",
	};
	const char *base = entry;

	for (size_t i = 0; i < len; i++)
		if (entry[i] == '/')
			base = entry + i + 1;
	for (size_t i = 0; i < sizeof runtimes / sizeof runtimes[0]; i++)
		if (strncmp(base, runtimes[i], strlen(runtimes[i])) == 0)
			return true;
	return false;
}

/*
 * The shim goes in front of what the user preloads, so its hooks see calls before any other
 * interposer rewrites them; only a sanitizer runtime is kept ahead of it.  The rest of the list
 * is kept as written.
 */
static char *build_preload(const char *shim, const char *old)
{
	static const char seps[] = " :";
	const char *front = old != NULL ? old + strspn(old, seps) : "";
	const char *rest = front;
	size_t front_len;
	char *out;

	while (rest[0] != '\0' && must_stay_first(rest, strcspn(rest, seps))) {
		rest += strcspn(rest, seps);
		rest += strspn(rest, seps);
	}
	front_len = (size_t)(rest - front);
	while (front_len > 0 && strchr(seps, front[front_len - 1]) != NULL)
		front_len--;
	if (asprintf(&out, "%.*s%s%s%s%s", (int)front_len, front, front_len > 0 ? ":" : "",
		     shim, rest[0] != '\0' ? ":" : "", rest) < 0)
		die("out of memory");
	return out;
}

static char *capture_path(const char *file, bool by_time)
{
	const char *slash = strrchr(file, '/');
	const char *base = slash != NULL ? slash + 1 : file;
	char *dir, *abs;

	if (base[0] == '\0') {
		if (is_dir(file))
			die("%s: Is a directory", file);
		die("%s: a capture file name cannot end in '/'", file);
	}
	if (slash == NULL)
		dir = strdup(".");
	else if (slash == file)
		dir = strdup("/");
	else
		dir = strndup(file, (size_t)(slash - file));
	if (dir == NULL)
		die("out of memory");
	/*
	 * -G names the directory by strftime too, as tcpdump does ('%Y%m%d/cap-%H.pcapng'): it cannot
	 * be resolved now, only made absolute; each file's directory is the user's to make, and the
	 * first is checked below like any file.
	 */
	if (by_time && strchr(dir, '%') != NULL) {
		char cwd[4096];
		if (file[0] != '/' && getcwd(cwd, sizeof cwd) == NULL)
			die("%s: %s", file, strerror(errno));
		if (asprintf(&abs, "%s%s%s", file[0] == '/' ? "" : cwd, file[0] == '/' ? "" : "/", file) < 0)
			die("out of memory");
		free(dir);
		return abs;
	}
	/* Only the directory is resolved: a symlink as the last component is the shim's to refuse. */
	abs = join_real(dir, base);
	if (abs == NULL)
		die("%s: %s", dir, strerror(errno));
	free(dir);
	return abs;
}

/* The file a capture to abs writes first: abs, or its rotation's first file (named at the first call). */
static const char *rot_target(const char *abs, const struct options *o)
{
	static char first[4200];
	static int named = -1;

	if (named < 0)
		named = (o->rotate_size || o->rotate_seconds) &&
			rotation_first(first, sizeof first, abs, o->rotate_size, o->rotate_seconds, o->rotate_files) == 0;
	return named ? first : abs;
}

/*
 * Without -a an old capture at FILE is removed, as tcpdump -w truncates it; a symlink is
 * removed, never followed, so a link planted there cannot point the capture elsewhere.  Other
 * non-directories (a FIFO, /dev/null) are left for the shim to open.  Returns whether something
 * is still there.
 */
static bool replace_old_capture(const char *abs, const char *file, bool append)
{
	struct stat st;
	bool exists;

	exists = lstat(abs, &st) == 0;
	if (!exists && errno != ENOENT)
		die("%s: %s", file, strerror(errno));
	if (exists && S_ISDIR(st.st_mode))
		die("%s: Is a directory", file);
	if (exists && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode) && !S_ISFIFO(st.st_mode))
		die("%s: not a regular file or a FIFO", file);
	if (exists && !append && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))) {
		if (unlink(abs) < 0 && errno != ENOENT)
			die("cannot replace %s: %s", file, strerror(errno));
		exists = false;
	}
	if (exists && append && S_ISREG(st.st_mode) && access(abs, W_OK) < 0)
		die("cannot append to %s: %s", file, strerror(errno));
	return exists;
}

/*
 * -a onto a file the shim would refuse (not a capture, or one of the other format, or a link it
 * will not follow) is refused here: the shim would say so in each process and capture nothing
 * while the program ran.  An empty file is fine: the first writer puts the header in.
 */
static void check_appendable(const char *abs, const char *file, const char *format)
{
	enum cc_format fmt = strcmp(format, "pcap") == 0 ? CC_FMT_PCAP : CC_FMT_PCAPNG;
	uint8_t buf[CC_HEADER_MAX];
	struct stat st;
	ssize_t n;
	int fd;

	/* As the shim opens it: /proc/PID/fd/N is a link by nature, a link elsewhere is refused. */
	int proc = strncmp(abs, "/proc/", 6) == 0;

	if (!proc && lstat(abs, &st) == 0 && S_ISLNK(st.st_mode))
		die("cannot append to %s: a symbolic link (clearcap never writes through one)", file);
	fd = open(abs, O_RDONLY | (proc ? 0 : O_NOFOLLOW) | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		die("cannot append to %s: %s", file, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		close(fd);
		return;
	}
	n = pread(fd, buf, sizeof buf, 0);
	close(fd);
	if (n < 0)
		die("cannot append to %s: %s", file, strerror(errno));
	if (cc_format_is_ours(buf, (size_t)n, fmt))
		return;
	if (cc_format_is_ours(buf, (size_t)n, fmt == CC_FMT_PCAP ? CC_FMT_PCAPNG : CC_FMT_PCAP))
		die("cannot append to %s: a clearcap %s capture, not %s (-F %s appends to it)", file,
		    fmt == CC_FMT_PCAP ? "pcapng" : "pcap", format, fmt == CC_FMT_PCAP ? "pcapng" : "pcap");
	die("cannot append to %s: not a clearcap %s capture", file, format);
}

/*
 * The shim creates the file; failing here says why before the program has run for nothing.
 * Creating it (and removing it again, so that a run that captures nothing leaves nothing) is the
 * only test that holds everywhere: a writable directory can still refuse new files (/proc, a
 * read-only or full file system, an immutable directory).
 */
static void check_creatable(const char *abs, const char *file)
{
	char why[64];
	int fd;

	if (cc_envcheck("CLEARCAP_FILE", abs, why, sizeof why) < 0)
		die("cannot create %s: the path is too long", file);
	fd = open(abs, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
	if (fd < 0)
		die("cannot create %s: %s", file, strerror(errno));
	close(fd);
	unlink(abs);
}

/* -------------------------------------------------------------------------------------------
 * The counters page
 */

static void counters_create(struct counters *cn)
{
	const char *tmp = getenv("TMPDIR");
	void *map;
	int fd;

	/* A relative TMPDIR would name another file once the program changes directory. */
	if (tmp == NULL || tmp[0] != '/')
		tmp = "/tmp";
	if ((size_t)snprintf(cn->path, sizeof cn->path, "%s/clearcap-counters-XXXXXX", tmp) >=
	    sizeof cn->path)
		die("TMPDIR is too long");
	/* mkostemp creates it 0600; O_CLOEXEC keeps the descriptor out of the program. */
	fd = mkostemp(cn->path, O_CLOEXEC);
	if (fd < 0)
		die("cannot create a counters file in %s: %s", tmp, strerror(errno));
	if (ftruncate(fd, CC_COUNTERS_FILE_SIZE) < 0) {
		int e = errno;

		unlink(cn->path);
		die("%s: %s", cn->path, strerror(e));
	}
	map = mmap(NULL, CC_COUNTERS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		int e = errno;

		unlink(cn->path);
		die("cannot map %s: %s", cn->path, strerror(e));
	}
	/* The run's TCP generations (pcapout/pages.h), for the tracer's processes as for the shim's. */
	cn->gens = mmap(NULL, CC_COUNTERS_FILE_SIZE - CC_COUNTERS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			CC_COUNTERS_SIZE);
	if (cn->gens == MAP_FAILED)
		cn->gens = NULL;
	close(fd);
	cn->page = map;
	__atomic_store_n(&cn->page->version, (uint64_t)CC_COUNTERS_VERSION, __ATOMIC_RELAXED);
	__atomic_store_n(&cn->page->magic, CC_COUNTERS_MAGIC, __ATOMIC_RELEASE);
}

static void add_file(struct totals *t, const char *path, long long start)
{
	size_t i;

	if (start < 0)
		start = 0;
	for (i = 0; i < t->nfiles; i++)
		if (strcmp(t->files[i].path, path) == 0) {
			if (start < t->files[i].start)
				t->files[i].start = (off_t)start;
			return;
		}
	if (t->nfiles == MAX_FILES || (t->files[i].path = strdup(path)) == NULL) {
		t->more_files++;
		return;
	}
	t->files[i].start = (off_t)start;
	t->nfiles++;
}

/*
 * The counters page's "OFFSET PATH\n" entries (pcapout/pages.h), one per process and
 * reopen, each file kept once with its earliest offset.  An entry cut short (a daemon still
 * writing it) has a NUL in it or no newline, and is skipped.
 */
static void collect_files(struct totals *t, const struct cc_counters *c)
{
	uint64_t used = __atomic_load_n(&c->names_used, __ATOMIC_ACQUIRE);
	size_t len = used < sizeof c->names ? (size_t)used : sizeof c->names;
	const char *p = c->names, *end = c->names + len;

	t->nfiles = 0;
	t->more_files = used > sizeof c->names;  /* at least one entry did not fit */
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n;
		char *line, *path;

		if (nl == NULL)
			break;
		n = (size_t)(nl - p);
		line = strndup(p, n);
		p = nl + 1;
		if (line == NULL)
			continue;
		path = strchr(line, ' ');
		if (strlen(line) == n && path != NULL && path[1] == '/') {
			*path++ = '\0';
			add_file(t, path, strtoll(line, NULL, 10));
		}
		free(line);
	}
}

/*
 * Processes the program left running (daemons) may still add after this; the totals are what
 * was counted when the program itself exited.
 */
static struct totals counters_collect(struct counters *cn)
{
	struct cc_counters *c = cn->page;
	struct totals t;

	t.captured = __atomic_load_n(&c->captured, __ATOMIC_ACQUIRE);
	t.dropped = __atomic_load_n(&c->dropped, __ATOMIC_ACQUIRE);
	t.processes = __atomic_load_n(&c->processes, __ATOMIC_ACQUIRE);
	t.unmatched = __atomic_load_n(&c->unmatched, __ATOMIC_ACQUIRE);
	t.write_errors = __atomic_load_n(&c->write_errors, __ATOMIC_ACQUIRE);
	for (int i = 0; i < 5; i++)
		t.plain[i] = __atomic_load_n(&c->plain[i], __ATOMIC_ACQUIRE);
	t.srtp_failed = __atomic_load_n(&c->srtp_failed, __ATOMIC_ACQUIRE);
	t.filtered = __atomic_load_n(&c->filtered, __ATOMIC_ACQUIRE);
	t.relayed = __atomic_load_n(&c->relayed, __ATOMIC_ACQUIRE);
	for (int i = 0; i < 4; i++)
		t.impaired[i] = __atomic_load_n(&c->impaired[i], __ATOMIC_ACQUIRE);
	t.loaded = __atomic_load_n(&c->loaded, __ATOMIC_ACQUIRE);
	t.refused = __atomic_load_n(&c->refused, __ATOMIC_ACQUIRE);
	t.start_failed = __atomic_load_n(&c->start_failed, __ATOMIC_ACQUIRE);
	t.rot_done = __atomic_load_n(&c->rot_done, __ATOMIC_ACQUIRE);
	memcpy(t.start_why, c->start_why, sizeof(t.start_why));
	t.start_why[sizeof(t.start_why) - 1] = 0;
	t.paused = __atomic_load_n(&c->paused, __ATOMIC_ACQUIRE);
	t.paused_ns = __atomic_load_n(&c->paused_ns, __ATOMIC_ACQUIRE);
	t.run_ns = 0;
	collect_files(&t, c);
	t.hep_sent = __atomic_load_n(&c->hep_sent, __ATOMIC_ACQUIRE);
	t.hep_dropped = __atomic_load_n(&c->hep_dropped, __ATOMIC_ACQUIRE);
	unlink(cn->path);
	munmap(c, CC_COUNTERS_SIZE);
	cn->page = NULL;
	return t;
}

static void counters_discard(struct counters *cn)
{
	unlink(cn->path);
	munmap(cn->page, CC_COUNTERS_SIZE);
	cn->page = NULL;
}

/* -------------------------------------------------------------------------------------------
 * The child's environment
 */

static void set_env(const char *name, const char *value)
{
	if (setenv(name, value, 1) < 0)
		die("cannot set %s: %s", name, strerror(errno));
}

/* Other CLEARCAP_* variables already set (debug switches, a key log) pass through untouched. */
static void set_child_env(const struct options *o, const char *shim, const char *file,
			  const char *counters)
{
	char *preload = build_preload(shim, getenv("LD_PRELOAD"));

	set_env("LD_PRELOAD", preload);
	free(preload);
	if (file != NULL)
		set_env("CLEARCAP_FILE", file);
	else
		unsetenv("CLEARCAP_FILE");      /* --hep alone: no file, whatever the caller had set */
	set_env("CLEARCAP_FORMAT", o->format);
	if (o->programs != NULL)
		set_env("CLEARCAP_PROGRAMS", o->programs);
	if (o->buffer[0] != '\0')
		set_env("CLEARCAP_BUFFER", o->buffer);
	if (o->keylog != NULL)
		set_env("CLEARCAP_KEYLOG", o->keylog);
	if (o->srtp_keylog != NULL)
		set_env("CLEARCAP_SRTP_KEYLOG", o->srtp_keylog);
	if (o->filter != NULL)
		set_env("CLEARCAP_FILTER", o->filter);
	if (o->capture != NULL)
		set_env("CLEARCAP_CAPTURE", o->capture);
	if (o->hep != NULL) {
		set_env("CLEARCAP_HEP", o->hep);
		if (o->hep_id != NULL)
			set_env("CLEARCAP_HEP_ID", o->hep_id);
		if (o->hep_name != NULL)
			set_env("CLEARCAP_HEP_NAME", o->hep_name);
		if (o->hep_password != NULL)
			set_env("CLEARCAP_HEP_PASSWORD", o->hep_password);
		if (o->hep_classes != NULL)
			set_env("CLEARCAP_HEP_CLASSES", o->hep_classes);
	}
	if (o->plain_ipv4)
		set_env("CLEARCAP_PLAIN_MAPPED", "0");
	if (o->verbose)
		set_env("CLEARCAP_VERBOSE", "1");
	set_env("CLEARCAP_COUNTERS", counters);
	if (o->live_fd >= 0)
		set_env("CLEARCAP_PIPE_HEADER", "done");
	if (o->rotate_size || o->rotate_seconds) {
		char v[32];

		if (o->rotate_size) {
			snprintf(v, sizeof v, "%lld", o->rotate_size);
			set_env("CLEARCAP_ROTATE_SIZE", v);
		}
		if (o->rotate_seconds) {
			snprintf(v, sizeof v, "%ld", o->rotate_seconds);
			set_env("CLEARCAP_ROTATE_SECONDS", v);
		}
		if (o->rotate_files) {
			snprintf(v, sizeof v, "%ld", o->rotate_files);
			set_env("CLEARCAP_ROTATE_FILES", v);
		}
	}
}

/* -------------------------------------------------------------------------------------------
 * Running the program
 */

/* What a supervisor sends to the wrapper but means for the program. */
static const int forwarded[] = { SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT };

struct sigsave {
	sigset_t mask;            /* the wrapper's mask at start, which the program gets back */
	struct sigaction chld;    /* SIGCHLD as inherited; SIG_IGN there would reap for us */
	sigset_t ignored;         /* signals inherited as ignored (nohup, `cmd &`): kept ignored */
	sigset_t waited;          /* what the wait loop takes with sigwaitinfo */
};

static void note_if_ignored(struct sigsave *s, int sig)
{
	struct sigaction old;

	if (sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN)
		sigaddset(&s->ignored, sig);
}

/*
 * The wrapper takes its signals synchronously with sigwaitinfo instead of in handlers, so that
 * reaping and forwarding happen in one thread of control: a signal can never be sent to a pid
 * that was already reaped and reused.  They are blocked before the counters file exists, so
 * that none kills the wrapper with the file left behind, and nothing arriving around fork is
 * lost or acted on with the wrong disposition.
 */
static void signals_take(struct sigsave *s)
{
	struct sigaction dfl;
	sigset_t block;

	sigemptyset(&s->ignored);
	sigemptyset(&s->waited);
	sigaddset(&s->waited, SIGCHLD);
	for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) {
		note_if_ignored(s, forwarded[i]);
		sigaddset(&s->waited, forwarded[i]);
	}
	note_if_ignored(s, SIGINT);
	note_if_ignored(s, SIGQUIT);
	block = s->waited;
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGQUIT);
	sigprocmask(SIG_BLOCK, &block, &s->mask);

	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGCHLD, &dfl, &s->chld);
}

/*
 * The terminal sends ^C and ^\ to the whole foreground process group, so the program gets them
 * directly; the wrapper ignores them and reports how the program took them.  Setting SIG_IGN
 * also discards any that arrived while they were blocked.
 */
static void signals_ignore_terminal(void)
{
	struct sigaction ign;

	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGINT, &ign, NULL);
	sigaction(SIGQUIT, &ign, NULL);
}

/*
 * In the child, between fork and exec: only async-signal-safe calls.  The dispositions are
 * put back before the mask, so a signal pending since fork meets the program's own disposition.
 * An exec failure is reported through the close-on-exec pipe, which closes unwritten on success.
 */
__attribute__((noreturn))
static void exec_child(char **argv, const struct sigsave *s, int errfd, bool stdout_to_stderr, bool trace)
{
	int e;

	/* With -w - our standard output carries the capture: the program writes to stderr instead. */
	if (stdout_to_stderr)
		dup2(2, 1);
	sigaction(SIGCHLD, &s->chld, NULL);
	sigprocmask(SIG_SETMASK, &s->mask, NULL);
	if (!trace || cc_trace_child() == 0)
		execvp(argv[0], argv);
	e = errno;
	while (write(errfd, &e, sizeof e) < 0 && errno == EINTR)
		;
	_exit(e == ENOENT ? EXIT_NOTFOUND : EXIT_NOEXEC);
}

static int read_exec_error(int fd)
{
	int e = 0;
	ssize_t n;

	do
		n = read(fd, &e, sizeof e);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof e ? e : 0;
}

static void reap(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
}

/* Whether execvp(name) meets a directory: name itself with a '/', else a directory on PATH. */
static bool program_is_dir(const char *name)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (strchr(name, '/') != NULL)
		return is_dir(name);
	for (const char *p = path ? path : "/usr/local/bin:/usr/bin:/bin"; ; p++) {
		size_t n = strcspn(p, ":");

		/* An empty entry is the current directory, as execvp takes it. */
		if ((size_t)snprintf(buf, sizeof buf, "%.*s%s%s", (int)n, p, n ? "/" : "", name) < sizeof buf &&
		    is_dir(buf))
			return true;
		p += n;
		if (*p == '\0')
			return false;
	}
}

/* Returns true once the program has exited and been reaped. */
static bool try_reap(pid_t pid, int *status)
{
	pid_t r;

	do
		r = waitpid(pid, status, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		warn("waitpid: %s", strerror(errno));
		*status = EXIT_TROUBLE << 8;
		return true;
	}
	return r == pid;
}

static int wait_program(pid_t pid, const struct sigsave *s, const struct options *o,
			struct counters *cn)
{
	/* On a terminal, a live count 4 times a second; otherwise wait without waking. */
	struct progress pg;
	bool live = progress_start(&pg, cn->page, o->to_stdout ? NULL : cn->file);
	struct timespec quarter = { 0, 250000000 };
	int status;

	for (;;) {
		int sig = live ? sigtimedwait(&s->waited, NULL, &quarter) : sigwaitinfo(&s->waited, NULL);

		if (sig < 0) {
			if (live)
				progress_tick(&pg);
			continue;   /* EINTR: a stop and continue of the wrapper can cause it */
		}
		if (sig == SIGCHLD) {
			if (try_reap(pid, &status)) {
				progress_end(&pg);
				return status;
			}
			continue;
		}
		/*
		 * A resized terminal: the line moves to the new bottom row at once, not at the next
		 * tick; continued after ^Z (fg): the region is set again at once.
		 */
		if ((sig == SIGWINCH || sig == SIGCONT) && live)
			progress_tick(&pg);
		if (!sigismember(&s->ignored, sig))
			kill(pid, sig);
	}
}

/*
 * A ^C or kill during set-up, while the signals were blocked, must still stop us: after fork
 * it would be discarded (SIGINT) or reach a program that never asked for it.
 */
static int pending_stop_signal(const struct sigsave *s)
{
	static const int stops[] = { SIGINT, SIGQUIT, SIGTERM, SIGHUP };
	sigset_t pending;

	if (sigpending(&pending) < 0)
		return 0;
	for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++)
		if (sigismember(&pending, stops[i]) && !sigismember(&s->ignored, stops[i]))
			return stops[i];
	return 0;
}

/*
 * Runs the program to its end.  Returns 0 with its wait status in *status, or the exit code
 * of a failure to start it (126, 127, 2), which has been reported.
 */
static int run_program(char **argv, struct sigsave *s, int *status, const struct options *o,
		       struct counters *cn, const struct cc_trace_cfg *trace)
{
	int errpipe[2];
	pid_t pid;
	int e;

	if (pipe2(errpipe, O_CLOEXEC) < 0) {
		warn("pipe: %s", strerror(errno));
		return EXIT_TROUBLE;
	}
	pid = fork();
	if (pid < 0) {
		warn("fork: %s", strerror(errno));
		return EXIT_TROUBLE;
	}
	if (pid == 0)
		exec_child(argv, s, errpipe[1], o->to_stdout, trace != NULL);
	close(errpipe[1]);
	signals_ignore_terminal();
	/* A traced child stops before exec: the error pipe is read once the tracer is done. */
	if (trace != NULL)
		*status = cc_trace_run(pid, trace);
	e = read_exec_error(errpipe[0]);
	close(errpipe[0]);
	if (e != 0) {
		if (trace == NULL)
			reap(pid, status);
		/* exec says EACCES for a directory: "Permission denied" would send the user to chmod. */
		if (e == EACCES && program_is_dir(argv[0]))
			warn("%s: Is a directory", argv[0]);
		else
			warn("%s: %s", argv[0], strerror(e));
		return e == ENOENT ? EXIT_NOTFOUND : EXIT_NOEXEC;
	}
	if (trace == NULL)
		*status = wait_program(pid, s, o, cn);
	return 0;
}

/* -------------------------------------------------------------------------------------------
 * The end
 */

static const char *plural(uint64_t n, const char *many)
{
	return n == 1 ? "" : many;
}

/*
 * "(12 decrypted: 8 nested, 4 by DTLS record)": how many plaintext records there are and how
 * their flows were found, so a correlation problem shows in the summary already.
 */
static void describe_plain(const struct totals *t, char *buf, size_t size)
{
	static const char *const how[5] = { "flow unknown", "nested", "descriptor", "earlier flow",
					     "by DTLS record" };
	uint64_t total = 0;
	size_t len;

	for (int i = 0; i < 5; i++)
		total += t->plain[i];
	buf[0] = '\0';
	if (total == 0)
		return;
	len = (size_t)snprintf(buf, size, " (%llu decrypted:", (unsigned long long)total);
	for (int i = 1; i < 5 + 1 && len < size; i++) {
		int k = i % 5;          /* the unknown ones last */
		if (t->plain[k])
			len += (size_t)snprintf(buf + len, size - len, "%s %llu %s", len > 0 && buf[len - 1] != ':' ? "," : "",
						(unsigned long long)t->plain[k], how[k]);
	}
	if (len < size)
		snprintf(buf + len, size - len, ")");
}

/*
 * ", file F" or, after `clearcap ctl reopen`, ", files F, NEW1, NEW2": every file this run
 * wrote, the first as the user named it.  With rotation (`rotated` names the options), each is
 * the first of its rotation: ", files F and on (rotated by -C), NEW and on".  Returns a malloc'ed
 * string.
 */
static char *describe_files(const char *shown, const char *first_abs, const struct totals *t, const char *rotated)
{
	char *out = NULL;
	size_t size = 0, n = 0;
	FILE *f = open_memstream(&out, &size);

	if (f == NULL)
		die("out of memory");
	for (size_t i = 0; i < t->nfiles; i++)
		n += strcmp(t->files[i].path, first_abs) != 0;
	/* Rotated (-C, -G): each file named is the first of its rotation (a reopen's, after the run's). */
	if (rotated != NULL)
		fprintf(f, ", files %s and on (rotated by %s)", shown, rotated);
	else
		fprintf(f, ", file%s %s", n || t->more_files ? "s" : "", shown);
	for (size_t i = 0; i < t->nfiles; i++)
		if (strcmp(t->files[i].path, first_abs) != 0)
			fprintf(f, ", %s%s", t->files[i].path, rotated != NULL ? " and on" : "");
	if (t->more_files)
		fprintf(f, " and %zu more", t->more_files);
	if (fclose(f) != 0 || out == NULL)
		die("out of memory");
	return out;
}

/* The relay's counts, when --hep tls: (set after the program, before the summary). */
static struct cc_heprelay_stats relay_stats;
static const char *relay_to;

/*
 * The relay's counts in the file too, for `clearcap report`: an Interface Statistics Block after
 * the processes' own (theirs count what they handed to the relay).  A plain pcapng file only.
 */
static void relay_note(const struct options *o, const char *file)
{
	uint8_t b[CC_ISB_MAX];
	char c[200];
	struct timespec now;

	if (file == NULL || strcmp(o->format, "pcapng") != 0)
		return;
	int n = snprintf(c, sizeof c, "clearcap relay: HEP over TLS to %s: %llu relayed, %llu dropped", relay_to,
			 (unsigned long long)relay_stats.relayed, (unsigned long long)relay_stats.dropped);
	int fd = open(file, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (n <= 0 || (size_t)n >= sizeof c || fd < 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	size_t len = cc_isb_write(b, 0, (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec, 0, c, (size_t)n);
	if (write(fd, b, len) != (ssize_t)len)
		warn("%s: cannot append the HEP relay's counts: %s", file, strerror(errno));
	close(fd);
}

/*
 * "0.8 s of the 1.1 s run": how long the longest-paused process was paused by `clearcap ctl`,
 * as it said at its exit; empty when none said (killed, or still running).
 */
static void describe_pause_time(const struct totals *t, char *buf, size_t size)
{
	uint64_t ns = t->paused_ns < t->run_ns ? t->paused_ns : t->run_ns;

	buf[0] = '\0';
	if (ns > 0 && ns < 50000000u)
		snprintf(buf, size, "under 0.1 s of the %.1f s run", (double)t->run_ns / 1e9);
	else if (ns > 0)
		snprintf(buf, size, "%.1f s of the %.1f s run", (double)ns / 1e9, (double)t->run_ns / 1e9);
}

/* What declined the packets not selected: the filter (-f), the class selection, or both. */
static const char *declined_by(const struct options *o)
{
	return o->capture == NULL ? "the filter" : o->filter == NULL ? "--capture" : "the filter and --capture";
}

static void report(const struct options *o, const struct totals *t, const char *first_abs)
{
	char extra[512] = "";
	char plain[160];
	char when[64];
	char *files;
	size_t len = 0;

	describe_pause_time(t, when, sizeof when);
	if (t->processes == 0) {
		/* Say what the counters page knows: never that the shim did not load when it did. */
		if (t->loaded == 0)
			warn("nothing was captured: %s did not load the shim (statically linked, "
			     "set-uid, or LD_PRELOAD cleared?)", o->argv[0]);
		else if (t->start_failed)
			warn("nothing was captured: the capture could not start in %llu of %llu process%s "
			     "(the first: %s)", (unsigned long long)t->start_failed, (unsigned long long)t->loaded,
			     plural(t->loaded, "es"), t->start_why[0] ? t->start_why : "see above");
		else if (t->rot_done)
			warn("nothing was captured: the -W rotation's files were already written (see above), "
			     "in %llu of %llu process%s", (unsigned long long)t->rot_done, (unsigned long long)t->loaded,
			     plural(t->loaded, "es"));
		else if (t->refused)
			warn("nothing was captured: the configuration was refused in %llu of %llu process%s "
			     "(see above)", (unsigned long long)t->refused, (unsigned long long)t->loaded,
			     plural(t->loaded, "es"));
		else if (t->paused)
			warn("nothing was captured: capture was paused (clearcap ctl pause)%s%s; %llu packet%s "
			     "sent or received while paused %s not captured", when[0] ? " for " : "", when,
			     (unsigned long long)t->paused, plural(t->paused, "s"), t->paused == 1 ? "was" : "were");
		else if (t->filtered)
			warn("nothing was captured: the selection (--capture) declined %llu packet%s and kept none",
			     (unsigned long long)t->filtered, plural(t->filtered, "s"));
		else if (o->programs != NULL)
			warn("nothing was captured: %llu process%s loaded the shim; none matched -P '%s' "
			     "and sent or received anything clearcap sees", (unsigned long long)t->loaded,
			     plural(t->loaded, "es"), o->programs);
		else
			warn("nothing was captured: %s loaded the shim (%llu process%s) but sent and received "
			     "nothing through libc on an IP socket%s%s", o->argv[0], (unsigned long long)t->loaded,
			     plural(t->loaded, "es"), when[0] ? "; capture was paused for " : "", when);
		return;
	}
	/* Others captured: the ones that could not are named all the same (their stderr may be gone). */
	if (t->start_failed)
		warn("the capture could not start in %llu more process%s (%s%s)", (unsigned long long)t->start_failed,
		     plural(t->start_failed, "es"), t->start_failed > 1 ? "the first: " : "",
		     t->start_why[0] ? t->start_why : "see above");
	/* The writer started (a filter judges frames it has built), and the filter kept nothing. */
	if (t->captured == 0 && t->filtered > 0)
		warn("nothing was captured: %s declined %llu packet%s and kept none", declined_by(o),
		     (unsigned long long)t->filtered, plural(t->filtered, "s"));
	if (o->quiet)
		return;
	if (relay_to != NULL) {
		/* End to end: what reached the collector, and everything else the processes chose. */
		uint64_t total = t->hep_sent + t->hep_dropped, sent = relay_stats.relayed;
		len += (size_t)snprintf(extra + len, sizeof extra - len, ", HEP %llu sent, %llu dropped (TLS to %s)",
					(unsigned long long)sent, (unsigned long long)(total > sent ? total - sent : 0),
					relay_to);
	} else if (o->hep != NULL)
		len += (size_t)snprintf(extra + len, sizeof extra - len, ", HEP %llu sent, %llu dropped",
					(unsigned long long)t->hep_sent, (unsigned long long)t->hep_dropped);
	if (t->filtered > 0)
		len += (size_t)snprintf(extra + len, sizeof extra - len, ", %llu not selected by %s",
					(unsigned long long)t->filtered, declined_by(o));
	if (t->paused > 0)
		len += (size_t)snprintf(extra + len, sizeof extra - len, ", %llu not captured while paused%s%s%s",
					(unsigned long long)t->paused, when[0] ? " (" : "", when, when[0] ? ")" : "");
	else if (when[0])
		len += (size_t)snprintf(extra + len, sizeof extra - len, ", paused %s", when);
	if (t->impaired[0] + t->impaired[1] + t->impaired[2] + t->impaired[3] > 0)
		len += (size_t)snprintf(extra + len, sizeof extra - len,
					", impairment: %llu dropped, %llu delayed, %llu duplicated, %llu reordered",
					(unsigned long long)t->impaired[0], (unsigned long long)t->impaired[1],
					(unsigned long long)t->impaired[2], (unsigned long long)t->impaired[3]);
	if (t->relayed > 0)
		len += (size_t)snprintf(extra + len, sizeof extra - len, ", %llu relayed via TURN",
					(unsigned long long)t->relayed);
	if (t->unmatched > 0)
		len += (size_t)snprintf(extra + len, sizeof extra - len,
					", %llu without a known flow",
					(unsigned long long)t->unmatched);
	if (t->srtp_failed > 0)
		len += (size_t)snprintf(extra + len, sizeof extra - len, ", %llu SRTP unprotect failure%s",
					(unsigned long long)t->srtp_failed, plural(t->srtp_failed, "s"));
	if (t->write_errors > 0 && len < sizeof extra)
		snprintf(extra + len, sizeof extra - len, ", %llu write error%s",
			 (unsigned long long)t->write_errors, plural(t->write_errors, "s"));
	describe_plain(t, plain, sizeof plain);
	if (o->file != NULL && (o->rotate_size || o->rotate_seconds)) {
		/*
		 * The rotation's files: its first, as its state says it was started (at the first
		 * packet: with -G its name may be a later time than the start's), and those after it.
		 */
		static char first[CC_ROT_NAME_MAX];
		files = describe_files(cc_rot_first(first_abs, first, sizeof first) == 0 ? first : rot_target(first_abs, o),
				       first_abs, t,
				       o->rotate_size && o->rotate_seconds ? "-C and -G" : o->rotate_size ? "-C" : "-G");
	} else {
		files = o->file != NULL ? describe_files(o->file, first_abs, t, NULL) : strdup(", no file (HEP only)");
	}
	warn("%llu packet%s captured%s, %llu dropped, %llu process%s%s%s",
	     (unsigned long long)t->captured, plural(t->captured, "s"), plain,
	     (unsigned long long)t->dropped,
	     (unsigned long long)t->processes, plural(t->processes, "es"),
	     extra, files);
	free(files);
}

/*
 * A shell, `timeout` or a test driver looking at our status must see what it would have seen
 * without us, so a program killed by a signal kills the wrapper with the same one.  Core dumps
 * are turned off first: the program already dumped core if it was going to.  The core limit
 * alone is not enough, since a core_pattern pipe (systemd-coredump, apport) ignores it; a
 * process that is not dumpable never dumps.
 */
__attribute__((noreturn))
static void exit_like(int status)
{
	struct sigaction dfl;
	struct rlimit rl;
	sigset_t set;
	int sig;

	fflush(NULL);
	if (WIFEXITED(status))
		exit(WEXITSTATUS(status));
	if (!WIFSIGNALED(status))
		exit(EXIT_TROUBLE);
	sig = WTERMSIG(status);
	if (getrlimit(RLIMIT_CORE, &rl) == 0) {
		rl.rlim_cur = 0;
		setrlimit(RLIMIT_CORE, &rl);
	}
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	/* Only a signal whose default is not to terminate gets here. */
	exit(128 + sig);
}

/* A static or Go program is traced unless --no-trace; --trace traces any program. */
static bool trace_wanted(const struct options *o)
{
	char why[16];

	if (o->trace == 0 || (o->trace < 0 && !cc_trace_detect(o->argv[0], why, sizeof why)))
		return false;
	if (o->rotate_size || o->rotate_seconds)
		die("-C/-G: not available when tracing system calls (--trace, or a static or Go program)");
	if (o->programs || o->capture || o->keylog || o->srtp_keylog || o->buffer[0])
		warn("-P, --capture, -k, --srtp-keylog and -B do not apply when tracing system calls");
	if (!o->quiet)
		warn("%s: capturing by system-call tracing (%s): wire only, no plaintext, slower",
		     o->argv[0], o->trace > 0 ? "--trace" : strcmp(why, "Go") == 0 ?
		     "a Go program makes its socket calls directly" : "a static program cannot load the shim");
	return true;
}

/* The tracer writes the file itself: the shim is not preloaded, so nothing else writes it. */
static void trace_setup(struct cc_trace_cfg *tc, const struct options *o, const char *file,
			const struct sigsave *s)
{
	memset(tc, 0, sizeof *tc);
	tc->path = file;
	tc->fd = o->live_fd;
	tc->fmt = strcmp(o->format, "pcap") == 0 ? CC_FMT_PCAP : CC_FMT_PCAPNG;
	tc->append = o->append;
	tc->filter = o->filter;
	tc->waited = &s->waited;
	tc->ignored = &s->ignored;
	cc_trace_open(tc);
}

/*
 * SRTP the program protected without libsrtp2 (baresip's libre, rtpengine-style stacks) has no
 * plaintext copy, yet its keys are often known: DTLS-SRTP from the file's own secrets and
 * handshakes, SDES from SDP in the clear, the key logs.  After the run, such packets are
 * decrypted and their plaintext appended to the file, marked "decrypted by clearcap" (never a
 * pipe, a rotation or classic pcap, whose files cannot be read back or hold no comment).
 */
static void decrypt_pass(const struct options *o, const char *file, uint64_t captured)
{
	uint64_t n = 0, total = 0;
	char why[128];

	/* What the user chose to store (--capture, -f, or the same in the environment) is respected. */
	if (o->no_decrypt || !file || !captured || access(file, R_OK) != 0 || strcmp(o->format, "pcapng") != 0 ||
	    o->capture || o->filter ||
	    getenv("CLEARCAP_CAPTURE") || getenv("CLEARCAP_FILTER"))
		return;
	/*
	 * A key log the run never opened (no TLS, no SRTP key) is no error here; one that is no
	 * regular file (a FIFO someone else reads) is not read back: its lines went to that reader.
	 */
	const char *kl = o->keylog && regular_readable(o->keylog) ? o->keylog : NULL;
	const char *skl = o->srtp_keylog && regular_readable(o->srtp_keylog) ? o->srtp_keylog : NULL;
	if (cc_decrypt_append(file, kl, skl, &n, &total, why, sizeof(why)) != 0) {
		warn("decrypting SRTP from its keys: %s", why);
		return;
	}
	if (n && !o->quiet)
		warn("%llu SRTP/SRTCP packets had no plaintext copy (not through libsrtp2) but known keys: "
		     "decrypted by clearcap and appended on plaintext", (unsigned long long)n);
}

static int cmd_run(int argc, char **argv)
{
	struct options o;
	struct sigsave sigs;
	struct counters cn;
	struct totals t;
	struct cc_exitstats es = { .path = NULL };   /* begin is skipped for pipes and rotation */
	char *shim, *file;
	int status, rc, sig;
	struct cc_trace_cfg tc = { .fd = -1 };
	bool tracing;

	parse_options(argc, argv, &o);
	check_settings(&o);
	tracing = trace_wanted(&o);
	shim = find_shim();
	check_preloadable(shim);
	if (o.file == NULL) {
		file = NULL;
		if (tracing)
			die("--hep without -w: a traced program is captured into a file only; give -w FILE");
	} else if (o.to_stdout) {
		o.live_fd = live_stdout(o.format, &file);
	} else {
		file = capture_path(o.file, o.rotate_seconds > 0);
		/* Before live_fifo waits for a reader and writes the header to it. */
		if (is_fifo(file) && (o.rotate_size || o.rotate_seconds))
			die("-C/-G: a pipe or FIFO cannot be rotated");
		if (is_fifo(file))
			o.live_fd = live_fifo(file, o.format);
		/*
		 * The shim and the file name are checked before an old capture is removed.  A
		 * rotation whose first file is not FILE itself (-W: FILE0, -G: a strftime name) never
		 * writes FILE: a file of that name is left alone, as tcpdump leaves it, and its first
		 * file is what is checked.
		 */
		else if (!replace_old_capture(rot_target(file, &o), o.file, o.append))
			check_creatable(rot_target(file, &o), o.file);
		/* A rotation appends to whichever file its state names, not necessarily this one. */
		else if (o.append && !o.rotate_size && !o.rotate_seconds)
			check_appendable(file, o.file, o.format);
		if ((o.rotate_size || o.rotate_seconds) && !o.append)
			rotation_fresh(file, o.rotate_size, o.rotate_seconds, o.rotate_files);
	}
	if (o.live_fd >= 0 && (o.rotate_size || o.rotate_seconds))
		die("-C/-G: a pipe or FIFO cannot be rotated");
	/* The statistics read the run's records back: not from a pipe, nor across rotated files. */
	if (file != NULL && o.live_fd < 0 && !o.rotate_size && !o.rotate_seconds)
		cc_exitstats_begin(&es, file);
	else
		es.path = NULL;
	if (tracing)
		trace_setup(&tc, &o, file, &sigs);
	signals_take(&sigs);
	counters_create(&cn);
	cn.file = file;
	tc.counters = cn.page;
	tc.gens = cn.gens;
	struct cc_heprelay *relay = NULL;
	static char relay_url[64];
	if (o.hep_tls && !tracing) {
		char err[200];
		relay = cc_heprelay_start(o.hep + 4, o.hep_ca, o.hep_insecure, relay_url, sizeof relay_url, err,
					  sizeof err);
		if (relay == NULL)
			die("--hep %s: %s", o.hep, err);
		relay_to = o.hep + 4;
		o.hep = relay_url;      /* the processes send to the relay */
	}
	if (!tracing)
		set_child_env(&o, shim, file, cn.path);
	free(shim);

	sig = pending_stop_signal(&sigs);
	if (sig != 0) {
		counters_discard(&cn);
		exit_like(sig);   /* the wait status of a process killed by sig */
	}
	struct timespec began, ended;
	clock_gettime(CLOCK_MONOTONIC, &began);
	rc = run_program(o.argv, &sigs, &status, &o, &cn, tracing ? &tc : NULL);
	if (rc != 0) {
		counters_discard(&cn);
		return rc;
	}
	clock_gettime(CLOCK_MONOTONIC, &ended);
	if (relay != NULL) {
		cc_heprelay_stop(relay, &relay_stats);
		if (relay_stats.why[0] && !o.quiet)
			warn("HEP over TLS to %s: %s", relay_to, relay_stats.why);
		relay_note(&o, es.path);
	}
	t = counters_collect(&cn);
	t.run_ns = (uint64_t)(ended.tv_sec - began.tv_sec) * 1000000000u + (uint64_t)ended.tv_nsec - (uint64_t)began.tv_nsec;
	report(&o, &t, file);
	decrypt_pass(&o, es.path, t.captured);
	/* The files `clearcap ctl reopen` moved processes to belong to the statistics too. */
	for (size_t i = 0; i < t.nfiles; i++) {
		cc_exitstats_add(&es, t.files[i].path, t.files[i].start);
		free(t.files[i].path);
	}
	cc_exitstats_end(&es, o.quiet, o.stats);
	exit_like(status);
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		const struct subcommand *sc = find_subcommand(argv[1]);

		if (sc != NULL)
			return sc->run(argc - 1, argv + 1);
	}
	return cmd_run(argc, argv);
}
