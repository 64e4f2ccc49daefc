"""Capture selection: tcpdump filter expressions (CLEARCAP_FILTER, clearcap -f) run on each
synthesized frame, and classes (CLEARCAP_CAPTURE, --capture), on real programs; what is stored
is checked with tshark and with tcpdump applying the same expression to the file."""
import os

import cclib
from cclib import eq, ok, tshark

QUICK = ["test_filter_rtp_byte_test_via_wrapper", "test_filter_bad_expression", "test_capture_bad_class"]

# A UDP "media" sender: N RTP-looking datagrams (version 2) and N others, to a receiver socket in
# the same process, so each datagram is captured twice (sent and received).
SENDER = r"""
import socket, struct, sys
n = int(sys.argv[1])
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); rx.bind(("127.0.0.1", 0))
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); tx.bind(("127.0.0.1", 0))
for i in range(n):
    rtp = struct.pack("!BBHII", 0x80, 0, i, i * 160, 0x1234) + b"\xff" * 160
    tx.sendto(rtp, rx.getsockname()); rx.recv(2048)
    tx.sendto(b"plain %d" % i, rx.getsockname()); rx.recv(2048)
print("sent", 2 * n, tx.getsockname()[1], rx.getsockname()[1])
"""
N = 25


def send(env, cap, extra=None):
    p = cclib.py(env, SENDER, cap, extra, args=[str(N)])
    _, total, txport, rxport = p.stdout.split()
    return p, int(txport), int(rxport)


def test_filter_rtp_byte_test_via_wrapper(env):
    """clearcap -f 'udp[8] & 0xc0 = 0x80': the RTP version bits, exactly as tcpdump means it."""
    cap = env.path("rtp.pcapng")
    expr = "udp[8] & 0xc0 = 0x80"
    p = cclib.run([env.tool, "-w", cap, "-f", expr, "--", cclib.PY, "-c", SENDER, str(N)],
                  env=env.env(None, preload=False))
    ok(p.stdout.startswith("sent %d" % (2 * N)), "the program ran: %r" % p.stdout)
    eq(cclib.tshark_count(cap), 2 * N, "sent and received RTP stored, nothing else")
    eq(cclib.tshark_count(cap, "rtp.version == 2 || udp.payload[0] == 0x80"), 2 * N, "all of it RTP-looking")
    eq(cclib.tcpdump_count(cap, expr), 2 * N, "tcpdump applies the same expression to every record")
    ok("%d not selected" % (2 * N) in p.stderr, "the summary counts what the filter declined: %s" % p.stderr)


def test_filter_outbound_and_port(env):
    """'outbound and udp dst port P' in the environment: only what the program sent to P."""
    cap = env.path("out.pcapng")
    # The receiver's port is unknown before the run: filter on the direction first.
    p, tx, rx = send(env, cap, {"CLEARCAP_FILTER": "outbound"})
    eq(cclib.tshark_count(cap), 2 * N, "only the sends")
    eq(cclib.tshark_count(cap, "sll.pkttype == 4"), 2 * N, "all outgoing")
    cap2 = env.path("port.pcapng")
    p, tx, rx = send(env, cap2, {"CLEARCAP_FILTER": "inbound and udp src portrange 1-65535 and not udp[8] = 0x80"})
    eq(cclib.tshark_count(cap2), N, "the received non-RTP datagrams only")
    eq([r[0] for r in tshark(cap2, ["sll.pkttype"])], ["0"] * N, "inbound")


def test_filter_declined_counted(env):
    """Every datagram a header filter declines is counted in the summary, whichever way it went
    (the first of a flow on the usual path, the rest in the hot lane)."""
    cap = env.path("in.pcapng")
    p = cclib.run([env.tool, "-w", cap, "-f", "inbound", "--", cclib.PY, "-c", SENDER, str(N)],
                  env=env.env(None, preload=False))
    eq(cclib.tshark_count(cap), 2 * N, "the received datagrams only")
    eq([r[0] for r in tshark(cap, ["sll.pkttype"])], ["0"] * (2 * N), "inbound")
    ok("%d not selected by the filter" % (2 * N) in p.stderr, "the sends counted: %s" % p.stderr)
    # A filter that keeps nothing: the summary says nothing was captured and why, as --capture's does.
    p = cclib.run([env.tool, "-w", env.path("none.pcapng"), "-f", "udp port 1", "--", cclib.PY, "-c", SENDER,
                   str(N)], env=env.env(None, preload=False))
    ok("nothing was captured: the filter declined %d packets and kept none" % (4 * N) in p.stderr, p.stderr)


