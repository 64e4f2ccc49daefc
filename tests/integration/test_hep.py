"""HEPv3 to Homer (clearcap --hep, CLEARCAP_HEP), received by real HEP decoders the tests start:
sngrep's HEP listener (-L), which writes what it decoded to a pcap that tshark then dissects as
SIP, and Kamailio's sipcapture module (Homer's classic capture node) storing into SQLite, over UDP,
TCP and to an IPv6 address.  The programs: sipsak against a Kamailio that answers, openssl s_client
speaking SIP over TLS to Kamailio's TLS module (decrypted SIP), Kamailio itself under the shim,
aiortc WebRTC peers (decrypted SRTCP), and short Python user agents where a test needs a shape no
packaged UA gives (SDP then RTCP, descriptor churn, fork).  Debian 12's tshark (Wireshark 4.0) has
no HEP dissector: tshark captures the HEP datagrams on the loopback and the tests read their chunks
only to check what the decoders cannot show (capture id, node name, protocol type, counts).
Collector down, slow and restarted: the program is unaffected, the file complete, losses counted."""
import os
import re
import signal
import socket
import subprocess
import time

import cclib
from cclib import eq, ok

QUICK = ["test_hep_collector_down", "test_hep_sip_over_tls_decrypted", "test_hep_rtcp_reports_with_call_id",
         "test_hep_sip_over_tcp_in_any_cut"]

KAMAILIO_UAS = """#!KAMAILIO
debug=1
log_stderror=yes
fork=no
listen=udp:127.0.0.1:%(port)d
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "sl.so"
request_route {
	if (method == "ACK") exit;
	sl_send_reply("200", "OK");
}
"""

# Kamailio as Homer's classic capture node: sipcapture decodes HEP and stores each SIP message in
# sip_capture (the columns its sip_capture() writes; SQLite takes them untyped).
KAMAILIO_CAPTURE = """#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=1
tcp_children=1
disable_tcp=%(notcp)s
tcp_accept_hep3=yes
tcp_accept_no_cl=yes
listen=%(proto)s:%(host)s:%(port)d
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "pv.so"
loadmodule "db_sqlite.so"
loadmodule "sipcapture.so"
modparam("sipcapture", "db_url", "sqlite:///%(db)s")
modparam("sipcapture", "capture_on", 1)
modparam("sipcapture", "hep_capture_on", 1)
modparam("sipcapture", "capture_node", "homer01")
%(tcp_hook)s
request_route {
	sip_capture();
	drop;
}
onreply_route {
	sip_capture();
	drop;
}
"""
# HEP over TCP comes to sipcapture through the core's non-SIP hook (UDP does not need it and
# breaks with it): Homer's own example configuration does the same.
TCP_HOOK = """modparam("sipcapture", "nonsip_hook", 1)
event_route[sipcapture:request] {
	return 1;
}"""
SIP_CAPTURE_COLUMNS = ("date, micro_ts, method, reply_reason, ruri, ruri_user, ruri_domain, from_user, from_domain, "
                       "from_tag, to_user, to_domain, to_tag, pid_user, contact_user, auth_user, callid, callid_aleg, "
                       "via_1, via_1_branch, cseq, diversion, reason, content_type, auth, user_agent, source_ip, "
                       "source_port, destination_ip, destination_port, contact_ip, contact_port, originator_ip, "
                       "originator_port, correlation_id, proto, family, rtp_stat, type, node, msg, custom_field1, "
                       "custom_field2, custom_field3")

SIP_FIELDS = ["ip.src", "udp.srcport", "ip.dst", "udp.dstport", "sip.Call-ID", "sip.CSeq", "sip.Method",
              "sip.Status-Code"]


def need_all(*tools):
    for t in tools:
        cclib.need(t)


class Proc:
    """A helper program the test starts and stops by its own pid."""

    def __init__(self, cmd, log, env=None):
        self.log = open(log, "w")
        self.p = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def stop(self, sig=signal.SIGTERM):
        """Signals the program and waits for it; one that has not ended after 30 s (a loaded
        machine: its processes' exits take the file's lock in turn) is killed, and what its
        processes were waiting in goes to the log first, for the failure to show."""
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                ps = subprocess.run(["ps", "-eo", "pid,ppid,stat,wchan:24,etimes,args", "--forest"],
                                    capture_output=True, text=True).stdout
                self.log.write("\n[test] still running 30 s after the signal:\n" + ps[-3000:])
                self.log.flush()
                self.p.kill()
                self.p.wait()
        self.log.close()


def kamailio_uas(env, port):
    cfg = env.path("uas-%d.cfg" % port)
    with open(cfg, "w") as f:
        f.write(KAMAILIO_UAS % {"port": port})
    k = Proc(["kamailio", "-f", cfg, "-DD", "-E", "-w", env.tmp], env.path("uas-%d.log" % port),
             env=env.env(preload=False))
    time.sleep(1.0)
    ok(k.p.poll() is None, "kamailio (UAS) runs: %s" % open(env.path("uas-%d.log" % port)).read()[-800:])
    return k


def tshark_lo(env, port, out):
    """tshark capturing the HEP datagrams to PORT on the loopback, until stopped."""
    log = env.path("tshark-%d.log" % port)
    t = Proc(["tshark", "-n", "-i", "lo", "-f", "udp port %d" % port, "-w", out], log, env=env.env(preload=False))
    deadline = time.time() + 15
    while time.time() < deadline and "Capturing on" not in open(log).read():
        time.sleep(0.1)
    ok("Capturing on" in open(log).read(), "tshark listens on lo: %s" % open(log).read()[-500:])
    return t


def hep_chunks(data):
    """The chunks of one HEPv3 packet, {type: value}; asserts the framing is exact."""
    eq(data[:4], b"HEP3", "HEP3 magic")
    eq(int.from_bytes(data[4:6], "big"), len(data), "HEP total length")
    off, chunks = 6, {}
    while off < len(data):
        vendor, typ, ln = (int.from_bytes(data[off + i:off + i + 2], "big") for i in (0, 2, 4))
        eq(vendor, 0, "chunk vendor")
        ok(ln >= 6 and off + ln <= len(data), "chunk %d length %d fits" % (typ, ln))
        chunks[typ] = data[off + 6:off + ln]
        off += ln
    return chunks


def sip_rows(capfile, dfilter="sip"):
    return sorted(tuple(r) for r in cclib.tshark(capfile, SIP_FIELDS, dfilter))


def run_sipsak(env, cap, hep, args, extra=(), append=False):
    cmd = [env.tool, "-w", cap] + (["-a"] if append else []) + ["--hep", hep] + list(extra) + ["--", "sipsak"] + args
    return cclib.run(cmd, env=env.env(None, preload=False), check=False, timeout=60)


def summary_hep(stderr):
    m = re.search(r"HEP (\d+) sent, (\d+) dropped", stderr)
    ok(m, "the summary says what HEP sent and dropped: %r" % stderr[-3000:])
    return int(m.group(1)), int(m.group(2))


