"""`clearcap decrypt` on captures clearcap did not write: tcpdump's, of real WebRTC sessions.

aiortc <-> aiortc (audio over DTLS-SRTP, libsrtp2 through pylibsrtp) runs in a network namespace
(aiortc gathers no loopback candidates; both veth addresses are local, so the media goes over the
namespace's lo) while `tcpdump -i lo -w` records the wire and the peers run under
`clearcap -w shim.pcapng -k keys.txt --srtp-keylog srtp.txt`.  The shim's own plaintext copies
are the reference the decrypted tcpdump capture is compared with: (ssrc, seq, payload) sets read
with tshark.  One session serves the three tests (it takes about 15 s).  Then baresip (libre's own
SRTP: DTLS-SRTP and SDES) and curl's TLS, also captured by tcpdump."""
import atexit
import os
import shutil
import subprocess
import tempfile

import cclib
from cclib import eq, ok, tshark

QUICK = ["test_decrypt_baresip_dtls_srtp", "test_decrypt_baresip_sdes", "test_decrypt_tls_keylog"]
# Started first when tests run in parallel (run.py).
SLOW = ["test_decrypt_openssl_profiles", "test_wrapper_decrypts_srtp_not_through_libsrtp2",
        "test_decrypt_tcpdump_through_turn"]

# tcpdump runs in immediate mode (a capture stopped within a second of its last packets keeps them)
# with a 4 KiB snapshot length: immediate mode gives each packet a snaplen-sized slot in the
# kernel's ring, so with the default 262144 and 2 MiB only 8 packets of a burst would fit.
# Stops the tcpdump started as $tpid writing $1 once its file has stopped growing: on a loaded
# machine it may still be reading its ring, and SIGINT ends it without reading the rest.
STOP_TCPDUMP = r"""
stop_tcpdump() {
    local last=-1 size same=0
    for i in $(seq 40); do
        sleep 0.5
        size=$(stat -c %s "$1")
        if [ "$size" = "$last" ]; then same=$((same + 1)); else same=0; fi
        [ $same -ge 2 ] && break
        last=$size
    done
    kill -INT $tpid; wait $tpid || true
}
"""

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "webrtc_peer.py")

SCRIPT = STOP_TCPDUMP + r"""
set -e
ip link set lo up
ip link add v0 type veth peer name v1
ip addr add 10.200.0.1/24 dev v0; ip addr add 10.200.0.2/24 dev v1
ip link set v0 up; ip link set v1 up
eval "$PRELUDE"
tcpdump -i lo --immediate-mode -s 4096 -B 16384 -U -w "$TMPD/tcpdump.pcap" 2>"$TMPD/tcpdump.err" &
tpid=$!
trap 'kill $tpid %1 2>/dev/null || true' EXIT    # also when a step fails (the prelude's TURN server is %1)
for i in $(seq 50); do grep -q listening "$TMPD/tcpdump.err" 2>/dev/null && break; sleep 0.1; done
coproc A { "$CLEARCAP" -q -a -w "$TMPD/shim.pcapng" -k "$TMPD/keys.txt" --srtp-keylog "$TMPD/srtp.txt" -- \
           "$PY" "$PEER" offer $MODE 2>"$TMPD/a.err"; }
read -r -t 20 offer <&"${A[0]}"
coproc B { "$CLEARCAP" -q -a -w "$TMPD/shim.pcapng" -k "$TMPD/keys.txt" --srtp-keylog "$TMPD/srtp.txt" -- \
           "$PY" "$PEER" answer $MODE 2>"$TMPD/b.err"; }
echo "$offer" >&"${B[1]}"
read -r -t 20 answer <&"${B[0]}"
echo "$answer" >&"${A[1]}"
read -r -t 30 a <&"${A[0]}"; read -r -t 30 b <&"${B[0]}"
# The wrappers end after their peers (clearcap flushes the capture): wait for them, not tcpdump.
wait ${A_PID:-} ${B_PID:-} 2>/dev/null || true
stop_tcpdump "$TMPD/tcpdump.pcap"
echo "A:$a B:$b"
"""

_session = {}


def aiortc_session(env, mode="audio"):
    """The directory holding tcpdump.pcap, shim.pcapng, keys.txt and srtp.txt of one session."""
    if mode in _session:
        return _session[mode]
    if "failed " + mode in _session:
        raise AssertionError("the session failed in an earlier test: %s" % _session["failed " + mode])
    try:
        _session[mode] = run_aiortc_session(env, mode)
    except cclib.Skip:
        raise
    except Exception as e:
        _session["failed " + mode] = str(e)[-3000:]
        raise
    return _session[mode]


