/*
 * Control messages of sendmsg/recvmsg: what they say about one datagram (TOS, TTL, GSO segment
 * size, the local address it reached).
 */
#include "shim/capture_int.h"

#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>

void cc_meta_from_cmsg(struct cc_meta *m, const struct msghdr *msg)
{
	struct cmsghdr *c;

	if (!msg->msg_control || msg->msg_controllen < sizeof(struct cmsghdr))
		return;
	for (c = CMSG_FIRSTHDR((struct msghdr *)msg); c; c = CMSG_NXTHDR((struct msghdr *)msg, c)) {
		const uint8_t *d = CMSG_DATA(c);
		size_t dl = c->cmsg_len - CMSG_LEN(0);
		int iv = 0;

		if (dl >= sizeof(int))
			memcpy(&iv, d, sizeof(int));
		else if (dl == 1)
			iv = d[0];
		else if (dl == 2) {
			uint16_t u;
			memcpy(&u, d, 2);
			iv = u;
		}
		if (c->cmsg_level == IPPROTO_IP) {
			switch (c->cmsg_type) {
			case IP_PKTINFO:
				if (dl >= sizeof(struct in_pktinfo)) {
					struct in_pktinfo pi;
					memcpy(&pi, d, sizeof(pi));
					/* Received: the header's destination.  Sent: the chosen source, if any. */
					struct in_addr a = pi.ipi_addr.s_addr ? pi.ipi_addr : pi.ipi_spec_dst;
					if (a.s_addr) {
						m->local.family = AF_INET;
						memcpy(m->local.ip, &a, 4);
					}
				}
				break;
			case IP_TOS:
				m->tos = iv & 0xff;
				break;
			case IP_TTL:
				m->ttl = iv & 0xff;
				break;
			}
		} else if (c->cmsg_level == IPPROTO_IPV6) {
			switch (c->cmsg_type) {
			case IPV6_PKTINFO:
				if (dl >= sizeof(struct in6_pktinfo)) {
					struct in6_pktinfo pi;
					memcpy(&pi, d, sizeof(pi));
					if (IN6_IS_ADDR_V4MAPPED(&pi.ipi6_addr)) {
						m->local.family = AF_INET;
						memcpy(m->local.ip, pi.ipi6_addr.s6_addr + 12, 4);
					} else if (!IN6_IS_ADDR_UNSPECIFIED(&pi.ipi6_addr)) {
						m->local.family = AF_INET6;
						memcpy(m->local.ip, &pi.ipi6_addr, 16);
					}
				}
				break;
			case IPV6_TCLASS:
				m->tos = iv & 0xff;
				break;
			case IPV6_HOPLIMIT:
				m->ttl = iv & 0xff;
				break;
			}
		} else if (c->cmsg_level == IPPROTO_UDP && (c->cmsg_type == UDP_SEGMENT || c->cmsg_type == UDP_GRO)) {
			m->gso = (unsigned)iv;
		}
	}
}
