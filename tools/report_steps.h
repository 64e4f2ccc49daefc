/*
 * report_steps.h - per-flow step timelines of `clearcap report`: how each 5-tuple came up.
 */
#ifndef CC_REPORT_STEPS_H
#define CC_REPORT_STEPS_H

#include <stdio.h>

#include "tools/analyze.h"

/* "FLOW STEPS": for each flow with STUN, TURN or DTLS, its steps in time order. */
void cc_report_steps_text(FILE *out, const struct cc_an *a);

/* The value of the report's "flow_steps" key: an array of flows, each with its steps. */
void cc_report_steps_json(FILE *out, const struct cc_an *a);

#endif