def run_aiortc_session(env, mode):
    if not shutil.which("unshare") or subprocess.run(["unshare", "-n", "true"]).returncode != 0:
        raise cclib.Skip("cannot create a network namespace here")
    if subprocess.run([cclib.PY, "-c", "import aiortc"], capture_output=True).returncode != 0:
        raise cclib.Skip("python3-aiortc not installed")
    cclib.need("tcpdump")
    d = tempfile.mkdtemp(prefix="cc-decrypt-")
    if not os.environ.get("CC_KEEP"):
        atexit.register(shutil.rmtree, d, True)
    e = env.env(preload=False)
    prelude = ""
    if "relay" in mode:
        cclib.need("turnserver")
        import test_turn
        prelude = test_turn.TURN_PRELUDE
    e.update({"PY": cclib.PY, "PEER": PEER, "TMPD": d, "CLEARCAP": env.tool, "MODE": mode, "PRELUDE": prelude})
    p = cclib.run(["unshare", "-n", "bash", "-c", SCRIPT], env=e, timeout=90, check=False)
    errs = "".join(open(os.path.join(d, f)).read()[-1500:] for f in ("a.err", "b.err", "tcpdump.err")
                   if os.path.exists(os.path.join(d, f)))
    eq(p.stdout.strip().splitlines()[-1:], ["A:done B:done"], "both peers finished (%s %s)" % (p.stderr, errs))
    return d


RTP_FIELDS = ["rtp.ssrc", "rtp.seq", "rtp.payload"]


def plain_rtp(cap):
    """{(ssrc, seq, payload)} of the RTP on the plaintext interface."""
    rows = tshark(cap, RTP_FIELDS, 'frame.interface_name == "plaintext" && rtp',
                  extra=["--enable-heuristic", "rtp_udp"])
    return {tuple(r) for r in rows}


def wire_srtp(cap):
    """The UDP payloads that are RTP or RTCP by their first byte (RFC 7983: 128..191)."""
    rows = tshark(cap, ["udp.payload"], "udp && !icmp && !icmpv6")
    return [r[0] for r in rows if r[0] and 0x80 <= int(r[0][:2], 16) <= 0xbf]


def decrypt(env, d, out, *args):
    return cclib.run([env.tool, "decrypt", os.path.join(d, "tcpdump.pcap"), "-o", out] + list(args), check=False)


def check_all_decrypted(env, d, out, p):
    eq(p.returncode, 0, "clearcap decrypt: %s" % p.stderr)
    wire = wire_srtp(os.path.join(d, "tcpdump.pcap"))
    ok(len(wire) > 200, "SRTP in the tcpdump capture: %d" % len(wire))
    # Every packet of the input is in the output, on the wire interface.
    eq(cclib.tshark_count(out, 'frame.interface_name == "wire"'),
       cclib.tshark_count(os.path.join(d, "tcpdump.pcap")), "every input packet on wire")
    plain = tshark(out, ["frame.comment"], 'frame.interface_name == "plaintext"')
    eq(len(plain), len(wire), "one plaintext per SRTP/SRTCP packet of the tcpdump capture (%s)" % p.stderr)
    ok(all("decrypted by clearcap decrypt from keys" in r[0] for r in plain), "marked: %r" % plain[:2])
    ref = plain_rtp(os.path.join(d, "shim.pcapng"))
    got = plain_rtp(out)
    ok(len(ref) > 100, "the shim's plaintext RTP: %d packets" % len(ref))
    eq(got, ref, "decrypted (ssrc, seq, payload) = the shim's plaintext copies")
    rtcp = tshark(out, ["rtcp.pt"], 'frame.interface_name == "plaintext" && rtcp',
                  extra=["--enable-heuristic", "rtp_udp"])
    ok(rtcp, "SRTCP decrypted to RTCP")
    ok("0 no key" not in p.stderr and "no key" not in p.stderr, "nothing without a key: %s" % p.stderr)
    # No key byte on stderr or in the section comment.
    for line in open(os.path.join(d, "srtp.txt")).read().split():
        if line.startswith("inline:"):
            ok(line[7:] not in p.stderr and line[7:].encode() not in open(out, "rb").read(),
               "no SRTP key printed or written")


