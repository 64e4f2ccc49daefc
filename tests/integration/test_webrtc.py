"""A full WebRTC data-channel session between two real, unmodified WebRTC stacks (Debian's aiortc,
DTLS through pyOpenSSL memory BIOs) in a network namespace the test creates: ICE over STUN, the
DTLS handshake, SCTP and DCEP — checked on the wire and plaintext interfaces with tshark.

aiortc gathers host candidates on non-loopback interfaces only, so the peers run in their own
network namespace (`unshare -n`) with a veth pair 10.200.0.1/24 - 10.200.0.2/24: every packet
stays inside it."""
import base64
import json
import os
import re
import shutil
import subprocess

import cclib
from cclib import eq, ok, tshark

QUICK = ["test_webrtc_datachannel"]

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "webrtc_peer.py")
GST_PEER = os.path.join(HERE, "webrtcbin_peer.py")

SCRIPT = r"""
set -e
ip link set lo up
ip link add v0 type veth peer name v1
ip addr add 10.200.0.1/24 dev v0; ip addr add 10.200.0.2/24 dev v1
ip link set v0 up; ip link set v1 up
eval "$PRELUDE"
coproc A { CLEARCAP_FILE="$CAP_A" "$PY" "$PEER" offer $MODE 2>"$TMPD/a.err"; }
read -r -t 20 offer <&"${A[0]}"
coproc B { CLEARCAP_FILE="$CAP_B" "$PY" $ANSWERER 2>"$TMPD/b.err"; }
echo "$offer" >&"${B[1]}"
read -r -t 20 answer <&"${B[0]}"
echo "$answer" >&"${A[1]}"
read -r -t 30 a <&"${A[0]}"; read -r -t 30 b <&"${B[0]}"
echo "A:$a B:$b"
"""


def run_session(env, cap, cap_b=None, answerer=None, mode="", prelude="", extra=None):
    """Runs the session with both peers capturing into cap, or the answerer into cap_b.  The
    answerer is aiortc too, or `answerer` (a script path and its arguments).  `prelude` runs in
    the namespace before the peers start (a TURN server, ...)."""
    if not shutil.which("unshare") or subprocess.run(["unshare", "-n", "true"]).returncode != 0:
        raise cclib.Skip("cannot create a network namespace here")
    probe = subprocess.run([cclib.PY, "-c", "import aiortc"], capture_output=True)
    if probe.returncode != 0:
        raise cclib.Skip("python3-aiortc not installed")
    e = env.env(cap, dict({"CLEARCAP_SRTP_KEYLOG": env.path("srtp.keys")}, **(extra or {})))
    e.update({"PY": cclib.PY, "PEER": PEER, "TMPD": env.tmp, "CAP_A": cap, "CAP_B": cap_b or cap,
              "ANSWERER": answerer or (PEER + " answer " + mode), "MODE": mode, "PRELUDE": prelude})
    p = cclib.run(["unshare", "-n", "bash", "-c", SCRIPT], env=e, timeout=90, check=False)
    errs = ""
    for f in ("a.err", "b.err"):
        if os.path.exists(env.path(f)):
            errs += open(env.path(f)).read()[-1500:]
    eq(p.stdout.strip().splitlines()[-1:], ["A:done B:done"], "both peers finished (%s %s)" % (p.stderr, errs))


def test_webrtc_datachannel(env):
    check_datachannel(env, None)


def test_webrtc_aiortc_to_gstreamer_webrtcbin(env):
    """Two different stacks: aiortc (pyOpenSSL memory BIOs) offers, GStreamer's webrtcbin (libnice,
    its DTLS elements' own BIO, usrsctp) answers.  Both correlate by DTLS record."""
    probe = subprocess.run([cclib.PY, "-c", "import gi; gi.require_version('GstWebRTC', '1.0'); "
                            "from gi.repository import Gst; Gst.init(None); "
                            "assert Gst.ElementFactory.find('webrtcbin') and Gst.ElementFactory.find('nicesrc')"],
                           capture_output=True)
    if probe.returncode != 0:
        raise cclib.Skip("GStreamer webrtcbin/libnice or their Python bindings not installed")
    check_datachannel(env, GST_PEER)


