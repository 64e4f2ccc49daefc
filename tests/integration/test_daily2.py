"""SIP as its own class, per-flow ICE/TURN/DTLS step timelines, PNG copies of the --svg plots and
plaintext on the real IPv4 addresses.  Real programs on loopback (SIPp, socat, python3, curl,
aiortc through coturn); files checked with tshark, `file` and Python's own PNG reading."""
import json
import os
import re
import struct
import subprocess
import time

import cclib
from cclib import eq, ok, tshark, tshark_count

QUICK = ["test_sip_udp_dialogs_match_tshark", "test_sip_capture_class_tcp", "test_plain_ipv4_srtp",
         "test_plain_ipv4_tls"]
# Step times against tshark to the millisecond: run alone, after the parallel part (run.py -j).
SERIAL = ["test_flow_steps_aiortc_through_coturn", "test_flow_steps_audio_srtp_keys"]


def near_ms(a, b, what):
    """Times equal to the millisecond the report prints (either side may round a half the other way)."""
    ok(abs(a - b) <= 0.0011, "%s: %.6f against %.6f" % (what, a, b))


def sipp_pair(env, cap, calls, transport="u1", extra_env=None):
    """A SIPp UAS and a UAC making `calls` calls to it, both under one clearcap run."""
    cclib.need("sipp")
    sock = __import__("socket")
    uas = cclib.free_port(sock.SOCK_STREAM if transport == "t1" else sock.SOCK_DGRAM)
    uac = cclib.free_port(sock.SOCK_STREAM if transport == "t1" else sock.SOCK_DGRAM)
    target = "127.0.0.1:%d" % uas
    script = ("sipp -sn uas -t {t} -i 127.0.0.1 -p {uas} -m {n} -bg >/dev/null 2>&1; sleep 0.5; "
              "sipp -sn uac -t {t} {target} -i 127.0.0.1 -p {uac} -m {n} -r 10 -nostdin "
              ">/dev/null 2>&1; rc=$?; sleep 0.5; exit $rc").format(t=transport, uas=uas, uac=uac, n=calls,
                                                                      target=target)
    return cclib.run([env.tool, "-w", cap, "--", "sh", "-c", script], env=env.env(preload=False, extra=extra_env),
                     timeout=90)


def sip_keys_tshark(cap, dfilter="sip"):
    """Each SIP message once, in time order: (call-id, method or status, cseq number, src port)."""
    # Both ends of a TCP connection are in the file, each segment cut where its side wrote or read,
    # and two processes' records can be milliseconds apart: the setting README gives for that.
    rows = tshark(cap, ["frame.time_epoch", "sip.Call-ID", "sip.Method", "sip.Status-Code", "sip.CSeq.seq",
                        "sip.CSeq.method", "udp.srcport", "tcp.srcport"], dfilter,
                  ["-o", "tcp.reassemble_out_of_order:TRUE"])
    rows.sort(key=lambda r: float(r[0]))
    seen, out = set(), []
    for r in rows:
        what = r[2] if r[2] else "%s %s" % (r[3], r[5])
        k = (r[1], what, int(r[4]), int(r[6] or r[7]))
        if k not in seen:
            seen.add(k)
            out.append(k)
    return out, len(rows)


def report_json(env, cap):
    return json.loads(cclib.run([env.tool, "report", "--json", cap], env=env.env(preload=False)).stdout)