def test_decrypt_tcpdump_with_keylog(env):
    """(a) tcpdump's capture + the NSS key log: every SRTP/SRTCP packet decrypted, equal to the
    shim's own plaintext, and tshark decrypts the DTLS in OUT with no option."""
    d = aiortc_session(env)
    out = env.path("out.pcapng")
    p = decrypt(env, d, out, "--keylog", os.path.join(d, "keys.txt"))
    check_all_decrypted(env, d, out, p)
    ok("SRTP keys derived (AES_CM_128_HMAC_SHA1_80)" in p.stderr, p.stderr)
    # The secrets block makes Wireshark decrypt the DTLS: a Finished message and the data channel's
    # SCTP packets (shown as data: Wireshark has no rule that DTLS carries SCTP) are readable.
    # (Should ICE move the association after the handshake, Wireshark, which keys DTLS sessions on
    # the UDP conversation, decrypts only what stayed on the handshake's 5-tuple.)
    # ICE may also switch pairs in the middle of the handshake (each aiortc peer has two
    # addresses): clearcap decrypt pairs the Hellos anyway, Wireshark cannot, so then only the
    # secrets block's presence is checked.
    tcpdump = os.path.join(d, "tcpdump.pcap")
    convs = {tuple(sorted([(r[0], r[1]), (r[2], r[3])]))
             for r in tshark(tcpdump, ["ip.src", "udp.srcport", "ip.dst", "udp.dstport"], "dtls.handshake")}
    fin = cclib.tshark_count(out, "dtls.handshake.type == 20")
    app = cclib.tshark_count(out, "dtls.app_data && data")
    if len(convs) == 1:
        ok(fin >= 1 and app >= 1, "tshark decrypts DTLS from OUT alone: %d Finished, %d records of data" % (fin, app))
    else:
        print("     (the DTLS handshake spans %d UDP conversations: beyond Wireshark)" % len(convs))
        ok(b"CLIENT_RANDOM " in open(out, "rb").read(), "the secrets are in OUT")
    eq(cclib.tshark_count(tcpdump, "dtls.handshake.type == 20 || (dtls.app_data && data)"), 0,
       "and cannot without the secrets")
    # The report is in the file too, as the section comment.
    comment = cclib.run(["capinfos", "-k", out]).stdout
    ok("SRTP/SRTCP decrypted" in comment, comment)


def test_decrypt_tcpdump_with_srtp_keylog(env):
    """(b) the SRTP key log alone gives the same plaintext."""
    d = aiortc_session(env)
    out = env.path("out.pcapng")
    p = decrypt(env, d, out, "--srtp-keylog", os.path.join(d, "srtp.txt"))
    check_all_decrypted(env, d, out, p)
    eq(cclib.tshark_count(out, "dtls.handshake.type == 20"), 0, "no DTLS secrets were given")


def test_decrypt_tcpdump_without_keys(env):
    """(c) no keys: every flow's SRTP is reported as having no key, and no plaintext is written."""
    d = aiortc_session(env)
    out = env.path("out.pcapng")
    p = decrypt(env, d, out)
    eq(p.returncode, 0, p.stderr)
    eq(cclib.tshark_count(out, 'frame.interface_name == "plaintext"'), 0, "no plaintext")
    flows = [l for l in p.stderr.splitlines() if l.startswith("clearcap decrypt: udp ")]
    ok(len(flows) >= 2 and all("0 decrypted" in l and "no key" in l for l in flows), p.stderr)
    ok("no CLIENT_RANDOM line for it" in p.stderr, p.stderr)
    eq(cclib.tshark_count(out, 'frame.interface_name == "wire"'),
       cclib.tshark_count(os.path.join(d, "tcpdump.pcap")), "every input packet on wire")
    # The report of tcpdump's file says why its DTLS has no plaintext: no clearcap process wrote it.
    flows = __import__("json").loads(cclib.run([env.tool, "report", "--json", os.path.join(d, "tcpdump.pcap")]).stdout)
    # (A pair that carried only a ClientHello before ICE moved on has nothing to decrypt: no reason.)
    dtls = [f for f in flows["flows"] if f["encrypted"] == "dtls" and f["dtls"]["state"] == "established"]
    ok(dtls and all("not captured by clearcap's shim" in (f["no_plaintext"] or "") for f in dtls), dtls)


def test_decrypt_clearcap_capture(env):
    """clearcap's own capture, no option: the secrets come from its Decryption Secrets Blocks, every
    SRTP packet decrypts, and what the shim already had in the clear is not written twice."""
    d = aiortc_session(env)
    shim, out = os.path.join(d, "shim.pcapng"), env.path("out.pcapng")
    p = cclib.run([env.tool, "decrypt", shim, "-o", out])
    ok("SRTP keys derived" in p.stderr, p.stderr)
    m = __import__("re").search(r"(\d+) of (\d+) SRTP/SRTCP decrypted", p.stderr)
    ok(m and m.group(1) == m.group(2) and int(m.group(1)) > 400, p.stderr)
    ok("%s decrypted packets were not written: IN holds their plaintext already" % m.group(1) in p.stderr, p.stderr)
    eq(cclib.tshark_count(out, 'frame.interface_name == "plaintext"'),
       cclib.tshark_count(shim, 'frame.interface_name == "plaintext"'), "the shim's plaintext kept, none added")
    eq(cclib.tshark_count(out), cclib.tshark_count(shim), "every packet of IN")


