/*
 * demux.c - classify a datagram that shares a 5-tuple with others.
 *
 * WebRTC and SIP media multiplex STUN, DTLS, TURN ChannelData, SRTP and SRTCP
 * (and possibly ZRTP and QUIC) on one port.  RFC 7983 §7, updated by
 * RFC 9443 §5, assigns first-byte ranges so a receiver can tell them apart:
 *
 *                     +----------------+
 *                     |        [0..3] -+--> STUN
 *                     |      [16..19] -+--> ZRTP
 *         packet -->  |      [20..63] -+--> DTLS
 *                     |      [64..79] -+--> TURN Channel
 *                     |     [80..127] -+--> QUIC (short header)
 *                     |    [128..191] -+--> RTP / RTCP
 *                     |    [192..255] -+--> QUIC (long header)
 *                     +----------------+
 *
 * RTP and RTCP on one port (RFC 5761 §4) are told apart by the second byte:
 * an RTCP packet type (SR 200 .. XR 207 today, 192..223 reserved for it)
 * read as RTP marker bit + payload type gives PT 64..95, a range RTP senders
 * must not use when multiplexing.
 */
#include "decoders/demux.h"

int cc_demux_is_rtcp(const uint8_t *p, size_t len)
{
	if (p == NULL || len < 2)
		return 0;
	/*
	 * RFC 5761 §4: payload types 64..95 are forbidden for multiplexed RTP
	 * because with the marker bit they collide with RTCP types 192..223.
	 */
	unsigned pt = p[1] & 0x7f;
	return pt >= 64 && pt <= 95;
}

enum cc_class cc_demux(const uint8_t *p, size_t len)
{
	if (p == NULL || len == 0)
		return CC_CLASS_OTHER;

	unsigned b = p[0];

	if (b <= 3)
		return CC_CLASS_STUN;
	if (b >= 16 && b <= 19)
		return CC_CLASS_ZRTP;
	if (b >= 20 && b <= 63)
		return CC_CLASS_DTLS;
	/*
	 * RFC 9443 §5: 64..79 is TURN's only if TURN channels are in use on
	 * this 5-tuple; RFC 8656 §12 keeps channel numbers in 0x4000-0x4FFF so
	 * ChannelData always lands here.  A stateless classifier cannot know
	 * whether a channel was bound, and TURN is the common case in WebRTC.
	 */
	if (b >= 64 && b <= 79)
		return CC_CLASS_TURN_CHANNEL;
	if (b >= 80 && b <= 127)
		return CC_CLASS_QUIC;
	if (b >= 128 && b <= 191) {
		/* A lone byte cannot carry either header's second byte. */
		if (len < 2)
			return CC_CLASS_OTHER;
		return cc_demux_is_rtcp(p, len) ? CC_CLASS_RTCP : CC_CLASS_RTP;
	}
	if (b >= 192)
		return CC_CLASS_QUIC;
	/* 4..15 is unassigned in RFC 7983 §7 and "MUST be dropped". */
	return CC_CLASS_OTHER;
}

int cc_demux_service_port(uint16_t port)
{
	switch (port) {
	case 53:        /* DNS */
	case 67:        /* DHCP */
	case 68:
	case 123:       /* NTP */
	case 137:       /* NetBIOS */
	case 138:
	case 161:       /* SNMP */
	case 162:
	case 514:       /* syslog */
	case 546:       /* DHCPv6 */
	case 547:
	case 1900:      /* SSDP */
	case 5353:      /* mDNS (WebRTC's .local candidates are resolved there) */
	case 5355:      /* LLMNR */
		return 1;
	default:
		return 0;
	}
}

enum cc_class cc_demux_udp(const uint8_t *p, size_t len, uint16_t sport, uint16_t dport)
{
	if (cc_demux_service_port(sport) || cc_demux_service_port(dport))
		return CC_CLASS_OTHER;
	return cc_demux(p, len);
}

const char *cc_class_name(enum cc_class c)
{
	switch (c) {
	case CC_CLASS_STUN:		return "stun";
	case CC_CLASS_TURN_CHANNEL:	return "turn-channel";
	case CC_CLASS_DTLS:		return "dtls";
	case CC_CLASS_RTP:		return "rtp";
	case CC_CLASS_RTCP:		return "rtcp";
	case CC_CLASS_ZRTP:		return "zrtp";
	case CC_CLASS_QUIC:		return "quic";
	case CC_CLASS_OTHER:		break;
	}
	return "other";
}