def test_sip_udp_dialogs_match_tshark(env):
    """SIPp calls over UDP: the report's dialogs list every message tshark's SIP dissector finds, in
    its order, each once although both ends were captured; the exit line counts them; no 'other'."""
    cap = env.path("sip.pcapng")
    calls = 4
    p = sipp_pair(env, cap, calls)
    want, frames = sip_keys_tshark(cap)
    ok(len(want) >= calls * 6, "tshark sees the calls: %r" % want[:8])
    j = report_json(env, cap)
    got = []
    copies = 0
    for d in j["sip"]:
        for m in d["messages"]:
            what = m["method"] if "status" not in m else "%d %s" % (m["status"], m["method"])
            got.append((m["t"], (d["call_id"], what, m["cseq"], int(m["src"].rsplit(":", 1)[1]))))
            copies += 2 if m["both_ends"] else 1
        ts = [m["t"] for m in d["messages"]]
        eq(ts, sorted(ts), "messages of %s in time order" % d["call_id"])
    eq(len(j["sip"]), calls, "one dialog per call")
    eq(sorted(k for _, k in got), sorted(want), "the same messages as tshark")
    # Within each dialog, tshark's order.
    for d in j["sip"]:
        mine = [k for _, k in got if k[0] == d["call_id"]]
        eq(mine, [k for k in want if k[0] == d["call_id"]], "order of %s" % d["call_id"])
        ok(mine[0][1] == "INVITE" and mine[-1][1] == "200 BYE", "INVITE first, 200 BYE last: %r" % mine)
    eq(copies, frames, "every captured copy accounted for (sent + received)")
    for f in j["flows"]:
        for side in ("a_to_b", "b_to_a"):
            kinds = f.get(side, {}).get("kinds", {})
            ok("other" not in kinds, "SIP not counted as other: %r" % kinds)
    invites = sum(1 for k in want if k[1] == "INVITE")
    line = [l for l in p.stderr.splitlines() if l.startswith("clearcap: sip ")]
    ok(line, "exit line for SIP: %s" % p.stderr[-800:])
    ok(re.search(r"sip %d dialogs: %d requests \(INVITE %d, ACK %d, BYE %d\)" %
                 (calls, 3 * calls, invites, calls, calls), line[0]), line[0])
    txt = cclib.run([env.tool, "report", cap], env=env.env(preload=False)).stdout
    ok("SIP (%d dialogs" % calls in txt and "200 BYE" in txt, txt[-1500:])


def test_sip_capture_class_tcp(env):
    """--capture sip over TCP (and CLEARCAP_CAPTURE=sip from the environment): every SIP message
    is written, a non-SIP datagram sent meanwhile is not, and the shim's summary counts SIP."""
    cap = env.path("siptcp.pcapng")
    calls = 3
    script_noise = ("python3 -c \"import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
                    "[s.sendto(b'noise', ('127.0.0.1', 9)) for _ in range(5)]\"")
    sipp_pair(env, cap, calls, transport="t1", extra_env={"CLEARCAP_CAPTURE": "sip"})
    want, _ = sip_keys_tshark(cap)
    eq(sum(1 for k in want if k[1] == "INVITE"), calls, "INVITEs over TCP: %r" % want)
    eq(len(want), calls * 6, "six messages per call")
    j = report_json(env, cap)
    eq(len(j["sip"]), calls, "dialogs over TCP")
    eq(sorted((d["call_id"], len(d["messages"])) for d in j["sip"]),
       sorted(set((k[0], sum(1 for q in want if q[0] == k[0])) for k in want)), "messages per dialog")
    # The noise: the same selection through the option, with a program sending other UDP.
    cap2 = env.path("sipnoise.pcapng")
    cclib.run([env.tool, "--capture", "sip", "-w", cap2, "--", "sh", "-c", script_noise],
              env=env.env(preload=False), check=False)
    eq(tshark_count(cap2, "udp.port == 9") if os.path.exists(cap2) else 0, 0, "non-SIP UDP not selected")
    cap3 = env.path("sipall.pcapng")
    cclib.run([env.tool, "--capture", "sip,other", "-w", cap3, "--", "sh", "-c", script_noise],
              env=env.env(preload=False))
    eq(tshark_count(cap3, "udp.port == 9"), 5, "the same datagrams taken as 'other'")
    bad = cclib.run([env.tool, "--capture", "sipp", "-w", env.path("x.pcapng"), "--", "true"], env=env.env(preload=False), check=False)
    ok(bad.returncode != 0 and "'sipp'" in bad.stderr and " sip " in bad.stderr, bad.stderr)


DNS_AND_RTP = r"""
import socket, struct
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
q = b'\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03org\x00\x00\x01\x00\x01'
# 64 DNS queries whose ids start 0x80..0xBF: by their first two bytes alone, RTP (and some RTCP).
for i in range(64):
    u.sendto(struct.pack('!H', 0x8000 + i * 0x101) + q, ('127.0.0.1', 53))
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(('127.0.0.1', 0))
for i in range(20):
    u.sendto(struct.pack('!BBHII', 0x80, 111, i, i * 960, 0x1234) + b'\xfc' * 80, r.getsockname())
    r.recv(2000)
"""


