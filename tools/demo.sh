#!/usr/bin/env bash
# make demo: a real capture between real programs on loopback, then what was captured.
#
#   1. two aiortc WebRTC peers open a data channel (ICE, DTLS, SCTP, DCEP), both under clearcap,
#      into one file, in a network namespace of their own;
#   2. curl fetches a page over HTTPS from openssl s_server -www - curl under clearcap, same file;
#   3. a python3 UDP server bound to 0.0.0.0 answers a client that sent to 127.0.0.2.
set -euo pipefail

build=${1:-build}
cc=$(realpath "$build/clearcap")
dir=$(mktemp -d "${TMPDIR:-/tmp}/clearcap-demo.XXXXXX")
cap=${CLEARCAP_DEMO_FILE:-$PWD/demo.pcapng}
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
rm -f "$cap"

port() { /usr/bin/python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET, int(sys.argv[1])); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' "$1"; }

echo "== 1. WebRTC: two aiortc peers open a data channel (ICE, DTLS, SCTP), both under clearcap"
echo "   (in a network namespace of their own: a veth pair 10.200.0.1 - 10.200.0.2, nothing leaves it)"
peer=$(realpath tests/integration/webrtc_peer.py)
CAP="$cap" CC="$cc" PEER="$peer" TMPD="$dir" unshare -n bash -c '
set -e
ip link set lo up
ip link add v0 type veth peer name v1
ip addr add 10.200.0.1/24 dev v0; ip addr add 10.200.0.2/24 dev v1
ip link set v0 up; ip link set v1 up
coproc A { "$CC" -q -a -w "$CAP" -- /usr/bin/python3 "$PEER" offer 2>"$TMPD/a.err"; }
read -r -t 20 offer <&"${A[0]}"
# (bash warns that a second coproc starts while the first runs; both work, the warning is noise)
{ coproc B { "$CC" -q -a -w "$CAP" -- /usr/bin/python3 "$PEER" answer 2>"$TMPD/b.err"; }; } 2>/dev/null
echo "$offer" >&"${B[1]}"
read -r -t 20 answer <&"${B[0]}"
echo "$answer" >&"${A[1]}"
read -r -t 30 a <&"${A[0]}"; read -r -t 30 b <&"${B[0]}"
echo "   offerer: $a, answerer: $b"
'

echo "== 2. HTTPS: curl under clearcap, openssl s_server -www not captured"
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 \
	-keyout "$dir/key.pem" -out "$dir/cert.pem" >/dev/null 2>&1
hport=$(port 1)
(sleep 8 | openssl s_server -www -naccept 1 -accept "$hport" -cert "$dir/cert.pem" -key "$dir/key.pem" \
	>/dev/null 2>&1) &
pids+=($!)
sleep 1
"$cc" -a -w "$cap" -- curl -sk -o "$dir/page.html" "https://127.0.0.1:$hport/"
echo "   curl fetched $(wc -c <"$dir/page.html") bytes"

echo "== 3. UDP: a server bound to 0.0.0.0 answers 127.0.0.2 (the frames say 127.0.0.2)"
"$cc" -a -w "$cap" -- /usr/bin/python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 0))
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.sendto(b"ping", ("127.0.0.2", s.getsockname()[1]))
d, a = s.recvfrom(100); s.sendto(b"pong", a); print("  ", c.recv(100))'
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()

echo
echo "== What is in $cap"
capinfos -c -u -e "$cap" 2>/dev/null | sed 's/^/   /'
echo
echo "   frames by protocol:"
tshark -n -r "$cap" -T fields -e frame.protocols 2>/dev/null | sed 's/^sll:ethertype://' | sort | uniq -c | sort -rn | sed 's/^/   /'
echo
echo "   wire: ICE connectivity checks (STUN) and the DTLS handshake of the WebRTC session, as sent:"
# Both peers are in this file, so each datagram is in it twice (sent and received): dissected with
# the received copies left out (-2 -R), or Wireshark's DTLS reassembly calls the second copy of
# each fragment an overlap.  Their two processes' records can be a few milliseconds out of order
# (README): sorted first (reordercap, a copy), or a reply's fragment comes before its request's.
sorted=$cap
reordercap "$cap" "$dir/sorted.pcapng" >/dev/null 2>&1 && sorted=$dir/sorted.pcapng
tshark -n -r "$sorted" -2 -R 'frame.interface_name == "wire" && sll.pkttype == 4 && (stun || dtls.handshake)' \
	2>/dev/null | head -12 | sed 's/^/   /'
echo
echo "   plaintext: the same session decrypted - SCTP, the data channel opening (DCEP) and the"
echo "   messages, on the ICE pair's addresses (one peer's view: what it sent and received):"
first=$(tshark -n -r "$cap" -Y 'frame.interface_name == "plaintext" && sctp' -T fields -e frame.comment \
	2>/dev/null | head -1 | cut -d' ' -f1-2)
tshark -n -r "$cap" -o sctp.tsn_analysis:FALSE \
	-Y "frame.interface_name == \"plaintext\" && frame.comment contains \"$first \" && (rtcdc || sctp.data_payload_proto_id == 51)" \
	-T fields -e sll.pkttype -e ip.src -e ip.dst -e _ws.col.Info -e data.data 2>/dev/null |
	while IFS=$'\t' read -r d src dst info hex; do
		printf '   %s %s -> %s  %s %s\n' "$([ "$d" = 4 ] && echo sent || echo recv)" "$src" "$dst" \
			"$(echo "$info" | sed 's/ *$//')" "${hex:+\"$(echo "$hex" | xxd -r -p)\"}"
	done | head -14
echo
echo "   curl's HTTPS request and response, decrypted (plaintext) and decrypted by tshark from the"
echo "   secrets clearcap put in the file (wire):"
# (openssl s_server -www answers HTTP/1.0 with no length: its body ends at the server's FIN, which
# curl never reads on the wire, so tshark would wait for the body before naming the response.)
tshark -n -r "$cap" -o http.desegment_body:FALSE -Y http -T fields -e frame.interface_name -e _ws.col.Info \
	2>/dev/null | sed 's/^/   /'
echo

echo "   the UDP ping/pong with real addresses (direction: 4 = sent, 0 = received; pid of each process):"
tshark -n -r "$cap" -Y 'udp && ip.addr == 127.0.0.0/8' -T fields -e sll.pkttype -e ip.src -e udp.srcport \
	-e ip.dst -e udp.dstport -e frame.comment 2>/dev/null | sed 's/^/   /'
echo
echo "Look at it yourself:"
echo "   wireshark $cap"
echo "   tshark -r $cap -Y 'sll.pkttype == 4'        # what the programs sent"
echo "   tshark -r $cap -Y 'frame.interface_name == \"plaintext\"'   # decrypted TLS/DTLS"
echo "   tcpdump -n -r $cap 'ifindex 1 and udp'      # libpcap reads it too"