def test_decrypt_tcpdump_through_turn(env):
    """Both aiortc peers relay-only through coturn: DTLS and SRTP travel in TURN ChannelData (or
    Send/Data indications) between each peer and the server, and plain between the two relayed
    addresses.  Every copy decrypts, the unwrapped ones marked, to the shim's plaintext."""
    d = aiortc_session(env, "audio relay")
    out = env.path("out.pcapng")
    p = decrypt(env, d, out, "--keylog", os.path.join(d, "keys.txt"))
    eq(p.returncode, 0, p.stderr)
    # Each Hello is seen on several legs; one handshake, paired across them.
    ok("not in the capture" not in p.stderr and "SRTP keys derived" in p.stderr, p.stderr)
    summary = p.stderr.strip().splitlines()[-1]
    m = __import__("re").search(r"(\d+) of (\d+) SRTP/SRTCP decrypted", summary)
    ok(m and m.group(1) == m.group(2), summary)
    plain = tshark(out, ["frame.comment"], 'frame.interface_name == "plaintext"')
    eq(len(plain), int(m.group(1)), "one plaintext per decrypted packet")
    turn = [r for r in plain if "inside TURN" in r[0]]
    ok(len(turn) > 100, "SRTP inside TURN decrypted: %d of %d (%s)" % (len(turn), len(plain), p.stderr))
    # The copies between the two relayed addresses are plain UDP on the wire: at least those.
    wire = wire_srtp(os.path.join(d, "tcpdump.pcap"))
    ok(len(plain) - len(turn) == len(wire) and len(wire) > 100,
       "unwrapped copies: %d plaintext, %d on the wire" % (len(plain) - len(turn), len(wire)))
    eq(plain_rtp(out), plain_rtp(os.path.join(d, "shim.pcapng")), "(ssrc, seq, payload) = the shim's plaintext")


# baresip <-> baresip, calling each other directly (no SIP server) with dtls_srtp media: its SRTP is
# libre's own code, not libsrtp2, so the shim sees the DTLS secrets and the exported SRTP keys but
# no plaintext — `clearcap decrypt` is what turns the capture into media.  Audio is a 440 Hz sine
# (ausine, which needs 48 kHz stereo) sent as PCMU.  RTP and RTCP run on two ports, each with its
# own DTLS handshake (no rtcp-mux).
BARESIP_CONFIG = """poll_method epoll
sip_listen 127.0.0.1:{port}
net_interface 127.0.0.1
audio_player aufile,{dir}/out.wav
audio_source ausine,440
audio_alert aufile,/dev/null
ausrc_srate 48000
auplay_srate 48000
ausrc_channels 2
auplay_channels 2
rtp_ports {rtp}-{rtp_end}
module_path /usr/lib/baresip/modules
module stdio.so
module g711.so
module ausine.so
module aufile.so
module {mediaenc_module}
module_app account.so
module_app menu.so
"""

BARESIP_SCRIPT = STOP_TCPDUMP + r"""
set -e
ip link set lo up
tcpdump -i lo --immediate-mode -s 4096 -B 16384 -U -w "$D/tcpdump.pcap" 2>"$D/tcpdump.err" &
tpid=$!
trap 'kill $tpid 2>/dev/null || true' EXIT       # also when a step fails
for i in $(seq 50); do grep -q listening "$D/tcpdump.err" 2>/dev/null && break; sleep 0.1; done
"$CLEARCAP" -q -a -w "$D/shim.pcapng" -k "$D/keys.txt" --srtp-keylog "$D/srtp.txt" -- \
    baresip -f "$D/b" -t 6 >"$D/b.log" 2>&1 &
bpid=$!
sleep 1
"$CLEARCAP" -q -a -w "$D/shim.pcapng" -k "$D/keys.txt" --srtp-keylog "$D/srtp.txt" -- \
    baresip -f "$D/a" -t 4 -e "/dial sip:b@127.0.0.1:5062" >"$D/a.log" 2>&1
wait $bpid || true
stop_tcpdump "$D/tcpdump.pcap"
"""


def tone_fraction(payloads):
    """The share of the energy of PCMU payloads (hex, played in order) that is at 440 Hz, by
    Goertzel: about 1 for a pure tone, about 2/N for N samples of noise."""
    import math
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop
    pcm = audioop.ulaw2lin(b"".join(bytes.fromhex(p) for p in payloads), 2)
    s = [int.from_bytes(pcm[i:i + 2], "little", signed=True) for i in range(0, len(pcm), 2)]
    w = 2 * math.cos(2 * math.pi * 440 / 8000)
    a = b = 0.0
    for x in s:
        a, b = x + w * a - b, a
    power = a * a + b * b - w * a * b
    return 2 * power / max(len(s) * sum(x * x for x in s), 1)