def test_dns_is_not_media(env):
    """A DNS query's id is its first two bytes: one in four reads as RTP by RFC 7983's ranges.  On
    DNS's port (and the other services' that carry no media) it is 'other': --capture rtp leaves
    the queries out and keeps the RTP, and the report and summary name no RTP on port 53."""
    cap = env.path("rtp.pcapng")
    p = cclib.run([env.tool, "--capture", "rtp", "-w", cap, "--", cclib.PY, "-c", DNS_AND_RTP],
                  env=env.env(preload=False))
    eq(tshark_count(cap, "udp.port == 53"), 0, "DNS queries taken as RTP")
    eq(tshark_count(cap, "rtp.ssrc == 0x1234", extra=["-o", "rtp.heuristic_rtp:TRUE"]), 40,
       "RTP datagrams, each end's copy")
    ok("64 not selected" in p.stderr, "the summary counts the queries out: %r" % p.stderr)
    cap2 = env.path("all.pcapng")
    p = cclib.run([env.tool, "-w", cap2, "--", cclib.PY, "-c", DNS_AND_RTP], env=env.env(preload=False))
    eq(tshark_count(cap2, "udp.dstport == 53"), 64, "every query in the file without a selection")
    dns = [l for l in p.stderr.splitlines() if ":53:" in l and "flow" in l]
    ok(len(dns) == 1 and "other 64" in dns[0] and "rtp" not in dns[0], "summary's DNS flow: %r" % p.stderr)
    j = report_json(env, cap2)
    flows = [f for f in j["flows"] if f["a"].endswith(":53") or f["b"].endswith(":53")]
    eq(len(flows), 1, "one DNS flow")
    kinds = dict(flows[0]["a_to_b"]["kinds"], **flows[0]["b_to_a"]["kinds"])
    eq(kinds, {"other": 64}, "the DNS flow's kinds")
    eq(sorted(s["ssrc"] for s in j["rtp_streams"]), [0x1234, 0x1234], "RTP streams: the one stream's two copies")
    eq(len(j["rtcp"]), 0, "no RTCP")


def test_sip_over_tls_plaintext(env):
    """SIP over TLS: SIPp's TCP calls carried through two socat TLS relays (OpenSSL).  With
    --capture sip,plaintext the file holds the decrypted SIP from socat's SSL_read/SSL_write,
    which tshark dissects as SIP, and the report lists the dialogs from the plaintext."""
    cclib.need("socat")
    cclib.need("openssl")
    sock = __import__("socket")
    key, crt = env.path("k.pem"), env.path("c.pem")
    cclib.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
               "-days", "2", "-subj", "/CN=localhost"])
    uas = cclib.free_port(sock.SOCK_STREAM)
    tls = cclib.free_port(sock.SOCK_STREAM)
    front = cclib.free_port(sock.SOCK_STREAM)
    cap = env.path("siptls.pcapng")
    relays = ("socat OPENSSL-LISTEN:{tls},bind=127.0.0.1,reuseaddr,fork,cert={crt},key={key},verify=0 "
              "TCP:127.0.0.1:{uas} & a=$!; socat TCP-LISTEN:{front},bind=127.0.0.1,reuseaddr,fork "
              "OPENSSL:127.0.0.1:{tls},verify=0 & b=$!; ").format(tls=tls, crt=crt, key=key, uas=uas, front=front)
    calls = 2
    script = (relays + "sipp -sn uas -t t1 -i 127.0.0.1 -p {uas} -m {n} -bg >/dev/null 2>&1; sleep 0.7; "
              "sipp -sn uac -t t1 127.0.0.1:{front} -i 127.0.0.1 -m {n} -r 10 -nostdin >/dev/null 2>&1; "
              "rc=$?; sleep 0.5; kill $a $b; exit $rc").format(uas=uas, front=front, n=calls)
    cclib.run([env.tool, "--capture", "sip,plaintext", "-w", cap, "--", "sh", "-c", script],
              env=env.env(preload=False), timeout=90)
    plain = 'frame.interface_name == "plaintext"'
    # Messages, not frames: SIPp may start both calls in one tick, and socat then relays their
    # INVITEs in one read, one record, one plaintext segment (seen once under load).
    methods = tshark(cap, ["sip.Method"], "sip.Method && " + plain, ["-E", "occurrence=a", "-E", "aggregator=,"])
    ok(sum(r[0].split(",").count("INVITE") for r in methods) >= calls, "decrypted INVITEs: %r" % methods)
    eq(tshark_count(cap, "not (%s)" % plain), 0, "plaintext only")
    ok(tshark_count(cap, "tcp.port == %d && %s" % (tls, plain)) > 0, "plaintext on the TLS connection")
    j = report_json(env, cap)
    eq(len(j["sip"]), calls, "dialogs from TLS plaintext")
    ok(any(m["interface"] == "plaintext" and m["method"] == "INVITE" for d in j["sip"] for m in d["messages"]),
       "report reads the plaintext")