def test_hep_sngrep_and_tshark(env):
    """A SIP exchange under clearcap --hep reaches sngrep's HEP listener once per message, with the
    real addresses and ports; tshark on the loopback sees one HEP datagram per SIP message."""
    need_all("sngrep", "sipsak", "kamailio", "tshark")
    kport, hport = cclib.free_port(), cclib.free_port()
    cap, sng, wire = env.path("sip.pcapng"), env.path("sngrep.pcap"), env.path("hep.pcapng")
    uas = kamailio_uas(env, kport)
    t = tshark_lo(env, hport, wire)
    s = Proc(["sngrep", "-N", "-q", "-L", "udp:127.0.0.1:%d" % hport, "-O", sng], env.path("sngrep.log"),
             env=env.env(preload=False))
    time.sleep(1.0)
    try:
        p1 = run_sipsak(env, cap, "udp:127.0.0.1:%d" % hport, ["-s", "sip:alice@127.0.0.1:%d" % kport],
                        ["--hep-id", "2001", "--hep-name", "edge-1"])
        eq(p1.returncode, 0, "sipsak got its 200 OK: %s" % p1.stderr[-500:])
        p2 = run_sipsak(env, cap, "udp:127.0.0.1:%d" % hport, ["-F", "-e", "20", "-s", "sip:bob@127.0.0.1:%d" % kport],
                        ["--hep-id", "2001", "--hep-name", "edge-1"], append=True)
        eq(p2.returncode, 0, "sipsak flood ran: %s" % p2.stderr[-500:])
        time.sleep(1.5)
    finally:
        s.stop(signal.SIGINT)
        t.stop(signal.SIGINT)
        uas.stop()
    in_file = sip_rows(cap)
    ok(len(in_file) >= 22, "the file holds the exchange: %d SIP messages" % len(in_file))
    sent = [summary_hep(p.stderr) for p in (p1, p2)]
    eq(sum(s for s, _ in sent), len(in_file), "HEP packets sent, one per SIP message in the file")
    eq(sum(d for _, d in sent), 0, "none dropped")
    js = __import__("json").loads(cclib.run([env.tool, "report", "--json", cap]).stdout)
    eq(js["hep"], {"sent": len(in_file), "dropped": 0, "processes": 2}, "the report's HEP counts, two runs")
    ok(os.path.exists(sng), "sngrep wrote what it decoded: %s" % open(env.path("sngrep.log")).read()[-500:])
    eq(sip_rows(sng), in_file, "sngrep decoded every SIP message once, same addresses, ports, Call-ID, CSeq")
    ok(all(r[0] == "127.0.0.1" and r[1] and r[3] for r in in_file), "real addresses and ports: %r" % in_file[:2])
    ok(any(r[1] == str(kport) for r in in_file) and any(r[3] == str(kport) for r in in_file),
       "both directions, Kamailio's real port %d" % kport)
    # What tshark saw on the loopback: one datagram per SIP message, each a whole HEPv3 packet.
    payloads = [bytes.fromhex(r[0]) for r in cclib.tshark(wire, ["udp.payload"], "udp.dstport == %d" % hport)]
    eq(len(payloads), len(in_file), "HEP datagrams on the loopback")
    calls = set()
    for data in payloads:
        c = hep_chunks(data)
        eq(int.from_bytes(c[12], "big"), 2001, "capture agent id")
        eq(c[19], b"edge-1", "node name")
        eq(c[11], b"\x01", "protocol type SIP")
        eq(c[1], b"\x02", "IPv4")
        eq(c[2], b"\x11", "UDP")
        ok(14 not in c, "no key when none was given")
        m = re.search(rb"\r\nCall-ID: *([^\r]+)\r\n", c[15], re.I)
        ok(m, "payload is a SIP message: %r" % c[15][:80])
        eq(c[17], m.group(1).strip(), "correlation id is the Call-ID")
        calls.add(c[17])
    eq(len(calls), len({r[4] for r in in_file}), "one Call-ID per sipsak run")


def test_hep_collector_down(env):
    """Nothing listens on the HEP port (UDP) or the connection is refused (TCP): sipsak runs as
    without HEP, the file holds every message, and the summary accounts for every one of them
    (TCP: all dropped)."""
    need_all("sipsak", "kamailio")
    kport = cclib.free_port()
    uas = kamailio_uas(env, kport)
    try:
        for hep in ("udp:127.0.0.1:%d" % cclib.free_port(), "tcp:127.0.0.1:%d" % cclib.free_port(socket.SOCK_STREAM)):
            cap = env.path("down-%s.pcapng" % hep[:3])
            t0 = time.time()
            p = run_sipsak(env, cap, hep, ["-F", "-e", "200", "-s", "sip:bob@127.0.0.1:%d" % kport])
            took = time.time() - t0
            eq(p.returncode, 0, "sipsak unaffected (%s): %s" % (hep, p.stderr[-400:]))
            ok(took < 10, "no waiting on the collector: %.1f s" % took)
            n = len(sip_rows(cap))
            ok(n >= 200, "the file holds all 200 requests (and what replies came): %d" % n)
            sent, dropped = summary_hep(p.stderr)
            eq(sent + dropped, n, "every SIP message either sent or counted as dropped (%s)" % hep)
            if hep.startswith("tcp"):
                eq(dropped, n, "TCP: connection refused, all counted as dropped")
            # The report, which reads only the file, gives the same counts (the process's
            # statistics block), in text and JSON.
            js = __import__("json").loads(cclib.run([env.tool, "report", "--json", cap]).stdout)
            eq((js["hep"]["sent"], js["hep"]["dropped"], js["hep"]["processes"]), (sent, dropped, 1),
               "HEP counts in the report (%s)" % hep)
            text = cclib.run([env.tool, "report", cap]).stdout
            ok("HEP to the collector: %d sent, %d dropped (1 process)" % (sent, dropped) in text, text[:600])
            # UDP learns of a closed port only from ICMP, which can come back after a whole burst has
            # left: datagrams handed to the kernel before it count as sent (the README says so).
    finally:
        uas.stop()


def test_hep_collector_slow(env):
    """A TCP collector that accepts and never reads: the queue fills, the program is not slowed,
    the file is complete, and what did not fit is counted as dropped."""
    need_all("sipsak", "kamailio")
    kport = cclib.free_port()
    uas = kamailio_uas(env, kport)
    lsn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(1)
    hport = lsn.getsockname()[1]
    try:
        cap = env.path("slow.pcapng")
        t0 = time.time()
        p = run_sipsak(env, cap, "tcp:127.0.0.1:%d" % hport, ["-F", "-e", "15000", "-s", "sip:bob@127.0.0.1:%d" % kport])
        took = time.time() - t0
        eq(p.returncode, 0, "sipsak unaffected: %s" % p.stderr[-400:])
        ok(took < 20, "no waiting on the collector: %.1f s" % took)
        n = len(sip_rows(cap))
        ok(n >= 15000, "the file holds all 15000 requests: %d" % n)
        sent, dropped = summary_hep(p.stderr)
        eq(sent + dropped, n, "every SIP message sent or counted as dropped")
        ok(dropped > 0, "a collector that never reads loses packets, counted: sent %d dropped %d" % (sent, dropped))
    finally:
        lsn.close()
        uas.stop()


