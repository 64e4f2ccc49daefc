#!/usr/bin/env bash
# make demo: a real capture between real programs on loopback, then what was captured.
#
#   1. openssl s_server and s_client talk DTLS 1.2 over UDP (client: write() on a connected
#      socket, recvfrom(); server: recvfrom/sendto) - both under clearcap, into one file;
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

echo "== 1. DTLS 1.2: openssl s_server <-> s_client, both under clearcap"
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 \
	-keyout "$dir/key.pem" -out "$dir/cert.pem" >/dev/null 2>&1
dport=$(port 2)
# The server stays up while the client connects, sends a line and leaves.
(sleep 6 | "$cc" -q -a -w "$cap" -- openssl s_server -dtls1_2 -quiet -accept "$dport" \
	-cert "$dir/cert.pem" -key "$dir/key.pem" >"$dir/server.out" 2>&1) &
pids+=($!)
sleep 1
(echo "hello over DTLS"; sleep 2) | timeout 10 "$cc" -q -a -w "$cap" -- \
	openssl s_client -dtls1_2 -quiet -connect "127.0.0.1:$dport" >/dev/null 2>&1 || true
sleep 0.5
echo "   server received: $(grep -a 'hello over DTLS' "$dir/server.out" || echo '(nothing)')"

echo "== 2. HTTPS: curl under clearcap, openssl s_server -www not captured"
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
echo "   the DTLS handshake and data as the two programs sent them (each datagram is in the file twice,"
echo "   once as sent by one process and once as received by the other; this shows the sent copies):"
tshark -n -r "$cap" -Y 'dtls && sll.pkttype == 4' 2>/dev/null | head -14 | sed 's/^/   /'
echo
echo "   the same DTLS session's application data in the clear (interface 'plaintext', same ports):"
tshark -n -r "$cap" -Y 'frame.interface_name == "plaintext" && udp' -T fields -e sll.pkttype -e ip.src \
	-e udp.srcport -e ip.dst -e udp.dstport -e udp.payload -e frame.comment 2>/dev/null |
	while IFS=$'\t' read -r dir src sp dst dp hex comment; do
		printf '   %s %s:%s -> %s:%s  "%s"  (%s)\n' "$([ "$dir" = 4 ] && echo sent || echo recv)" \
			"$src" "$sp" "$dst" "$dp" "$(echo "$hex" | xxd -r -p)" "$comment"
	done
echo
echo "   curl's HTTPS request and response, decrypted (plaintext) and decrypted by tshark from the"
echo "   secrets clearcap put in the file (wire):"
tshark -n -r "$cap" -Y http -T fields -e frame.interface_name -e _ws.col.Info 2>/dev/null | sed 's/^/   /'
echo

echo "   the UDP ping/pong with real addresses (direction: 4 = sent, 0 = received; pid of each process):"
tshark -n -r "$cap" -Y 'udp.port != '"$dport" -T fields -e sll.pkttype -e ip.src -e udp.srcport \
	-e ip.dst -e udp.dstport -e frame.comment 2>/dev/null | sed 's/^/   /'
echo
echo "Look at it yourself:"
echo "   wireshark $cap"
echo "   tshark -r $cap -Y 'sll.pkttype == 4'        # what the programs sent"
echo "   tshark -r $cap -Y 'frame.interface_name == \"plaintext\"'   # decrypted TLS/DTLS"
echo "   tcpdump -n -r $cap 'ifindex 1 and udp'      # libpcap reads it too"
