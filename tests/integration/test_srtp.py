"""Plaintext RTP from libsrtp2: GStreamer's srtpenc/srtpdec (which call only the _mki functions),
each packet in the clear on the 5-tuple of the SRTP datagram that carried it."""
import base64
import glob
import os
import socket
import subprocess
import time

import cclib
from cclib import eq, ok, tshark

QUICK = ["test_gstreamer_srtp_sdes", "test_libsrtp3_passes_through", "test_rekeyed_stream_keeps_both_key_lines",
         "test_fork_from_a_signal_handler_mid_protect"]
# (GStreamer's own threads and glib's allocator make TSan speak of them, not of us.)
TSAN = ["test_rekeyed_stream_keeps_both_key_lines"]

KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d"   # 16-byte key, 14-byte salt
SSRC = 0x4d2


def _srtp_session(env, extra=None, name=""):
    """GStreamer srtpenc -> udpsink to udpsrc -> srtpdec, both under the shim with `extra` in their
    environment.  Returns the capture, the receiver's port, the SRTP key log and the encoder's RTP
    packets (files named with `name`)."""
    cclib.need("gst-launch-1.0")
    if subprocess.run(["gst-inspect-1.0", "srtpenc"], capture_output=True).returncode != 0:
        raise cclib.Skip("GStreamer srtp elements not installed")
    cap = env.path("c%s.pcapng" % name)
    port = cclib.free_port()
    outdir = env.path("rtp" + name)
    os.mkdir(outdir)
    caps = ("application/x-srtp,media=audio,clock-rate=44100,encoding-name=L16,payload=96,ssrc=(uint)%d,"
            "srtp-key=(buffer)%s,srtp-cipher=(string)aes-128-icm,srtp-auth=(string)hmac-sha1-80,"
            "srtcp-cipher=(string)aes-128-icm,srtcp-auth=(string)hmac-sha1-80,roc=(uint)0" % (SSRC, KEY))
    keys = env.path("srtp%s.keys" % name)
    more = dict(extra or {}, CLEARCAP_SRTP_KEYLOG=keys)
    recv = subprocess.Popen(["gst-launch-1.0", "-q", "-e", "udpsrc", "port=%d" % port, "caps=" + caps, "!",
                             "srtpdec", "!", "fakesink"], env=env.env(cap, more),
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)
        # The encoder's own output is also written to files, one per RTP packet, to compare with.
        cclib.run(["gst-launch-1.0", "-q", "audiotestsrc", "num-buffers=60", "!", "audioconvert", "!",
                   "rtpL16pay", "!", "application/x-rtp,ssrc=(uint)%d" % SSRC, "!", "tee", "name=t", "!",
                   "queue", "!", "srtpenc", "key=" + KEY, "!", "udpsink", "host=127.0.0.1", "port=%d" % port,
                   "t.", "!", "queue", "!", "multifilesink", "location=" + os.path.join(outdir, "p%05d.rtp")],
                  env=env.env(cap, more), timeout=60)
        time.sleep(1.0)
    finally:
        recv.send_signal(2)
        try:
            recv.wait(timeout=10)
        except subprocess.TimeoutExpired:
            recv.kill()
            recv.wait()
    encoded = [open(f, "rb").read() for f in sorted(glob.glob(os.path.join(outdir, "*.rtp")))]
    ok(len(encoded) >= 60, "encoder produced %d packets" % len(encoded))
    return cap, port, keys, encoded