def kamailio_capture(env, port, db, tcp=False, host="127.0.0.1"):
    """Kamailio's sipcapture on a fresh SQLite database, listening for HEP on PORT."""
    import sqlite3
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE sip_capture (id INTEGER PRIMARY KEY AUTOINCREMENT, %s)" % SIP_CAPTURE_COLUMNS)
    con.commit()
    con.close()
    cfg = env.path("capture-%d.cfg" % port)
    with open(cfg, "w") as f:
        f.write(KAMAILIO_CAPTURE % {"port": port, "db": db, "proto": "tcp" if tcp else "udp", "host": host,
                                    "notcp": "no" if tcp else "yes", "tcp_hook": TCP_HOOK if tcp else ""})
    log = env.path("capture-%d.log" % port)
    k = Proc(["kamailio", "-f", cfg, "-DD", "-E", "-w", env.tmp], log, env=env.env(preload=False))
    time.sleep(1.5)
    ok(k.p.poll() is None and "ERROR: db_sqlite" not in open(log).read(),
       "kamailio (sipcapture) runs: %s" % open(log).read()[-800:])
    return k


def stored(db):
    import sqlite3
    con = sqlite3.connect(db)
    rows = con.execute("SELECT source_ip, source_port, destination_ip, destination_port, callid, cseq, method, "
                       "reply_reason, node, correlation_id, msg FROM sip_capture").fetchall()
    con.close()
    return rows


def test_hep_kamailio_sipcapture(env):
    """Kamailio's sipcapture (Homer's capture node) stores every SIP message of the exchange once in
    sip_capture, with the real addresses, the node and capture id, and the Call-ID as correlation."""
    kamailio_sipcapture(env, tcp=False)


def test_hep_kamailio_sipcapture_tcp(env):
    """The same over a TCP connection to the collector (Kamailio: tcp_accept_hep3)."""
    kamailio_sipcapture(env, tcp=True)


def test_hep_kamailio_sipcapture_ipv6_collector(env):
    """The same to a collector on an IPv6 address (--hep udp:[::1]:PORT)."""
    kamailio_sipcapture(env, tcp=False, host="[::1]")


def kamailio_sipcapture(env, tcp, host="127.0.0.1"):
    need_all("sipsak", "kamailio", "tshark")
    if not os.path.exists("/usr/lib/x86_64-linux-gnu/kamailio/modules/db_sqlite.so"):
        raise cclib.Skip("kamailio-sqlite-modules not installed")
    kport = cclib.free_port()
    hport = cclib.free_port(socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM,
                            socket.AF_INET6 if host.startswith("[") else socket.AF_INET)
    db, cap = env.path("homer-%d-%s.db" % (tcp, host[:2])), env.path("kam-%d-%s.pcapng" % (tcp, host[:2]))
    url = "%s:%s:%d" % ("tcp" if tcp else "udp", host, hport)
    uas = kamailio_uas(env, kport)
    capture = kamailio_capture(env, hport, db, tcp, host)
    try:
        p1 = run_sipsak(env, cap, url, ["-s", "sip:carol@127.0.0.1:%d" % kport], ["--hep-id", "2001"])
        eq(p1.returncode, 0, "sipsak got its 200 OK: %s" % p1.stderr[-400:])
        p2 = run_sipsak(env, cap, url, ["-F", "-e", "10", "-s", "sip:carol@127.0.0.1:%d" % kport], ["--hep-id", "2001"],
                        append=True)
        eq(p2.returncode, 0, "sipsak ran: %s" % p2.stderr[-400:])
        time.sleep(1.5)
    finally:
        capture.stop()
        uas.stop()
    in_file = sip_rows(cap)
    rows = stored(db)
    eq(sum(summary_hep(p.stderr)[0] for p in (p1, p2)), len(in_file), "HEP sent one packet per SIP message")
    eq(len(rows), len(in_file), "sip_capture holds every SIP message of the file once")
    got = sorted((r[0], str(r[1]), r[2], str(r[3]), r[4], r[5]) for r in rows)
    eq(got, sorted(r[:6] for r in in_file), "stored with the real addresses, ports, Call-ID and CSeq")
    ok(all(r[8] == "homer01:2001" for r in rows), "node is capture_node:capture id: %r" % rows[0][8])
    ok(all(r[9] == r[4] for r in rows), "correlation id is the Call-ID")
    ok(any(r[1] == kport for r in rows) and any(r[3] == kport for r in rows), "both directions stored")


KAMAILIO_TLS_UAS = """#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=1
tcp_children=1
enable_tls=yes
listen=tls:127.0.0.1:%(port)d
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "sl.so"
loadmodule "tls.so"
modparam("tls", "config", "%(tlscfg)s")
request_route {
	if (method == "ACK") exit;
	sl_send_reply("200", "OK");
}
"""
TLS_MODULE_CFG = """[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = %(key)s
certificate = %(cert)s
"""

# Two requests in one TLS write (the INVITE with an SDP body), so that the stream must be cut by
# Content-Length; the program keeps its input open until the answers are in.
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
REQUESTS = ("OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK-o1\r\n"
            "From: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: tls-options-1\r\n"
            "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            "INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK-i1\r\n"
            "From: <sip:alice@127.0.0.1>;tag=a2\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: tls-invite-1\r\n"
            "CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContact: <sip:alice@127.0.0.1:5061;transport=tls>\r\n"
            "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s" % (len(SDP), SDP))


