#!/bin/bash
# clearcap's NAT lab: two private LANs, each behind a NAT of chosen behaviour, joined by a "WAN"
# that holds a STUN/TURN server (coturn, when installed).  Programs run in it under clearcap;
# everything is torn down at the end.  As root it needs nothing else; as another user it runs
# inside an unprivileged user namespace where the kernel allows one (and says so when not).
#
#   clearcap lab [--nat cone|symmetric] [--nat-a KIND] [--nat-b KIND] [-w PREFIX] -- 'CMD A' 'CMD B'
#   clearcap lab [options] --script FILE          (or tools/lab.sh, the same)
#
# Addresses:           A 10.0.1.2 ── NAT-A 10.0.1.1 | 100.64.1.2 ──┐
#                                                              WAN 100.64.1.1, 100.64.2.1
#                      B 10.0.2.2 ── NAT-B 10.0.2.1 | 100.64.2.2 ──┘   STUN/TURN 100.64.1.1:3478
#                                                                      (user lab, password lab;
#                                                                      relayed 100.64.1.3)
# NAT kinds: cone       endpoint-independent mapping (Linux masquerade keeps the port), with
#                       address-and-port-dependent filtering: a port-restricted cone, where
#                       hole punching with server-reflexive candidates works;
#            symmetric  address-and-port-dependent mapping (masquerade with random ports): each
#                       destination sees another port, so only a TURN relay connects two of them.
#
# With two commands, A's runs in LAN A and B's in LAN B, each under clearcap writing
# PREFIX-a.pcapng and PREFIX-b.pcapng (default lab-a.pcapng, lab-b.pcapng).  With --script, FILE
# is run by bash in the lab's own namespace with these defined: in_a, in_b, in_wan, in_nat_a,
# in_nat_b (run a command in that host's network namespace), STUN_URL, TURN_URL, TURN_USER,
# TURN_PASS, LAB_DIR (a scratch directory), and CLEARCAP (the clearcap command).
set -euo pipefail

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
	exit 0
}

# A usage error: one line naming it and a hint, exit 2 (as the clearcap command does).
die_usage() {
	printf "clearcap lab: %s\nTry 'clearcap lab --help' for more information.\n" "$1" >&2
	exit 2
}

# need_value "$@" before an option's argument is taken: set -u would otherwise stop at a missing
# one with bash's "unbound variable", and a following option (--nat --script x) is none either.
need_value() {
	if [ $# -lt 2 ] || [ -z "$2" ] || [ "$2" = -- ] || [ "${2#--}" != "$2" ]; then
		die_usage "$1 needs an argument"
	fi
}

NAT_A=cone NAT_B=cone PREFIX=lab SCRIPT=
HERE=$(cd "$(dirname "$0")" && pwd)
CLEARCAP=${CLEARCAP:-}
if [ -z "$CLEARCAP" ]; then
	if [ -x "$HERE/../build/clearcap" ]; then CLEARCAP=$HERE/../build/clearcap
	else CLEARCAP=$(command -v clearcap || true)
	fi
fi
while [ $# -gt 0 ]; do
	case "$1" in
	--nat) need_value "$@"; NAT_A=$2 NAT_B=$2; shift 2 ;;
	--nat-a) need_value "$@"; NAT_A=$2; shift 2 ;;
	--nat-b) need_value "$@"; NAT_B=$2; shift 2 ;;
	-w) need_value "$@"; PREFIX=$2; shift 2 ;;
	--script) need_value "$@"; SCRIPT=$2; shift 2 ;;
	--) shift; break ;;
	-h|--help) usage ;;
	*) die_usage "unknown option '$1'" ;;
	esac
done
for k in "$NAT_A" "$NAT_B"; do
	case "$k" in cone|symmetric) ;; *) die_usage "--nat: '$k' is not cone or symmetric" ;; esac
