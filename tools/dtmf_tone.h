/*
 * dtmf_tone.h - DTMF tone pairs (ITU-T Q.23) for RFC 4733 events, drawn into 16-bit audio.
 */
#ifndef CC_DTMF_TONE_H
#define CC_DTMF_TONE_H

#include <stddef.h>
#include <stdint.h>

/* Writes n samples at rate Hz of event 0-15 at -volume dBm0; -1 for other events. */
int cc_dtmf_tone(int16_t *s, size_t n, uint32_t rate, uint8_t event, uint8_t volume);

#endif /* CC_DTMF_TONE_H */