def test_flow_steps_aiortc_through_coturn(env):
    """aiortc peers through coturn (relayed candidates only): each client<->TURN flow's steps run
    401 -> Allocate success -> CreatePermission -> ChannelBind -> relayed data -> DTLS, in that
    order, at the times tshark gives the same packets; the relay flow's DTLS steps run ClientHello
    -> ServerHello -> ChangeCipherSpec -> Finished -> application data."""
    import test_turn
    import test_webrtc
    cclib.need("turnserver")
    cap = env.path("steps.pcapng")
    test_webrtc.run_session(env, cap, mode="relay", prelude=test_turn.TURN_PRELUDE)
    j = report_json(env, cap)
    txt = cclib.run([env.tool, "report", cap], env=env.env(preload=False)).stdout
    ok("FLOW STEPS" in txt, txt[:2000])
    first = j["first_ns"] / 1e9
    turn_flows = [f for f in j["flow_steps"] if f["interface"] == "wire" and
                  any(s["step"].startswith("Allocate") for s in f["steps"])]
    ok(len(turn_flows) >= 2, "both peers' TURN flows: %r" % [f["a"] + " " + f["b"] for f in j["flow_steps"]])
    # aiortc binds channels without CreatePermission (RFC 8656 section 12: ChannelBind installs the
    # permission); a CreatePermission, when there is one, must sit between the grant and the data.
    order = ["Allocate", "Allocate", "ChannelBind", "first relayed data"]
    for f in turn_flows:
        names = [s["step"] for s in f["steps"]]
        ts = [s["t"] for s in f["steps"]]
        eq(ts, sorted(ts), "steps in time order")
        idx = []
        pos = 0
        for want in order:
            while pos < len(names) and not names[pos].startswith(want):
                pos += 1
            ok(pos < len(names), "step %r after %r in %r" % (want, order[:len(idx)], names))
            idx.append(pos)
            pos += 1
        ok("error 401" in names[idx[0]], "the first Allocate is challenged: %s" % names[idx[0]])
        ok("success, relayed 10.200.0.3:" in names[idx[1]], names[idx[1]])
        for k, n in enumerate(names):
            if n.startswith("CreatePermission"):
                ok(idx[1] < k < idx[3], "CreatePermission between grant and data: %r" % names)
        # The step times are the packets' times, as tshark reads them.
        client = f["a"] if f["b"].endswith(":3478") else f["b"]
        cip, cport = client.rsplit(":", 1)
        rows = tshark(cap, ["frame.time_epoch"], 'frame.interface_name == "wire" && udp.srcport == %s && '
                      'ip.src == %s && stun.type.method == 0x003 && stun.type.class == 0x00' % (cport, cip))
        near_ms(min(float(r[0]) for r in rows) - first, ts[idx[0]], "first Allocate time")
        rows = tshark(cap, ["frame.time_epoch"], 'frame.interface_name == "wire" && udp.port == %s && '
                      'ip.addr == %s && stun.type.method == 0x009 && stun.type.class == 0x00' % (cport, cip))
        ok(rows, "tshark sees the ChannelBind")
        near_ms(min(float(r[0]) for r in rows) - first, ts[idx[2]], "ChannelBind time")
        rows = tshark(cap, ["frame.time_epoch"], 'frame.interface_name == "wire" && udp.port == %s && '
                      'ip.addr == %s && (stun.channel || stun.type.method == 0x006 || stun.type.method == 0x007)'
                      % (cport, cip))
        ok(rows, "tshark sees ChannelData")
        near_ms(min(float(r[0]) for r in rows) - first, ts[idx[3]], "first relayed data")
    relay = [f for f in j["flow_steps"] if f["interface"] == "relay" and
             any("ClientHello" in s["step"] for s in f["steps"])]
    ok(relay, "a relay flow with the DTLS handshake")
    for f in relay[:1]:
        names = [s["step"] for s in f["steps"]]
        pos = 0
        for want in ["DTLS ClientHello", "DTLS ServerHello", "DTLS ChangeCipherSpec", "DTLS Finished",
                     "DTLS first application data"]:
            while pos < len(names) and not names[pos].startswith(want):
                pos += 1
            ok(pos < len(names), "%r in order in %r" % (want, names))
        hello = tshark(cap, ["frame.time_epoch"], 'frame.interface_name == "relay" && dtls.handshake.type == 1')
        step = [s for s in f["steps"] if s["step"].startswith("DTLS ClientHello")][0]
        near_ms(min(float(r[0]) for r in hello) - first, step["t"], "ClientHello time")


