#!/usr/bin/env bash
# bench/instr.sh BUILD: instructions the shim adds per captured packet, per thread, counted by
# callgrind (so the same on any machine, whatever else it is doing).  Each measurement runs the
# same program for two lengths and divides the difference in instructions by the difference in
# packets, so start-up and exit cancel out; the same without the shim is subtracted.
#
#   udp:  udpflood send of 200-byte datagrams, 20,000 and 70,000 of them: the program's thread
#         and the writer thread (targets: <= 150 and <= 300); and the program's thread with a
#         filter that declines them all (target: below a stored one)
#   recv: udpflood recv of a flood sent without the shim, 1 and 3 s: the program's thread (no
#         target: the receive path in view)
#   iperf3: Debian's iperf3 client, 200-byte datagrams for 1 and 3 s: the program's thread
#         (target: <= 200, the flood's figure on a real program's write() calls)
#   srtp: srtpflood round trips (protect, send, receive, unprotect) for 1 and 3 s: the
#         program's thread (target: <= 800)
# The program's-thread figures also say how much an idle second thread alone adds without the
# shim (bench/idlethread.so): the C library's threaded paths, which a thread of the program's own
# switches on.  Our writer leaves them off in a program with one thread (pcapout/single.h), and
# the shim's UDP sends skip glibc's where it cannot (shim/direct.h).  Prints one line per figure,
# "instructions ... = N (target ...) ok|MISS".  Needs valgrind.
set -euo pipefail
build=${1:?usage: bench/instr.sh BUILD}
lib=$build/libclearcap.so
idle=$build/bench/idlethread.so
command -v valgrind >/dev/null || { echo "instructions: valgrind not installed, skipped"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# totals PREFIX: "THREAD TOTAL" for each per-thread callgrind file of one run.
totals() {
	for f in "$1".*-[0-9]*; do
		echo "${f##*-} $(awk '/^totals:/ { print $2; exit }' "$f")"
	done
}

# count SHIM(0|1|2) TAG COMMAND...: runs under callgrind (2: with an idle second thread, no
# shim); leaves $tmp/TAG.PID-TID files.  With collect="main writer_main", only what runs inside
# the program's main() and the writer's loop is counted: not the exit handlers, where the shim's
# last drain runs on the program's thread for as much as happens to be left.  That is up to a
# writer's pause of records (30 ms), and differenced between two runs it read -13 to +8 per
# sendto (134-155 where the steady cost is 147), or a few hundred a round trip of noise.  The
# flood also lingers (UDPFLOOD_LINGER_MS), so that the writer's figure is of every record too.
collect="main writer_main"
count() {
	local shim=$1 tag=$2 opts=(--tool=callgrind --separate-threads=yes) f
	shift 2
	for f in $collect; do
		opts+=(--toggle-collect="$f")
	done
	rm -f "$tmp/$tag".* "$tmp/cap.pcapng"
	if [ "$shim" = 2 ]; then
		LD_PRELOAD=$idle valgrind "${opts[@]}" --callgrind-out-file="$tmp/$tag.%p" "$@" \
			>"$tmp/$tag.out" 2>"$tmp/$tag.err"
	elif [ "$shim" = 1 ]; then
		LD_PRELOAD=$lib CLEARCAP_FILE=$tmp/cap.pcapng CLEARCAP_FILTER=${FILTER:-} CLEARCAP_CAPTURE=${CAPTURE:-} \
			valgrind "${opts[@]}" \
			--callgrind-out-file="$tmp/$tag.%p" "$@" >"$tmp/$tag.out" 2>"$tmp/$tag.err"
	else
		valgrind "${opts[@]}" --callgrind-out-file="$tmp/$tag.%p" "$@" >"$tmp/$tag.out" 2>"$tmp/$tag.err"
	fi
}

# thread_total TAG N: total of thread N (1: the program's, 2: the writer) of run TAG, or 0.
thread_total() {
	local v
	v=$(totals "$tmp/$1" | awk -v t="$(printf '%02d' "$2")" '$1 == t { print $2 }')
	echo "${v:-0}"
}

verdict() { awk -v v="$1" -v l="$2" 'BEGIN { print (v <= l ? "ok" : "MISS") }'; }

flood=$build/bench/udpflood
# The writer's pause is 30 ms at the most: 200 ms after the last send, it has taken every record.
export UDPFLOOD_LINGER_MS=200
for shim in 0 1; do
	for n in 20000 70000; do
		count "$shim" "u$shim-$n" "$flood" send 127.0.0.1 9 200 100 "$n"
	done
done
per() { echo $(( ($(thread_total "$2" "$1") - $(thread_total "$3" "$1")) / 50000 )); }
base=$(per 1 u0-70000 u0-20000)
prog=$(( $(per 1 u1-70000 u1-20000) - base ))
writer=$(per 2 u1-70000 u1-20000)
# What any second thread adds to the C library's own work per sendto (cancellation switched
# around the system call): part of the figure above, not the shim's code.
threaded=0
if [ -e "$idle" ]; then
	for n in 20000 70000; do
		count 2 "i-$n" "$flood" send 127.0.0.1 9 200 100 "$n"
	done
	threaded=$(( $(per 1 i-70000 i-20000) - base ))
fi
echo "instructions per captured 200-byte sendto, program's thread = $prog (target <= 150) $(verdict "$prog" 150); an idle second thread alone adds $threaded to the C library's sendto, which direct sends (shim/direct.h) skip"
echo "instructions per captured 200-byte sendto, writer thread = $writer (target <= 300) $(verdict "$writer" 300)"

# A filter declining every datagram ("udp port 1"; the flood goes to port 9): cheaper than storing.
for n in 20000 70000; do
	FILTER="udp port 1" count 1 "f1-$n" "$flood" send 127.0.0.1 9 200 100 "$n"
done
declined=$(( $(per 1 f1-70000 f1-20000) - base ))
echo "instructions per filter-declined 200-byte sendto, program's thread = $declined (stored: $prog) $(verdict "$declined" "$prog")"

# A class selection declining every datagram (CLEARCAP_CAPTURE=stun; the flood is not STUN).
for n in 20000 70000; do
	CAPTURE=stun count 1 "c1-$n" "$flood" send 127.0.0.1 9 200 100 "$n"
done
classdrop=$(( $(per 1 c1-70000 c1-20000) - base ))
echo "instructions per class-declined 200-byte sendto, program's thread = $classdrop (stored: $prog) $(verdict "$classdrop" "$prog")"

# Received: udpflood recv (recv() on an unconnected socket: the shim asks for the sender's name)
# against a flood without the shim, for 1 and 3 s; per datagram received.  No target: shown so
# that the receive path's cost is in view too.
# per_count FIELD SHORT LONG: the program's thread's instructions per unit of what the two runs
# print as FIELD=N (received, packets), the short run's subtracted from the long one's.
per_count() {
	local pa pb a b
	pa=$(sed -n "s/.*$1=\([0-9]*\).*/\1/p" "$tmp/$2.out")
	pb=$(sed -n "s/.*$1=\([0-9]*\).*/\1/p" "$tmp/$3.out")
	a=$(thread_total "$2" 1)
	b=$(thread_total "$3" 1)
	echo $(( (b - a) / (pb - pa) ))
}

port=$(( 40000 + RANDOM % 20000 ))
rx() {
	for s in 1 3; do
		"$flood" send 127.0.0.1 "$port" 200 $((s + 2)) >/dev/null 2>&1 &
		count "$1" "r$1-$s" "$flood" recv 127.0.0.1 "$port" "$s"
		wait
	done
	per_count received "r$1-1" "r$1-3"
}
r0=$(rx 0)
r1=$(rx 1)
echo "instructions per captured 200-byte datagram received with recv, program's thread = $((r1 - r0)) (no target)"

# iperf3's client (Debian's; write() on a connected socket, each datagram starting with zero
# bytes of its own, as STUN's do but without STUN's cookie), against a server without the shim,
# for 1 and 3 s; per datagram sent.  The same figure as the flood's on a real program's calls
# (its own work between them varies a little with timing, hence the margin).
if command -v iperf3 >/dev/null; then
	# (Debian's iperf3 is stripped: no main to collect from, so all of the client is counted.)
	collect=
	# ip SHIM: the program's thread's instructions per datagram of a 1 s and a 3 s run, differenced.
	ip() {
		local s p spid
		for s in 1 3; do
			p=$(( 40000 + RANDOM % 20000 ))
			iperf3 -s -1 -p "$p" -B 127.0.0.1 >/dev/null 2>&1 &
			spid=$!
			sleep 0.3
			count "$1" "p$1-$s" iperf3 -c 127.0.0.1 -p "$p" -u -b 0 -l 200 -t "$s" -J
			wait "$spid" || true
			/usr/bin/python3 -c 'import json, sys
print("packets=%d" % json.load(open(sys.argv[1]))["end"]["sum_sent"]["packets"])' "$tmp/p$1-$s.out" >"$tmp/p$1-$s.n"
			mv "$tmp/p$1-$s.n" "$tmp/p$1-$s.out"
		done
		per_count packets "p$1-1" "p$1-3"
	}
	i0=$(ip 0)
	i1=$(ip 1)
	echo "instructions per captured 200-byte iperf3 datagram (write), program's thread = $((i1 - i0)) (target <= 200; the flood's sendto: $prog) $(verdict $((i1 - i0)) 200)"
fi

srtp=$build/bench/srtpflood
collect="main writer_main"
if [ -x "$srtp" ]; then
	# rt SHIM: round trips and program-thread instructions of a 1 s and a 3 s run, differenced.
	rt() {
		count "$1" "s$1-1" "$srtp" 1
		count "$1" "s$1-3" "$srtp" 3
		per_count packets "s$1-1" "s$1-3"
	}
	s0=$(rt 0)
	s1=$(rt 1)
	st=$s0
	[ -e "$idle" ] && st=$(rt 2)
	echo "instructions per SRTP round trip, program's thread = $((s1 - s0)) (target <= 800) $(verdict $((s1 - s0)) 800); an idle thread of the program's own would add $((st - s0)) (glibc's threaded paths, which the writer leaves off: pcapout/single.h)"
fi