def srtp_only(cap):
    """SRTP on the wire: RTP by its first byte (RFC 7983), not RTCP by its type (RFC 5761 section 4)."""
    # Not ICMP: a port unreachable quotes the datagram it answers (baresip's last packets).
    return [r[0] for r in tshark(cap, ["udp.payload"], 'udp && !icmp && !icmpv6 && !(frame.interface_name == "plaintext")')
            if r[0] and 0x80 <= int(r[0][:2], 16) <= 0xbf and not 192 <= int(r[0][2:4], 16) <= 223]


def baresip_call(env, mediaenc, module):
    """Two baresip instances call each other with `mediaenc` under the shim while tcpdump
    records lo, in a network namespace."""
    cclib.need("baresip")
    cclib.need("tcpdump")
    if not os.path.exists("/usr/lib/baresip/modules/" + module):
        raise cclib.Skip("baresip's %s module is not installed" % module)
    if not shutil.which("unshare") or subprocess.run(["unshare", "-n", "true"]).returncode != 0:
        raise cclib.Skip("cannot create a network namespace here")
    d = env.tmp
    for name, port in (("a", 5060), ("b", 5062)):
        os.makedirs(os.path.join(d, name))
        with open(os.path.join(d, name, "config"), "w") as f:
            f.write(BARESIP_CONFIG.format(port=port, dir=os.path.join(d, name), rtp=port + 10000,
                                          rtp_end=port + 10100, mediaenc_module=module))
        with open(os.path.join(d, name, "accounts"), "w") as f:
            f.write("<sip:%s@127.0.0.1:%d>;regint=0;mediaenc=%s;answermode=auto;audio_codecs=PCMU\n"
                    % (name, port, mediaenc))
        open(os.path.join(d, name, "contacts"), "w").close()
    e = env.env(preload=False)
    e.update({"D": d, "CLEARCAP": env.tool, "HOME": d})
    cclib.run(["unshare", "-n", "bash", "-c", BARESIP_SCRIPT], env=e, timeout=60)
    return open(env.path("a.log")).read()


def check_tone(env, out, wire, what):
    """Every SRTP packet of `wire` has its plaintext in out, both ways, and it is the tone."""
    rows = tshark(out, ["rtp.ssrc", "rtp.seq", "rtp.payload"], 'frame.interface_name == "plaintext" && rtp',
                  extra=["--enable-heuristic", "rtp_udp"])
    eq(len(rows), len(wire), "every SRTP packet decrypted (%s)" % what)
    ok(len({r[0] for r in rows}) == 2, "both directions: %r" % {r[0] for r in rows})
    for ssrc in {r[0] for r in rows}:
        pl = [r[2] for r in sorted((r for r in rows if r[0] == ssrc), key=lambda r: int(r[1]))]
        frac = tone_fraction(pl)
        ok(frac > 0.3, "ssrc %s (%s): the 440 Hz tone (%.3f of the energy at 440 Hz)" % (ssrc, what, frac))


def test_decrypt_baresip_sdes(env):
    """baresip <-> baresip with srtp-mand: SDES keys travel in SIP's SDP (a=crypto), in the clear
    on the wire, so tcpdump's capture alone decrypts — no key file — to the 440 Hz tone."""
    log = baresip_call(env, "srtp-mand", "srtp.so")
    ok("Using media encryption 'srtp-mand'" in log, log[-2000:])
    pcap = env.path("tcpdump.pcap")
    wire = srtp_only(pcap)
    ok(len(wire) > 100, "SRTP from baresip on the wire: %d" % len(wire))
    out = env.path("out.pcapng")
    p = cclib.run([env.tool, "decrypt", pcap, "-o", out])
    ok("2 SDES keys from a=crypto lines" in p.stderr, p.stderr)
    check_tone(env, out, wire, "SDES keys from the SDP")
    ok(tone_fraction([w[24:] for w in wire[:100]]) < 0.01, "ciphertext is no tone")


