"""Programs the shim cannot enter, captured by system-call tracing (ptrace + seccomp filter).

A static C program built here (gcc -static) exchanges UDP datagrams and a TCP stream over
loopback between a server and a forked client; a real Pion program (Go, built offline from
Debian's golang-github-pion-* packages) runs two PeerConnections with ICE, DTLS, a data channel
and RTP.  Everything is checked with tshark: addresses, ports, direction, payloads, process
comments, exit status and signals passed through, and the DTLS decrypted from Pion's key log.
"""
import errno
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time

import cclib
from cclib import eq, ok

QUICK = ["test_trace_static_udp", "test_trace_static_tcp", "test_trace_static_sendfile"]
# Started first when tests run in parallel (run.py).
SLOW = ["test_trace_pion"]

HERE = os.path.dirname(os.path.abspath(__file__))
OUT, IN = "4", "0"          # sll.pkttype of outgoing / incoming copies
NOTE = "captured by system-call tracing"


def _static_peer(env):
    """tests/integration/trace_peer.c built static into the test's directory."""
    cclib.need("gcc")
    if not os.path.exists("/usr/lib/x86_64-linux-gnu/libc.a") and not os.path.exists("/usr/lib/aarch64-linux-gnu/libc.a"):
        raise cclib.Skip("no static libc (libc6-dev)")
    exe = env.path("trace_peer")
    cclib.run(["gcc", "-static", "-O2", "-pthread", "-o", exe, os.path.join(HERE, "trace_peer.c")])
    return exe


def _keys(stdout):
    """The program's "key value" lines as a dict of ints."""
    d = {}
    for line in stdout.splitlines():
        k, _, v = line.partition(" ")
        if v.strip().isdigit():
            d[k] = int(v)
    return d


def _traced(env, cap, *args):
    """The static peer run in one mode under the wrapper, captured into cap: (process, its keys)."""
    exe = _static_peer(env)
    p = cclib.run([env.tool, "-w", cap, "--", exe] + [str(a) for a in args], env=env.env(preload=False))
    return p, _keys(p.stdout)


def _frames(cap, fields, dfilter=None, extra=()):
    return [dict(zip(fields, r + [""] * (len(fields) - len(r)))) for r in cclib.tshark(cap, fields, dfilter, extra)]


def test_trace_static_udp(env):
    exe = _static_peer(env)
    cap = env.path("udp.pcapng")
    n = 20
    p = cclib.run([env.tool, "-w", cap, "--", exe, "udp", str(n), "7"], env=env.env(preload=False), check=False)
    eq(p.returncode, 7, "exit status of the traced program, passed through (stderr %r)" % p.stderr)
    ok("system-call tracing" in p.stderr, "the wrapper says it traces: %r" % p.stderr)
    k = _keys(p.stdout)
    sport, cport, spid, cpid = k["server_port"], k["client_port"], k["server_pid"], k["client_pid"]
    fields = ["frame.interface_name", "sll.pkttype", "ip.src", "udp.srcport", "ip.dst", "udp.dstport",
              "udp.payload", "frame.comment"]
    rows = _frames(cap, fields, "udp")
    eq(len(rows), 4 * n, "UDP frames: each datagram and echo, sent and received")
    ok(NOTE in rows[0]["frame.comment"], "the first packet says how it was captured: %r" % rows[0]["frame.comment"])
    got = {}
    for r in rows:
        eq(r["frame.interface_name"], "wire", "interface")
        eq((r["ip.src"], r["ip.dst"]), ("127.0.0.1", "127.0.0.1"), "addresses")
        key = (r["sll.pkttype"], int(r["udp.srcport"]), int(r["udp.dstport"]), bytes.fromhex(r["udp.payload"]))
        got[key] = got.get(key, 0) + 1
        # The process that moved the packet is named in the comment.
        sender = int(r["udp.srcport"]) == cport
        mover = cpid if (sender == (r["sll.pkttype"] == OUT)) else spid
        ok(r["frame.comment"].startswith("pid %d " % mover), "comment names pid %d: %r" % (mover, r["frame.comment"]))
    for i in range(n):
        dgram = ("datagram %d from the client" % i).encode()
        echo = ("echo %d from the server" % i).encode()
        for want in ((OUT, cport, sport, dgram), (IN, cport, sport, dgram), (OUT, sport, cport, echo), (IN, sport, cport, echo)):
            eq(got.get(want), 1, "frame %r" % (want,))
    # tcpdump (libpcap) reads the file, and the direction filter works on it.
    eq(cclib.tcpdump_count(cap, "outbound"), 2 * n, "tcpdump: outbound frames")