done
if [ -z "$SCRIPT" ] && [ $# -ne 2 ]; then
	die_usage "give two commands after --, or --script FILE"
fi
# Before any namespace is built: a script that is not there would fail only after the lab is up.
if [ -n "$SCRIPT" ] && { [ ! -f "$SCRIPT" ] || [ ! -r "$SCRIPT" ]; }; then
	echo "clearcap lab: --script $SCRIPT: $( [ -e "$SCRIPT" ] && echo 'not a readable file' || echo 'no such file')" >&2
	exit 2
fi
for t in ip nft unshare nsenter; do
	command -v $t >/dev/null || { echo "clearcap lab: '$t' is needed (Debian: iproute2, nftables, util-linux)" >&2; exit 1; }
done

# Not root: the same script again, inside a user namespace of our own (where one is allowed).
if [ "$(id -u)" != 0 ] && [ -z "${CLEARCAP_LAB_USERNS:-}" ]; then
	if ! unshare -Urn true 2>/dev/null; then
		echo "clearcap lab: not root, and this kernel allows no unprivileged user namespace" \
		     "(sysctl kernel.unprivileged_userns_clone / user.max_user_namespaces): run as root" >&2
		exit 1
	fi
	CLEARCAP_LAB_USERNS=1 exec unshare -Urn -- "$0" --nat-a "$NAT_A" --nat-b "$NAT_B" -w "$PREFIX" \
		${SCRIPT:+--script "$SCRIPT"} -- "$@"
fi

LAB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/clearcap-lab.XXXXXX")
declare -A NS
cleanup() {
	# The programs first (each its own process group, below): they live in the namespaces, and
	# would stay there as orphans when the lab itself is killed.
	for g in ${pa:-} ${pb:-}; do kill -TERM -- "-$g" 2>/dev/null || true; done
	for p in "${NS[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$LAB_DIR"
}
trap cleanup EXIT

# One network namespace per host, held by a sleeping process: gone with it.
for h in wan nat_a nat_b a b; do
	unshare -n sleep infinity &
	NS[$h]=$!
done
sleep 0.1
for h in "${!NS[@]}"; do export "LAB_NS_$h=${NS[$h]}"; done
# in_ns HOST CMD...: the command in that host's namespace (the PIDs are in the environment, so
# the functions work in subshells and in a --script too).
in_ns() { local h=$1; shift; local v=LAB_NS_$h; nsenter -t "${!v}" -n -- "$@"; }
in_a() { in_ns a "$@"; }
in_b() { in_ns b "$@"; }
in_wan() { in_ns wan "$@"; }
in_nat_a() { in_ns nat_a "$@"; }
in_nat_b() { in_ns nat_b "$@"; }

link() {        # link HOST_1 IF_1 ADDR_1 HOST_2 IF_2 ADDR_2
	ip link add "$2" netns "${NS[$1]}" type veth peer name "$5" netns "${NS[$4]}"
	in_ns "$1" ip addr add "$3" dev "$2"
	in_ns "$4" ip addr add "$6" dev "$5"
	in_ns "$1" ip link set "$2" up
	in_ns "$4" ip link set "$5" up
}
for h in wan nat_a nat_b a b; do
	in_ns $h ip link set lo up
	in_ns $h sysctl -qw net.ipv6.conf.all.disable_ipv6=1 2>/dev/null || true
done
link a eth0 10.0.1.2/24 nat_a lan 10.0.1.1/24
link b eth0 10.0.2.2/24 nat_b lan 10.0.2.1/24
link nat_a wan 100.64.1.2/24 wan to_a 100.64.1.1/24
link nat_b wan 100.64.2.2/24 wan to_b 100.64.2.1/24
in_a ip route add default via 10.0.1.1
in_b ip route add default via 10.0.2.1
in_nat_a ip route add default via 100.64.1.1
in_nat_b ip route add default via 100.64.2.1
for h in wan nat_a nat_b; do in_ns $h sysctl -qw net.ipv4.ip_forward=1; done

nat() {         # nat HOST KIND
	local how=masquerade
	[ "$2" = symmetric ] && how="masquerade random"
	in_ns "$1" nft add table ip lab
	in_ns "$1" nft add chain ip lab post '{ type nat hook postrouting priority 100; }'
	in_ns "$1" nft add rule ip lab post oifname wan $how
	# Only replies to what the LAN sent come in: no unsolicited packet reaches the LAN.
	in_ns "$1" nft add chain ip lab lanfilter '{ type filter hook forward priority 0; policy drop; }'
	in_ns "$1" nft add rule ip lab lanfilter iifname lan accept
	in_ns "$1" nft add rule ip lab lanfilter ct state established,related accept
	# Nor to the NAT itself: dropped before conntrack confirms an entry for it, which would
	# otherwise hold the very tuple a later outgoing mapping needs (Linux would then pick another
	# port, and hole punching would see a symmetric NAT where a cone was asked for).
	in_ns "$1" nft add chain ip lab wanin '{ type filter hook input priority 0; policy drop; }'
	in_ns "$1" nft add rule ip lab wanin iifname != wan accept
	in_ns "$1" nft add rule ip lab wanin ct state established,related accept
}
nat nat_a "$NAT_A"
nat nat_b "$NAT_B"

STUN_URL=stun:100.64.1.1:3478 TURN_URL=turn:100.64.1.1:3478 TURN_USER=lab TURN_PASS=lab
if command -v turnserver >/dev/null; then
	# Relayed addresses on an address of their own, as coturn deployments have them (with the
	# listening address as relay address too, coturn refuses ChannelBind to the other peer's relay).
	in_wan ip addr add 100.64.1.3/24 dev to_a
	nsenter -t "$LAB_NS_wan" -n -- turnserver -n --listening-ip=100.64.1.1 --relay-ip=100.64.1.3 --listening-port=3478 \
		--min-port=49160 --max-port=49400 --lt-cred-mech --user=$TURN_USER:$TURN_PASS \
		--realm=clearcap.lab --no-cli --no-tls --no-dtls --log-file="$LAB_DIR/turnserver.log" \
		--simple-log --pidfile="$LAB_DIR/turnserver.pid" >/dev/null 2>&1 &
	NS[turnserver]=$!
	# Ready when its UDP port is bound (a request sent then waits in the socket): no log line
	# says so in every version (4.6.1 never prints the "Total UDP servers" older ones did).
	for _ in $(seq 50); do
		[ -n "$(in_wan ss -Hlun src 100.64.1.1:3478 2>/dev/null)" ] && break
		sleep 0.1
	done
else
	echo "clearcap lab: coturn is not installed: no STUN/TURN server in the WAN" >&2
fi
echo "clearcap lab: A 10.0.1.2 behind a $NAT_A NAT (100.64.1.2), B 10.0.2.2 behind a $NAT_B NAT" \
     "(100.64.2.2), STUN/TURN 100.64.1.1:3478 (user $TURN_USER, password $TURN_PASS)" >&2

export STUN_URL TURN_URL TURN_USER TURN_PASS LAB_DIR CLEARCAP
export -f in_ns in_a in_b in_wan in_nat_a in_nat_b
if [ -n "$SCRIPT" ]; then
	rc=0
	bash "$SCRIPT" || rc=$?
	exit $rc
fi
[ -n "$CLEARCAP" ] || { echo "clearcap lab: the clearcap command is not found" >&2; exit 1; }
# Each program in a process group of its own (job control), so that cleanup reaches all of it.
set -m
in_a "$CLEARCAP" -w "$PREFIX-a.pcapng" -- sh -c "$1" &
pa=$!
in_b "$CLEARCAP" -w "$PREFIX-b.pcapng" -- sh -c "$2" &
pb=$!
set +m
rc=0
wait $pa || rc=$?
pa=
wait $pb || rc=$?
pb=
exit $rc