def png_size(path):
    """Width and height from a PNG's IHDR, after checking the signature and the chunk's CRC."""
    import zlib
    data = open(path, "rb").read()
    eq(data[:8], b"\x89PNG\r\n\x1a\n", "PNG signature of %s" % path)
    length, kind = struct.unpack("!I4s", data[8:16])
    eq(kind, b"IHDR", "first chunk")
    body = data[16:16 + length]
    eq(struct.unpack("!I", data[16 + length:20 + length])[0], zlib.crc32(kind + body), "IHDR CRC")
    ok(data.endswith(b"IEND\xaeB`\x82"), "PNG ends with IEND")
    return struct.unpack("!II", body[:8])


def test_svg_png_copies(env):
    """report --svg also writes a PNG per stream, rendered by rsvg-convert: a valid PNG (file,
    ffprobe and its own header agree) of the SVG's width and height; without rsvg-convert the SVGs
    are still written and one line says why there is no PNG."""
    import xml.etree.ElementTree as ET
    import test_report
    cclib.need("rsvg-convert")
    cap = env.path("c.pcapng")
    test_report.srtp_pcmu_session(env, cap, buffers=60, wrapper_args=["-q"])
    svgdir = env.path("svg")
    p = cclib.run([env.tool, "report", cap, "--svg", svgdir], env=env.env(preload=False))
    svgs = sorted(f for f in os.listdir(svgdir) if f.endswith(".svg"))
    pngs = sorted(f for f in os.listdir(svgdir) if f.endswith(".png"))
    ok(svgs, "SVGs written")
    eq([f[:-4] for f in pngs], [f[:-4] for f in svgs], "a PNG beside each SVG")
    ok("rsvg" not in p.stderr, p.stderr)
    for f in svgs:
        root = ET.parse(os.path.join(svgdir, f)).getroot()
        want = (int(root.get("width")), int(root.get("height")))
        png = os.path.join(svgdir, f[:-4] + ".png")
        eq(png_size(png), want, "PNG size of %s" % f)
        out = cclib.run(["file", "-b", png]).stdout
        ok(out.startswith("PNG image data, %d x %d" % want), out)
        if cclib.shutil.which("ffprobe"):
            wh = cclib.run(["ffprobe", "-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0",
                            png]).stdout.strip()
            eq(wh, "%d,%d" % want, "ffprobe's size")
    # Without the renderer: the SVGs, one line, success.
    bare = env.path("svg-bare")
    e = env.env(preload=False)
    e["PATH"] = "/nonexistent"
    p = cclib.run([env.tool, "report", cap, "--svg", bare], env=e)
    eq(sorted(os.listdir(bare)), svgs, "only the SVGs")
    eq([l for l in p.stderr.splitlines() if "rsvg-convert" in l],
       ["clearcap report: rsvg-convert not found (Debian package librsvg2-bin): no PNG copies"], p.stderr)


