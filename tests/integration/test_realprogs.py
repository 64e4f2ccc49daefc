"""Real, unmodified programs under the shim: openssl DTLS, socat TCP and UDPv6, GStreamer RTP,
curl against Python's http.server, and libpcap (tcpdump) reading what the shim wrote.

Every test checks both that the program behaves exactly as without the shim (exit status, bytes
delivered) and that the capture holds the right frames (counts, addresses, ports, directions,
byte-exact payloads, per-process comments).  Traffic is on 127.0.0.1 / ::1 only.
"""
import collections
import os
import signal
import socket
import subprocess
import time

import cclib
from cclib import eq, ok

QUICK = ["test_openssl_dtls", "test_socat_tcp"]

OUT, IN = "4", "0"          # sll.pkttype of outgoing / incoming copies


# ----------------------------------------------------------------------------------------------
# helpers (local to this module)

def _bound(port, proto):
    """True when some socket is bound to the local port: proto 'udp' (any state) or 'tcp'
    (LISTEN).  Read from /proc so that probing does not disturb a one-shot server."""
    for name in (proto, proto + "6"):
        try:
            with open("/proc/net/" + name) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    lport = int(cols[1].rsplit(":", 1)[1], 16)
                    if lport == port and (proto == "udp" or cols[3] == "0A"):
                        return True
        except OSError:
            pass
    return False