# One unconnected socket sending runs of ten to two ports by turns, its TOS changed twice in the
# middle of a run: the headers change between datagrams, and sometimes only in the TOS.
FLOWS = r"""
import socket
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.bind(("127.0.0.1", 40001))
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b.bind(("127.0.0.1", 40002))
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(90):
    if i in (35, 65):
        tx.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0xb8 if i == 35 else 0)
    dst = a if i // 10 % 2 else b
    tx.sendto(b"m%d-" % i + b"x" * (i % 50), dst.getsockname())
    if i % 10 == 9:
        for _ in range(10):
            dst.recv(100)
print("sent 90")
"""


def test_filter_follows_each_datagrams_headers(env):
    """A filter on the headers is answered once per flow on the program's thread (and one on
    lengths per datagram): with the port and the TOS changing between datagrams, what is kept is
    exactly what tcpdump keeps when given the same expression and everything."""
    everything = env.path("all.pcapng")
    p = cclib.py(env, FLOWS, everything)
    eq(p.stdout.strip(), "sent 90", "the program ran")
    eq(cclib.tshark_count(everything), 180, "sent and received, unfiltered")
    for expr in ("udp dst port 40001 and ip[1] & 0xfc = 0xb8",
                 "outbound and (udp dst port 40001 or (udp dst port 40002 and greater 90))"):
        cap = env.path("f.pcapng")
        if os.path.exists(cap):
            os.unlink(cap)
        p = cclib.py(env, FLOWS, cap, {"CLEARCAP_FILTER": expr})
        eq(p.stdout.strip(), "sent 90", "the program ran")
        want = cclib.run(["tcpdump", "-n", "-r", everything, "-w", env.path("ref.pcapng"), expr])
        ref = [r[0] for r in tshark(env.path("ref.pcapng"), ["data.data"], None, ["-d", "udp.port==40001,data",
                                                                                   "-d", "udp.port==40002,data"])]
        got = [r[0] for r in tshark(cap, ["data.data"], None, ["-d", "udp.port==40001,data",
                                                              "-d", "udp.port==40002,data"])]
        ok(0 < len(ref) < 180, "%s: a part of the traffic (%d)" % (expr, len(ref)))
        eq(got, ref, expr)
        eq(cclib.tcpdump_count(cap, expr), len(got), "tcpdump keeps every record of %s" % expr)


def bad_setting(env, var, value, quoted):
    """A bad value: one line naming the variable and quoting what is wrong; the program runs
    uncaptured and unchanged."""
    cap = env.path("bad.pcapng")
    p, _, _ = send(env, cap, {var: value})
    lines = [l for l in p.stderr.splitlines() if "clearcap" in l]
    eq(len(lines), 1, "one line: %r" % p.stderr)
    ok(var in lines[0] and quoted in lines[0], "names the variable and quotes: %s" % lines[0])
    ok(not os.path.exists(cap), "nothing captured")


def test_filter_bad_expression(env):
    bad_setting(env, "CLEARCAP_FILTER", "udp prot 3478", "udp prot 3478")


def test_capture_bad_class(env):
    bad_setting(env, "CLEARCAP_CAPTURE", "rtp,srtp", "'srtp'")


def test_capture_rtp_class(env):
    """CLEARCAP_CAPTURE=rtp keeps the RTP datagrams (first byte 128-191, RFC 7983) only."""
    cap = env.path("rtp.pcapng")
    send(env, cap, {"CLEARCAP_CAPTURE": "rtp"})
    eq(cclib.tshark_count(cap), 2 * N, "RTP only")
    eq(cclib.tcpdump_count(cap, "udp[8] & 0xc0 = 0x80"), 2 * N, "tcpdump agrees")


