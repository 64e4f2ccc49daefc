"""TURN: a real TURN server (coturn's turnserver), its test client (turnutils_uclient) and echo
peer (turnutils_peer), all three under the shim writing one file.  The wire shows the Allocate
401 challenge and success, CreatePermission, ChannelBind and ChannelData (or Send/Data
indications); the client's relayed datagrams also appear unwrapped on the `relay` interface,
addressed between its relayed transport address and the peer, with the bytes the peer got.

Everything runs on 127.0.0.1; coturn needs --allow-loopback-peers for that."""
import os
import subprocess
import time

import cclib
from cclib import eq, ok, tshark

# Under ASan the lying server covers the TURN follower; the coturn session runs under TSan.
QUICK = ["test_turn_hostile_server"]
TSAN = ["test_turn_udp_channels", "test_turn_allocate_while_receiving"]

USER, PASSWORD, REALM = "alice", "secret", "clearcap.test"
MESSAGES = 8
LENGTH = 120


class Turn:
    """turnserver and turnutils_peer running under the shim until stop()."""

    def __init__(self, env, cap, extra=None, tcp=False):
        for tool in ("turnserver", "turnutils_uclient", "turnutils_peer"):
            cclib.need(tool)
        self.env = env
        self.cap = cap
        self.extra = extra or {}
        self.port = cclib.free_port(cclib.socket.SOCK_STREAM if tcp else cclib.socket.SOCK_DGRAM)
        self.peer_port = cclib.free_port()
        e = env.env(cap, self.extra)
        self.log = open(env.path("turnserver.log"), "w")
        self.server = subprocess.Popen(
            ["turnserver", "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
             "--listening-port=%d" % self.port, "--min-port=40000", "--max-port=40999",
             "--lt-cred-mech", "--user=%s:%s" % (USER, PASSWORD), "--realm=" + REALM,
             "--allow-loopback-peers", "--no-cli", "--no-tls", "--no-dtls", "--log-file=stdout",
             "--simple-log", "--pidfile=" + env.path("turnserver.pid")],
            stdout=self.log, stderr=subprocess.STDOUT, env=e)
        self.peer = subprocess.Popen(["turnutils_peer", "-L", "127.0.0.1", "-p", str(self.peer_port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=e)
        cclib.wait_for_port(self.port, udp=not tcp)
        time.sleep(0.3)

    def client(self, *flags, env_extra=None, tool=None):
        """Runs turnutils_uclient with flags; with tool, through the clearcap wrapper."""
        args = ["turnutils_uclient", "-p", str(self.port), "-u", USER, "-w", PASSWORD, "-e", "127.0.0.1",
                "-r", str(self.peer_port), "-n", str(MESSAGES), "-l", str(LENGTH), "-c", "-X"] + list(flags) + \
               ["127.0.0.1"]
        if tool:
            return cclib.run(tool + args, env=self.env.env(None, env_extra, preload=False), timeout=40)
        e = self.env.env(self.cap, dict(self.extra, **(env_extra or {})))
        return cclib.run(args, env=e, timeout=40)

    @classmethod
    def session(cls, env, cap, extra=None, *flags, tcp=False):
        """Server, peer and one client run with flags; returns the stopped Turn."""
        turn = cls(env, cap, extra, tcp=tcp)
        try:
            turn.client(*flags)
        finally:
            turn.stop()
        return turn

    def stop(self):
        # Records reach the file within 100 ms (the durability contract); SIGTERM's default action
        # loses what is younger, which here could be the peer's last receive.
        time.sleep(0.15)
        for p in (self.server, self.peer):
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.log.close()


def relayed_address(cap):
    rows = tshark(cap, ["stun.att.ipv4", "stun.att.port"],
                  "stun.type.method == 0x003 && stun.type.class == 0x10 && frame.interface_name == \"wire\"")
    ok(rows, "an Allocate success response on the wire")
    # The first XOR address is XOR-RELAYED-ADDRESS in coturn's answer (XOR-MAPPED comes second).
    return rows[-1][0].split(",")[0], rows[-1][1].split(",")[0]


def check_relay(env, cap, turn, indications=False):
    # The control exchange on the wire, in order: 401 challenge, then success.
    methods = tshark(cap, ["stun.type.method", "stun.type.class", "stun.att.error.class", "stun.att.error"],
                     "frame.interface_name == \"wire\" && stun && !stun.channel")
    cls = {0: "request", 1: "indication", 0x10: "success", 0x11: "error"}
    seq = [(int(m, 16), cls[int(c, 16)], int(ec.split(",")[0] or 0) * 100 + int(en.split(",")[0] or 0))
           for m, c, ec, en in methods]
    ok((3, "error", 401) in seq, "Allocate 401 challenge: %s" % seq[:6])
    first_401 = seq.index((3, "error", 401))
    first_ok = next(i for i, s in enumerate(seq) if s[:2] == (3, "success"))
    ok(first_401 < first_ok, "the 401 comes before the Allocate success")
    ok((8, "success", 0) in seq, "CreatePermission success on the wire")
    if not indications:
        ok((9, "success", 0) in seq, "ChannelBind success on the wire")

    rip, rport = relayed_address(cap)
    peer = ("127.0.0.1", str(turn.peer_port))
    relay = tshark(cap, ["ip.src", "udp.srcport", "ip.dst", "udp.dstport", "sll.pkttype", "udp.payload"],
                   "frame.interface_name == \"relay\"")
    out = [r for r in relay if r[4] == "4"]
    inc = [r for r in relay if r[4] == "0"]
    eq(len(out), MESSAGES, "relayed datagrams sent, unwrapped")
    eq(len(inc), MESSAGES, "relayed datagrams received, unwrapped")
    for r in out:
        eq((r[0], r[1], r[2], r[3]), (rip, rport) + peer, "outgoing relay copy addressed relayed -> peer")
    for r in inc:
        eq((r[0], r[1], r[2], r[3]), peer + (rip, rport), "incoming relay copy addressed peer -> relayed")

    # The peer's own wire view (it is captured too): the same bytes it received from the relay.
    at_peer = tshark(cap, ["udp.payload"], "frame.interface_name == \"wire\" && sll.pkttype == 0 && "
                     "udp.dstport == %d && ip.src == %s && udp.srcport == %s" % (turn.peer_port, rip, rport))
    eq(sorted(r[5] for r in out), sorted(r[0] for r in at_peer), "relay copies carry what the peer received")
    # And the client side wire: the framing that carried them.
    framing = "stun.channel" if not indications else "stun.type.method == 0x006"
    eq(cclib.tshark_count(cap, "frame.interface_name == \"wire\" && sll.pkttype == 4 && udp.dstport == %d && %s"
                          % (turn.port, framing)), MESSAGES,
       "client's wire datagrams carrying the relayed data")


def test_turn_udp_channels(env):
    cap = env.path("turn.pcapng")
    turn = Turn.session(env, cap)
    ok(cclib.capinfos_ok(cap)[0], "valid capture")
    check_relay(env, cap, turn)


def test_turn_udp_send_indications(env):
    cap = env.path("turn.pcapng")
    turn = Turn.session(env, cap, None, "-s")
    check_relay(env, cap, turn, indications=True)


def test_turn_tcp_channels(env):
    """TURN over TCP (RFC 8656 section 12.5 framing): frames reassembled across the client's
    send/recv calls, the relayed UDP datagrams unwrapped all the same."""
    cap = env.path("turn-tcp.pcapng")
    turn = Turn.session(env, cap, None, "-t", tcp=True)
    ok(cclib.capinfos_ok(cap)[0], "valid capture")
    rip, rport = relayed_address(cap)
    peer = ("127.0.0.1", str(turn.peer_port))
    relay = tshark(cap, ["ip.src", "udp.srcport", "ip.dst", "udp.dstport", "sll.pkttype", "udp.payload"],
                   "frame.interface_name == \"relay\"")
    eq(sorted(r[4] for r in relay), ["0"] * MESSAGES + ["4"] * MESSAGES, "relayed datagrams both ways")
    for r in relay:
        want = (rip, rport) + peer if r[4] == "4" else peer + (rip, rport)
        eq(tuple(r[:4]), want, "relay copy addressed between relayed address and peer")
    at_peer = tshark(cap, ["udp.payload"], "frame.interface_name == \"wire\" && sll.pkttype == 0 && "
                     "udp.dstport == %d && udp.srcport == %s" % (turn.peer_port, rport))
    eq(sorted(r[5] for r in relay if r[4] == "4"), sorted(r[0] for r in at_peer), "the bytes the peer got")
    ok(cclib.tshark_count(cap, "tcp.dstport == %d && stun.channel" % turn.port) >= 1,
       "ChannelData over TCP on the wire (tshark reassembles the stream)")


def test_turn_filter_relay_only(env):
    """CLEARCAP_FILTER 'ifindex 3' keeps exactly the relay interface, checked by tcpdump too."""
    cap = env.path("relay.pcapng")
    Turn.session(env, cap, {"CLEARCAP_FILTER": "ifindex 3"})
    n = cclib.tshark_count(cap)
    eq(n, 2 * MESSAGES, "only the relay copies are stored")
    eq(cclib.tcpdump_count(cap, "ifindex 3"), n, "tcpdump agrees: all of them are ifindex 3")


def test_turn_capture_classes(env):
    """CLEARCAP_CAPTURE=turn stores the TURN control and ChannelData, not the peer's plain UDP."""
    cap = env.path("classes.pcapng")
    Turn.session(env, cap, {"CLEARCAP_CAPTURE": "turn,wire"})
    total = cclib.tshark_count(cap)
    ok(total > 0, "something stored")
    eq(cclib.tshark_count(cap, "!stun"), 0, "nothing but TURN (STUN framing) stored")
    eq(cclib.tshark_count(cap, "frame.interface_name != \"wire\""), 0, "wire only")
    ok(cclib.tshark_count(cap, "stun.channel") >= 2 * MESSAGES, "ChannelData kept")
    ok(cclib.tshark_count(cap, "stun.type.method == 0x003") >= 4, "Allocate exchange kept")


# The relay gets an address of its own, so relayed flows cannot be mistaken for host ones.
TURN_PRELUDE = r"""
ip addr add 10.200.0.3/24 dev v0
turnserver -n --listening-ip=10.200.0.1 --relay-ip=10.200.0.3 --listening-port=3478 \
  --min-port=41000 --max-port=41100 --lt-cred-mech --user=alice:secret --realm=clearcap.test \
  --no-cli --no-tls --no-dtls --log-file="$TMPD/turnserver.log" --simple-log --pidfile="$TMPD/ts.pid" \
  >/dev/null 2>&1 &
trap 'kill %1 2>/dev/null' EXIT
for i in $(seq 50); do grep -q "Total UDP servers" "$TMPD/turnserver.log" 2>/dev/null && break; sleep 0.1; done
sleep 0.3
"""


def test_webrtc_through_turn(env):
    """Two aiortc peers allowed only relayed candidates, through coturn, all in one file: the ICE
    checks, the DTLS handshake and the decrypted data channel carry the relayed addresses of the
    candidate pair, not the TURN server's."""
    import test_webrtc
    cclib.need("turnserver")
    cap = env.path("relayed.pcapng")
    test_webrtc.run_session(env, cap, mode="relay", prelude=TURN_PRELUDE)
    relayed = set()
    for ip, port in tshark(cap, ["stun.att.ipv4", "stun.att.port"],
                           "frame.interface_name == \"wire\" && stun.type.method == 0x003 && stun.type.class == 0x10 "
                           "&& udp.srcport == 3478"):
        relayed.add((ip.split(",")[0], port.split(",")[0]))
    ok(len(relayed) >= 2, "two allocations: %s" % relayed)
    pair = lambda r: {(r[0], r[1]), (r[2], r[3])}
    fields = ["ip.src", "udp.srcport", "ip.dst", "udp.dstport"]
    # ICE checks and DTLS through the relay, unwrapped between the two relayed addresses.
    checks = tshark(cap, fields, "frame.interface_name == \"relay\" && stun.type.method == 0x001")
    ok(checks, "ICE connectivity checks on the relay interface")
    for r in checks:
        # A check may also come from a candidate the peer did not signal (peer-reflexive): one end
        # is always our relayed address.
        ok(pair(r) & relayed, "ICE check through a relayed address: %s" % (r,))
    ok(any(pair(r) <= relayed for r in checks), "checks between the two relayed addresses")
    hs = tshark(cap, fields, "frame.interface_name == \"relay\" && dtls.handshake")
    ok(hs, "the DTLS handshake on the relay interface")
    for r in hs:
        ok(pair(r) <= relayed, "DTLS between relayed addresses: %s" % (r,))
    # The decrypted data channel: SCTP (its own ports, 5000) between the relayed addresses' IP.
    msgs = tshark(cap, ["ip.src", "ip.dst", "data.data"],
                  "frame.interface_name == \"plaintext\" && sctp.data_payload_proto_id == 51")
    ok(len(msgs) >= 12, "decrypted data-channel messages of both peers (%d)" % len(msgs))
    relay_ips = {ip for ip, port in relayed}
    eq(relay_ips, {"10.200.0.3"}, "relayed addresses on the relay IP")
    for r in msgs:
        ok({r[0], r[1]} <= relay_ips, "plaintext SCTP on the relayed pair: %s" % (r,))
    texts = [bytes.fromhex(r[2].replace(":", "")).decode(errors="replace") for r in msgs if r[2]]
    ok(any(t == "echo: hello 4 from the offerer" for t in texts), "the echoed text is readable: %s" % texts[:3])


HOSTILE_CLIENT = r"""
import random, socket, struct, sys
COOKIE = 0x2112A442
rnd = random.Random(11)
def attr(t, v):
    return struct.pack("!HH", t, len(v)) + v + b"\0" * ((4 - len(v) % 4) % 4)
def xaddr(port):
    return b"\x00\x01" + struct.pack("!H", port ^ (COOKIE >> 16)) + bytes(a ^ b for a, b in zip(b"\x7f\0\0\x01", struct.pack("!I", COOKIE)))
def stun(method, cls, attrs, lie=0):
    t = (method & 0xF) | ((method & 0x70) << 1) | ((method & 0xF80) << 2) | ((cls & 1) << 4) | ((cls & 2) << 7)
    body = b"".join(attrs)
    return struct.pack("!HHI", t, len(body) + lie, COOKIE) + bytes(12) + body
srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); srv.bind(("127.0.0.1", 0))
cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); cli.bind(("127.0.0.1", 0))
cli.connect(srv.getsockname())
got = []
def exchange(out, answers):
    cli.send(out)
    srv.recvfrom(70000)
    for a in answers:
        srv.sendto(a, cli.getsockname())
        # Two buffers: the shim must parse a datagram split across iovecs.
        b1, b2 = bytearray(7), bytearray(70000)
        n = cli.recvmsg_into([b1, b2])[0]
        got.append(bytes(b1 + b2)[:n])
# The allocation, answered by lies first and the truth last.
exchange(stun(3, 0, [attr(0x19, b"\x11\0\0\0")]), [
    stun(3, 2, [attr(0x16, b"\x00\x01")]),                    # XOR-RELAYED-ADDRESS cut short
    stun(3, 2, [attr(0x16, xaddr(49152))], lie=40),           # length beyond the datagram
    stun(3, 2, [attr(0x16, b"\x00\x02" + b"\0" * 6)]),        # IPv6 family, IPv4 size
    stun(3, 2, [attr(0x16, xaddr(49152)), attr(0x20, xaddr(1))])])
exchange(stun(9, 0, [attr(0x0C, b"\x40\x00\0\0"), attr(0x12, xaddr(5000))]), [stun(9, 2, [])])
exchange(stun(9, 0, [attr(0x0C, b"\xff\xff\0\0"), attr(0x12, b"\x00")]), [stun(9, 3, [])])
# ChannelData and Data indications that lie about their lengths, and honest ones.
hostile = [b"\x40\x00\xff\xff" + bytes(8), b"\x40\x00\x00\x00", b"\x40\x00\x00\x04" + b"ok!!", b"\x7f\xff\x00\x02ab",
           stun(7, 1, [attr(0x12, xaddr(5000))]), stun(7, 1, [attr(0x13, b"data")]),
           stun(7, 1, [attr(0x12, xaddr(5000)), attr(0x13, b"x" * 100)], lie=-20),
           stun(7, 1, [attr(0x12, xaddr(5000)), attr(0x13, b"indicated")]),
           b"\x40\x00\xff\xfb" + bytes(65499)]
hostile += [bytes([rnd.choice([0, 1, 0x40, 0x4f, 0x50, 0x7f])]) + bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 300))) for _ in range(200)]
exchange(b"\x40\x00\x00\x04ping", hostile)
print(len(got), sum(map(len, got)), flush=True)
"""


def test_turn_hostile_server(env):
    """A client under the shim allocates on a lying 'server': broken XOR-RELAYED-ADDRESS, lengths
    beyond the datagram, bogus channels and indications, a 64 KiB ChannelData, datagrams split
    across two receive buffers.  The program's results are untouched; the relay copies written are
    only the honest ones."""
    cap = env.path("hostile.pcapng")
    p = cclib.run([cclib.PY, "-c", HOSTILE_CLIENT], env=env.env(cap))
    n, total = map(int, p.stdout.split())
    eq(n, 4 + 1 + 1 + 209, "every datagram received")
    eq([l for l in p.stderr.splitlines() if "clearcap" in l], [], "no clearcap line")
    ok(cclib.capinfos_ok(cap)[0], "valid capture")
    relay = tshark(cap, ["sll.pkttype", "ip.src", "udp.srcport", "ip.dst", "udp.dstport", "udp.payload"],
                   'frame.interface_name == "relay"')
    honest = {("4", "127.0.0.1", "49152", "127.0.0.1", "5000", b"ping".hex()),
              ("0", "127.0.0.1", "5000", "127.0.0.1", "49152", b"ok!!".hex()),
              ("0", "127.0.0.1", "5000", "127.0.0.1", "49152", b"indicated".hex())}
    ok(honest <= {tuple(r) for r in relay}, "the honest relayed datagrams unwrapped: %r" % relay[:5])
    for r in relay:
        ok({(r[1], r[2]), (r[3], r[4])} == {("127.0.0.1", "49152"), ("127.0.0.1", "5000")},
           "relay copies only between the relayed address and the bound peer: %r" % (r[:5],))


WAITING_RECEIVER = r"""
import socket, struct, threading, time
COOKIE = 0x2112A442
def attr(t, v):
    return struct.pack("!HH", t, len(v)) + v + b"\0" * ((4 - len(v) % 4) % 4)
def xaddr(port):
    return b"\x00\x01" + struct.pack("!H", port ^ (COOKIE >> 16)) + bytes(a ^ b for a, b in zip(b"\x7f\0\0\x01", struct.pack("!I", COOKIE)))
def stun(method, cls, attrs):
    t = (method & 0xF) | ((method & 0x70) << 1) | ((method & 0xF80) << 2) | ((cls & 1) << 4) | ((cls & 2) << 7)
    body = b"".join(attrs)
    return struct.pack("!HHI", t, len(body), COOKIE) + bytes(12) + body
def udp(addr=("127.0.0.1", 0)):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(addr)
    return s
srv, cli = udp(), udp()
got = []
def receive():
    for _ in range(4):
        got.append(cli.recv(100))
t = threading.Thread(target=receive); t.start()
for i in range(3):                      # from the server: the receiving thread's lane fills
    srv.sendto(b"plain-%d" % i, cli.getsockname()); time.sleep(0.05)
time.sleep(0.2)                         # it waits in recv now, the lane's count read
# The process's first Allocate, from a second socket on the client's address connected to the
# server (the kernel gives that one the server's answers), then a channel bound.
ctl = udp(cli.getsockname()); ctl.connect(srv.getsockname())
ctl.send(stun(3, 0, [attr(0x19, b"\x11\0\0\0")])); srv.recvfrom(100)
srv.sendto(stun(3, 2, [attr(0x16, xaddr(49152))]), cli.getsockname()); ctl.recv(100)
ctl.send(stun(9, 0, [attr(0x0C, b"\x40\x00\0\0"), attr(0x12, xaddr(5000))])); srv.recvfrom(100)
srv.sendto(stun(9, 2, []), cli.getsockname()); ctl.recv(100)
ctl.close()
srv.sendto(b"\x40\x00\x00\x04ok!!", cli.getsockname())   # to the waiting thread
t.join()
print(got[-1].hex())
"""


def test_turn_allocate_while_receiving(env):
    """A thread waits in recv on a socket whose receives took the receiving hot lane while
    another thread makes the process's first TURN allocation for that address: the ChannelData
    the waiting call returns is still unwrapped onto the relay interface."""
    cap = env.path("w.pcapng")
    p = cclib.run([cclib.PY, "-c", WAITING_RECEIVER], env=env.env(cap))
    eq(p.stdout.strip(), b"\x40\x00\x00\x04ok!!".hex(), "the program's datagram")
    eq(tshark(cap, ["udp.payload"], "sll.pkttype == 0 && udp.payload contains \"plain\"").__len__(), 3,
       "the plain datagrams received")
    relay = tshark(cap, ["sll.pkttype", "ip.src", "udp.srcport", "ip.dst", "udp.dstport", "udp.payload"],
                   'frame.interface_name == "relay"')
    eq([tuple(r) for r in relay], [("0", "127.0.0.1", "5000", "127.0.0.1", "49152", b"ok!!".hex())],
       "the ChannelData unwrapped")