def test_hep_sip_over_tls_decrypted(env):
    """SIP over TLS between openssl s_client (OpenSSL, under clearcap --hep) and Kamailio's TLS
    module: the decrypted requests and answers land in Kamailio sipcapture's sip_capture table,
    each once, with the real addresses of the TLS connection and the INVITE's body whole."""
    need_all("kamailio", "openssl", "tshark")
    for mod in ("tls.so", "db_sqlite.so"):
        if not os.path.exists("/usr/lib/x86_64-linux-gnu/kamailio/modules/" + mod):
            raise cclib.Skip("kamailio module %s not installed" % mod)
    key, cert = env.path("key.pem"), env.path("cert.pem")
    cclib.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
               "-subj", "/CN=127.0.0.1"])
    kport, hport = cclib.free_port(socket.SOCK_STREAM), cclib.free_port()
    tlscfg, cfg = env.path("tls-module.cfg"), env.path("tls-uas.cfg")
    with open(tlscfg, "w") as f:
        f.write(TLS_MODULE_CFG % {"key": key, "cert": cert})
    with open(cfg, "w") as f:
        f.write(KAMAILIO_TLS_UAS % {"port": kport, "tlscfg": tlscfg})
    uas = Proc(["kamailio", "-f", cfg, "-DD", "-E", "-w", env.tmp], env.path("tls-uas.log"), env=env.env(preload=False))
    db, cap = env.path("homer-tls.db"), env.path("tls.pcapng")
    capture = kamailio_capture(env, hport, db)
    try:
        cclib.wait_for_port(kport)
        p = subprocess.Popen([env.tool, "-w", cap, "--hep", "udp:127.0.0.1:%d" % hport, "--hep-id", "7", "--",
                              "openssl", "s_client", "-connect", "127.0.0.1:%d" % kport, "-quiet", "-no_ign_eof"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env.env(None, preload=False))
        time.sleep(1.0)
        p.stdin.write(REQUESTS.encode())
        p.stdin.flush()
        deadline = time.time() + 10
        answers = b""
        import select
        while answers.count(b"SIP/2.0 200 OK") < 2 and time.time() < deadline:
            if select.select([p.stdout], [], [], 0.2)[0]:
                answers += os.read(p.stdout.fileno(), 65536)
        p.stdin.close()
        p.stdin = None
        out, err = p.communicate(timeout=20)
        err = err.decode(errors="replace")
        eq(answers.count(b"SIP/2.0 200 OK"), 2, "Kamailio answered both requests over TLS: %r" % answers[-300:])
        time.sleep(1.5)
    finally:
        capture.stop()
        uas.stop()
    sent, dropped = summary_hep(err)
    eq((sent, dropped), (4, 0), "four decrypted SIP messages sent over HEP")
    # The TLS connection's real ports, from the wire copy in the file.
    conn = cclib.tshark(cap, ["tcp.srcport", "tcp.dstport"], "tls.handshake.type == 1")
    eq(len(conn), 1, "one TLS connection")
    cport = conn[0][0]
    eq(conn[0][1], str(kport), "the connection goes to Kamailio's TLS port")
    rows = stored(db)
    eq(len(rows), 4, "sip_capture holds the two requests and the two answers once: %r" % [r[6] for r in rows])
    eq(sorted((r[6], r[4]) for r in rows), sorted([("OPTIONS", "tls-options-1"), ("INVITE", "tls-invite-1"),
                                                   ("200", "tls-options-1"), ("200", "tls-invite-1")]),
       "decrypted requests and answers, with their Call-IDs")
    for r in rows:
        eq(r[0], "127.0.0.1", "real source address")
        eq(r[2], "127.0.0.1", "real destination address")
        eq(sorted([str(r[1]), str(r[3])]), sorted([cport, str(kport)]), "the TLS connection's real ports")
        eq(r[8], "homer01:7", "node and capture id")
    invite = [r for r in rows if r[6] == "INVITE"][0]
    msg = invite[10] if isinstance(invite[10], str) else invite[10].decode()
    ok(msg.endswith("\r\n\r\n" + SDP), "the INVITE's SDP body is whole: %r" % msg[-120:])


# A SIP user agent in a few lines (Kamailio answers its INVITE), then the RTCP sender report of
# the stream its SDP offered, from the RTCP port next to the RTP port (RFC 3550 section 11).
UA = r"""
import socket, struct, sys
kport = int(sys.argv[1])
sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); sip.bind(("127.0.0.1", 0))
rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for rtp_port in range(41000, 42000, 2):
    try:
        rtcp.bind(("127.0.0.1", rtp_port + 1)); break
    except OSError:
        pass
sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio %d RTP/AVP 0\r\n" % rtp_port)
inv = ("INVITE sip:bob@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-r1\r\n"
       "From: <sip:alice@127.0.0.1>;tag=r1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: rtcp-call-7\r\n"
       "CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContact: <sip:alice@127.0.0.1:%d>\r\n"
       "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s"
       % (kport, sip.getsockname()[1], sip.getsockname()[1], len(sdp), sdp))
sip.sendto(inv.encode(), ("127.0.0.1", kport))
sip.settimeout(5)
assert sip.recv(4096).startswith(b"SIP/2.0 200")
for i in range(3):
    sr = struct.pack("!BBHIIIIII", 0x80, 200, 6, 0xabcd0001, 0xe0000001 + i, 0x80000000, 1000 + 160 * i, 50 * (i + 1),
                     8000 * (i + 1))
    rtcp.sendto(sr, ("127.0.0.1", 40001))
print(rtp_port)
"""


def test_hep_rtcp_reports_with_call_id(env):
    """RTCP sender reports go as HEP type 5 (JSON) with the Call-ID of the SIP call whose SDP
    offered their stream: Kamailio's sipcapture stores them in rtcp_capture under that call."""
    need_all("kamailio")
    if not os.path.exists("/usr/lib/x86_64-linux-gnu/kamailio/modules/db_sqlite.so"):
        raise cclib.Skip("kamailio-sqlite-modules not installed")
    import json
    import sqlite3
    kport, hport = cclib.free_port(), cclib.free_port()
    db, cap = env.path("homer-rtcp.db"), env.path("rtcp.pcapng")
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE rtcp_capture (id INTEGER PRIMARY KEY AUTOINCREMENT, date, micro_ts, correlation_id, "
                "source_ip, source_port, destination_ip, destination_port, proto, family, type, node, msg)")
    con.commit()
    con.close()
    uas = kamailio_uas(env, kport)
    capture = kamailio_capture(env, hport, db)
    try:
        p = cclib.run([env.tool, "-w", cap, "--hep", "udp:127.0.0.1:%d" % hport, "--hep-id", "3", "--", cclib.PY,
                       "-c", UA, str(kport)], env=env.env(None, preload=False))
        rtp_port = int(p.stdout.split()[-1])
        time.sleep(1.5)
    finally:
        capture.stop()
        uas.stop()
    eq(summary_hep(p.stderr), (5, 0), "INVITE, 200 OK and three reports sent")
    con = sqlite3.connect(db)
    rows = con.execute("SELECT correlation_id, source_ip, source_port, destination_port, type, msg FROM rtcp_capture "
                       "ORDER BY id").fetchall()
    sip = con.execute("SELECT method, callid FROM sip_capture").fetchall()
    con.close()
    eq(sorted(sip), [("200", "rtcp-call-7"), ("INVITE", "rtcp-call-7")], "the call in sip_capture")
    eq(len(rows), 3, "three reports in rtcp_capture")
    for i, r in enumerate(rows):
        eq(r[0], "rtcp-call-7", "filed under the call's Call-ID")
        eq((r[1], r[2], r[3]), ("127.0.0.1", rtp_port + 1, 40001), "real RTCP addresses")
        j = json.loads(r[5])
        eq((j["ssrc"], j["type"]), (0xabcd0001, 200), "sender report of the stream")
        eq((j["sender_information"]["packets"], j["sender_information"]["octets"]), (50 * (i + 1), 8000 * (i + 1)),
           "sender information")


def test_hep_collector_restarted(env):
    """Kamailio answering SIP under clearcap --hep tcp: while the collector (Kamailio sipcapture)
    runs, is stopped, and runs again: every request is answered, the collector has the messages
    of the first and last phases, the connection comes back by itself, and what went nowhere in
    between is counted as dropped."""
    need_all("sipsak", "kamailio")
    if not os.path.exists("/usr/lib/x86_64-linux-gnu/kamailio/modules/db_sqlite.so"):
        raise cclib.Skip("kamailio-sqlite-modules not installed")
    import sqlite3
    kport, hport = cclib.free_port(), cclib.free_port(socket.SOCK_STREAM)
    cfg = env.path("uas-hep.cfg")
    with open(cfg, "w") as f:
        f.write(KAMAILIO_UAS % {"port": kport})
    cap, db1, db2 = env.path("restart.pcapng"), env.path("homer-a.db"), env.path("homer-b.db")
    capture = kamailio_capture(env, hport, db1, tcp=True)
    uas = Proc([env.tool, "-w", cap, "--hep", "tcp:127.0.0.1:%d" % hport, "--hep-id", "11", "--", "kamailio", "-f", cfg,
                "-DD", "-E", "-w", env.tmp], env.path("uas-hep.log"), env=env.env(None, preload=False))
    time.sleep(1.5)

    def phase(n):
        for _ in range(n):
            p = cclib.run(["sipsak", "-s", "sip:dave@127.0.0.1:%d" % kport], env=env.env(preload=False), check=False)
            eq(p.returncode, 0, "Kamailio answered under clearcap: %s" % p.stdout[-300:])
            time.sleep(0.05)
    try:
        phase(5)
        time.sleep(0.5)
        capture.stop()
        phase(5)
        time.sleep(0.3)
        capture = kamailio_capture(env, hport, db2, tcp=True)
        time.sleep(1.5)         # the output retries a lost connection once a second
        phase(5)
        time.sleep(1.0)
    finally:
        uas.stop()
        capture.stop()
    log = open(env.path("uas-hep.log")).read()
    sent, dropped = summary_hep(log)
    n = len(sip_rows(cap))
    eq(n, 30, "the file holds all 15 requests and 15 answers")
    eq(sent + dropped, n, "every message sent or counted as dropped")
    rows = []
    for db in (db1, db2):
        con = sqlite3.connect(db)
        rows.append(con.execute("SELECT method FROM sip_capture").fetchall())
        con.close()
    eq(len(rows[0]), 10, "first collector: the first 5 requests and answers")
    ok(len(rows[1]) >= 8, "restarted collector: the last phase after reconnecting (%d of 10)" % len(rows[1]))
    ok(dropped >= 8, "the messages sent while it was down counted as dropped: %d" % dropped)


# Sends one SIP OPTIONS per round to Kamailio; between rounds it closes every descriptor above
# stderr, then dup2's a file over (almost) every descriptor number, as daemons do at start-up.
FD_CHURN = r"""
import os, resource, socket, sys
kport = int(sys.argv[1])
def options(i):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
    m = ("OPTIONS sip:eve@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-f%d\r\n"
         "From: <sip:f@127.0.0.1>;tag=f%d\r\nTo: <sip:eve@127.0.0.1>\r\nCall-ID: fd-churn-%d\r\nCSeq: 1 OPTIONS\r\n"
         "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n" % (kport, s.getsockname()[1], i, i, i))
    s.sendto(m.encode(), ("127.0.0.1", kport)); s.settimeout(5)
    assert s.recv(4096).startswith(b"SIP/2.0 200")
    s.close()
options(1)
os.closerange(3, 65536)
options(2)
null = os.open("/dev/null", os.O_WRONLY)
limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
# Up to a few numbers short of the limit: with every number taken there is nowhere to move to.
for fd in range(3, min(limit, 65536) - 8):
    if fd != null:
        os.dup2(null, fd)
for fd in range(3, min(limit, 65536)):
    if fd != null:
        try:
            os.close(fd)
        except OSError:     # the shim's own descriptors are invisible to the program (EBADF)
            pass
options(3)
print("done")
"""


def test_hep_socket_kept_from_program(env):
    """A program that closes every descriptor and dup2's over every number keeps sending HEP:
    the collector has all three OPTIONS exchanges."""
    need_all("kamailio")
    if not os.path.exists("/usr/lib/x86_64-linux-gnu/kamailio/modules/db_sqlite.so"):
        raise cclib.Skip("kamailio-sqlite-modules not installed")
    kport, hport = cclib.free_port(), cclib.free_port()
    db, cap = env.path("homer-fd.db"), env.path("fd.pcapng")
    uas = kamailio_uas(env, kport)
    capture = kamailio_capture(env, hport, db)
    try:
        p = cclib.run([env.tool, "-w", cap, "--hep", "udp:127.0.0.1:%d" % hport, "--", cclib.PY, "-c", FD_CHURN,
                       str(kport)], env=env.env(None, preload=False))
        eq(p.stdout.strip(), "done", "the program ran")
        time.sleep(1.5)
    finally:
        capture.stop()
        uas.stop()
    eq(summary_hep(p.stderr), (6, 0), "three requests and three answers sent")
    eq(sorted(r[4] for r in stored(db)), sorted(["fd-churn-%d" % i for i in (1, 2, 3)] * 2),
       "all three exchanges at the collector")


# OPTIONS from a parent, from its forked child while the parent sends too, then from the parent
# again: over TCP each process must keep a connection of its own, or the streams interleave.
FORKING = FD_CHURN.split("options(1)")[0] + r"""
options(1)
pid = os.fork()
for i in range(5):
    options(10 + i if pid == 0 else 20 + i)
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
options(3)
print("done")
"""


def test_hep_tcp_after_fork(env):
    """A process that forks after its HEP connection is up: parent and child each send over a
    connection of their own, and Kamailio's sipcapture stores every message of both, whole."""
    need_all("kamailio")
    if not os.path.exists("/usr/lib/x86_64-linux-gnu/kamailio/modules/db_sqlite.so"):
        raise cclib.Skip("kamailio-sqlite-modules not installed")
    kport, hport = cclib.free_port(), cclib.free_port(socket.SOCK_STREAM)
    db, cap = env.path("homer-fork.db"), env.path("fork.pcapng")
    uas = kamailio_uas(env, kport)
    capture = kamailio_capture(env, hport, db, tcp=True)
    try:
        p = cclib.run([env.tool, "-w", cap, "--hep", "tcp:127.0.0.1:%d" % hport, "--", cclib.PY, "-c", FORKING,
                       str(kport)], env=env.env(None, preload=False))
        eq(p.stdout.strip(), "done", "the program ran")
        time.sleep(1.5)
    finally:
        capture.stop()
        uas.stop()
    want = sorted(["fd-churn-%d" % i for i in [1, 3] + list(range(10, 15)) + list(range(20, 25))] * 2)
    eq(summary_hep(p.stderr), (len(want), 0), "every request and answer of both processes sent")
    eq(sorted(r[4] for r in stored(db)), want, "parent's and child's messages all stored")


def test_hep_decrypted_srtcp_from_webrtc(env):
    """WebRTC audio between two aiortc peers (DTLS-SRTP through libsrtp2) under the shim with
    CLEARCAP_HEP and classes rtcp,plaintext: every decrypted RTCP report goes out once as HEP type 5,
    its JSON matching tshark's dissection of the plaintext copy in the file (SSRC, packet and octet
    counts), with the addresses of the SRTCP flow.  No SIP here: the correlation id is the flow's."""
    import json
    import test_webrtc
    cclib.need("socat")
    hport = 9060
    cap, wire = env.path("w.pcapng"), env.path("hep-w.pcapng")
    # The collector's side runs without the shim (the script's environment preloads it for the peers).
    bare = "env -u LD_PRELOAD -u CLEARCAP_FILE -u CLEARCAP_HEP "
    prelude = ((bare + "tshark -n -i lo -f 'udp port %d' -w %s >%s 2>&1 & echo $! > %s; " +
                bare + "socat -u UDP-RECV:%d,bind=127.0.0.1 OPEN:/dev/null >/dev/null 2>&1 & echo $! > %s; "
                "for i in $(seq 50); do grep -q Capturing %s && break; sleep 0.1; done")
               % (hport, wire, env.path("tshark.log"), env.path("tshark.pid"), hport, env.path("socat.pid"),
                  env.path("tshark.log")))
    try:
        test_webrtc.run_session(env, cap, mode="audio", prelude=prelude,
                                extra={"CLEARCAP_HEP": "udp:127.0.0.1:%d" % hport, "CLEARCAP_HEP_ID": "42",
                                       "CLEARCAP_HEP_CLASSES": "rtcp,plaintext"})
        time.sleep(1.0)
    finally:
        for name, sig in (("tshark.pid", signal.SIGINT), ("socat.pid", signal.SIGTERM)):
            if os.path.exists(env.path(name)):
                try:
                    os.kill(int(open(env.path(name)).read().strip()), sig)
                except (ProcessLookupError, ValueError):
                    pass
        time.sleep(1.0)
    # The reports in the file, as tshark reads the plaintext copies: the first SR or RR of each.
    rows = cclib.tshark(cap, ["rtcp.pt", "rtcp.senderssrc", "rtcp.sender.packetcount", "rtcp.sender.octetcount"],
                        'frame.interface_name == "plaintext" && (rtcp.pt == 200 || rtcp.pt == 201)',
                        extra=["--enable-heuristic", "rtp_udp"])
    want = sorted((int(r[0].split(",")[0]), int(r[1].split(",")[0], 0),
                   int(r[2]) if r[2] and r[0].startswith("200") else None,
                   int(r[3]) if r[3] and r[0].startswith("200") else None) for r in rows)
    ok(len(want) >= 2, "decrypted RTCP reports in the file: %d" % len(want))
    got = []
    for r in cclib.tshark(wire, ["udp.payload"], "udp.dstport == %d" % hport):
        c = hep_chunks(bytes.fromhex(r[0]))
        eq(c[11], b"\x05", "protocol type 5 (RTCP as JSON)")
        eq(int.from_bytes(c[12], "big"), 42, "capture agent id")
        eq(c[1], b"\x02", "the IPv4-mapped flow goes as IPv4")
        # No SIP: the correlation id is the flow's, its two ends in order, the same both ways.
        ends = sorted("%s:%d" % (socket.inet_ntoa(c[3 + d]), int.from_bytes(c[7 + d], "big")) for d in (0, 1))
        eq(c.get(17), ("rtcp-%s-%s" % tuple(ends)).encode(), "correlation id from the flow")
        j = json.loads(c[15])
        si = j.get("sender_information", {})
        got.append((j["type"], j["ssrc"], si.get("packets"), si.get("octets")))
    eq(sorted(got), want, "one HEP report per decrypted SR/RR, the same numbers tshark reads")


# Kamailio's sipcapture receiving HEP over TLS: its tls module on the listener, HEP through the
# core's non-SIP hook as for TCP.
KAMAILIO_CAPTURE_TLS = KAMAILIO_CAPTURE.replace("listen=%(proto)s:%(host)s:%(port)d", """enable_tls=yes
listen=tls:%(host)s:%(port)d""").replace('loadmodule "sipcapture.so"', """loadmodule "tls.so"
modparam("tls", "config", "%(tlscfg)s")
loadmodule "sipcapture.so\"""")


def make_ca_and_server_cert(env):
    """A CA, and a server certificate it signed for localhost and 127.0.0.1."""
    d = env.tmp
    run = lambda *a: cclib.run(["openssl"] + list(a), cwd=d)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=clearcap test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=localhost")
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "srv.pem",
        "-days", "2", "-extfile", "san.ext")
    return env.path("ca.pem"), env.path("srv.pem"), env.path("srv.key")


