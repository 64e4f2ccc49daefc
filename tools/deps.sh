#!/bin/sh
# Installs the Debian 12 packages clearcap's build, tests, benchmarks and demo use, if missing.
# Run as root (CI and fresh machines); as another user it prints the command to run instead.
set -e

PKGS="gcc make pkg-config check libpcap-dev libssl-dev libsrtp2-dev clang
tshark wireshark-common tcpdump socat openssl curl python3 python3-aiortc procps iproute2 util-linux xxd iperf3
gstreamer1.0-nice gir1.2-gst-plugins-bad-1.0 python3-gst-1.0 coturn
gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
ffmpeg gstreamer1.0-plugins-ugly golang-go golang-github-pion-webrtc.v3-dev libc6-dev
gnutls-bin libnss3-tools lighttpd lighttpd-mod-mbedtls libmbedtls-dev libwolfssl-dev sngrep sipsak kamailio kamailio-sqlite-modules kamailio-tls-modules"
# tests/integration/test_cli.py reads the installed man page, drives the bash completion and
# calls baresip to baresip (DTLS-SRTP next to its SIP); test_decrypt.py calls it too.
PKGS="$PKGS man-db bash-completion baresip"
# tests/integration/test_daily2.py: SIPp calls (SIP class) and rsvg-convert (--svg PNG copies).
PKGS="$PKGS sip-tester librsvg2-bin"
# tests/integration/test_janus.py: Janus's EchoTest against an aiortc client.
PKGS="$PKGS janus"
# tests/integration/test_linphone.py: a linphonec DTLS-SRTP call (mbedTLS + libsrtp2).
PKGS="$PKGS linphone-cli python3-cryptography"
# tools/lab.sh, the NAT lab (tests/integration/test_lab.py).
PKGS="$PKGS nftables"
# tests/integration/test_realprogs.py: dig, on Debian's libuv, sends through syscall(3).
PKGS="$PKGS bind9-dnsutils"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "clearcap: missing Debian packages:$missing" >&2
	echo "clearcap: run as root: apt-get install -y$missing" >&2
	exit 1
fi
echo "clearcap: installing$missing" >&2
# tshark asks whether non-root users may capture; clearcap never needs that.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || apt-get update
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