def check_datachannel(env, answerer):
    cap = env.path("c.pcapng")
    run_session(env, cap, answerer=answerer)
    good, info = cclib.capinfos_ok(cap)
    ok(good, info)

    # Wire: ICE connectivity checks answered, and the DTLS handshake.
    stun = tshark(cap, ["stun.type", "ip.src", "udp.srcport", "ip.dst", "udp.dstport"],
                  'frame.interface_name == "wire" && stun')
    ok(any(r[0] == "0x0001" for r in stun) and any(r[0] == "0x0101" for r in stun), "STUN binding request/success")
    hs = tshark(cap, ["ip.src", "udp.srcport", "ip.dst", "udp.dstport", "dtls.handshake.type"],
                'frame.interface_name == "wire" && dtls.handshake.type == 1')
    if not hs:
        # What the file holds instead, for a failure that does not come back: per flow, the
        # packets and their first bytes (DTLS 20-63, STUN 0-3, RTP/RTCP 128-191).
        flows = {}
        for r in tshark(cap, ["ip.src", "udp.srcport", "ip.dst", "udp.dstport", "sll.pkttype", "udp.payload"],
                        'frame.interface_name == "wire" && udp'):
            f = flows.setdefault(tuple(r[:5]), {})
            b = r[5][:2]
            f[b] = f.get(b, 0) + 1
        ok(False, "DTLS ClientHello on the wire; wire UDP flows (src, sport, dst, dport, pkttype): "
           "first-byte counts %r" % flows)
    # The ICE-selected pair: the 5-tuple the DTLS ran on, which a STUN check succeeded on.
    dtls_flows = {(r[0], r[1], r[2], r[3]) for r in hs}
    checked = {(r[1], r[2], r[3], r[4]) for r in stun}
    ok(dtls_flows & checked, "DTLS on a checked ICE pair: %r vs %r" % (dtls_flows, checked))
    # Every 5-tuple that carried DTLS application data.
    app_flows = wire_flows(cap, "dtls.record.content_type == 23")

    # Plaintext: SCTP association, DCEP open/ack for "chat", the messages - on that 5-tuple.
    plain = 'frame.interface_name == "plaintext"'
    rows = tshark(cap, ["sll.pkttype", "ip.src", "ip.dst", "frame.comment"], plain)
    ok(len(rows) >= 30, "plaintext SCTP packets: %d" % len(rows))
    for r in rows:
        m = re.search(r"over udp (\d+) > (\d+)", r[3])
        ok(m and (r[1], m.group(1), r[2], m.group(2)) in app_flows,
           "plaintext on a DTLS flow's 5-tuple: %r not in %r" % (r, app_flows))
        ok("flow from DTLS record" in r[3] or "nested" in r[3], "correlated, not guessed: %r" % r[3])
    # A received plaintext matched by record is written at its datagram's time (sll.pkttype 0:
    # received), not when the program got round to reading it.
    wire_in = {tuple(r) for r in tshark(cap, ["ip.src", "udp.srcport", "ip.dst", "udp.dstport", "frame.time_epoch"],
                                        'frame.interface_name == "wire" && sll.pkttype == 0 && '
                                        'dtls.record.content_type == 23')}
    got = tshark(cap, ["ip.src", "ip.dst", "frame.time_epoch", "frame.comment"],
                 plain + ' && sll.pkttype == 0 && frame.comment contains "flow from DTLS record"')
    ok(got, "received plaintext matched by DTLS record")
    for r in got:
        m = re.search(r"over udp (\d+) > (\d+)", r[3])
        ok(m and (r[0], m.group(1), r[1], m.group(2), r[2]) in wire_in,
           "received plaintext at its datagram's time: %r" % (r,))
    ok(tshark(cap, ["sctp.chunk_type"], plain + " && sctp.chunk_type == 1"), "SCTP INIT")
    opens = tshark(cap, ["rtcdc.label"], plain + " && rtcdc.message_type == 0x03")
    eq({r[0] for r in opens}, {"chat"}, "DCEP DATA_CHANNEL_OPEN label")
    ok(tshark(cap, ["rtcdc.message_type"], plain + " && rtcdc.message_type == 0x02"), "DCEP ACK")
    # Both ends are in the file, so each DATA chunk is there twice: no TSN analysis, or the second
    # copy counts as a retransmission and is not dissected further.
    no_tsn = ["-o", "sctp.tsn_analysis:FALSE"]
    texts = [bytes.fromhex(r[1]) for r in tshark(cap, ["sll.pkttype", "data.data"],
                                                   plain + " && sctp.data_payload_proto_id == 51", extra=no_tsn)]
    for i in range(5):
        m = b"hello %d from the offerer" % i
        eq(texts.count(m), 2, "%r sent by one process and received by the other" % m)
        eq(texts.count(b"echo: " + m), 2, "echo of %r" % m)
    binary = [bytes.fromhex(r[0]) for r in tshark(cap, ["data.data"],
                                                   plain + " && sctp.data_payload_proto_id == 53", extra=no_tsn)]
    eq(binary.count(b"\x00\x01binary\xff"), 2, "binary message")


def raw_frames(cap, dfilter):
    """Each matching frame's bytes, as tshark reads them (-T json -x)."""
    out = cclib.run(["tshark", "-n", "-r", cap, "-Y", dfilter, "-T", "json", "-x"]).stdout
    return [bytes.fromhex(p["_source"]["layers"]["frame_raw"][0]) for p in json.loads(out or "[]")]


