/*
 * report_sip.c - printing the SIP dialogs tools/sipdialog.c collected.
 *
 * A dialog is its Call-ID and its messages in time order, each with its time from the start of
 * the capture, the two ends and the request or response: what a troubleshooter reads next to
 * Wireshark's "VoIP Calls" flow.
 */
#include "tools/report_sip.h"

#include <inttypes.h>
#include <netinet/in.h>
#include <string.h>

#define TEXT_SIP_DIALOGS 20	/* dialogs listed in the text; JSON lists all */
#define METHODS_MAX 12		/* distinct methods counted for the exit line */

static double rel(const struct cc_an *a, uint64_t ts)
{
	return ts >= a->first_ns ? (double)(ts - a->first_ns) / 1e9 : -(double)(a->first_ns - ts) / 1e9;
}

static const char *ifname(uint8_t i)
{
	static const char *const names[] = { "-", "wire", "plaintext", "relay" };

	return i < 4 ? names[i] : "if?";
}

/* "INVITE" or "200 INVITE": what a message was, as SIP traces write it. */
static void what(const struct cc_sip_event *e, char *buf, size_t n)
{
	if (e->status)
		snprintf(buf, n, "%u %s", e->status, e->method);
	else
		snprintf(buf, n, "%s", e->method);
}

void cc_report_sip_text(FILE *out, const struct cc_an *a)
{
	char b1[64], b2[64], w[48];

	if (a->nsip == 0)
		return;
	fprintf(out, "\nSIP (%zu dialog%s, %" PRIu64 " messages read", a->nsip, a->nsip == 1 ? "" : "s",
		a->sip_msgs);
	if (a->sip_bad)
		fprintf(out, ", %" PRIu64 " start lines not parsed", a->sip_bad);
	fprintf(out, ")\n");
	for (size_t i = 0; i < a->nsip && i < TEXT_SIP_DIALOGS; i++) {
		const struct cc_sip_dialog *d = &a->sip[i];

		fprintf(out, "  Call-ID %s%s: %u requests, %u responses, +%.3fs..+%.3fs\n",
			d->call_id[0] ? d->call_id : "(none)", "", d->requests, d->responses,
			rel(a, d->first_ns), rel(a, d->last_ns));
		for (uint32_t k = 0; k < d->nev; k++) {
			const struct cc_sip_event *e = &d->ev[k];

			what(e, w, sizeof w);
			fprintf(out, "    +%.3fs %-20s CSeq %-5u %s %s %s -> %s%s\n", rel(a, e->t_ns), w, e->cseq,
				e->proto == IPPROTO_TCP ? "tcp" : "udp", ifname(e->ifindex),
				cc_endpoint_str(&e->src, b1, sizeof b1), cc_endpoint_str(&e->dst, b2, sizeof b2),
				e->both ? "" : e->dir == CC_DIR_OUT ? " (sent only)" : e->dir == CC_DIR_IN ? " (received only)" : "");
		}
		if (d->dropped)
			fprintf(out, "    ... %u more messages\n", d->dropped);
	}
	if (a->nsip > TEXT_SIP_DIALOGS)
		fprintf(out, "  ... %zu more dialogs\n", a->nsip - TEXT_SIP_DIALOGS);
	if (a->overflow.sip)
		fprintf(out, "  %" PRIu64 " messages of dialogs past the first %d not kept\n", a->overflow.sip,
			CC_AN_MAX_SIP);
}

/* A JSON string: Call-IDs may hold quotes and backslashes (RFC 3261 §25.1 "word"). */
void cc_json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++)
		if ((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f && *s != '"' && *s != '\\')
			fputc(*s, out);
		else
			fprintf(out, "\\u%04x", (unsigned char)*s);
	fputc('"', out);
}

void cc_report_sip_json(FILE *out, const struct cc_an *a)
{
	char b1[64], b2[64];

	fputc('[', out);
	for (size_t i = 0; i < a->nsip; i++) {
		const struct cc_sip_dialog *d = &a->sip[i];

		fprintf(out, "%s{\"call_id\":", i ? ",\n " : "");
		cc_json_str(out, d->call_id);
		fprintf(out, ",\"requests\":%u,\"responses\":%u,\"first_s\":%.6f,\"last_s\":%.6f,\"not_listed\":%u,"
			"\"messages\":[", d->requests, d->responses, rel(a, d->first_ns), rel(a, d->last_ns),
			d->dropped);
		for (uint32_t k = 0; k < d->nev; k++) {
			const struct cc_sip_event *e = &d->ev[k];

			fprintf(out, "%s{\"t\":%.6f,", k ? "," : "", rel(a, e->t_ns));
			if (e->status)
				fprintf(out, "\"status\":%u,", e->status);
			fprintf(out, "\"method\":");
			cc_json_str(out, e->method);
			fprintf(out, ",\"cseq\":%u,\"transport\":\"%s\",\"interface\":\"%s\",\"src\":\"%s\",\"dst\":\"%s\","
				"\"both_ends\":%s}", e->cseq, e->proto == IPPROTO_TCP ? "tcp" : "udp", ifname(e->ifindex),
				cc_endpoint_str(&e->src, b1, sizeof b1), cc_endpoint_str(&e->dst, b2, sizeof b2),
				e->both ? "true" : "false");
		}
		fprintf(out, "]}");
	}
	fputc(']', out);
}

void cc_report_sip_compact(FILE *out, const struct cc_an *a)
{
	struct {
		char name[CC_SIP_TOKEN_MAX];
		uint32_t n;
	} m[METHODS_MAX];
	size_t nm = 0;
	uint32_t req = 0, resp = 0, cls[7] = { 0 };

	if (a->nsip == 0)
		return;
	for (size_t i = 0; i < a->nsip; i++) {
		const struct cc_sip_dialog *d = &a->sip[i];

		req += d->requests;
		resp += d->responses;
		for (uint32_t k = 0; k < d->nev; k++) {
			const struct cc_sip_event *e = &d->ev[k];
			size_t j;

			if (e->status) {
				cls[e->status / 100 < 7 ? e->status / 100 : 0]++;
				continue;
			}
			for (j = 0; j < nm && strcmp(m[j].name, e->method) != 0; j++)
				;
			if (j == nm) {
				if (nm == METHODS_MAX)
					continue;
				memcpy(m[nm].name, e->method, sizeof m[nm].name);
				m[nm++].n = 0;
			}
			m[j].n++;
		}
	}
	fprintf(out, "clearcap: sip %zu dialog%s: %u requests", a->nsip, a->nsip == 1 ? "" : "s", req);
	for (size_t j = 0; j < nm; j++)
		fprintf(out, "%s%s %u", j ? ", " : " (", m[j].name, m[j].n);
	fprintf(out, "%s, %u responses", nm ? ")" : "", resp);
	for (int c = 1, first = 1; c < 7; c++)
		if (cls[c]) {
			fprintf(out, "%s%dxx %u", first ? " (" : ", ", c, cls[c]);
			first = 0;
		}
	fprintf(out, "%s\n", cls[1] + cls[2] + cls[3] + cls[4] + cls[5] + cls[6] ? ")" : "");
}
