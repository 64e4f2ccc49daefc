/*
 * cmd_report.c - `clearcap report FILE [--json] [--svg DIR]`: read any pcap or pcapng file
 * (ours, or tcpdump's on Ethernet, cooked or raw links) and print what happened in it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "tools/report.h"
#include "tools/usage.h"

static void report_usage(FILE *f)
{
	fputs("Usage: clearcap report FILE [--json] [--svg DIR]\n"
	      "Print flows, each flow's ICE/TURN/DTLS steps with their times, ICE/STUN transactions,\n"
	      "TURN allocations, DTLS handshakes, RTP streams (loss, jitter per RFC 3550), RTCP, DTMF\n"
	      "digits, data channels and SIP dialogs (by Call-ID) found in FILE.\n"
	      "  --json      print the same as one JSON object\n"
	      "  --svg DIR   also write DIR/stream-N-ssrc-XXXXXXXX.svg per RTP stream (bitrate, loss,\n"
	      "              jitter over time) and a .png copy of each, rendered by rsvg-convert\n"
	      "              (Debian librsvg2-bin) when it is installed\n", f);
}

int cc_cmd_report(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "svg", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *svgdir = NULL;
	struct cc_report_src src;
	char err[512];
	struct cc_an *a;
	int json = 0, c, rc = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 's': svgdir = optarg; break;
		case 'h': report_usage(stdout); return 0;
		default: return cc_usage_bad_option("report", c, argv, longopts);
		}
	}
	if (optind >= argc)
		return cc_usage_error("report", "no FILE given");
	if (optind < argc - 1)
		return cc_usage_error("report", "one FILE only: '%s' is one too many", argv[optind + 1]);
	a = cc_analyze_file(argv[optind], 0, &src, err, sizeof err);
	if (a == NULL) {
		fprintf(stderr, "clearcap report: %s\n", err);
		return 2;
	}
	if (json)
		cc_report_json(stdout, a, &src);
	else
		cc_report_text(stdout, a, &src);
	errno = 0;
	if (svgdir != NULL && cc_report_svg(svgdir, a) < 0) {
		/* (errno 0: the PNG copy failed, and said why already) */
		fprintf(stderr, "clearcap report: cannot write pictures to %s%s%s\n", svgdir, errno ? ": " : "",
			errno ? strerror(errno) : "");
		rc = 2;
	}
	if (src.truncated) {
		/* What was read is still reported: a capture cut short by a kill is common. */
		fprintf(stderr, "clearcap report: %s: stopped at a damaged record: %s\n", argv[optind],
			src.read_error);
	}
	cc_an_free(a);
	if (fflush(stdout) != 0)
		rc = 2;
	return rc;
}