def test_webrtc_dtls_srtp_keys_logged(env):
    """The DTLS-SRTP keying material each peer exported is logged per flow and direction, and the
    two peers' lines mirror each other: A's outbound key is B's inbound key on the reversed flow."""
    cap = env.path("c.pcapng")
    run_session(env, cap)
    # Lines with addresses come from DTLS-SRTP; pylibsrtp's own policies add "? ?" lines.
    lines = [l.split() for l in open(env.path("srtp.keys")).read().splitlines() if not l.startswith("SRTP ? ?")]
    eq(len(lines), 4, "two peers x two directions: %r" % lines)
    by = {(l[1], l[2], l[3]): l for l in lines}
    for (local, peer, d), l in by.items():
        eq(l[0], "SRTP", "tag")
        eq(l[4], "AES_CM_128_HMAC_SHA1_80", "suite aiortc negotiates")
        ok(l[5].startswith("inline:") and len(base64.b64decode(l[5][7:])) == 30, "16-byte key + 14-byte salt")
        other = by[(peer, local, "inbound" if d == "outbound" else "outbound")]
        eq(other[5], l[5], "mirrored key")
    # The flows are wire flows of the session: its DTLS flow, or the pair its SRTP took (aiortc may
    # move media to another candidate pair after the handshake; a key line is written once, on the
    # flow first known for its key).
    wire = {("%s:%s" % (r[0], r[1]), "%s:%s" % (r[2], r[3]))
            for r in tshark(cap, ["ip.src", "udp.srcport", "ip.dst", "udp.dstport", "udp.payload"],
                            'frame.interface_name == "wire" && udp')
            if r[4][:2] and (0x14 <= int(r[4][:2], 16) <= 0x3f or 0x80 <= int(r[4][:2], 16) <= 0xbf)}
    for local, peer, _ in by:
        # Either direction: the media of a flow may run one way only (the key is for both ends).
        ok((local, peer) in wire or (peer, local) in wire,
           "key flow %s -> %s is a wire DTLS or SRTP flow: %r" % (local, peer, sorted(wire)))


def test_webrtc_audio_srtp_plaintext(env):
    """Audio both ways over DTLS-SRTP (aiortc, libsrtp2 through pylibsrtp): every RTP and RTCP
    packet in the clear on the 5-tuple of its SRTP datagram; our checker decrypts every wire
    SRTP/SRTCP packet with the logged keys through libsrtp2 and finds it byte-identical."""
    check_audio(env, None)


def test_webrtc_audio_aiortc_to_webrtcbin(env):
    """The same between two different stacks: aiortc (pylibsrtp) offers audio, GStreamer's
    webrtcbin (srtpenc/srtpdec, the _mki entry points) answers with a PCMU tone."""
    check_audio(env, GST_PEER + " audio")


