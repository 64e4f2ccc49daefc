/*
 * dtmf_tone.c - the tone pair of an RFC 4733 telephone event, for drawing DTMF into extracted
 * audio: events 0-9, * (10), # (11) and A-D (12-15) are ITU-T Q.23's row and column
 * frequencies (RFC 4733 §3.2 table 3).
 */
#include <math.h>

#include "tools/dtmf_tone.h"

static const double rows[4] = { 697, 770, 852, 941 };
static const double cols[4] = { 1209, 1336, 1477, 1633 };

/* Keypad position of each event: 1 2 3 A / 4 5 6 B / 7 8 9 C / * 0 # D. */
static const uint8_t where[16][2] = {
	{ 3, 1 }, { 0, 0 }, { 0, 1 }, { 0, 2 }, { 1, 0 }, { 1, 1 }, { 1, 2 }, { 2, 0 },
	{ 2, 1 }, { 2, 2 }, { 3, 0 }, { 3, 2 }, { 0, 3 }, { 1, 3 }, { 2, 3 }, { 3, 3 },
};

int cc_dtmf_tone(int16_t *s, size_t n, uint32_t rate, uint8_t event, uint8_t volume)
{
	double fr, fc, amp;

	if (event > 15 || rate == 0)
		return -1;
	fr = rows[where[event][0]];
	fc = cols[where[event][1]];
	/* G.711's full scale is +3.17 dBm0 (ITU-T G.711 §4); the pair has the event's power
	 * (-volume dBm0, RFC 4733 §2.3.4), split evenly between its two tones. */
	amp = 32767.0 * pow(10.0, (-(double)volume - 3.17) / 20.0);
	for (size_t i = 0; i < n; i++) {
		double t = (double)i / rate;

		s[i] = (int16_t)lrint(amp * (sin(2 * M_PI * fr * t) + sin(2 * M_PI * fc * t)) / 2);
	}
	return 0;
}