def test_decrypt_baresip_dtls_srtp(env):
    """baresip <-> baresip with dtls_srtp (libre's own SRTP): tcpdump's capture + the shim's key
    log (or its SRTP key log, whose lines name no flow) decrypts every SRTP packet, and the
    plaintext is the 440 Hz tone that was sent."""
    log = baresip_call(env, "dtls_srtp", "dtls_srtp.so")
    ok("DTLS-SRTP complete" in log, "baresip's DTLS-SRTP: %s" % log[-2000:])
    pcap = env.path("tcpdump.pcap")
    wire = srtp_only(pcap)
    ok(len(wire) > 100, "SRTP from baresip on the wire: %d" % len(wire))
    for args in (["--keylog", env.path("keys.txt")], ["--srtp-keylog", env.path("srtp.txt")]):
        out = env.path("out.pcapng")
        p = cclib.run([env.tool, "decrypt", pcap, "-o", out] + args)
        check_tone(env, out, wire, args[0])
        ok("no key" not in p.stderr and "auth" not in p.stderr, p.stderr)
    # The shim's own file, with no option: its secrets blocks are enough, and it had no plaintext
    # of libre's SRTP, so every SRTP copy (sent and received: about twice as many) gets one.
    shim = env.path("shim.pcapng")
    p = cclib.run([env.tool, "decrypt", shim, "-o", env.path("out2.pcapng")])
    rows = tshark(env.path("out2.pcapng"), ["rtp.ssrc"], 'frame.interface_name == "plaintext" && rtp',
                  extra=["--enable-heuristic", "rtp_udp"])
    eq(len(rows), len(srtp_only(shim)), "each SRTP copy in the shim's file decrypted (%s)" % p.stderr)
    ok(len(rows) > len(wire) * 3 // 2, "sent and received copies: %d, %d on tcpdump's wire" % (len(rows), len(wire)))
    # The two wrapper runs each decrypt at their exit, b's while a's copies may still be coming:
    # a received copy whose sent twin has its plaintext in the file already still gets its own.
    # The file without the received copies' plaintext: decrypt writes exactly those again.
    plain = 'frame.interface_name == "plaintext" && rtp'
    heur = ["--enable-heuristic", "rtp_udp"]
    received = len(tshark(shim, ["frame.number"], plain + " && sll.pkttype == 0", extra=heur))
    ok(received > 100, "received copies' plaintext: %d" % received)
    part = env.path("part.pcapng")
    cclib.run(["tshark", "-r", shim, "-Y", '!(frame.interface_name == "plaintext" && sll.pkttype == 0)', "-w", part])
    cclib.run([env.tool, "decrypt", part, "-o", env.path("out3.pcapng")])
    eq(len(tshark(env.path("out3.pcapng"), ["frame.number"], plain + " && sll.pkttype == 0", extra=heur)), received,
       "each received copy's plaintext written again beside its sent twin's")
    # The check can fail: the encrypted payloads hold no tone.
    ok(tone_fraction([w[24:] for w in wire[:100]]) < 0.01, "ciphertext is no tone")


TLS_SCRIPT = STOP_TCPDUMP + r"""
set -e
ip link set lo up
cd "$D"
openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 1 -subj /CN=localhost 2>/dev/null
tcpdump -i lo --immediate-mode -s 4096 -B 16384 -U -w "$D/tcpdump.pcap" 2>"$D/tcpdump.err" &
tpid=$!
trap 'kill $tpid 2>/dev/null || true' EXIT       # also when a step fails
for i in $(seq 50); do grep -q listening "$D/tcpdump.err" 2>/dev/null && break; sleep 0.1; done
openssl s_server -quiet -www -accept 4433 -cert cert.pem -key key.pem >/dev/null 2>&1 &
spid=$!
for i in $(seq 50); do curl -sk -o /dev/null https://127.0.0.1:4433/ 2>/dev/null && break; sleep 0.1; done
SSLKEYLOGFILE="$D/keys.txt" curl -sk -o "$D/page.html" https://127.0.0.1:4433/clearcap-decrypt-test
kill $spid
stop_tcpdump "$D/tcpdump.pcap"
"""


def test_decrypt_tls_keylog(env):
    """TLS too: curl's own key log (SSLKEYLOGFILE, TLS 1.3 secrets) against openssl s_server, captured
    by tcpdump; OUT carries the secrets, so tshark reads the HTTP request with no option."""
    for tool in ("tcpdump", "curl", "openssl"):
        cclib.need(tool)
    if not shutil.which("unshare") or subprocess.run(["unshare", "-n", "true"]).returncode != 0:
        raise cclib.Skip("cannot create a network namespace here")
    e = env.env(preload=False)
    e["D"] = env.tmp
    cclib.run(["unshare", "-n", "bash", "-c", TLS_SCRIPT], env=e, timeout=60)
    ok(os.path.getsize(env.path("keys.txt")) > 0, "curl wrote its key log")
    pcap, out = env.path("tcpdump.pcap"), env.path("out.pcapng")
    p = cclib.run([env.tool, "decrypt", pcap, "-o", out, "--keylog", env.path("keys.txt")])
    uris = [r[0] for r in tshark(out, ["http.request.uri"], "http.request")]
    ok("/clearcap-decrypt-test" in uris, "tshark decrypts the TLS from OUT alone: %r (%s)" % (uris, p.stderr))
    eq(tshark(pcap, ["http.request.uri"], "http.request"), [], "and not without the secrets")
    # No SRTP here, nothing to report but the totals.
    ok("0 of 0 SRTP/SRTCP decrypted" in p.stderr, p.stderr)


# openssl s_client <-> s_server over DTLS 1.2 with use_srtp: OpenSSL's own exporter output
# (-keymatexport EXTRACTOR-dtls_srtp, SSL_export_keying_material) keys SRTP packets that pylibsrtp
# protects and sends from the client's port after the handshake; clearcap decrypt must derive the
# same keys from tcpdump's capture and the key log alone: every profile, SHA-256 and SHA-384 PRFs.
OSSL_SCRIPT = STOP_TCPDUMP + r"""
set -e
ip link set lo up
cd "$D"
openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 1 -subj /CN=localhost 2>/dev/null
tcpdump -i lo --immediate-mode -s 4096 -B 16384 -U -w "$D/tcpdump.pcap" 2>"$D/tcpdump.err" &
tpid=$!
trap 'kill $tpid 2>/dev/null || true' EXIT       # also when a step fails
for i in $(seq 50); do grep -q listening "$D/tcpdump.err" 2>/dev/null && break; sleep 0.1; done
# s_server ends at the end of its standard input: a sleep holds it open; it serves one client.
openssl s_server -dtls1_2 -naccept 1 -accept 127.0.0.1:4444 -cert cert.pem -key key.pem \
    -use_srtp "$PROFILE" -cipher "$CIPHER" < <(sleep 8) >"$D/server.out" 2>&1 &
spid=$!
for i in $(seq 50); do grep -q ACCEPT "$D/server.out" 2>/dev/null && break; sleep 0.1; done
(sleep 1; echo hello) | timeout 5 openssl s_client -dtls1_2 -connect 127.0.0.1:4444 -bind 127.0.0.1:5555 \
    -use_srtp "$PROFILE" -cipher "$CIPHER" -keylogfile "$D/keys.txt" \
    -keymatexport EXTRACTOR-dtls_srtp -keymatexportlen 88 >"$D/client.out" 2>&1 || true
kill $spid 2>/dev/null || true
wait $spid 2>/dev/null || true
"$PY" -c "$SEND" "$D/client.out" "$PROFILE"
stop_tcpdump "$D/tcpdump.pcap"
"""

OSSL_SEND = r"""
import re, socket, sys, pylibsrtp
km = bytes.fromhex(re.search(r"Keying material: ([0-9A-F]+)", open(sys.argv[1]).read()).group(1))
kl, sl, name = {"SRTP_AES128_CM_SHA1_80": (16, 14, "AES128_CM_SHA1_80"),
                "SRTP_AES128_CM_SHA1_32": (16, 14, "AES128_CM_SHA1_32"),
                "SRTP_AEAD_AES_128_GCM": (16, 12, "AEAD_AES_128_GCM"),
                "SRTP_AEAD_AES_256_GCM": (32, 12, "AEAD_AES_256_GCM")}[sys.argv[2]]
key = km[:kl] + km[2 * kl:2 * kl + sl]      # client_write_key || client_write_salt (RFC 5764 section 4.2)
s = pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
                                       srtp_profile=getattr(pylibsrtp.Policy, "SRTP_PROFILE_" + name)))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
u.bind(("127.0.0.1", 5555))
for i in range(20):
    rtp = bytes([0x80, 0, 0, i]) + (i * 160).to_bytes(4, "big") + (0x1234).to_bytes(4, "big") + bytes([0xd5]) * 160
    u.sendto(s.protect(rtp), ("127.0.0.1", 4444))
"""


def test_decrypt_openssl_profiles(env):
    """Every DTLS-SRTP profile OpenSSL offers, with SHA-256 and SHA-384 cipher suites: the keys
    clearcap decrypt derives from the wire and the key log equal OpenSSL's exporter output."""
    for tool in ("tcpdump", "openssl"):
        cclib.need(tool)
    if subprocess.run([cclib.PY, "-c", "import pylibsrtp"], capture_output=True).returncode != 0:
        raise cclib.Skip("pylibsrtp (python3-aiortc's dependency) not installed")
    if not shutil.which("unshare") or subprocess.run(["unshare", "-n", "true"]).returncode != 0:
        raise cclib.Skip("cannot create a network namespace here")
    cases = [("SRTP_AES128_CM_SHA1_80", "ECDHE-RSA-AES128-GCM-SHA256", "AES_CM_128_HMAC_SHA1_80"),
             ("SRTP_AES128_CM_SHA1_32", "ECDHE-RSA-AES256-GCM-SHA384", "AES_CM_128_HMAC_SHA1_32"),
             ("SRTP_AEAD_AES_128_GCM", "ECDHE-RSA-AES256-GCM-SHA384", "AEAD_AES_128_GCM"),
             ("SRTP_AEAD_AES_256_GCM", "ECDHE-RSA-AES128-GCM-SHA256", "AEAD_AES_256_GCM")]
    # Each case in a network namespace of its own: all four at once (mostly waiting, 9 s each).
    runs = []
    for profile, cipher, suite in cases:
        d = env.path(profile)
        os.makedirs(d)
        e = env.env(preload=False)
        e.update({"D": d, "PY": cclib.PY, "SEND": OSSL_SEND, "PROFILE": profile, "CIPHER": cipher})
        runs.append(subprocess.Popen(["unshare", "-n", "bash", "-c", OSSL_SCRIPT], env=e, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT))
    for (profile, _, _), r in zip(cases, runs):
        out = r.communicate(timeout=60)[0]
        eq(r.returncode, 0, "the %s case's script: %s" % (profile, out[-800:]))
    for profile, cipher, suite in cases:
        d = env.path(profile)
        client = open(os.path.join(d, "client.out")).read()
        ok("profile=" + profile in client and cipher in client, "negotiated %s %s: %s" % (profile, cipher, client[-800:]))
        out = os.path.join(d, "out.pcapng")
        p = cclib.run([env.tool, "decrypt", os.path.join(d, "tcpdump.pcap"), "-o", out,
                       "--keylog", os.path.join(d, "keys.txt")])
        n = len(srtp_only(os.path.join(d, "tcpdump.pcap")))
        eq(n, 20, "the SRTP packets sent, in tcpdump's capture (%s)" % open(os.path.join(d, "tcpdump.err")).read())
        ok("SRTP keys derived (%s)" % suite in p.stderr and
           "%d of %d SRTP/SRTCP decrypted" % (n, n) in p.stderr, "%s with %s: %s" % (profile, cipher, p.stderr))
        payloads = [r[0] for r in tshark(out, ["rtp.payload"], 'frame.interface_name == "plaintext" && rtp',
                                         extra=["--enable-heuristic", "rtp_udp"])]
        eq(payloads, ["d5" * 160] * n, "%s: the RTP payloads sent" % profile)


def test_wrapper_decrypts_srtp_not_through_libsrtp2(env):
    """baresip's SRTP is libre's own, so the shim sees no plaintext; after each run the wrapper
    decrypts it from the keys it knows (dtls_srtp: the file's own DTLS secrets and handshakes;
    srtp-mand: SDES keys in the SDP) and appends the plaintext, marked, to the capture: every
    SRTP copy in the file then has its plaintext, and it is the 440 Hz tone."""
    for mediaenc, module in (("dtls_srtp", "dtls_srtp.so"), ("srtp-mand", "srtp.so")):
        for f in os.listdir(env.tmp):
            path = os.path.join(env.tmp, f)
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        baresip_call(env, mediaenc, module)
        shim = env.path("shim.pcapng")
        if mediaenc == "dtls_srtp":
            # Every SRTP key line names its flow (the DTLS flow its handshake used), and once.
            lines = open(env.path("srtp.txt")).read().splitlines()
            eq(len(lines), 8, "two handshakes per call leg (RTP and RTCP ports), two ends, two directions")
            eq(len(set(lines)), len(lines), "each key line once")
            dtls = {(r[0] + ":" + r[1], r[2] + ":" + r[3]) for r in
                    tshark(shim, ["ip.src", "udp.srcport", "ip.dst", "udp.dstport"], "dtls")}
            for l in lines:
                local, peer = l.split()[1:3]
                ok((local, peer) in dtls, "key line on a DTLS flow of the capture: %s %s" % (local, peer))
        wire = srtp_only(shim)
        ok(len(wire) > 100, "%s: SRTP copies in the shim's file: %d" % (mediaenc, len(wire)))
        rows = tshark(shim, ["frame.comment", "rtp.ssrc", "rtp.seq", "rtp.payload"],
                      'frame.interface_name == "plaintext" && rtp', extra=["--enable-heuristic", "rtp_udp"])
        ok(all("decrypted by clearcap" in r[0] for r in rows), "marked: %r" % {r[0] for r in rows})
        eq(len(rows), len(wire), "%s: one plaintext per SRTP copy, none twice" % mediaenc)
        for ssrc in {r[1] for r in rows}:
            # Both ends are in the file: each packet's sent and received copies, played once.
            by_seq = {int(r[2]): r[3] for r in rows if r[1] == ssrc}
            pl = [by_seq[k] for k in sorted(by_seq)]
            ok(tone_fraction(pl) > 0.3, "%s ssrc %s: the tone" % (mediaenc, ssrc))
