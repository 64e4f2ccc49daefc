/*
 * demux.h - which protocol a datagram on a media 5-tuple carries.
 * RFC 7983 (as updated by RFC 9443) and RFC 5761.
 */
#ifndef CC_DEMUX_H
#define CC_DEMUX_H

#include <stddef.h>
#include <stdint.h>

enum cc_class {
	CC_CLASS_STUN,
	CC_CLASS_TURN_CHANNEL,
	CC_CLASS_DTLS,
	CC_CLASS_RTP,
	CC_CLASS_RTCP,
	CC_CLASS_ZRTP,
	CC_CLASS_QUIC,
	CC_CLASS_OTHER,
};

/* Classify one datagram by its first byte (and second, for RTP vs RTCP). */
enum cc_class cc_demux(const uint8_t *p, size_t len);

/*
 * Whether a UDP port is a service's that never carries RTC media and whose datagrams start with
 * bytes in RFC 7983's ranges all the same: DNS (a query's id is its first two bytes: one in four
 * reads as RTP), mDNS, LLMNR, NTP, DHCP, NetBIOS, SNMP, syslog, SSDP.
 */
int cc_demux_service_port(uint16_t port);

/*
 * cc_demux for a UDP datagram between ports sport and dport: CC_CLASS_OTHER when either is a
 * service's (above), what the bytes say otherwise.
 */
enum cc_class cc_demux_udp(const uint8_t *p, size_t len, uint16_t sport, uint16_t dport);

/* Tell RTP from RTCP for a packet already known to be one of them. */
int cc_demux_is_rtcp(const uint8_t *p, size_t len);

/* A short constant name ("stun", "rtp", ...) for logs and reports. */
const char *cc_class_name(enum cc_class c);

#endif /* CC_DEMUX_H */