def _curl_capture(env, cap, args, key, crt):
    """curl fetches a page from openssl s_server -www under `clearcap ARGS -w cap`."""
    sock = __import__("socket")
    port = cclib.free_port(sock.SOCK_STREAM)
    srv = subprocess.Popen(["openssl", "s_server", "-www", "-naccept", "1", "-accept", str(port), "-cert", crt,
                            "-key", key], env=env.env(preload=False), stdin=subprocess.PIPE,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.7)     # no probe connection: s_server takes exactly one
        cclib.run([env.tool, "-q"] + args + ["-w", cap, "--", "curl", "-sk", "-o", env.path("page"),
                                             "https://127.0.0.1:%d/" % port], env=env.env(preload=False))
    finally:
        srv.kill()
        srv.wait()
    return port


def test_plain_ipv4_tls(env):
    """--plain-ipv4 (CLEARCAP_PLAIN_MAPPED=0): curl's decrypted HTTP is written on 127.0.0.1, not
    ::ffff:127.0.0.1, so `ip.addr == 127.0.0.1` finds it; tshark still reassembles the HTTP with
    tcp.reassemble_out_of_order; the README's filter finds both copies in either mode."""
    if env.sanitize:
        raise cclib.Skip("curl does not start with libasan preloaded")
    cclib.need("curl")
    key, crt = env.path("k.pem"), env.path("c.pem")
    cclib.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
               "-days", "2", "-subj", "/CN=localhost"])
    plain = 'frame.interface_name == "plaintext"'
    both = "ip.addr == 127.0.0.1 || ipv6.addr == ::ffff:127.0.0.1"
    ooo = ["-o", "tcp.reassemble_out_of_order:TRUE"]
    results = {}
    for mode, args in (("mapped", []), ("ipv4", ["--plain-ipv4"])):
        cap = env.path("plain-%s.pcapng" % mode)
        port = _curl_capture(env, cap, args, key, crt)
        rows = tshark(cap, ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport"], plain)
        ok(len(rows) >= 5, "plaintext frames (%s): %d" % (mode, len(rows)))
        for r in rows:
            if mode == "ipv4":
                eq(r[:4], ["127.0.0.1", "127.0.0.1", "", ""], "real IPv4 addresses")
            else:
                eq(r[:4], ["", "", "::ffff:127.0.0.1", "::ffff:127.0.0.1"], "IPv4-mapped by default")
            ok(str(port) in r[4:6], "on the connection's ports: %r" % r)
        eq(tshark_count(cap, both), tshark_count(cap), "the README's filter finds every frame (%s)" % mode)
        results[mode] = (len(rows), tshark_count(cap, "(%s) && ip.addr == 127.0.0.1" % plain))
        http = tshark(cap, ["http.request.method", "http.response.code"], plain + " && http", extra=ooo)
        ok(["GET", ""] in http and ["", "200"] in http, "HTTP reassembled on plaintext (%s): %r" % (mode, http))
    eq(results["ipv4"][1], results["ipv4"][0], "ip.addr finds every plaintext frame with --plain-ipv4")
    eq(results["mapped"][1], 0, "and none without it")
    # The environment variable is the same switch, checked by the wrapper before the program runs.
    e = env.env(preload=False)
    e["CLEARCAP_PLAIN_MAPPED"] = "yes"
    bad = cclib.run([env.tool, "-w", env.path("bad.pcapng"), "--", "true"], env=e, check=False)
    ok(bad.returncode == 2 and "CLEARCAP_PLAIN_MAPPED=yes: expected 0 or 1" in bad.stderr, bad.stderr)


def test_plain_ipv4_srtp(env):
    """--plain-ipv4 for libsrtp's plaintext: GStreamer's srtpdec output is written on 127.0.0.1
    (IPv4-mapped by default), tshark's RTP heuristic reads the same packets in both modes, and
    `ip.addr == 127.0.0.1` finds them only with the option."""
    import test_report
    plain = 'frame.interface_name == "plaintext"'
    got = {}
    for mode, args in (("mapped", []), ("ipv4", ["--plain-ipv4"])):
        cap = env.path("srtp-%s.pcapng" % mode)
        test_report.srtp_pcmu_session(env, cap, buffers=50, wrapper_args=["-q"] + args)
        rows = tshark(cap, ["ip.src", "ipv6.src", "rtp.seq"], plain + " && rtp",
                      extra=["--enable-heuristic", "rtp_udp"])
        ok(len(rows) >= 45, "decrypted RTP packets (%s): %d" % (mode, len(rows)))
        for r in rows:
            eq(r[:2], ["127.0.0.1", ""] if mode == "ipv4" else ["", "::ffff:127.0.0.1"], "addresses (%s)" % mode)
        got[mode] = sorted(int(r[2]) for r in rows)
        found = tshark_count(cap, plain + " && ip.addr == 127.0.0.1")
        eq(found, len(rows) if mode == "ipv4" else 0, "ip.addr finds the plaintext (%s)" % mode)
    eq(len(got["ipv4"]), len(got["mapped"]), "the same number of decrypted packets either way")


def test_sip_callid_with_quotes_stays_json(env):
    """A Call-ID may hold quotes and backslashes (RFC 3261 word): the report's JSON stays valid and
    gives it back exactly, in the dialog and in the timeline; tshark reads the same Call-ID."""
    cap = env.path("quote.pcapng")
    code = ("import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
            "s.sendto(b'INVITE sip:b@127.0.0.1 SIP/2.0\\r\\nCall-ID: a\"b\\\\c@x\\r\\nCSeq: 7 INVITE\\r\\n"
            "Content-Length: 0\\r\\n\\r\\n', ('127.0.0.1', 9))\n")
    cclib.run([env.tool, "-q", "-w", cap, "--", cclib.PY, "-c", code], env=env.env(preload=False))
    want = tshark(cap, ["sip.Call-ID"], "sip")[0][0]
    eq(want, 'a"b\\c@x', "tshark's Call-ID")
    j = report_json(env, cap)
    eq([d["call_id"] for d in j["sip"]], [want], "dialog Call-ID")
    eq(j["sip"][0]["messages"][0]["cseq"], 7, "CSeq")
    ok(any(want in e["event"] for e in j["timeline"]), "timeline names the call: %r" % j["timeline"])


def test_flow_steps_audio_srtp_keys(env):
    """aiortc with audio on host candidates: the media flow's steps end with the first SRTP and the
    first decrypted RTP (libsrtp's plaintext, the SRTP keys in use), after DTLS Finished."""
    import test_webrtc
    cap = env.path("audio.pcapng")
    test_webrtc.run_session(env, cap, mode="audio")
    j = report_json(env, cap)
    flows = [f for f in j["flow_steps"] if any(s["step"].startswith("first decrypted RTP") for s in f["steps"])]
    ok(flows, "a flow with decrypted RTP: %r" % [[s["step"] for s in f["steps"]] for f in j["flow_steps"]][:4])
    for f in flows:
        names = [s["step"] for s in f["steps"]]
        fin = min(s["t"] for s in f["steps"] if s["step"].startswith("DTLS Finished"))
        srtp = [s["t"] for s in f["steps"] if s["step"].startswith("first RTP (SRTP)")]
        plain = [s["t"] for s in f["steps"] if s["step"].startswith("first decrypted RTP")]
        ok(srtp and plain, "SRTP and decrypted RTP steps: %r" % names)
        ok(fin <= srtp[0] <= plain[0] + 0.001, "Finished, then SRTP, then its plaintext: %r" % names)
        # tshark: the first SRTP datagram of this 5-tuple on the wire has the step's time.
        a_ip, a_port = f["a"].rsplit(":", 1)
        b_ip, b_port = f["b"].rsplit(":", 1)
        rows = tshark(cap, ["frame.time_epoch", "udp.payload"], 'frame.interface_name == "wire" && udp.port == %s && '
                      'udp.port == %s' % (a_port, b_port))
        # RFC 7983: a first byte of 128..191 is RTP or RTCP; RTCP's second byte is 192..223.
        rtp = [float(r[0]) for r in rows if r[1] and 128 <= int(r[1][:2], 16) <= 191 and
               not 192 <= int(r[1].replace(":", "")[2:4], 16) <= 223]
        ok(rtp, "tshark finds the SRTP of %s <-> %s" % (f["a"], f["b"]))
        near_ms(min(rtp) - j["first_ns"] / 1e9, srtp[0], "first SRTP time")