def test_hep_over_tls_to_kamailio(env):
    """--hep tls:localhost:PORT: the wrapper relays the processes' HEP over TLS, verifying the
    collector (Kamailio sipcapture with its tls module) against --hep-ca; sip_capture then holds
    every SIP message of the file once, and the summary counts them end to end.  Without the CA
    the certificate is refused: nothing goes, all counted as dropped, and the summary says why."""
    need_all("sipsak", "kamailio", "openssl")
    if not os.path.exists("/usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so"):
        raise cclib.Skip("kamailio-tls-modules not installed")
    ca, cert, key = make_ca_and_server_cert(env)
    tlscfg = env.path("capture-tls.cfg")
    with open(tlscfg, "w") as f:
        f.write(TLS_MODULE_CFG % {"key": key, "cert": cert})
    kport, hport = cclib.free_port(), cclib.free_port(socket.SOCK_STREAM)
    db = env.path("homer-tls.db")
    import sqlite3
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE sip_capture (id INTEGER PRIMARY KEY AUTOINCREMENT, %s)" % SIP_CAPTURE_COLUMNS)
    con.commit()
    con.close()
    cfg = env.path("capture-tls-k.cfg")
    with open(cfg, "w") as f:
        f.write(KAMAILIO_CAPTURE_TLS % {"port": hport, "db": db, "proto": "tls", "host": "127.0.0.1", "notcp": "no",
                                        "tcp_hook": TCP_HOOK, "tlscfg": tlscfg})
    uas = kamailio_uas(env, kport)
    capture = Proc(["kamailio", "-f", cfg, "-DD", "-E", "-w", env.tmp], env.path("capture-tls.log"),
                   env=env.env(preload=False))
    time.sleep(1.5)
    try:
        ok(capture.p.poll() is None, "kamailio (sipcapture over TLS) runs: %s"
           % open(env.path("capture-tls.log")).read()[-800:])
        cap, bad = env.path("tls.pcapng"), env.path("tls-bad.pcapng")
        url = "tls:localhost:%d" % hport
        p = run_sipsak(env, cap, url, ["-F", "-e", "10", "-s", "sip:dave@127.0.0.1:%d" % kport],
                       ["--hep-id", "2001", "--hep-ca", ca])
        eq(p.returncode, 0, "sipsak ran: %s" % p.stderr[-400:])
        q = run_sipsak(env, bad, url, ["-s", "sip:erin@127.0.0.1:%d" % kport], ["--hep-id", "2001"])
        eq(q.returncode, 0, "sipsak ran, the collector refused: %s" % q.stderr[-400:])
        time.sleep(1.5)
    finally:
        capture.stop()
        uas.stop()
    in_file = sip_rows(cap)
    ok(len(in_file) >= 10, "the file holds the exchange: %d" % len(in_file))
    eq(summary_hep(p.stderr), (len(in_file), 0), "every message relayed over TLS: %s" % p.stderr[-600:])
    ok("(TLS to localhost:%d)" % hport in p.stderr, p.stderr[-600:])
    rows = stored(db)
    got = sorted((r[0], str(r[1]), r[2], str(r[3]), r[4], r[5]) for r in rows)
    eq(got, sorted(r[:6] for r in in_file), "sip_capture holds every message of the file once, real addresses")
    ok(all(r[8] == "homer01:2001" for r in rows), "node and capture id: %r" % rows[:1])
    js = __import__("json").loads(cclib.run([env.tool, "report", "--json", cap]).stdout)["hep"]
    eq(js["tls_relay"], {"to": "localhost:%d" % hport, "relayed": len(in_file), "dropped": 0},
       "the relay's counts in the report")
    # Not verified: nothing went, everything counted, and the summary says why.
    n_bad = len(sip_rows(bad))
    eq(summary_hep(q.stderr), (0, n_bad), "an unverified collector gets nothing: %s" % q.stderr[-600:])
    ok(re.search(r"HEP over TLS to localhost:\d+: the collector's certificate: .*--hep-insecure", q.stderr), q.stderr)
    eq(len(rows), len(in_file), "nothing of the refused run stored")