def test_gstreamer_srtp_sdes(env):
    cap, port, keys, encoded = _srtp_session(env)

    dec = ["-d", "udp.port==%d,rtp" % port]
    fields = ["sll.pkttype", "ip.src", "ipv6.src", "udp.srcport", "ip.dst", "ipv6.dst", "udp.dstport", "rtp.ssrc",
              "rtp.seq", "frame.comment", "udp.payload"]

    def rows(iface):
        out = []
        for r in tshark(cap, fields, 'frame.interface_name == "%s"' % iface, extra=dec):
            out.append([r[0], cclib.addr(r[1], r[2]), r[3], cclib.addr(r[4], r[5]), r[6], r[7], r[8], r[9], r[10]])
        return out
    wire = rows("wire")
    plain = rows("plaintext")
    eq(len(wire), 2 * len(encoded), "every SRTP packet sent and received")
    eq(len(plain), 2 * len(encoded), "every packet in the clear, in both processes")
    wire_keys = {(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in wire}
    pids = set()
    for r in plain:
        ok(tuple(r[:7]) in wire_keys, "plaintext %r matches a wire SRTP packet (SSRC, seq, 5-tuple)" % r[:7])
        ok("flow from SRTP packet" in r[7], r[7])
        eq(int(r[5], 16), SSRC, "SSRC")
        pids.add(r[7].split()[1])
    eq(len(pids), 2, "both processes")
    # What the encoder produced is what the sender's plaintext and the receiver's plaintext hold.
    by_seq = {}
    for r in plain:
        by_seq.setdefault((r[0], int(r[6])), bytes.fromhex(r[8]))
    for pkt in encoded:
        seq = int.from_bytes(pkt[2:4], "big")
        eq(by_seq.get(("4", seq)), pkt, "sent plaintext = encoder output (seq %d)" % seq)
        eq(by_seq.get(("0", seq)), pkt, "received plaintext = encoder output (seq %d)" % seq)
    # The SDES key both processes were given in their srtp_create/srtp_add_stream policies, which
    # name no flow: each key line waits for its first packet and names that packet's flow, once.
    want = "AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(bytes.fromhex(KEY)).decode()
    lines = open(keys).read().splitlines()
    sent = [r for r in wire if r[0] == "4"][0]
    src, dst = "%s:%s" % (sent[1], sent[2]), "%s:%s" % (sent[3], sent[4])
    eq(sorted(lines), sorted(["SRTP %s %s outbound %s" % (src, dst, want), "SRTP %s %s inbound %s" % (dst, src, want)]),
       "the sender's and the receiver's key, each once, on the flow")
    # The pcapng carries the keys too: the first plaintext packet of each flow and direction has the
    # key line, with the flow's addresses, in its comment.
    notes = [c for c in (r[7] for r in plain) if "; SRTP " in c]
    eq(len(notes), 2, "one key line per flow and direction: %r" % notes[:4])
    for r in plain:
        if "; SRTP " not in r[7]:
            continue
        line = r[7][r[7].index("; SRTP ") + 2:]
        out = r[0] == "4"
        local = "%s:%s" % ((r[1], r[2]) if out else (r[3], r[4]))
        peer = "%s:%s" % ((r[3], r[4]) if out else (r[1], r[2]))
        eq(line, "SRTP %s %s %s %s" % (local, peer, "outbound" if out else "inbound", want), "key line in the pcapng")
    # tshark's RTP stream analysis of the plaintext alone: no loss.
    st = cclib.run(["tshark", "-n", "-r", cap, "-q", "-Y", 'frame.interface_name == "plaintext"', "-z", "rtp,streams"]
                   + dec).stdout
    ok("0x000004D2" in st.upper() or "0X000004D2" in st.upper(), st)


def test_srtp_plaintext_flows_without_wire_copies(env):
    """Plaintext only, chosen by class or by filter: the wire copies are not written, yet each
    plaintext still takes the 5-tuple of its SRTP datagram (matching sees what is not written)."""
    for name, how in (("-class", {"CLEARCAP_CAPTURE": "plaintext"}), ("-filter", {"CLEARCAP_FILTER": "ip6"})):
        cap, port, _, encoded = _srtp_session(env, how, name)
        rows = tshark(cap, ["frame.interface_name", "ipv6.src", "udp.srcport", "ipv6.dst", "udp.dstport",
                            "frame.comment"])
        ok(rows, "%r: something captured" % how)
        eq({r[0] for r in rows}, {"plaintext"}, "%r: only the plaintext interface" % how)
        eq(len(rows), 2 * len(encoded), "%r: every packet in the clear, in both processes" % how)
        for r in rows:
            ok("flow from SRTP packet" in r[5], "%r: %r" % (how, r[5]))
            eq(r[4], str(port), "%r: to the receiver's port" % how)
            eq((r[1], r[3]), ("::ffff:127.0.0.1", "::ffff:127.0.0.1"), "%r: real addresses" % how)


def test_unprotect_failures_reported(env):
    """A receiver with the wrong key: no plaintext, and the failures are reported per flow and
    reason at exit and counted in the wrapper's summary."""
    if subprocess.run(["gst-inspect-1.0", "srtpdec"], capture_output=True).returncode != 0:
        raise cclib.Skip("GStreamer srtp elements not installed")
    cap = env.path("c.pcapng")
    port = cclib.free_port()
    wrong = KEY[:-2] + "ff"
    caps = ("application/x-srtp,media=audio,clock-rate=44100,encoding-name=L16,payload=96,ssrc=(uint)%d,"
            "srtp-key=(buffer)%s,srtp-cipher=(string)aes-128-icm,srtp-auth=(string)hmac-sha1-80,"
            "srtcp-cipher=(string)aes-128-icm,srtcp-auth=(string)hmac-sha1-80,roc=(uint)0" % (SSRC, wrong))
    recv = subprocess.Popen([env.tool, "-w", cap, "--", "gst-launch-1.0", "-q", "udpsrc", "port=%d" % port,
                             "num-buffers=40", "caps=" + caps, "!", "srtpdec", "!", "fakesink"],
                            env=env.env(preload=False), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        cclib.run(["gst-launch-1.0", "-q", "audiotestsrc", "num-buffers=40", "!", "audioconvert", "!",
                   "rtpL16pay", "!", "application/x-rtp,ssrc=(uint)%d" % SSRC, "!", "srtpenc", "key=" + KEY, "!",
                   "udpsink", "host=127.0.0.1", "port=%d" % port], env=env.env(preload=False), timeout=60)
        out, err = recv.communicate(timeout=30)
    finally:
        if recv.poll() is None:
            recv.kill()
            recv.wait()
    lines = [l for l in err.splitlines() if l.startswith("clearcap:")]
    fail = [l for l in lines if "srtp_unprotect failed" in l]
    eq(len(fail), 1, "one line for the one flow: %r" % lines)
    ok("> 127.0.0.1:%d: auth_fail=40" % port in fail[0], fail[0])
    summary = [l for l in lines if "packets captured" in l]
    ok(len(summary) == 1 and ", 40 SRTP unprotect failures" in summary[0], lines)
    eq(tshark(cap, ["frame.number"], 'frame.interface_name == "plaintext"'), [], "no plaintext for failed packets")
    eq(len(tshark(cap, ["frame.number"], 'frame.interface_name == "wire"')), 40, "the SRTP datagrams on the wire")


FAKE_SRTP3 = r"""
/* A stand-in for libsrtp 3 (not packaged for Debian 12): its names, its ABI (sizes as size_t, the
 * protected packet in a separate buffer, an MKI index), and a record of what it was passed. */
#include <stdint.h>
#include <string.h>
#include <stddef.h>
const void *seen_ctx; const uint8_t *seen_in; size_t seen_len; uint8_t *seen_out; size_t seen_mki;
const char *srtp_get_version_string(void) { return "libsrtp3 3.0.0-clearcap-test"; }
static int op(void *ctx, const uint8_t *in, size_t len, uint8_t *out, size_t *out_len, size_t mki, uint8_t tag)
{
    seen_ctx = ctx; seen_in = in; seen_len = len; seen_out = out; seen_mki = mki;
    if (*out_len < len + 1) return 2;
    memcpy(out, in, len); out[len] = tag; *out_len = len + 1;
    return 0;
}
int srtp_protect(void *c, const uint8_t *i, size_t l, uint8_t *o, size_t *ol, size_t m) { return op(c, i, l, o, ol, m, 0xAA); }
int srtp_unprotect(void *c, const uint8_t *i, size_t l, uint8_t *o, size_t *ol) { return op(c, i, l, o, ol, 0, 0xBB); }
"""

FAKE_SRTP3_MAIN = r"""
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>
extern const void *seen_ctx; extern const uint8_t *seen_in; extern size_t seen_len; extern uint8_t *seen_out;
extern size_t seen_mki;
int srtp_protect(void *, const uint8_t *, size_t, uint8_t *, size_t *, size_t);
int srtp_unprotect(void *, const uint8_t *, size_t, uint8_t *, size_t *);
int main(void)
{
    uint8_t rtp[172] = { 0x80, 0x00, 0x12, 0x34, 0, 0, 0, 160, 0xde, 0xad, 0xbe, 0xef }, out[300];
    size_t out_len = sizeof(out);
    int ctx;
    /* Media really goes out, so a capture is under way while libsrtp 3 is called. */
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(0x7f000001) };
    sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof(a));
    int r = srtp_protect(&ctx, rtp, sizeof(rtp), out, &out_len, 7);
    if (r != 0 || seen_ctx != &ctx || seen_in != rtp || seen_len != sizeof(rtp) || seen_out != out || seen_mki != 7 ||
        out_len != sizeof(rtp) + 1 || out[sizeof(rtp)] != 0xAA || memcmp(out, rtp, sizeof(rtp)))
        { printf("protect misread: r=%d len=%zu mki=%zu\n", r, out_len, seen_mki); return 1; }
    out_len = 100;      /* too small: the library's own error must come back unchanged */
    r = srtp_unprotect(&ctx, rtp, sizeof(rtp), out, &out_len);
    if (r != 2 || out_len != 100) { printf("unprotect misread: r=%d\n", r); return 1; }
    out_len = sizeof(out);
    r = srtp_unprotect(&ctx, rtp, sizeof(rtp), out, &out_len);
    if (r != 0 || out_len != sizeof(rtp) + 1 || out[sizeof(rtp)] != 0xBB) { printf("unprotect misread\n"); return 1; }
    puts("ok");
    return 0;
}
"""


def test_libsrtp3_passes_through(env):
    """libsrtp 3 has libsrtp2's names with another ABI: every argument and result passes through
    untouched, one warning says so, and capture of the rest goes on."""
    d = env.tmp
    with open(os.path.join(d, "fake.c"), "w") as f:
        f.write(FAKE_SRTP3)
    with open(os.path.join(d, "main.c"), "w") as f:
        f.write(FAKE_SRTP3_MAIN)
    cclib.run(["gcc", "-shared", "-fPIC", "-o", os.path.join(d, "libsrtp3.so.1"), "-Wl,-soname,libsrtp3.so.1",
               os.path.join(d, "fake.c")])
    os.symlink("libsrtp3.so.1", os.path.join(d, "libsrtp3.so"))
    exe = os.path.join(d, "srtp3_user")
    cclib.run(["gcc", "-o", exe, os.path.join(d, "main.c"), "-L" + d, "-lsrtp3", "-Wl,-rpath," + d])
    cap = env.path("c.pcapng")
    p = cclib.run([exe], env=env.env(cap), check=False)
    eq((p.returncode, p.stdout.strip()), (0, "ok"), "arguments and results untouched: " + p.stderr)
    warns = [l for l in p.stderr.splitlines() if "clearcap" in l]
    eq(len(warns), 1, "one warning: %r" % warns)
    ok("libsrtp3 3.0.0" in warns[0] and "passes through" in warns[0], warns[0])
    eq(cclib.tshark_count(cap, 'frame.interface_name == "wire"'), 1, "the socket traffic is still captured")
    eq(cclib.tshark_count(cap, 'frame.interface_name == "plaintext"'), 0, "no plaintext made up from misread arguments")


def test_rekeyed_stream_keeps_both_key_lines(env):
    """aiortc's libsrtp binding (pylibsrtp) replaces a stream's key mid-session (remove_stream,
    add_stream) right after five packets: those still carry the old key's line (the writer's
    thread makes it later, from the key they were protected with), the next five the new one's."""
    _rekeyed(env, 0)


def test_rtp_marker_pt72_keeps_key_lines(env):
    """The same with the marker bit and payload type 72 (second byte 200, allowed where RTP and
    RTCP do not share a port): still RTP by the function called, so both keys' lines are there
    (the SSRC was once read where RTCP has it, and no line was written); and CLEARCAP_CAPTURE=rtp
    keeps its 20 plaintexts (they were taken for RTCP, and declined)."""
    _rekeyed(env, 0x80 | 72)
    cap = _rekeyed(env, 0x80 | 72, {"CLEARCAP_CAPTURE": "rtp"}, "sel-")
    eq(cclib.tshark_count(cap, 'frame.interface_name == "plaintext"'), 20, "RTP plaintexts kept by --capture rtp")
    # HEP with classes rtp,plaintext: the 20 plaintexts go to the collector as RTP (type 4), as
    # tshark reads them in the file (they were taken for RTCP, failed its check, and not sent).
    import test_hep
    col = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    col.bind(("127.0.0.1", 0))
    col.settimeout(5)
    try:
        cap = _rekeyed(env, 0x80 | 72, {"CLEARCAP_HEP": "udp:127.0.0.1:%d" % col.getsockname()[1],
                                        "CLEARCAP_HEP_CLASSES": "rtp,plaintext"}, "hep-")
        got = []
        while len(got) < 20:
            c = test_hep.hep_chunks(col.recv(65536))
            eq(c[11], b"\x04", "HEP protocol type 4 (RTP)")
            got.append(c[15].hex())
        col.settimeout(0.5)
        try:
            got.append(col.recv(65536).hex())
        except socket.timeout:
            pass
    finally:
        col.close()
    want = [r[0] for r in tshark(cap, ["udp.payload"], 'frame.interface_name == "plaintext"')]
    eq(len(want), 20, "plaintexts in the file")
    eq(sorted(got), sorted(want), "the plaintexts, each once, at the collector as RTP")


def _rekeyed(env, pt_byte, extra=None, name=""):
    cap = env.path(name + "c.pcapng")
    code = r"""
import os, socket, struct
from pylibsrtp import Policy, Session
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(('127.0.0.1', 0))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(r.getsockname())
ssrc = 0x1234abcd
def policy(key, direction):
    return Policy(key=key, ssrc_type=Policy.SSRC_SPECIFIC, ssrc_value=ssrc)
keys = [os.urandom(30), os.urandom(30)]
tx = Session(policy=policy(keys[0], 'out'))
rx = Session(policy=policy(keys[0], 'in'))
seq = 0
for k in range(2):
    if k:
        for sess in (tx, rx):
            sess.remove_stream(ssrc)
            sess.add_stream(policy(keys[1], None))
    for i in range(5):
        seq += 1
        rtp = struct.pack('!BBHII', 0x80, PT, seq, seq * 160, ssrc) + b'key%d pkt%d' % (k, i)
        s.send(tx.protect(rtp))
        assert rx.unprotect(r.recv(2000)) == rtp
print(' '.join(k.hex() for k in keys))
""".replace("PT", str(pt_byte))
    keys = [bytes.fromhex(k) for k in cclib.py(env, code, cap, extra).stdout.split()]
    comments = "\n".join(r[0] for r in tshark(cap, ["frame.comment"], "frame.comment contains \"inline:\""))
    for i, k in enumerate(keys):
        for direction in ("outbound", "inbound"):
            ok(any(direction in line and "inline:" + base64.b64encode(k).decode() in line
                   for line in comments.splitlines()), "key %d's %s line in the file: %r" % (i, direction, comments))
    return cap


def test_early_media_with_class_selection(env):
    """A DTLS-SRTP peer's media may arrive before this side's SRTP session exists (an OpenSSL
    session made, srtp_create later: tests/integration/early_srtp.c).  With CLEARCAP_CAPTURE=
    plaintext the wire copies are still handed to the matcher hidden, and each plaintext record
    names the flow its packet came on."""
    here = os.path.dirname(os.path.abspath(__file__))
    exe = env.path("early_srtp")
    cclib.run(["gcc", "-O1", "-o", exe, os.path.join(here, "early_srtp.c"), "-lsrtp2", "-lssl", "-lcrypto"])
    cclib.run([exe, "gen"], cwd=env.tmp)
    cap = env.path("c.pcapng")
    p = cclib.run([exe], env=env.env(cap, {"CLEARCAP_CAPTURE": "plaintext"}), cwd=env.tmp)
    eq(p.stdout.strip(), "unprotected 20", "the program's own view")
    rows = tshark(cap, ["frame.comment"])
    eq(len(rows), 20, "the 20 plaintexts, nothing else")
    lost = [r[0] for r in rows if "flow from SRTP packet" not in r[0]]
    eq(lost[:2], [], "every plaintext on its packet's flow")


def test_fork_from_a_signal_handler_mid_protect(env):
    """A program forking from a SIGALRM handler while it protects and sends SRTP in a loop (tests/
    integration/srtp_fork_handler.c): no child dies where, without the shim, none does.  Before
    the fix about a third of them died of SIGSEGV, writing into the ring their fork dropped."""
    here = os.path.dirname(os.path.abspath(__file__))
    exe = env.path("srtp_fork_handler")
    cclib.run(["gcc", "-O1", "-o", exe, os.path.join(here, "srtp_fork_handler.c"), "-lsrtp2"])
    out = cclib.run([exe, "100"], env=env.env(env.path("c.pcapng")), timeout=120).stdout.strip()
    forks, crashed = (int(x.split("=")[1]) for x in out.split())
    ok(forks >= 100, "children reaped: %s" % out)   # (one turn of the loop may reap two)
    eq(crashed, 0, "children killed by a signal (%s)" % out)
    good, info = cclib.capinfos_ok(env.path("c.pcapng"))
    ok(good, info)


def test_unmatched_plaintexts_stamped(env):
    """A plaintext is queued unstamped: one put on its datagram's flow has that datagram's time,
    one whose datagram never comes (protected and not sent, or unprotected from memory) is stamped
    when the writer takes it: within the program's run, never 1970 (tests/integration/
    unmatched_srtp.c)."""
    here = os.path.dirname(os.path.abspath(__file__))
    exe = env.path("unmatched_srtp")
    cclib.run(["gcc", "-O1", "-o", exe, os.path.join(here, "unmatched_srtp.c"), "-lsrtp2"])
    cap = env.path("c.pcapng")
    out = cclib.run([exe], env=env.env(cap)).stdout.splitlines()
    t0, t1 = (int(x) for x in out[0].split())
    eq(out[1], "matched 2 unmatched 4", "the program's own view")
    rows = tshark(cap, ["frame.interface_name", "frame.time_epoch", "sll.pkttype", "udp.payload", "frame.comment"])
    ns = lambda r: int(r[1].replace(".", "").ljust(19, "0")[:19])
    plain = [r for r in rows if r[0] == "plaintext"]
    wire = [r for r in rows if r[0] == "wire"]
    eq(len(wire), 4, "two datagrams sent and received")
    eq(len(plain), 8, "eight plaintexts: two protected and sent, two unprotected from them, two of each never sent")
    for r in rows:
        ok(t0 <= ns(r) <= t1, "stamped within the run: %r (%d..%d)" % (r[:3], t0, t1))
    on_flow = [r for r in plain if "flow from SRTP packet" in r[4]]
    eq(len(on_flow), 4, "the four with a datagram on its flow: %r" % [r[4] for r in plain])
    wire_times = sorted(ns(r) for r in wire)
    for r in on_flow:
        ok(ns(r) in wire_times, "a matched plaintext has its datagram's time: %r" % (r[:3],))


def test_srtp_corners(env):
    """tests/integration/srtp_corners.c against Debian's libsrtp2, with and without the shim:
    srtp_add_stream with a garbage `next` (libsrtp never reads it; the shim followed it and
    crashed); RTP with a 9000-byte payload has its outbound plaintext in the file too (it was
    passed through uncaptured, past the shim's 8 KiB copy); a session with two master keys
    (MKI) writes no key line, which would name one key for packets protected with the other,
    and says so once; its plaintext is captured."""
    if not os.path.exists("/usr/include/srtp2/srtp.h"):
        raise cclib.Skip("libsrtp2-dev not installed")
    exe = env.path("srtp_corners")
    cclib.run(["gcc", "-O1", "-o", exe, os.path.join(os.path.dirname(os.path.abspath(__file__)), "srtp_corners.c"),
               "-lsrtp2"])
    for case in ("addstream", "big", "mki"):
        cap, keys = env.path(case + ".pcapng"), env.path(case + ".keys")
        def args():
            return [exe, case] + ([] if case == "addstream" else [str(cclib.free_port(socket.SOCK_DGRAM))])
        plain = cclib.run(args(), env=env.env(preload=False), timeout=60)
        shim = cclib.run(args(), env=env.env(cap, {"CLEARCAP_SRTP_KEYLOG": keys}), timeout=60)
        eq(shim.stdout, plain.stdout, "case %s: the program's own view, with the shim and without" % case)
        if case == "addstream":
            eq(plain.stdout, "srtp_add_stream: 0\n", "the probe's view")
            continue
        ok(plain.stdout.count("protect: 0,") == 6, plain.stdout)
        rows = tshark(cap, ["sll.pkttype", "udp.length"], 'frame.interface_name == "plaintext"')
        want = [9012 + 8 if i == 1 and case == "big" else 112 + 8 for i in range(3)]
        for kind, name in (("4", "outbound"), ("0", "inbound")):
            eq([int(r[1]) for r in rows if r[0] == kind], want, "%s plaintexts (%s)" % (name, case))
        lines = open(keys).read() if os.path.exists(keys) else ""
        if case == "mki":
            eq(lines.count("inline:"), 0, "no key line for a session with two master keys: %r" % lines)
            eq(shim.stderr.count("master keys (MKI)"), 1, "said once: %r" % shim.stderr)
        else:
            ok("inline:" in lines, "the key line: %r" % lines)
