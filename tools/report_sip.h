/*
 * report_sip.h - the SIP part of `clearcap report` (text, JSON) and of the exit table.
 */
#ifndef CC_REPORT_SIP_H
#define CC_REPORT_SIP_H

#include <stdio.h>

#include "tools/analyze.h"

/* "SIP (N dialogs)" and each dialog's messages in time order; nothing without SIP. */
void cc_report_sip_text(FILE *out, const struct cc_an *a);

/* The value of the report's "sip" key: an array of dialogs. */
void cc_report_sip_json(FILE *out, const struct cc_an *a);

/* One "clearcap: sip ..." line: dialogs, requests by method, responses by class. */
void cc_report_sip_compact(FILE *out, const struct cc_an *a);

/* s as a JSON string, every byte outside printable ASCII, quote and backslash escaped. */
void cc_json_str(FILE *out, const char *s);

#endif