def test_hep_only_without_a_file(env):
    """--hep without -w: the collector is the only output.  sngrep's HEP listener gets every SIP
    message of the exchange (checked against what sngrep writes), the summary counts them, and no
    capture file is made, even with CLEARCAP_FILE in the caller's environment."""
    need_all("sngrep", "sipsak", "kamailio")
    kport, hport = cclib.free_port(), cclib.free_port()
    sng, stray = env.path("sngrep.pcap"), env.path("stray.pcapng")
    uas = kamailio_uas(env, kport)
    s = Proc(["sngrep", "-N", "-q", "-L", "udp:127.0.0.1:%d" % hport, "-O", sng], env.path("sngrep.log"),
             env=env.env(preload=False))
    time.sleep(1.0)
    try:
        p = cclib.run([env.tool, "--hep", "udp:127.0.0.1:%d" % hport, "--", "sipsak", "-F", "-e", "5", "-s",
                       "sip:frank@127.0.0.1:%d" % kport], env=env.env(None, {"CLEARCAP_FILE": stray}, preload=False),
                      check=False, timeout=60)
        eq(p.returncode, 0, "sipsak ran: %s" % p.stderr[-400:])
        time.sleep(1.5)
    finally:
        s.stop(signal.SIGINT)
        uas.stop()
    ok("no file (HEP only)" in p.stderr, p.stderr)
    ok(not os.path.exists(stray), "no capture file written")
    got = sip_rows(sng)
    ok(len(got) >= 5, "sngrep decoded the exchange: %d messages" % len(got))
    eq(summary_hep(p.stderr), (len(got), 0), "the summary counts what sngrep received")
    ok(all(r[0] == "127.0.0.1" and r[1] and r[3] for r in got), "real addresses and ports: %r" % got[:2])