def test_trace_recv_without_address(env):
    """A static program receiving on an unconnected socket with recv (no name): every datagram is
    in the file both ways - received ones from the unspecified address, saying why (a tracer
    cannot ask the kernel whence, as the shim does) - never left out."""
    cap = env.path("noname.pcapng")
    n = 6
    port = _traced(env, cap, "noname", n)[1]["server_port"]
    rows = _frames(cap, ["sll.pkttype", "ip.src", "udp.dstport", "udp.payload", "frame.comment"], "udp")
    eq(sorted((r["sll.pkttype"], bytes.fromhex(r["udp.payload"]).decode()) for r in rows),
       sorted((d, "noname %d" % i) for i in range(n) for d in (OUT, IN)), "each datagram sent and received")
    for r in rows:
        eq(int(r["udp.dstport"]), port, "to the receiving socket")
        if r["sll.pkttype"] == IN:
            eq(r["ip.src"], "0.0.0.0", "source not known")
            ok("source not known" in r["frame.comment"], r["frame.comment"])


def test_trace_options(env):
    """The wrapper's output options work when tracing: -f, -a, -F pcap, -w - (to a pipe)."""
    exe = _static_peer(env)
    n = 4
    cap = env.path("f.pcapng")
    cclib.run([env.tool, "-q", "-f", "outbound and udp", "-w", cap, "--", exe, "udp", str(n), "0"],
              env=env.env(preload=False))
    eq(cclib.tshark_count(cap), 2 * n, "-f 'outbound and udp': the sent copies only")
    eq(cclib.tshark_count(cap, "sll.pkttype == 0"), 0, "-f: no received copy")
    cclib.run([env.tool, "-q", "-a", "-w", cap, "--", exe, "udp", str(n), "0"], env=env.env(preload=False))
    eq(cclib.tshark_count(cap), 2 * n + 4 * n, "-a appends to the same file")
    pcap = env.path("c.pcap")
    cclib.run([env.tool, "-q", "-F", "pcap", "-w", pcap, "--", exe, "udp", str(n), "0"], env=env.env(preload=False))
    eq(cclib.tcpdump_count(pcap), 4 * n, "-F pcap: tcpdump reads every frame")
    live = env.path("live.pcapng")
    with open(live, "wb") as out:
        p = subprocess.run([env.tool, "-q", "-w", "-", "--", exe, "udp", str(n), "0"], env=env.env(preload=False),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        out.write(p.stdout)
    eq(p.returncode, 0, "-w -: exit status (stderr %r)" % p.stderr[-500:])
    ok(b"server_port" in p.stderr, "-w -: the program's standard output goes to standard error")
    eq(cclib.tshark_count(live), 4 * n, "-w -: the stream on standard output")


def test_trace_threads_and_forks(env):
    """100 threads and 50 forked children each send a datagram from a socket of their own: every
    one is in the file once as sent (by the right process) and once as received."""
    exe = _static_peer(env)
    cap = env.path("spawn.pcapng")
    nt, nf = 100, 50
    p = cclib.run([env.tool, "-q", "-w", cap, "--", exe, "spawn", str(nt), str(nf)], env=env.env(preload=False))
    sport = _keys(p.stdout)["server_port"]
    rows = _frames(cap, ["sll.pkttype", "udp.dstport", "udp.payload", "frame.comment"], "udp")
    sent = sorted(bytes.fromhex(r["udp.payload"]).decode() for r in rows if r["sll.pkttype"] == OUT)
    recv = sorted(bytes.fromhex(r["udp.payload"]).decode() for r in rows if r["sll.pkttype"] == IN)
    want = sorted(["thread %d" % i for i in range(nt)] + ["child %d" % i for i in range(nf)])
    eq(sent, want, "every thread's and child's datagram, sent")
    eq(recv, want, "every datagram, received")
    ok(all(int(r["udp.dstport"]) == sport for r in rows), "all to the server's port")
    pids = {r["frame.comment"].split()[1] for r in rows}
    eq(len(pids), 1 + nf, "the server process and each child named in the comments")


def test_trace_static_tcp(env):
    cap = env.path("tcp.pcapng")
    n = 5
    _, k = _traced(env, cap, "tcp", n)
    sport, cport = k["server_port"], k["client_port"]
    sent = b"".join(("line %d from the client\n" % i).encode() for i in range(n))
    rows = _frames(cap, ["sll.pkttype", "tcp.srcport", "tcp.dstport", "tcp.flags.syn", "tcp.flags.fin",
                         "tcp.payload", "tcp.analysis.lost_segment"], "tcp")
    syns = [r for r in rows if r["tcp.flags.syn"] == "1"]
    eq(len(syns), 4, "SYN and SYN-ACK, in each end's copy")
    fins = [r for r in rows if r["tcp.flags.fin"] == "1"]
    eq(len(fins), 4, "FIN both ways, in each end's copy")
    # Each end's copy of each direction carries the whole stream: what the client wrote, and the echo.
    for src, dst, data in ((cport, sport, sent), (sport, cport, sent)):
        for pkttype in (OUT, IN):
            got = b"".join(bytes.fromhex(r["tcp.payload"]) for r in rows
                           if (int(r["tcp.srcport"]), int(r["tcp.dstport"]), r["sll.pkttype"]) == (src, dst, pkttype)
                           and r["tcp.payload"])
            eq(got, data, "stream %d -> %d, %s copy" % (src, dst, "sent" if pkttype == OUT else "received"))
    ok(not any(r["tcp.analysis.lost_segment"] for r in rows), "tshark finds no lost segment")


def test_trace_reused_address_pair(env):
    """The tracer's TCP streams on a reused address pair start from new sequence numbers too, and
    the two ends' copies meet when the connecting end is gone before the other accepts."""
    n = 4
    for mode in ("reuse", "late"):
        cap = env.path(mode + ".pcapng")
        _, k = _traced(env, cap, mode, n)
        cclib.reused_pair_streams(cap, n, k["server_port"], k["client_port"], answers=mode == "reuse")


def test_trace_one_socket_many_numbers(env):
    """A static program's connection moved through numbers made by dup and F_DUPFD_CLOEXEC, each
    closed in turn, is one stream with one FIN after its last byte; a number dup2 puts a file
    over, or close_range closes with its twin, ends its connection; a forked child's bytes after
    the parent closed its copy continue the stream, and one the child leaves open as it _exits,
    under one number or two, ends with our FIN then (the kernel closes it; the shim cannot say);
    an exec'd image's bytes continue its parent's; a dup2 or close_range that fails changes
    nothing, not even a connect under way.  (Each later number was a new stream joined mid-way,
    renumbered from the start, and the first close wrote the FIN: the parent's close after fork
    too.  dup2 and close_range wrote no FIN at all.)"""
    cap = env.path("dups.pcapng")
    _, k = _traced(env, cap, "dups")
    cclib.dup_streams(cap, k, fin_at_exit=True)


def test_trace_connects_at_process_end_never_silent(env):
    """A static program's child that makes two non-blocking connects and _exits without asking
    about either: the connected one is its handshake, and the FIN of the kernel's close at the
    end; the one still under way its SYN, saying it was abandoned.  (Both were missing: settled
    only at a close or a getsockopt the program never made.)"""
    cap = env.path("leave.pcapng")
    _, k = _traced(env, cap, "leave")
    eq(k["unasked_settled"], 1, "the first connected")
    on = lambda port: _frames(cap, CONNECT_FIELDS, "tcp.srcport == %d && sll.pkttype == %s" % (port, OUT))
    rows = on(k["unasked_port"])
    eq(_flags(rows), ["S", "A", "AF"], "connected, never asked: the handshake sent, then our FIN: %r" % rows)
    rows = on(k["pending_port"])
    eq(_flags(rows), ["S"], "still under way: its SYN alone: %r" % rows)
    ok("connect abandoned" in rows[0]["frame.comment"], rows[0]["frame.comment"])


REFUSED = ("connect failed: connection refused (the answer is written as the peer's reset; an ICMP port "
           "unreachable reads the same to the program)")


def _flags(rows):
    return [r["tcp.flags.str"].replace("\u00b7", "").strip() for r in rows]


def _refused(rows, closed_port, what):
    """rows (one client port's frames) are a refused attempt: the SYN sent, saying why in full, and
    the peer's reset acknowledging it."""
    eq(_flags(rows), ["S", "AR"], "%s: the SYN and the reset: %r" % (what, rows))
    eq([r["sll.pkttype"] for r in rows], [OUT, IN], "%s: sent, then received" % what)
    eq(int(rows[0]["tcp.dstport"]), closed_port, "%s: to the closed port" % what)
    ok(REFUSED in rows[0]["frame.comment"], "%s: the SYN says why: %r" % (what, rows[0]["frame.comment"]))
    eq(int(rows[1]["tcp.ack_raw"]), (int(rows[0]["tcp.seq_raw"]) + 1) % 2 ** 32, "%s: the reset acknowledges the SYN" % what)


def _end_analysis(cap, port, peer):
    """tshark's analysis flags on one end's copy (port's) of its connection to peer, what it sent
    and what it received, written to a file of its own (in one file the other end's copy of the
    same segments reads as retransmissions)."""
    view = "tcp.port == %d && ((sll.pkttype == %s && tcp.srcport == %d) || (sll.pkttype == %s && tcp.dstport == %d))" % (
        peer, OUT, port, IN, port)
    sub = cap + ".%d.pcapng" % port
    cclib.run(["tshark", "-n", "-r", cap, "-Y", view, "-w", sub])
    rows = _frames(sub, ["frame.number", "tcp.flags.str", "tcp.analysis.flags", "_ws.expert.message"])
    ok(len(rows) >= 5, "port %d's copy: handshake and data: %r" % (port, rows))
    return [r for r in rows if r["tcp.analysis.flags"]]


CONNECT_FIELDS = ["sll.pkttype", "tcp.srcport", "tcp.dstport", "tcp.flags.str", "tcp.seq_raw", "tcp.ack_raw",
                  "tcp.payload", "frame.comment", "tcp.analysis.retransmission"]


def test_trace_connects_never_silent(env):
    """The shim's rule (test_core.test_tcp_connect_attempts_never_silent) under the tracer: a static
    program's connects that move no byte are in the file - refused blocking, and non-blocking as the
    program learns it from getsockopt(SO_ERROR), from its first write, or not at all before its
    close: the SYN, saying why, and the peer's reset;
    connected and closed unasked: the handshake and our FIN; closed still under way: the SYN,
    saying so - and the connection after them opens when SO_ERROR says it connected, before the
    accepting end's copy, its numbers unbroken.  (There was nothing for the first four, and the
    last opened at its first byte, after its accepted copy: its SYN read as a retransmission.)"""
    cap = env.path("connects.pcapng")
    _, k = _traced(env, cap, "connects")
    eq((k["blocking_err"], k["nonblocking_connect"], k["nonblocking_so_error"], k["good_so_error"]),
       (errno.ECONNREFUSED, errno.EINPROGRESS, errno.ECONNREFUSED, 0), "what the program saw: %r" % k)
    eq((k["unasked_settled"], k["pending_settled"]), (1, 0), "connected unasked; the last one still under way")
    on = lambda port: _frames(cap, CONNECT_FIELDS, "tcp.port == %d" % port)
    _refused(on(k["blocking_port"]), k["closed_port"], "blocking")
    _refused(on(k["nonblocking_port"]), k["closed_port"], "non-blocking")
    eq(k["sendfail_err"], errno.ECONNREFUSED, "the refusal learned from a write")
    _refused(on(k["sendfail_port"]), k["closed_port"], "non-blocking, learned from a write")
    _refused(on(k["closefail_port"]), k["closed_port"], "non-blocking, closed unasked (the kernel's state)")
    rows = on(k["unasked_port"])
    eq(_flags(rows), ["S", "AS", "A", "AF"], "connected, closed unasked: the handshake and our FIN: %r" % rows)
    rows = on(k["pending_port"])
    eq(_flags(rows), ["S"], "closed still under way: its SYN alone: %r" % rows)
    ok("connect abandoned: closed before an answer came" in rows[0]["frame.comment"], rows[0]["frame.comment"])
    port, sport = k["good_port"], k["server_port"]
    rows = on(port)
    syns = [r for r in rows if _flags([r]) == ["S"]]
    eq([r["sll.pkttype"] for r in syns], [OUT, IN], "the connecting end's SYN first, then the accepting end's copy")
    eq(syns[0]["tcp.seq_raw"], syns[1]["tcp.seq_raw"], "one number in both copies")
    sent = [r for r in rows if r["tcp.payload"] and r["sll.pkttype"] == OUT and int(r["tcp.srcport"]) == port]
    eq([bytes.fromhex(r["tcp.payload"]) for r in sent], [b"over the good one\n"], "the line sent")
    eq(int(sent[0]["tcp.seq_raw"]), (int(syns[0]["tcp.seq_raw"]) + 1) % 2 ** 32, "right after the SYN")
    echo = [r for r in rows if r["tcp.payload"] and int(r["tcp.srcport"]) == sport]
    eq([bytes.fromhex(r["tcp.payload"]) for r in echo], [b"over the good one\n"] * 2, "the echo, sent and received")
    eq([r for r in rows if r["tcp.analysis.retransmission"] and r["sll.pkttype"] == OUT and int(r["tcp.srcport"]) == port],
       [], "nothing the connecting end sent taken for a retransmission")
    for end, other in ((port, sport), (sport, port)):
        eq(_end_analysis(cap, end, other), [], "tshark finds nothing to flag in port %d's copy" % end)


def test_trace_connect_interrupted_goes_on(env):
    """test_core.test_tcp_connect_interrupted_goes_on under the tracer: a static program's blocking
    connect a signal interrupts (the tracer sees ERESTARTSYS at the call's exit, the program EINTR)
    goes on in the background; its bytes once it connected are in the file, its SYN and its data
    sent, numbered as the accepting end's copies (only the accepting end's copy was there)."""
    _static_peer(env)           # (the same needs: gcc, a static libc)
    exe = env.path("connect_eintr")
    cclib.run(["gcc", "-static", "-O1", "-o", exe, os.path.join(HERE, "connect_eintr.c")])
    cap = env.path("eintr.pcapng")
    out = dict(l.split(" ", 1) for l in cclib.run([env.tool, "-w", cap, "--", exe], env=env.env(preload=False)).stdout.splitlines())
    eq(out["connect"], "-1 Interrupted system call", "the connect was interrupted")
    eq(out["write"], "5", "and then used")
    rows = _frames(cap, ["sll.pkttype", "tcp.flags.str", "tcp.seq_raw", "tcp.len"], "tcp.srcport == %s" % out["port"])
    sent = [r for r in rows if r["sll.pkttype"] == OUT]
    eq([_flags([r])[0] for r in sent], ["S", "A", "AP", "AF"], "the connecting end's SYN, ACK, data and FIN: %r" % rows)
    data = {r["sll.pkttype"]: r["tcp.seq_raw"] for r in rows if r["tcp.len"] == "5"}
    eq(sorted(data), [IN, OUT], "its 5 bytes sent, and received by the accepting end: %r" % rows)
    eq(data[OUT], data[IN], "numbered alike in both copies")


def _build_go(env, name):
    """tests/integration/NAME/main.go (the standard library only) built static with Debian's Go."""
    if not shutil.which("go"):
        raise cclib.Skip("golang-go is not installed")
    exe = env.path(name)
    e = dict(os.environ, GOPATH=env.path("gopath"), GO111MODULE="off", GOFLAGS="", GOCACHE=env.path("gocache"),
             CGO_ENABLED="0")
    cclib.run(["go", "build", "-o", exe, os.path.join(HERE, name, "main.go")], env=e, timeout=180)
    return exe


def test_trace_go_dial_refused(env):
    """Go's net.Dial to a closed port, under the tracer: Go connects non-blocking, waits in epoll
    and asks getsockopt(SO_ERROR), which the tracer did not stop at - the refused connect was not
    in the file at all.  Now its SYN, saying why, and the reset; and the program's next connection
    (to its own listener), opened at SO_ERROR, with its line and the echo, numbered as the
    accepting end's copy, its SYN never a retransmission of the refused one."""
    exe = _build_go(env, "go_dial")
    closed = cclib.free_port(socket.SOCK_STREAM)
    cap = env.path("dial.pcapng")
    p = cclib.run([env.tool, "-w", cap, "--", exe, "127.0.0.1:%d" % closed], env=env.env(preload=False))
    ok("system-call tracing" in p.stderr, "traced: %r" % p.stderr)
    out = dict(l.split(" ", 1) for l in p.stdout.splitlines())
    eq((out["refused"], out["echo"]), ("true", "true"), "what the program saw: %r" % out)
    port, sport = int(out["client_port"]), int(out["server_port"])
    rows = _frames(cap, CONNECT_FIELDS, "tcp.port == %d" % closed)
    ok(rows, "the refused connect is in the file")
    _refused(rows, closed, "net.Dial")
    rows = _frames(cap, CONNECT_FIELDS, "tcp.port == %d && tcp.port == %d" % (port, sport))
    syns = [r for r in rows if _flags([r]) == ["S"]]
    eq(sorted(r["sll.pkttype"] for r in syns), sorted([OUT, IN]), "the SYN sent, and the accepting end's copy: %r" % rows)
    eq(syns[0]["tcp.seq_raw"], syns[1]["tcp.seq_raw"], "one number in both copies")
    data = [r for r in rows if r["tcp.payload"]]
    eq(sorted((r["sll.pkttype"], int(r["tcp.srcport"]), bytes.fromhex(r["tcp.payload"])) for r in data),
       sorted((d, src, b"hello from go\n") for d in (OUT, IN) for src in (port, sport)),
       "the line and its echo, each sent and received")
    sent = [r for r in data if r["sll.pkttype"] == OUT and int(r["tcp.srcport"]) == port]
    eq(int(sent[0]["tcp.seq_raw"]), (int(syns[0]["tcp.seq_raw"]) + 1) % 2 ** 32, "the line right after the SYN")
    for end, other in ((port, sport), (sport, port)):
        eq(_end_analysis(cap, end, other), [], "tshark finds nothing to flag in port %d's copy" % end)


def test_trace_static_sendfile(env):
    """A static server sends with sendfile(2), with an offset and from the file position, and
    with splice(2) from a pipe, to a forked client: the sendfile bytes are read again from the
    file and are in the server's sent copy exactly; the spliced ones cannot be, so that copy has
    a gap there (and clearcap says so once), while the client's received copy has them all."""
    data = env.path("data.bin")
    body = os.urandom(30000)
    with open(data, "wb") as f:
        f.write(body)
    cap = env.path("sf.pcapng")
    p, k = _traced(env, cap, "sendfile", data)
    sport, cport = k["server_port"], k["client_port"]
    before = b"HEAD" + body[1000:21000] + body[5000:15000] + b"MID"
    whole = before + b"X" * 3000 + b"TAIL"
    eq(k["client_got"], len(whole), "the client got every byte (program unchanged)")
    said = [l for l in p.stderr.splitlines() if "splice" in l]
    eq(len(said), 1, "the splice said once: %r" % p.stderr)
    rows = _frames(cap, ["sll.pkttype", "tcp.srcport", "tcp.dstport", "tcp.seq", "tcp.payload"],
                   "tcp.len > 0", ["-o", "tcp.relative_sequence_numbers:TRUE"])
    seg = {}
    for r in rows:
        if (int(r["tcp.srcport"]), int(r["tcp.dstport"])) == (sport, cport):
            seg.setdefault(r["sll.pkttype"], []).append((int(r["tcp.seq"]), bytes.fromhex(r["tcp.payload"])))
    sent = sorted(seg[OUT])
    eq(b"".join(d for s, d in sent if s < 1 + len(before)), before, "the server's sent copy up to the splice")
    eq(sent[-1], (1 + len(before) + 3000, b"TAIL"), "TAIL after the spliced bytes' gap")
    eq(b"".join(d for s, d in sorted(seg[IN])), whole, "the client's received copy, whole")

def _wait_state(pid, state, timeout=5.0):
    """True once /proc says the process is in state (a letter of ps's STAT)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open("/proc/%d/stat" % pid) as f:
            if f.read().rsplit(")", 1)[1].split()[0] == state:
                return True
        time.sleep(0.02)
    return False


def test_trace_signal_passes_through(env):
    exe = _static_peer(env)
    cap = env.path("sig.pcapng")
    p = subprocess.Popen([env.tool, "-w", cap, "--", exe, "sleep"], env=env.env(preload=False),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        word, pid = p.stdout.readline().split()
        eq(word, b"ready", "the program runs under the tracer")
        pid = int(pid)
        # A stop signal stops the program (a group stop, held with PTRACE_LISTEN) until SIGCONT.
        os.kill(pid, signal.SIGSTOP)
        ok(_wait_state(pid, "t"), "the program stops on SIGSTOP")
        time.sleep(0.3)
        ok(_wait_state(pid, "t", 0.01), "the program stays stopped until SIGCONT")
        os.kill(pid, signal.SIGCONT)
        ok(_wait_state(pid, "S"), "the program runs again after SIGCONT")
        p.send_signal(signal.SIGTERM)
        rc = p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()
    eq(rc, -signal.SIGTERM, "the wrapper ends by the program's signal")


def test_trace_no_trace_flag(env):
    """--no-trace preloads the shim as before: a static program then captures nothing, and says so."""
    exe = _static_peer(env)
    cap = env.path("none.pcapng")
    p = cclib.run([env.tool, "--no-trace", "-w", cap, "--", exe, "udp", "2", "0"], env=env.env(preload=False))
    ok("system-call tracing" not in p.stderr and "did not load the shim" in p.stderr,
       "--no-trace: no tracing, the shim's message: %r" % p.stderr)


# ----------------------------------------------------------------------------------------------
# A real Pion program

def _module_links(src):
    """(module path, directory) for every go.mod under src whose module line is not its path."""
    out = []
    for root, dirs, files in os.walk(src):
        if "go.mod" not in files:
            continue
        rel = os.path.relpath(root, src)
        with open(os.path.join(root, "go.mod")) as f:
            for line in f:
                if line.startswith("module "):
                    mod = line.split()[1].strip('"')
                    if mod != rel:
                        out.append((mod, rel))
                    break
    return out


def _build_pion(env, cgo=True):
    """Builds tests/integration/pion_peer offline: GOPATH mode over a symlink tree of Debian's
    /usr/share/gocode/src, plus one link per major-version module path (docs: DESIGN.md)."""
    src = "/usr/share/gocode/src"
    if not os.path.isdir(os.path.join(src, "github.com/pion/webrtc")) or not shutil.which("go"):
        raise cclib.Skip("golang-go and golang-github-pion-webrtc.v3-dev are not installed")
    gopath = env.path("gopath")
    exe = env.path("pion_peer" + ("" if cgo else "_static"))
    e = dict(os.environ, GOPATH=gopath, GO111MODULE="off", GOFLAGS="", GOCACHE=env.path("gocache"),
             CGO_ENABLED="1" if cgo else "0")
    pkg = os.path.join(gopath, "src", "pion_peer")
    if os.path.isdir(pkg):
        cclib.run(["go", "build", "-o", exe, "."], env=e, cwd=pkg, timeout=180)
        return exe
    os.makedirs(os.path.join(gopath, "src"))
    cclib.run(["cp", "-rs", src + "/.", os.path.join(gopath, "src") + "/"], timeout=120)
    for mod, rel in _module_links(src):
        link = os.path.join(gopath, "src", mod)
        if not os.path.lexists(link):
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(os.path.join(gopath, "src", rel), link)
    os.makedirs(pkg)
    with open(os.path.join(HERE, "pion_peer", "main.go"), "rb") as f, open(os.path.join(pkg, "main.go"), "wb") as g:
        g.write(f.read())
    cclib.run(["go", "build", "-o", exe, "."], env=e, cwd=pkg, timeout=180)
    return exe


def _sctp_data(payload):
    """(ppid, user data) of each DATA chunk of an SCTP packet (RFC 9260 section 3.3.1)."""
    out = []
    off = 12
    while off + 4 <= len(payload):
        ctype, _, clen = struct.unpack("!BBH", payload[off:off + 4])
        if clen < 4:
            break
        if ctype == 0 and clen >= 16:
            ppid = struct.unpack("!I", payload[off + 12:off + 16])[0]
            out.append((ppid, payload[off + 16:off + clen]))
        off += (clen + 3) & ~3
    return out


def test_trace_pion(env):
    """Both builds of one program: the default (cgo) one is dynamically linked and found to be Go by
    its .go.buildinfo section; with CGO_ENABLED=0 it is static.  They share the build cache."""
    exe = _build_pion(env)
    _pion_session(env, exe, "Go program", "cgo")
    exe = _build_pion(env, cgo=False)
    _pion_session(env, exe, "static program", "static")


def _pion_session(env, exe, why, name):
    cap, keylog = env.path(name + ".pcapng"), env.path(name + ".keys")
    nmsg, nrtp = 5, 50
    p = cclib.run([env.tool, "-w", cap, "--", exe, "-keylog", keylog, "-messages", str(nmsg), "-rtp", str(nrtp)],
                  env=env.env(preload=False), timeout=60, check=False)
    eq(p.returncode, 0, "pion_peer under clearcap (stdout %r, stderr %r)" % (p.stdout, p.stderr[-1500:]))
    ok("system-call tracing" in p.stderr and why in p.stderr, "traced as a %s: %r" % (why, p.stderr))
    # Never silent: the exit table and the report say, for the DTLS flow, why it has no plaintext.
    ok(re.search(r"why no plaintext: captured by system-call tracing", p.stderr), p.stderr[-1500:])
    flows = json.loads(cclib.run([env.tool, "report", "--json", cap]).stdout)["flows"]
    dtls = [f for f in flows if f["encrypted"] == "dtls"]
    ok(dtls and all("system-call tracing" in (f["no_plaintext"] or "") for f in dtls), dtls)

    # ICE: STUN binding requests and success responses, on real loopback ports.
    stun = _frames(cap, ["stun.type", "ip.src", "udp.srcport", "ip.dst", "udp.dstport", "sll.pkttype"], "stun")
    ok(any(r["stun.type"] == "0x0001" for r in stun), "STUN binding requests: %r" % stun[:4])
    ok(any(r["stun.type"] == "0x0101" for r in stun), "STUN binding success responses")
    for r in stun:
        eq((r["ip.src"], r["ip.dst"]), ("127.0.0.1", "127.0.0.1"), "STUN addresses")
        ok(int(r["udp.srcport"]) > 0 and int(r["udp.dstport"]) > 0, "STUN ports")
    flows = {(int(r["udp.srcport"]), int(r["udp.dstport"])) for r in stun}

    # DTLS handshake on a STUN-checked flow; each record both as sent and as received.
    hs = _frames(cap, ["dtls.handshake.type", "udp.srcport", "udp.dstport", "sll.pkttype"], "dtls.handshake.type",
                 ["-E", "occurrence=a"])
    types = set()
    for r in hs:
        types.update(r["dtls.handshake.type"].split(","))
        ok((int(r["udp.srcport"]), int(r["udp.dstport"])) in flows, "DTLS on an ICE-checked flow: %r" % r)
    ok({"1", "2", "11", "12", "13", "14", "15", "16"} <= types, "the handshake's messages up to the encrypted "
       "Finished: %r" % sorted(types))
    eq({r["sll.pkttype"] for r in hs}, {OUT, IN}, "handshake records sent and received")

    # SRTP: the RTP header is in the clear; tshark reads it with its RTP heuristic.
    rtp = _frames(cap, ["rtp.p_type", "rtp.seq", "sll.pkttype", "udp.srcport", "udp.dstport"], "rtp",
                  ["-o", "rtp.heuristic_rtp:TRUE"])
    for d in (OUT, IN):
        seqs = {int(r["rtp.seq"]) for r in rtp if r["sll.pkttype"] == d and r["rtp.p_type"] == "111"}
        ok(len(seqs) >= nrtp, "%d SRTP packets %s (pt 111), got %d" % (nrtp, "sent" if d == OUT else "received", len(seqs)))
    for r in rtp:
        ok((int(r["udp.srcport"]), int(r["udp.dstport"])) in flows, "SRTP on an ICE-checked flow")

    # The DTLS decrypts with Pion's key log: the data channel's DATA chunks carry our messages.
    ok(open(keylog).read().startswith("CLIENT_RANDOM "), "Pion wrote a key log")
    plain = cclib.tshark(cap, ["sll.pkttype", "data.data"], "dtls.app_data", ["-o", "tls.keylog_file:" + keylog])
    ok(plain, "DTLS application data")
    texts = {d: [] for d in (OUT, IN)}
    for pkttype, data in plain:
        ok(data != "", "every DTLS application record decrypts")
        for ppid, user in _sctp_data(bytes.fromhex(data)):
            if ppid == 51:      # WebRTC string (RFC 8831 section 8)
                texts[pkttype].append(user.decode())
    want = ["clearcap-message-%d" % i for i in range(nmsg)]
    for d in (OUT, IN):
        eq(sorted(t for t in texts[d] if t.startswith("clearcap-message-")), want,
           "data channel messages in the decrypted DTLS (%s copies)" % ("sent" if d == OUT else "received"))

    # The media too: with Pion's key log, clearcap decrypt derives the DTLS-SRTP keys from the
    # handshake on the wire and writes every SRTP packet's plaintext RTP (Wireshark never would).
    out = env.path(name + "-clear.pcapng")
    p = cclib.run([env.tool, "decrypt", cap, "-o", out, "--keylog", keylog])
    clear = cclib.tshark(out, ["sll.pkttype", "rtp.seq", "rtp.p_type"], 'frame.interface_name == "plaintext" && rtp',
                         ["--enable-heuristic", "rtp_udp"])
    for d in (OUT, IN):
        seqs = {int(r[1]) for r in clear if r[0] == d and r[2] == "111"}
        wire = {int(r["rtp.seq"]) for r in rtp if r["sll.pkttype"] == d and r["rtp.p_type"] == "111"}
        eq(seqs, wire, "every SRTP packet %s decrypted by clearcap decrypt (%s)" % (
            "sent" if d == OUT else "received", p.stderr[-600:]))