def _wait_bound(port, proto, proc=None, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if _bound(port, proto):
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError("server exited %d before binding %s port %d: %s"
                                 % (proc.returncode, proto, port, _tail(proc)))
        time.sleep(0.05)
    raise AssertionError("nothing bound to %s port %d" % (proto, port))


def _spawn(env, name, cmd, envd, stdin=subprocess.DEVNULL):
    """Starts a background program with stdout/stderr in files under env.tmp."""
    out = open(env.path(name + ".out"), "wb")
    err = open(env.path(name + ".err"), "wb")
    p = subprocess.Popen(cmd, env=envd, stdin=stdin, stdout=out, stderr=err)
    p._cc_files = (out, err, env.path(name + ".out"), env.path(name + ".err"))
    return p


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _tail(p):
    if not hasattr(p, "_cc_files"):
        return ""
    for f in p._cc_files[:2]:
        f.flush()
    return "stdout: %r\nstderr: %r" % (_read(p._cc_files[2])[-1500:], _read(p._cc_files[3])[-1500:])


def _stop(p):
    """Ends a background process we started (by its own handle) and closes its files."""
    if p is None:
        return
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(3)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(3)
    if p.stdin:
        try:
            p.stdin.close()
        except OSError:
            pass
    for f in getattr(p, "_cc_files", ())[:2]:
        f.close()


def _wait(p, timeout, what):
    try:
        rc = p.wait(timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError("%s did not exit within %ss: %s" % (what, timeout, _tail(p)))
    return rc


def _rows(capfile, fields, dfilter=None, extra=()):
    return cclib.tshark(capfile, fields, dfilter, extra)


def _frames(capfile, fields, extra=()):
    """One tshark pass: a dict per frame, keyed by field name ('' when absent).  FT_NONE fields
    such as tcp.analysis.lost_segment read '1' when present."""
    return [dict(zip(fields, r + [""] * (len(fields) - len(r))))
            for r in _rows(capfile, fields, None, extra)]


def _capinfos(capfile):
    good, text = cclib.capinfos_ok(capfile)
    ok(good, "capinfos does not read %s cleanly:\n%s" % (capfile, text))
    return text


# ----------------------------------------------------------------------------------------------
# 1. openssl s_server / s_client over DTLS 1.2, both under the shim, one capture file

def test_openssl_dtls(env):
    cclib.need("openssl")
    cap = env.path("dtls.pcapng")
    key, cert = env.path("key.pem"), env.path("cert.pem")
    cclib.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
               "-days", "1", "-keyout", key, "-out", cert], timeout=60)
    port = cclib.free_port(socket.SOCK_DGRAM)
    line = b"hello over dtls via clearcap 0123456789\n"
    srv = cli = None
    try:
        # s_server quits when its stdin reaches EOF, so hold a pipe open; -naccept 1 makes it exit
        # once the client's connection ends.  It binds [::] dual-stack: the client's datagrams
        # reach it from ::ffff:127.0.0.1, which must be written as plain IPv4 127.0.0.1.
        srv = _spawn(env, "s_server", ["openssl", "s_server", "-dtls1_2", "-accept", str(port),
                                       "-cert", cert, "-key", key, "-naccept", "1"],
                     env.env(cap), stdin=subprocess.PIPE)
        _wait_bound(port, "udp", srv)
        # s_client sends stdin's line, then on stdin EOF sends close_notify and exits 0.
        cli = subprocess.Popen(["openssl", "s_client", "-dtls1_2", "-connect", "127.0.0.1:%d" % port],
                               env=env.env(cap), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
        try:
            cout, cerr = cli.communicate(line, timeout=30)
        except subprocess.TimeoutExpired:
            cli.kill()
            cli.communicate()
            raise AssertionError("s_client did not finish within 30s")
        eq(cli.returncode, 0, "s_client exit status (stderr %r)" % cerr[-800:])
        ok(b"DONE" in cerr, "s_client did not end cleanly: %r" % cerr[-800:])
        rc = _wait(srv, 20, "s_server")
        eq(rc, 0, "s_server exit status (%s)" % _tail(srv))
        srv._cc_files[0].flush()
        sout = _read(srv._cc_files[2])
        ok(line in sout, "s_server did not print the client's line: %r" % sout[-1500:])
        ok(b"CONNECTION CLOSED" in sout, "s_server did not see close_notify: %r" % sout[-800:])
    finally:
        _stop(cli)
        _stop(srv)

    _capinfos(cap)
    spid, cpid = srv.pid, cli.pid
    fields = ["sll.pkttype", "ip.src", "ip.dst", "ipv6.src", "udp.srcport", "udp.dstport",
              "frame.comment", "udp.payload", "dtls.record.content_type", "sll.ifindex"]
    # The wire copies; the plaintext interface is checked in test_tls.py.
    rows = _rows(cap, fields, 'frame.interface_name == "wire"', extra=["-E", "occurrence=a", "-E", "aggregator=,"])
    dump = "\n".join("%s %s:%s > %s:%s types=%s %s" % (r[0], r[1], r[4], r[2], r[5], r[8], r[6]) for r in rows)
    ok(len(rows) >= 10, "too few frames for a DTLS handshake (%d):\n%s" % (len(rows), dump))

    cport = None
    by_dir = collections.defaultdict(list)     # (c2s?, pkttype) -> [payload]
    ctypes = collections.defaultdict(list)     # (c2s?, pkttype) -> [content types]
    for pkt, isrc, idst, i6src, sport, dport, comment, payload, ctype, ifindex in rows:
        where = "frame %s %s:%s > %s:%s (%s)" % (pkt, isrc, sport, idst, dport, comment)
        ok(sport and dport, "not UDP: " + where)
        ok(ctype, "not dissected as DTLS: " + where)
        eq(ifindex, "1", "sll.ifindex of " + where)
        eq((isrc, idst, i6src), ("127.0.0.1", "127.0.0.1", ""), "addresses of " + where)
        ok(str(port) in (sport, dport) and sport != dport, "server port %d on one side of %s" % (port, where))
        other = sport if dport == str(port) else dport
        if cport is None:
            cport = other
        eq(other, cport, "client port of " + where)
        ok(pkt in (IN, OUT), "pkttype of " + where)
        c2s = dport == str(port)
        # the client's outgoing and the server's incoming copies of a client datagram, and back
        sender = (pkt == OUT) == c2s
        expect_pid = cpid if sender else spid
        eq(comment, "pid %d openssl" % expect_pid, "comment of " + where)
        by_dir[(c2s, pkt)].append(payload)
        ctypes[(c2s, pkt)].append(ctype)

    for c2s in (True, False):
        name = "client->server" if c2s else "server->client"
        out, inn = by_dir[(c2s, OUT)], by_dir[(c2s, IN)]
        ok(out, "no outgoing %s datagrams:\n%s" % (name, dump))
        eq(len(inn), len(out), "%s: incoming copies vs outgoing copies" % name)
        eq(sorted(inn), sorted(out), "%s: payloads of incoming vs outgoing copies" % name)
        for pkt in (OUT, IN):
            types = [t for cts in ctypes[(c2s, pkt)] for t in cts.split(",") if t]
            ok("22" in types, "%s pkttype %s: no handshake record (22):\n%s" % (name, pkt, dump))
    # application data: the client's one line, one record, both copies; nothing from the server
    app = lambda c2s, pkt: sum(cts.split(",").count("23") for cts in ctypes[(c2s, pkt)])
    eq((app(True, OUT), app(True, IN)), (1, 1), "application data records client->server (out, in)")
    eq((app(False, OUT), app(False, IN)), (0, 0), "application data records server->client (out, in)")
    # the client's close_notify alert, seen leaving and arriving
    alert = lambda c2s, pkt: sum(cts.split(",").count("21") for cts in ctypes[(c2s, pkt)])
    eq((alert(True, OUT), alert(True, IN)), (1, 1), "client's close_notify alert (out, in)")
    pids = set(r[6] for r in rows)
    eq(pids, {"pid %d openssl" % spid, "pid %d openssl" % cpid}, "pcapng comments (two processes)")


# ----------------------------------------------------------------------------------------------
# 2. socat TCP: 300 KB through a real TCP connection, both ends under the shim

def _stream_bytes(fr, sport, dport, pkttype):
    """Payload of one direction of the TCP stream as one side captured it, checked contiguous."""
    segs = sorted((int(f["tcp.seq"]), int(f["tcp.len"]), bytes.fromhex(f["tcp.payload"])) for f in fr
                  if f["tcp.srcport"] == sport and f["tcp.dstport"] == dport and f["sll.pkttype"] == pkttype
                  and f["tcp.len"] not in ("", "0"))
    data = bytearray()
    nxt = 1
    for seq, n, payload in segs:
        eq(len(payload), n, "tcp.len vs payload at seq %d" % seq)
        eq(seq, nxt, "next sequence number (pkttype %s, %s->%s)" % (pkttype, sport, dport))
        data += payload
        nxt = seq + n
    return bytes(data), len(segs)


def test_socat_reconnects_from_one_port(env):
    """socat run four times from one source port (sourceport=,reuseaddr) under one wrapper run,
    to a server that answers and closes: the kernel reuses the address pair, and each socat
    leaves with shutdown and exit, never a close.  Each connection is a stream of its own in
    tshark, its request dissected, its SYN a new one on reused ports, nothing retransmitted (the
    connections counted at their close never moved on: one stream, three requests lost)."""
    cclib.need("socat")
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    port, cport, n = srv.getsockname()[1], cclib.free_port(socket.SOCK_STREAM), 4

    def serve():
        for _ in range(n):
            c, _ = srv.accept()
            req = b""
            while not req.endswith(b"\r\n\r\n"):
                d = c.recv(1000)
                if not d:
                    break
                req += d
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
            c.close()
        srv.close()
    t = threading.Thread(target=serve)
    t.start()
    cap = env.path("c.pcapng")
    script = ("for i in 1 2 3 4; do printf \"GET /page$i HTTP/1.0\\r\\n\\r\\n\" | "
              "socat - TCP:127.0.0.1:%d,sourceport=%d,reuseaddr || exit 1; done" % (port, cport))
    p = cclib.run([env.tool, "-q", "-w", cap, "--", "sh", "-c", script], env=env.env(preload=False), timeout=60)
    t.join(timeout=30)
    eq(p.stdout.count("ok"), n, "every answer (program unchanged)")
    http = ["-d", "tcp.port==%d,http" % port]
    reqs = cclib.tshark(cap, ["tcp.stream", "http.request.uri"], "http.request", extra=http)
    eq(sorted(r[1] for r in reqs), ["/page%d" % i for i in range(1, n + 1)], "every request dissected")
    eq(len({r[0] for r in reqs}), n, "each in a stream of its own")
    syns = cclib.tshark(cap, ["tcp.srcport", "tcp.analysis.reused_ports"], "tcp.flags.syn == 1 && tcp.flags.ack == 0")
    eq([r[0] for r in syns], [str(cport)] * n, "every SYN from the one source port")
    eq(sum(1 for r in syns if r[1:] and r[1]), n - 1, "SYNs on reused ports")
    eq(cclib.tshark_count(cap, "tcp.analysis.retransmission"), 0, "segments taken for retransmissions")


def test_socat_nofork_exec_one_stream(env):
    """socat TCP-LISTEN,fork EXEC:cat,nofork (inetd style): each connection's child execs cat with
    the socket as its 0 and 1.  The new image finds one socket under two numbers: one stream,
    numbered once from the kernel's counts, and one FIN at the last close with the sequence number
    after every byte (there were two: 0's, at the stream's first number, and 1's)."""
    cclib.need("socat")
    cap = env.path("c.pcapng")
    port = cclib.free_port(socket.SOCK_STREAM)
    srv = subprocess.Popen([env.tool, "-q", "-w", cap, "--", "socat",
                            "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork" % port, "EXEC:cat,nofork"],
                           env=env.env(preload=False), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            if _bound(port, "tcp"):
                break
            time.sleep(0.05)
        for i in range(2):
            c = socket.create_connection(("127.0.0.1", port))
            c.sendall(b"x" * 100)
            got = b""
            while len(got) < 100:
                got += c.recv(1000)
            c.sendall(b"y" * 50)
            while len(got) < 150:
                got += c.recv(1000)
            c.shutdown(socket.SHUT_WR)
            while c.recv(1000):
                pass
            c.close()
            eq(got, b"x" * 100 + b"y" * 50, "echoed (program unchanged)")
    finally:
        srv.terminate()         # (the wrapper passes it on; socat leaves on it)
        srv.wait(timeout=30)
    rows = cclib.tshark(cap, ["tcp.stream", "tcp.seq", "tcp.len", "tcp.flags.fin", "tcp.analysis.flags"],
                        "sll.pkttype == 4 && tcp.srcport == %d" % port)
    streams = sorted({r[0] for r in rows})
    eq(len(streams), 2, "two connections")
    for st in streams:
        sent = [(int(r[1]), int(r[2]), r[3]) for r in rows if r[0] == st]
        eq(sent, [(0, 0, "0"), (1, 100, "0"), (101, 50, "0"), (151, 0, "1")],
           "stream %s: SYN-ACK, cat's two echoes, one FIN after them (relative seq, length, FIN)" % st)
        eq([r for r in rows if r[0] == st and len(r) > 4 and r[4]], [], "no analysis flag on cat's side")


def test_socat_tcp(env):
    cclib.need("socat")
    cap = env.path("tcp.pcapng")
    src, dst = env.path("in.bin"), env.path("out.bin")
    data = os.urandom(300 * 1024)
    with open(src, "wb") as f:
        f.write(data)
    port = cclib.free_port(socket.SOCK_STREAM)
    srv = None
    try:
        srv = _spawn(env, "socat_srv", ["socat", "-u", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr" % port,
                                        "CREATE:" + dst], env.env(cap))
        _wait_bound(port, "tcp", srv)
        cli = subprocess.Popen(["socat", "-u", "OPEN:" + src, "TCP:127.0.0.1:%d" % port],
                               env=env.env(cap), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            _, cerr = cli.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            cli.kill()
            cli.communicate()
            raise AssertionError("socat client did not finish within 30s")
        eq(cli.returncode, 0, "socat client exit status (stderr %r)" % cerr[-800:])
        eq(_wait(srv, 20, "socat server"), 0, "socat server exit status (%s)" % _tail(srv))
    finally:
        _stop(srv)
    got = _read(dst)
    eq(len(got), len(data), "bytes received by the socat server")
    ok(got == data, "received file differs from the sent one")

    _capinfos(cap)
    # Two processes append to one file, each draining every few ms, so their records can interleave
    # out of time order (README, "Records of different processes"); Wireshark's TCP analysis reads
    # in file order and would flag the gap.  Sorted as the README tells users to sort.
    srt = env.path("tcp-sorted.pcapng")
    cclib.run(["reordercap", cap, srt], timeout=30)
    cap = srt
    fr = _frames(cap, ["frame.number", "sll.pkttype", "sll.ifindex", "ip.src", "ip.dst", "ipv6.src",
                       "tcp.srcport", "tcp.dstport", "tcp.stream", "tcp.flags.str", "tcp.flags.syn",
                       "tcp.flags.ack", "tcp.flags.fin", "tcp.seq", "tcp.len", "tcp.payload", "frame.comment",
                       "tcp.analysis.lost_segment", "tcp.analysis.ack_lost_segment"])
    dump = lambda: "\n".join("%(frame.number)s %(sll.pkttype)s %(tcp.srcport)s>%(tcp.dstport)s "
                             "%(tcp.flags.str)s seq=%(tcp.seq)s len=%(tcp.len)s %(frame.comment)s" % f
                             for f in fr[:300])
    ok(fr, "empty capture")
    sp = str(port)
    cports = set()
    for f in fr:
        where = "frame %(frame.number)s %(tcp.srcport)s>%(tcp.dstport)s pkttype %(sll.pkttype)s" % f
        ok(f["tcp.srcport"], "not TCP: " + where)
        eq((f["sll.ifindex"], f["ip.src"], f["ip.dst"], f["ipv6.src"]), ("1", "127.0.0.1", "127.0.0.1", ""),
           "ifindex and addresses of " + where)
        ok(sp in (f["tcp.srcport"], f["tcp.dstport"]), "server port %d in %s" % (port, where))
        eq(f["tcp.stream"], "0", "tcp.stream of " + where)
        c2s = f["tcp.dstport"] == sp
        cports.add(f["tcp.srcport"] if c2s else f["tcp.dstport"])
        ok(f["sll.pkttype"] in (IN, OUT), "pkttype of " + where)
        expect = cli.pid if (f["sll.pkttype"] == OUT) == c2s else srv.pid
        eq(f["frame.comment"], "pid %d socat" % expect, "comment of " + where)
        eq(f["tcp.analysis.lost_segment"] + f["tcp.analysis.ack_lost_segment"], "",
           "lost segment flagged at " + where + "\n" + dump())
    eq(len(cports), 1, "one client port")
    cport = cports.pop()

    # the handshake and the client's FIN, each once as sent and once as received
    def cnt(pred):
        return dict(collections.Counter(f["sll.pkttype"] for f in fr if pred(f)))
    syn = cnt(lambda f: f["tcp.flags.syn"] == "1" and f["tcp.flags.ack"] == "0" and f["tcp.srcport"] == cport)
    synack = cnt(lambda f: f["tcp.flags.syn"] == "1" and f["tcp.flags.ack"] == "1" and f["tcp.srcport"] == sp)
    cfin = cnt(lambda f: f["tcp.flags.fin"] == "1" and f["tcp.srcport"] == cport)
    sfin = cnt(lambda f: f["tcp.flags.fin"] == "1" and f["tcp.srcport"] == sp)
    eq(len([f for f in fr if f["tcp.flags.syn"] == "1"]), 4, "frames with SYN\n" + dump())
    eq(syn, {OUT: 1, IN: 1}, "SYN copies by pkttype\n" + dump())
    eq(synack, {OUT: 1, IN: 1}, "SYN-ACK copies by pkttype\n" + dump())
    eq(cfin, {OUT: 1, IN: 1}, "client FIN copies by pkttype\n" + dump())
    eq(sfin.get(OUT, 0), 1, "server FIN sent (server closes after EOF)\n" + dump())

    # each side's copy of the stream alone is contiguous and byte-exact
    sent, nout = _stream_bytes(fr, cport, sp, OUT)
    recv, nin = _stream_bytes(fr, cport, sp, IN)
    ok(sent == data, "client's outgoing segments do not rebuild the file (%d bytes)" % len(sent))
    ok(recv == data, "server's incoming segments do not rebuild the file (%d bytes)" % len(recv))
    ok(nout >= 2 and nin >= 2, "300 KB in too few segments (%d out, %d in)" % (nout, nin))
    eq(_stream_bytes(fr, sp, cport, OUT)[0] + _stream_bytes(fr, sp, cport, IN)[0], b"",
       "data from the server")
    a, b = cclib.follow_tcp(cap)
    eq(len(a), len(data), "follow,tcp,raw client->server length")
    ok(a == data, "follow,tcp,raw client->server bytes differ from the file")
    eq(b, b"", "follow,tcp,raw server->client bytes")


# ----------------------------------------------------------------------------------------------
# 3. socat UDP over IPv6 loopback

def test_socat_udp6(env):
    cclib.need("socat")
    if not os.path.exists("/proc/net/udp6"):
        raise cclib.Skip("no IPv6")
    cap = env.path("udp6.pcapng")
    port = cclib.free_port(socket.SOCK_DGRAM, socket.AF_INET6)
    lines = [("datagram %d %s\n" % (i, os.urandom(6 + i).hex())).encode() for i in range(5)]
    rcv = None
    spids = []
    try:
        # -T 1: the receiver exits by itself (status 0) after 1 s without datagrams
        rcv = _spawn(env, "udp6_rcv", ["socat", "-T", "1", "-u", "UDP6-RECV:%d,bind=[::1]" % port, "-"],
                     env.env(cap))
        _wait_bound(port, "udp", rcv)
        for ln in lines:
            p = subprocess.Popen(["socat", "-u", "-", "UDP6-SENDTO:[::1]:%d" % port], env=env.env(cap),
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                _, err = p.communicate(ln, timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                raise AssertionError("socat sender did not finish")
            eq(p.returncode, 0, "socat sender exit status (%r)" % err)
            spids.append(p.pid)
            time.sleep(0.05)   # keep the receiver reading one datagram at a time, in order
        eq(_wait(rcv, 15, "socat receiver"), 0, "socat receiver exit status (%s)" % _tail(rcv))
        rcv._cc_files[0].flush()
        eq(_read(rcv._cc_files[2]), b"".join(lines), "what the receiver printed")
    finally:
        _stop(rcv)

    _capinfos(cap)
    rows = _rows(cap, ["sll.pkttype", "ipv6.src", "ipv6.dst", "ip.src", "udp.srcport", "udp.dstport",
                       "udp.payload", "frame.comment"])
    dump = "\n".join("\t".join(r) for r in rows)
    eq(len(rows), 2 * len(lines), "frames (one out + one in per datagram)\n" + dump)
    outs = [r for r in rows if r[0] == OUT]
    ins = [r for r in rows if r[0] == IN]
    for r in rows:
        eq((r[1], r[2], r[3]), ("::1", "::1", ""), "addresses of %s" % r)
        eq(r[5], str(port), "destination port of %s" % r)
    eq([bytes.fromhex(r[6]) for r in outs], lines, "outgoing payloads in order")
    eq([bytes.fromhex(r[6]) for r in ins], lines, "incoming payloads in order")
    eq([r[7] for r in outs], ["pid %d socat" % p for p in spids], "comments of outgoing copies")
    eq(set(r[7] for r in ins), {"pid %d socat" % rcv.pid}, "comments of incoming copies")
    eq([r[4] for r in ins], [r[4] for r in outs], "source port of each datagram, out vs in copy")
    eq(len(set(r[4] for r in outs)), len(lines), "each sender its own source port")


# ----------------------------------------------------------------------------------------------
# 4. GStreamer RTP: udpsink (sendmmsg) -> udpsrc (recvmsg), both under the shim

def test_gstreamer_rtp(env):
    cclib.need("gst-launch-1.0")
    cap = env.path("rtp.pcapng")
    port = cclib.free_port(socket.SOCK_DGRAM)
    caps = "application/x-rtp,media=audio,clock-rate=44100,encoding-name=L16,channels=1"
    rcv = None
    try:
        # -e: SIGINT sends EOS and the pipeline exits 0; -v prints one "chain" line per buffer
        rcv = _spawn(env, "gst_rcv", ["gst-launch-1.0", "-e", "-v", "udpsrc", "port=%d" % port, "caps=" + caps,
                                      "!", "fakesink", "silent=false"], env.env(cap))
        _wait_bound(port, "udp", rcv)
        snd = subprocess.Popen(["gst-launch-1.0", "-q", "audiotestsrc", "num-buffers=100", "!", "audioconvert",
                                "!", "rtpL16pay", "!", "udpsink", "host=127.0.0.1", "port=%d" % port],
                               env=env.env(cap), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            _, serr = snd.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            snd.kill()
            snd.communicate()
            raise AssertionError("gst sender did not finish within 60s")
        eq(snd.returncode, 0, "gst sender exit status (%r)" % serr[-800:])
        time.sleep(0.7)
        rcv.send_signal(signal.SIGINT)
        eq(_wait(rcv, 20, "gst receiver"), 0, "gst receiver exit status (%s)" % _tail(rcv))
        rcv._cc_files[0].flush()
        rout = _read(rcv._cc_files[2]).decode("utf-8", "replace")
    finally:
        _stop(rcv)
    # buffer sizes as the receiving program itself saw them
    got_sizes = [int(l.split("(fakesink0:sink) (", 1)[1].split(" bytes", 1)[0])
                 for l in rout.splitlines() if "last-message = chain" in l]
    ok(got_sizes, "receiver reported no buffers: %r" % rout[-1500:])

    _capinfos(cap)
    dec = ["-d", "udp.port==%d,rtp" % port]
    rows = _rows(cap, ["sll.pkttype", "ip.src", "ip.dst", "udp.srcport", "udp.dstport", "rtp.seq",
                       "rtp.ssrc", "udp.payload", "frame.comment"], None, dec)
    for r in rows:
        ok(r[5] and r[6], "frame not dissected as RTP: %s" % r[:7])
    outs = [r for r in rows if r[0] == OUT]
    ins = [r for r in rows if r[0] == IN]
    ok(len(outs) >= 100, "outgoing RTP packets: %d (100 buffers sent)" % len(outs))
    eq(len(ins), len(outs), "incoming copies vs outgoing copies")
    eq(len(ins), len(got_sizes), "incoming copies vs buffers the receiver got")
    pkt_sizes = [len(bytes.fromhex(r[7])) for r in ins]     # udpsrc's buffer: the whole RTP packet
    eq(sorted(pkt_sizes), sorted(got_sizes), "RTP packet sizes vs receiver's buffer sizes")
    sports = set(r[3] for r in rows)
    eq(len(sports), 1, "one sender port")
    for r in rows:
        eq((r[1], r[2], r[4]), ("127.0.0.1", "127.0.0.1", str(port)),
           "src/dst address and dst port of %s (udpsrc binds 0.0.0.0)" % r[:7])
    eq(set(r[8] for r in outs), {"pid %d gst-launch-1.0" % snd.pid}, "comments of outgoing copies")
    eq(set(r[8] for r in ins), {"pid %d gst-launch-1.0" % rcv.pid}, "comments of incoming copies")
    eq(len(set(r[6] for r in rows)), 1, "one SSRC")
    seqs = [int(r[5]) for r in outs]
    for a, b in zip(seqs, seqs[1:]):
        eq(b, (a + 1) & 0xFFFF, "RTP sequence after %d in outgoing copies" % a)
    out_by_seq = {int(r[5]): r[7] for r in outs}
    in_by_seq = {int(r[5]): r[7] for r in ins}
    eq(len(out_by_seq), len(outs), "distinct sequence numbers out")
    eq(sorted(in_by_seq), sorted(out_by_seq), "sequence numbers in vs out")
    for s in out_by_seq:
        ok(out_by_seq[s] == in_by_seq[s], "payload of seq %d differs between out and in copies" % s)


# ----------------------------------------------------------------------------------------------
# 5. curl under the shim against Python's http.server (not under the shim)

def test_curl_http(env):
    cclib.need("curl")
    if env.sanitize:
        # Debian 12's curl deadlocks in setlocale() at start-up with libasan preloaded, shim or not
        # (LD_PRELOAD=$(gcc -print-file-name=libasan.so) curl -o /dev/null http://... hangs).
        raise cclib.Skip("curl hangs with the ASan runtime preloaded, independent of the shim")
    cap = env.path("http.pcapng")
    www = env.path("www")
    os.mkdir(www)
    body = os.urandom(100 * 1024)
    with open(os.path.join(www, "file.bin"), "wb") as f:
        f.write(body)
    out = env.path("got.bin")
    port = cclib.free_port(socket.SOCK_STREAM)
    srv = None
    try:
        srv = _spawn(env, "httpd", [cclib.PY, "-m", "http.server", "--bind", "127.0.0.1", "--directory", www,
                                    str(port)], env.env(preload=False))
        _wait_bound(port, "tcp", srv)
        p = cclib.run(["curl", "-s", "-S", "--max-time", "20", "-o", out,
                       "http://127.0.0.1:%d/file.bin" % port], env=env.env(cap), timeout=30, check=False)
        eq(p.returncode, 0, "curl exit status (%r)" % p.stderr)
    finally:
        _stop(srv)
    ok(_read(out) == body, "downloaded file differs (%d bytes)" % len(_read(out)))

    _capinfos(cap)
    dec = ["-d", "tcp.port==%d,http" % port]
    fr = _frames(cap, ["frame.number", "ip.src", "ip.dst", "ipv6.src", "tcp.srcport", "tcp.dstport", "sll.pkttype",
                       "frame.comment", "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin", "tcp.stream",
                       "http.request.method", "http.request.uri", "http.response.code", "tcp.seq", "tcp.len",
                       "tcp.payload", "tcp.analysis.lost_segment", "tcp.analysis.ack_lost_segment"], dec)
    ok(fr, "empty capture")
    eq(set(f["frame.comment"].split(" ", 2)[2] for f in fr), {"curl"}, "program named in the comments")
    eq(len(set(f["frame.comment"] for f in fr)), 1, "one process")
    sp = str(port)
    for f in fr:
        where = "frame %(frame.number)s %(tcp.srcport)s>%(tcp.dstport)s pkttype %(sll.pkttype)s" % f
        ok(f["tcp.srcport"], "not TCP: " + where)
        eq((f["ip.src"], f["ip.dst"], f["ipv6.src"]), ("127.0.0.1", "127.0.0.1", ""), "addresses of " + where)
        ok(sp in (f["tcp.srcport"], f["tcp.dstport"]), "server port in " + where)
        eq(f["sll.pkttype"], OUT if f["tcp.dstport"] == sp else IN, "direction of " + where)
        eq(f["tcp.stream"], "0", "tcp.stream of " + where)
        eq(f["tcp.analysis.lost_segment"] + f["tcp.analysis.ack_lost_segment"], "", "lost segment at " + where)
    get = [(f["sll.pkttype"], f["http.request.uri"]) for f in fr if f["http.request.method"]]
    eq(get, [(OUT, "/file.bin")], "HTTP requests (pkttype, uri)")
    eq([f["http.request.method"] for f in fr if f["http.request.method"]], ["GET"], "request method")
    resp = [(f["sll.pkttype"], f["http.response.code"]) for f in fr if f["http.response.code"]]
    eq(resp, [(IN, "200")], "HTTP responses (pkttype, code)")
    syn = [f["sll.pkttype"] for f in fr if f["tcp.flags.syn"] == "1" and f["tcp.flags.ack"] == "0"]
    synack = [f["sll.pkttype"] for f in fr if f["tcp.flags.syn"] == "1" and f["tcp.flags.ack"] == "1"]
    eq((syn, synack), ([OUT], [IN]), "SYN and SYN-ACK (pkttypes)")
    ok(any(f["tcp.flags.fin"] == "1" for f in fr), "no FIN")
    a, b = cclib.follow_tcp(cap, 0, dec)
    ok(a.startswith(b"GET /file.bin HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % port) and a.endswith(b"\r\n\r\n"),
       "request text: %r" % a[:300])
    head, sep, rest = b.partition(b"\r\n\r\n")
    ok(sep and head.startswith(b"HTTP/1.0 200 OK\r\n"), "response head: %r" % b[:300])
    ok(b"\r\nContent-Length: %d\r\n" % len(body) in head + b"\r\n", "Content-Length in %r" % head)
    eq(len(rest), len(body), "response body length from follow,tcp")
    ok(rest == body, "response body bytes from follow,tcp differ from the file")
    # the segments themselves, without tshark's reassembly: contiguous and byte-exact
    cport = fr[0]["tcp.srcport"]
    req, _ = _stream_bytes(fr, cport, sp, OUT)
    rsp, nseg = _stream_bytes(fr, sp, cport, IN)
    eq(req, a, "request bytes from the segments vs follow,tcp")
    ok(rsp == b, "response bytes from the segments differ from follow,tcp (%d vs %d)" % (len(rsp), len(b)))
    ok(nseg >= 2, "100 KB response in %d segments" % nseg)


def test_lighttpd_sendfile(env):
    """Debian's lighttpd serves static files with sendfile(2): the file's bytes go from the page
    cache to the socket below every hook.  lighttpd under the shim, curl outside it: the response
    body in the capture is the file, byte for byte, with no gap, and nothing is said on stderr."""
    cclib.need("lighttpd")
    cclib.need("curl")
    www = env.path("www")
    os.mkdir(www)
    body = os.urandom(300000)
    with open(os.path.join(www, "big.bin"), "wb") as f:
        f.write(body)
    port = cclib.free_port(socket.SOCK_STREAM)
    conf = env.path("lighttpd.conf")
    with open(conf, "w") as f:
        f.write('server.document-root = "%s"\nserver.port = %d\nserver.bind = "127.0.0.1"\n'
                'server.errorlog = "%s"\n' % (www, port, env.path("error.log")))
    cap = env.path("c.pcapng")
    srv = None
    try:
        srv = _spawn(env, "lighttpd", ["lighttpd", "-D", "-f", conf], env.env(cap))
        _wait_bound(port, "tcp", srv)
        out = env.path("got.bin")
        p = cclib.run(["curl", "-s", "-S", "--max-time", "20", "--http1.1", "-o", out,
                       "http://127.0.0.1:%d/big.bin" % port], env=env.env(preload=False), timeout=30, check=False)
    finally:
        _stop(srv)
    eq(p.returncode, 0, "curl exit status (%r)" % p.stderr)
    ok(_read(out) == body, "curl got the file (server unchanged)")
    err = _read(env.path("lighttpd.err")).decode(errors="replace")
    eq([l for l in err.splitlines() if "clearcap" in l], [], "nothing said")
    _capinfos(cap)
    dec = ["-d", "tcp.port==%d,http" % port]
    eq(cclib.tshark_count(cap, "tcp.analysis.lost_segment || tcp.analysis.ack_lost_segment", dec), 0, "no gaps")
    a, b = cclib.follow_tcp(cap, 0, dec)
    ok(a.startswith(b"GET /big.bin HTTP/1.1\r\n"), "request: %r" % a[:100])
    head, sep, rest = b.partition(b"\r\n\r\n")
    ok(sep and head.startswith(b"HTTP/1.1 200 OK\r\n"), "response head: %r" % b[:300])
    eq(len(rest), len(body), "response body length")
    ok(rest == body, "response body bytes differ from the file")

def test_dig_libuv(env):
    """Debian's dig (bind9-dnsutils, on libuv 1.44) sends its query with syscall(SYS_sendmmsg),
    below the libc wrappers: under the shim the query is captured beside the answer (before,
    only the answer was), and dig prints the answer as without the shim.  The DNS server is a
    few lines of Python outside the shim."""
    cclib.need("dig")
    port = cclib.free_port()
    srv = None
    code = r"""
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', int(sys.argv[1])))
q, a = s.recvfrom(4096)
i = 12
while q[i]: i += q[i] + 1
ans = b'\xc0\x0c' + struct.pack('!HHIH', 1, 1, 60, 4) + bytes([192, 0, 2, 7])
s.sendto(q[:2] + b'\x81\x80' + q[4:6] + b'\x00\x01\x00\x00\x00\x00' + q[12:i + 5] + ans, a)
"""
    cap = env.path("dig.pcapng")
    try:
        srv = _spawn(env, "dnsd", [cclib.PY, "-c", code, str(port)], env.env(preload=False))
        _wait_bound(port, "udp", srv)
        p = cclib.run(["dig", "+short", "+tries=1", "+timeout=5", "-p", str(port), "@127.0.0.1", "example.test", "A"],
                      env=env.env(cap), timeout=30, check=False)
    finally:
        _stop(srv)
    eq((p.returncode, p.stdout.strip()), (0, "192.0.2.7"), "dig's answer (%r)" % p.stderr)
    rows = _rows(cap, ["sll.pkttype", "dns.flags.response", "dns.qry.name", "dns.a"], "dns",
                 ["-d", "udp.port==%d,dns" % port])
    eq(sorted(tuple(r) for r in rows), sorted([(OUT, "0", "example.test", ""), (IN, "1", "example.test", "192.0.2.7")]),
       "the query as sent and the answer as received")

# ----------------------------------------------------------------------------------------------
# 6. libpcap reads the shim's output: pcapng and classic (nanosecond) pcap

def _small_capture(env, cap, fmt):
    """Three UDP datagrams (socat, IPv4) and one small TCP transfer, all under the shim."""
    extra = {"CLEARCAP_FORMAT": fmt} if fmt else None
    e = env.env(cap, extra)
    uport = cclib.free_port(socket.SOCK_DGRAM)
    tport = cclib.free_port(socket.SOCK_STREAM)
    rcv = srv = None
    try:
        rcv = _spawn(env, "rcv-%s" % fmt, ["socat", "-T", "1", "-u", "UDP4-RECV:%d,bind=127.0.0.1" % uport, "-"], e)
        _wait_bound(uport, "udp", rcv)
        for i in range(3):
            cclib.run(["socat", "-u", "-", "UDP4-SENDTO:127.0.0.1:%d" % uport], env=e, timeout=10,
                      input="datagram %d\n" % i)
        eq(_wait(rcv, 15, "udp receiver"), 0, "udp receiver status")
        dst = env.path("tcp-%s.out" % fmt)
        srv = _spawn(env, "srv-%s" % fmt, ["socat", "-u", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr" % tport,
                                           "CREATE:" + dst], e)
        _wait_bound(tport, "tcp", srv)
        cclib.run(["socat", "-u", "-", "TCP:127.0.0.1:%d" % tport], env=e, timeout=10, input="x" * 1000)
        eq(_wait(srv, 15, "tcp server"), 0, "tcp server status")
        eq(_read(dst), b"x" * 1000, "tcp payload delivered")
    finally:
        _stop(rcv)
        _stop(srv)


def _tcpdump_vs_tshark(cap):
    """Counts from tcpdump (libpcap filters) and tshark, checked equal; returns them."""
    fr = _frames(cap, ["sll.pkttype", "sll.ifindex", "udp.srcport", "tcp.srcport"])
    n = lambda pred: len([f for f in fr if pred(f)])
    t = {
        "all": len(fr),
        "udp": n(lambda f: f["sll.ifindex"] == "1" and f["udp.srcport"]),
        "tcp": n(lambda f: f["sll.ifindex"] == "1" and f["tcp.srcport"]),
        "in": n(lambda f: f["sll.pkttype"] == IN),
        "out": n(lambda f: f["sll.pkttype"] == OUT),
        "udp_in": n(lambda f: f["udp.srcport"] and f["sll.pkttype"] == IN),
        "udp_out": n(lambda f: f["udp.srcport"] and f["sll.pkttype"] == OUT),
        "if2": n(lambda f: f["sll.ifindex"] == "2"),
    }
    d = {
        "all": cclib.tcpdump_count(cap),
        "udp": cclib.tcpdump_count(cap, "ifindex 1 and udp"),
        "tcp": cclib.tcpdump_count(cap, "ifindex 1 and tcp"),
        "in": cclib.tcpdump_count(cap, "inbound"),
        "out": cclib.tcpdump_count(cap, "outbound"),
        "udp_in": cclib.tcpdump_count(cap, "inbound and udp"),
        "udp_out": cclib.tcpdump_count(cap, "outbound and udp"),
        "if2": cclib.tcpdump_count(cap, "ifindex 2"),
    }
    eq(d, t, "tcpdump counts vs tshark counts for %s" % cap)
    eq(t["in"] + t["out"], t["all"], "in + out == all")
    eq(t["udp"] + t["tcp"], t["all"], "udp + tcp == all")
    eq((t["udp_in"], t["udp_out"]), (3, 3), "UDP datagrams (in, out)")
    ok(t["tcp"] >= 8, "TCP frames: %d" % t["tcp"])
    eq(t["if2"], 0, "frames on ifindex 2")
    return t


def test_tcpdump_reads(env):
    cclib.need("tcpdump")
    cclib.need("socat")
    ng, pc = env.path("small.pcapng"), env.path("small.pcap")
    _small_capture(env, ng, None)
    _small_capture(env, pc, "pcap")
    for cap in (ng, pc):
        _capinfos(cap)
        p = cclib.run(["tcpdump", "-n", "-r", cap, "-c", "1"], timeout=20)
        ok("LINUX_SLL2" in p.stderr, "tcpdump link type for %s: %r" % (cap, p.stderr))
    with open(pc, "rb") as f:
        hdr = f.read(24)
    eq(hdr[:4], bytes.fromhex("4d3cb2a1"), "classic pcap magic (nanosecond, little-endian)")
    eq(int.from_bytes(hdr[20:24], "little"), 276, "classic pcap link type")
    with open(ng, "rb") as f:
        eq(f.read(4), bytes.fromhex("0a0d0d0a"), "pcapng section header block")
    info = cclib.run(["capinfos", "-t", "-i", pc]).stdout
    ok("nanosecond pcap" in info or "nanosecond libpcap" in info, "capinfos file type of classic pcap: %r" % info)
    a = _tcpdump_vs_tshark(ng)
    b = _tcpdump_vs_tshark(pc)
    for k in ("udp", "udp_in", "udp_out", "if2"):
        eq(b[k], a[k], "pcap vs pcapng count %s" % k)
    # the same datagrams, byte for byte, in both formats
    f = ["sll.pkttype", "ip.src", "ip.dst", "udp.payload"]
    eq(sorted(map(tuple, _rows(pc, f, "udp"))), sorted(map(tuple, _rows(ng, f, "udp"))),
       "UDP frames (pkttype, addresses, payload) pcap vs pcapng")
    # timestamps keep nanosecond resolution in classic pcap
    ok(all(len(r[0].split(".")[1]) == 9 for r in _rows(pc, ["frame.time_epoch"])), "nanosecond times")