class _UdpCollector:
    """A HEP collector on a UDP port with a large buffer, read by a thread of its own as packets
    come (a burst of a few hundred small datagrams overflows the default buffer)."""

    def __init__(self):
        import threading
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)      # SO_RCVBUFFORCE (root)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.got, self.stopped, self.lock = [], False, threading.Lock()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stopped:
            try:
                d = self.sock.recv(70000)
            except socket.timeout:
                continue
            # (Not self.got.append(recv()): that binds the list before the wait, and a take()
            # meanwhile would leave the datagram in the list it took.)
            with self.lock:
                self.got.append(d)

    def take(self, wait=1.0):
        """Every HEP packet so far, as chunk dicts, once none came for `wait` s."""
        n = -1
        while n != len(self.got):
            n = len(self.got)
            time.sleep(wait)
        with self.lock:
            out, self.got = self.got, []
        return [hep_chunks(d) for d in out]

    def close(self):
        self.stopped = True
        self.t.join()
        self.sock.close()


RTP_FLOWS = r"""
import socket, struct, sys
def pair():
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(('127.0.0.1', 0))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0)); s.connect(r.getsockname())
    return s, r
def rtp(tag, i):
    return struct.pack('!BBHII', 0x80, 0, i, i * 160, 0x1000 + tag) + b'%c' % (65 + tag) * 40
plain, dtls, sdes = pair(), pair(), pair()
# SDES: a SIP INVITE whose SDP gives the media port an SRTP transport (RFC 4568).
sip_s, sip_r = pair()
port = sdes[1].getsockname()[1]
sdp = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/SAVP 0\r\n' % port
sip_s.send(('INVITE sip:b@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n'
               'From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: sdes-1@x\r\nCSeq: 1 INVITE\r\n'
               'Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s' % (len(sdp), sdp)).encode())
sip_r.recv(4000)
# DTLS-SRTP: a DTLS record (a ClientHello's first bytes) on the flow first (RFC 5764, 7983).
dtls[0].send(bytes([22, 0xfe, 0xfd]) + bytes(10) + b'\x00\x10' + bytes(16))
dtls[1].recv(2000)
for tag, (s, r) in enumerate((plain, dtls, sdes)):
    for i in range(5):
        s.send(rtp(tag, i))
        r.recv(2000)
print('ok')
"""


def test_hep_rtp_never_ciphertext(env):
    """--hep-classes rtp on every interface: plain RTP goes as HEP type 4 from the wire (each
    datagram sent and received), SRTP never does - not on a flow that carried DTLS first
    (DTLS-SRTP), nor to a port an SDP body gave RTP/SAVP (SDES), nor in a process using libsrtp
    (pylibsrtp), whose plaintext copies go instead, each once."""
    col = _UdpCollector()
    try:
        cap = env.path("flows.pcapng")
        p = cclib.run([env.tool, "-w", cap, "--hep", "udp:127.0.0.1:%d" % col.port,
                       "--hep-classes", "sip,rtp", "--", cclib.PY, "-c", RTP_FLOWS], env=env.env(None, preload=False))
        eq(p.stdout.strip(), "ok", "the program ran")
        got = col.take()
        rtp = [c[15] for c in got if c[11] == b"\x04"]
        # Sent and received copies of the 5 plain RTP packets (SSRC 0x1000), nothing else.
        eq(sorted(r[8:12].hex() for r in rtp), ["00001000"] * 10, "only the plain flow's RTP went as media")
        eq(sum(1 for c in got if c[11] == b"\x01"), 2, "the INVITE, sent and received")
        # pylibsrtp (libsrtp2) in the process: its 10 plaintexts (5 protected, 5 unprotected) only.
        import test_srtp
        cap = test_srtp._rekeyed(env, 0x80, {"CLEARCAP_HEP": "udp:127.0.0.1:%d" % col.port,
                                             "CLEARCAP_HEP_CLASSES": "rtp"}, "hep-")
        got = [c[15].hex() for c in col.take() if c[11] == b"\x04"]
        want = [r[0] for r in cclib.tshark(cap, ["udp.payload"], 'frame.interface_name == "plaintext"')]
        eq(len(want), 20, "plaintexts in the file")
        eq(sorted(got), sorted(want), "the plaintexts, each once, and no SRTP from the wire")
    finally:
        col.close()