def check_audio(env, answerer, mode="audio"):
    cap = env.path("c.pcapng")
    run_session(env, cap, mode=mode, answerer=answerer)
    rows = tshark(cap, ["ip.src", "udp.srcport", "ip.dst", "udp.dstport", "udp.payload"],
                  'frame.interface_name == "wire" && udp')
    wire = [r[:4] for r in rows if r[4] and 0x80 <= int(r[4][:2], 16) <= 0xbf]     # RFC 7983: RTP/RTCP
    ok(len(wire) > 200, "SRTP on the wire: %d" % len(wire))
    flows = set(tuple(r) for r in wire)
    rows = tshark(cap, ["ip.src", "ipv6.src", "udp.srcport", "ip.dst", "ipv6.dst", "udp.dstport", "sll.pkttype",
                        "frame.comment"], 'frame.interface_name == "plaintext" && udp')
    # A packet protected as a pipeline shuts down may never be sent: written at exit, marked, with no
    # address (never a guessed one): at most one per process.
    unsent = [r for r in rows if "flow unknown" in r[7]]
    ok(len(unsent) <= 2 and all(r[0] == "0.0.0.0" and r[6] == "4" for r in unsent), "unsent at exit: %r" % unsent)
    rows = [r for r in rows if r not in unsent]
    # Written IPv4-mapped, so Wireshark does not take them for the wire's SRTP conversation.
    ok(all(r[1].startswith("::ffff:") for r in rows), "plaintext RTP IPv4-mapped")
    plain = [[cclib.addr(r[0], r[1]), r[2], cclib.addr(r[3], r[4]), r[5], r[6], r[7]] for r in rows]
    # A datagram received as a pipeline shuts down may never reach srtp_unprotect (GStreamer drops
    # its queues): no plaintext exists for it.  Everything else has its copy.
    unread = len(wire) - len(plain)
    ok(0 <= unread <= 2, "one plaintext per SRTP/SRTCP copy: %d wire, %d plaintext" % (len(wire), len(plain)))
    for r in plain:
        ok(tuple(r[:4]) in flows, "plaintext on its SRTP flow: %r" % r)
        ok("flow from SRTP packet" in r[5], r[5])
    ok({r[4] for r in plain} == {"0", "4"}, "both directions")
    # The plaintext dissects as RTP and RTCP with the one documented option.
    rtp = tshark(cap, ["rtp.ssrc"], 'frame.interface_name == "plaintext" && rtp',
                 extra=["--enable-heuristic", "rtp_udp"])
    rtcp = tshark(cap, ["rtcp.pt"], 'frame.interface_name == "plaintext" && rtcp',
                  extra=["--enable-heuristic", "rtp_udp"])
    ok(len({r[0] for r in rtp}) == 2, "two RTP streams (one per direction): %r" % {r[0] for r in rtp})
    ok(rtcp, "RTCP in the clear")
    exe = env.path("srtp_check")
    cclib.run(["gcc", "-O1", "-o", exe, os.path.join(HERE, "srtp_check.c"), "-lsrtp2", "-lpcap"])

    def check(keyfile, what):
        out = cclib.run([exe, cap, keyfile], check=False).stdout
        m = re.search(r"checked (\d+): identical (\d+), different (\d+), undecryptable (\d+), keyless (\d+)", out)
        ok(m, out)
        n, same, differ, undec, keyless = map(int, m.groups())
        ok(n == len(wire) and undec == 0 and keyless == 0 and differ <= unread,
           "every wire SRTP packet decrypts (%s) to its plaintext copy: %s" % (what, out))

    check(env.path("srtp.keys"), "with the key log")
    # The pcapng alone is enough: the key lines in its comments decrypt the wire copy just as well.
    lines = [c[c.index("; SRTP ") + 2:] for c in (r[5] for r in plain) if "; SRTP " in c]
    ok(len(lines) >= 4, "a key line per flow and direction, in each of the two processes: %r" % lines)
    with open(env.path("from-pcapng.keys"), "w") as f:
        f.write("\n".join(lines) + "\n")
    check(env.path("from-pcapng.keys"), "with the keys from the pcapng comments")


def test_webrtc_wire_decrypts_from_dsbs(env):
    """Each end captured into its own file: tshark decrypts the wire DTLS with the secrets embedded
    in the file alone, to exactly the SCTP packets the plaintext interface holds.  (Wireshark has
    no rule that DTLS application data is SCTP, so the decrypted bytes are compared as data.)"""
    caps = env.path("a.pcapng"), env.path("b.pcapng")
    for attempt in (1, 2, 3):
        for cap in caps:
            if os.path.exists(cap):
                os.remove(cap)
        run_session(env, caps[0], caps[1])
        # Wireshark keeps a DTLS session per UDP conversation.  Should ICE move the association to
        # another candidate pair after the handshake, or should the two ends have selected
        # different pairs (aiortc sends on its own choice: A's records leave 10.200.0.1 while B
        # answers to A's other address), the records are beyond any Wireshark's reach, whatever
        # the file holds: such a session is run again.
        split = [cap for cap in caps if not one_conversation(wire_flows(cap, "dtls"))]
        if not split:
            break
    eq(split, [], "all DTLS on one UDP conversation, both ways, in one of three sessions")
    for cap in caps:
        dec = [bytes.fromhex(r[0]) for r in tshark(cap, ["data.data"], 'frame.interface_name == "wire" && dtls.app_data',
                                                   extra=["-o", "tls.keylog_file:"]) if r[0]]
        plain = [f[20 + (f[20] & 0x0f) * 4:] for f in raw_frames(cap, 'frame.interface_name == "plaintext" && sctp')]
        secrets = open(cap, "rb").read().count(b"CLIENT_RANDOM ")
        ok(len(dec) >= 15, "%s: wire DTLS decrypted from DSBs (%d records; %d CLIENT_RANDOM secrets in the file)"
           % (cap, len(dec), secrets))
        eq(sorted(dec), sorted(plain), "%s: decrypted wire application data = plaintext SCTP packets" % cap)


def one_conversation(flows):
    """True when the (src, sport, dst, dport) flows are the two directions of one conversation."""
    return len(flows) == 2 and all((f[2], f[3], f[0], f[1]) in flows for f in flows)


def wire_flows(cap, dfilter):
    """The (src, sport, dst, dport) of the wire frames matching dfilter."""
    return {tuple(r) for r in tshark(cap, ["ip.src", "udp.srcport", "ip.dst", "udp.dstport"],
                                     'frame.interface_name == "wire" && ' + dfilter)}