# Runs of four datagrams of one kind each, sent to and received from one peer (so that the
# second of each run on may take the hot lanes both ways), starting with a declined run before
# anything is stored (the writer not yet started).
RUNS = r"""
import socket, struct, sys
runs = sys.argv[1] if len(sys.argv) > 1 else "orcsdhrocszsz"
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); rx.bind(("127.0.0.1", 0))
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); tx.bind(("127.0.0.1", 0))
kinds = {
    "o": lambda i: b"x-other-%d" % i,                                               # 120: TURN or other
    "r": lambda i: struct.pack("!BBHII", 0x80, 0x60, i, i, 0x1234) + b"rtp-%d" % i,  # RTP
    "c": lambda i: struct.pack("!BBHI", 0x80, 200, 6, 0x1234) + b"rtcp-%d" % i,     # RTCP, same first byte
    "s": lambda i: struct.pack("!HHI", 1, 0, 0x2112A442) + b"%012d" % i,            # STUN Binding
    "d": lambda i: bytes([23, 0xfe, 0xfd]) + b"app-%d" % i,                         # DTLS application data
    "h": lambda i: bytes([0xc5]) + b"high-%d" % i,                                  # other
    "z": lambda i: bytes([i]) + b"-zero-%d-no-stun-cookie" % i,                      # STUN's 0-3: other
}
kept = []
for k in runs:
    for i in range(4):
        tx.sendto(kinds[k](i), rx.getsockname()); rx.recv(2048)
        if k in "rs":
            kept.append(kinds[k](i).hex())
print(len(runs) * 4, " ".join(kept))
"""


def test_capture_classes_in_runs(env):
    """CLEARCAP_CAPTURE=stun,rtp on runs of RTP, RTCP (RTP's first byte), STUN, DTLS application
    data and other datagrams, sent and received: exactly the RTP and STUN ones are stored, each
    direction once, and every other one is counted as not selected, whether the usual path or a
    hot lane declined it (from the first byte alone, even before the writer started)."""
    cap = env.path("runs.pcapng")
    p = cclib.run([env.tool, "-w", cap, "--capture", "stun,rtp", "--", cclib.PY, "-c", RUNS],
                  env=env.env(None, preload=False))
    n, *kept = p.stdout.split()
    n = int(n)
    rows = tshark(cap, ["sll.pkttype", "udp.payload"])
    want = [(d, x) for x in kept for d in ("0", "4")]
    eq(sorted((r[0], r[1]) for r in rows), sorted(want), "the RTP and STUN datagrams, sent and received, each once")
    declined = 2 * n - len(want)
    ok("%d not selected by --capture" % declined in p.stderr,
       "%d declined, counted, and by what: %s" % (declined, p.stderr))
    # Everything declined: the writer never starts, and the summary still says what happened.
    p = cclib.run([env.tool, "-w", env.path("none.pcapng"), "--capture", "stun,rtp", "--", cclib.PY, "-c", RUNS,
                   "odhz"], env=env.env(None, preload=False))
    ok("the selection (--capture) declined 32 packets and kept none" in p.stderr, p.stderr)


def webrtc(env, cap, classes):
    import test_webrtc
    test_webrtc.run_session(env, cap, extra={"CLEARCAP_CAPTURE": classes})


def test_capture_handshakes_of_a_webrtc_session(env):
    """stun,dtls-handshake on a real WebRTC session: ICE and the DTLS handshake, no application
    data, no plaintext — what someone debugging a failed connection wants and nothing more."""
    cap = env.path("hs.pcapng")
    webrtc(env, cap, "stun,dtls-handshake")
    total = cclib.tshark_count(cap)
    ok(total > 0, "something stored")
    eq(cclib.tshark_count(cap, "stun || dtls.handshake || dtls.record.content_type == 20 || "
                               "dtls.record.content_type == 21"), total, "only ICE and DTLS handshake records")
    ok(cclib.tshark_count(cap, "dtls.handshake.type == 1") >= 1, "the ClientHello is there")
    ok(cclib.tshark_count(cap, "stun.type.method == 0x001") >= 2, "ICE checks are there")
    eq(cclib.tshark_count(cap, "frame.interface_name != \"wire\""), 0, "no plaintext")


def test_capture_decrypted_data_channel_only(env):
    """sctp: the decrypted data channel only (IP/SCTP on the plaintext interface)."""
    cap = env.path("sctp.pcapng")
    webrtc(env, cap, "sctp")
    total = cclib.tshark_count(cap)
    ok(total > 0, "something stored")
    eq(cclib.tshark_count(cap, "sctp && frame.interface_name == \"plaintext\""), total, "plaintext SCTP only")
    ok(cclib.tshark_count(cap, "rtcdc.message_type == 0x03") >= 1, "DCEP open is there")