SIP_TCP_LONG = r"""
import socket, sys, threading
srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(1)
c = socket.socket(); c.connect(srv.getsockname()); a, _ = srv.accept()
def m(cid, body=''):
    return ('MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK%s\r\n'
            'From: <sip:a@x>;tag=1\r\nTo: <sip:bob@x>\r\nCall-ID: %s\r\nCSeq: 1 MESSAGE\r\n'
            'Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s' % (cid, cid, len(body), body)).encode()
# One write with a 20 kB message and 99 small ones; then one longer than HEP follows (40 kB)
# between small ones.  The reader takes 16 kB, then 64 kB at a time, then 4 kB at a time.
first = m('big-20k', 'y' * 20000) + b''.join(m('small-%d' % i) for i in range(99))
second = m('long-40k', 'z' * 40000) + b''.join(m('after-%d' % i) for i in range(3))
# Messages of exactly 1 kB: the buffer fills at a message's end; the reader's first cut leaves
# a message's first 3 bytes alone at the end of its segment.
def kb(i):
    n = 1024 - len(m('kb-%02d' % i)) - 2        # (Content-Length: 0 becomes three digits)
    return m('kb-%02d' % i, 'k' * n)
third = b''.join(kb(i) for i in range(40))
assert len(third) == 40 * 1024
got = []
def reader():
    n, size = len(first), 16384
    while n:
        d = a.recv(min(size, n)); n -= len(d); got.append(len(d)); size = 65536
    n = len(second)
    while n:
        d = a.recv(min(4096, n)); n -= len(d)
    n, size = len(third), 32 * 1024 + 3
    while n:
        d = a.recv(min(size, n)); n -= len(d); size = 65536
t = threading.Thread(target=reader); t.start()
c.sendall(first)
c.sendall(second)
c.sendall(third)
t.join()
print('ok', got[:3])
"""


def test_hep_sip_over_tcp_in_any_cut(env):
    """SIP over TCP whose segments (cut where the program wrote or read) are larger than the HEP
    output's 32 KiB buffer, end it halfway through a message, fill it exactly, or end with a
    message's first 3 bytes: every message goes to the collector once per side, but the one longer
    than 32 KiB, which is counted as dropped on each side - and the messages after it are not lost."""
    col = _UdpCollector()
    try:
        cap = env.path("long.pcapng")
        p = cclib.run([env.tool, "-w", cap, "--hep", "udp:127.0.0.1:%d" % col.port, "--",
                       cclib.PY, "-c", SIP_TCP_LONG], env=env.env(None, preload=False))
        ok(p.stdout.startswith("ok"), "the program ran: %r" % p.stdout)
        got = sorted(c[17].decode() for c in col.take() if c[11] == b"\x01")
    finally:
        col.close()
    want = sorted(["big-20k"] + ["small-%d" % i for i in range(99)] + ["after-%d" % i for i in range(3)] +
                  ["kb-%02d" % i for i in range(40)]) * 2
    eq(got, sorted(want), "every SIP message but the 40 kB one, sent and received")
    eq(summary_hep(p.stderr), (len(want), 2), "the long message counted as dropped on each side")


SIP_TCP_PIECES = r"""
import socket, threading
srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(1)
c = socket.socket(); c.connect(srv.getsockname()); a, _ = srv.accept()
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def m(cid):
    return ('OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK%s\r\n'
            'From: <sip:a@x>;tag=1\r\nTo: <sip:bob@x>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\n'
            'Content-Length: 0\r\n\r\n' % (cid, cid)).encode()
msgs = [m('piece-%d' % i) for i in range(3)]
data = b''.join(msgs)
# The stream's first bytes alone, on both sides: the sender writes 'OPT' first (then the rest),
# the reader takes 2 bytes first (then the rest as it comes).
ready = threading.Event()
def reader():
    n = len(data); got = a.recv(2); n -= len(got); ready.set()
    while n:
        d = a.recv(n); n -= len(d)
t = threading.Thread(target=reader); t.start()
c.sendall(data[:3]); ready.wait(); c.sendall(data[3:])
t.join()
print('ok')
"""


def test_hep_sip_over_tcp_first_bytes_alone(env):
    """A SIP-over-TCP stream whose first segment holds only the first bytes of its start line (a
    program that writes 'OPT' and then the rest; a reader that takes 2 bytes first): followed from
    there all the same, every message at the collector once per side."""
    col = _UdpCollector()
    try:
        cap = env.path("pieces.pcapng")
        p = cclib.run([env.tool, "-w", cap, "--hep", "udp:127.0.0.1:%d" % col.port, "--",
                       cclib.PY, "-c", SIP_TCP_PIECES], env=env.env(None, preload=False))
        eq(p.stdout.strip(), "ok", "the program ran: %r" % p.stderr)
        got = sorted(c[17].decode() for c in col.take() if c[11] == b"\x01")
    finally:
        col.close()
    eq(got, sorted(["piece-%d" % i for i in range(3)] * 2), "every message, sent and received")


FORK_EXIT = r"""
import os, socket, sys
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(('127.0.0.1', 0))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def opt(tag):
    s.sendto(('OPTIONS sip:b@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK%s\r\n'
              'From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\n'
              'Content-Length: 0\r\n\r\n' % (tag, tag)).encode(), r.getsockname())
opt('parent-0')
pids = []
for k in range(2):
    pid = os.fork()
    if pid == 0:
        for i in range(3):
            opt('child%d-%d' % (k, i))
        os._exit(0)
    pids.append(pid)
for pid in pids:
    os.waitpid(pid, 0)
opt('parent-1')
print('ok')
"""


def test_hep_counts_of_children_that_exit_fast(env):
    """Forked children that leave with _exit (no exit handlers) still put their HEP counts in the
    file: clearcap report says what the summary says (8 sent by 3 processes)."""
    col = _UdpCollector()
    try:
        cap = env.path("fork.pcapng")
        p = cclib.run([env.tool, "-w", cap, "--hep", "udp:127.0.0.1:%d" % col.port, "--",
                       cclib.PY, "-c", FORK_EXIT], env=env.env(None, preload=False))
        eq(p.stdout.strip(), "ok", "the program ran")
        eq(len([c for c in col.take(0.5) if c[11] == b"\x01"]), 8, "every OPTIONS at the collector")
    finally:
        col.close()
    eq(summary_hep(p.stderr), (8, 0), "the summary")
    rep = cclib.run([env.tool, "report", cap]).stdout
    ok("HEP to the collector: 8 sent, 0 dropped (3 processes)" in rep, rep[-2000:])


def test_hep_tcp_queue_counted_at_exit_and_exec(env):
    """A TCP collector that never answers (its listen backlog full): every packet queued for it is
    counted as dropped, also those of children that leave with _exit - in the summary and in the
    report (8 dropped by 3 processes)."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(0)
    filler = socket.socket()
    filler.connect(lst.getsockname())       # the backlog's one place: later SYNs go unanswered
    try:
        cap = env.path("q.pcapng")
        p = cclib.run([env.tool, "-w", cap, "--hep", "tcp:127.0.0.1:%d" % lst.getsockname()[1], "--",
                       cclib.PY, "-c", FORK_EXIT], env=env.env(None, preload=False))
        eq(p.stdout.strip(), "ok", "the program ran")
    finally:
        filler.close()
        lst.close()
    eq(summary_hep(p.stderr), (0, 8), "the summary")
    rep = cclib.run([env.tool, "report", cap]).stdout
    ok("HEP to the collector: 0 sent, 8 dropped (3 processes)" in rep, rep[-2000:])
