"""Helpers for clearcap's integration tests: run real programs under the shim, read the capture
with tshark (and tcpdump), and assert.

A test is a function named test_* in a tests/integration/test_*.py module; it takes one argument,
the Env, and raises AssertionError (or any exception) to fail.  Tests must only use loopback.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PY = "/usr/bin/python3"   # Debian's interpreter, not whatever is first on PATH


class Skip(Exception):
    """Raised by a test whose prerequisite is missing on this machine."""


class Env:
    def __init__(self, build, sanitize=False):
        self.build = os.path.abspath(build)
        self.tsan = self.build.rstrip("/").endswith("-tsan")
        self.lib = os.path.join(self.build, "libclearcap.so")
        self.tool = os.path.join(self.build, "clearcap")
        self.sanitize = sanitize
        self.tmp = tempfile.mkdtemp(prefix="cc-it-")
        self.xdg = tempfile.mkdtemp(prefix="cc-it-run-")      # beside tmp: tests list tmp's files

    def path(self, name):
        return os.path.join(self.tmp, name)

    def preload(self):
        """LD_PRELOAD value: under sanitizers their runtime must come first."""
        if self.tsan:
            tsan = subprocess.run(["gcc", "-print-file-name=libtsan.so"], capture_output=True,
                                  text=True).stdout.strip()
            return " ".join([tsan, self.lib])
        if not self.sanitize:
            # The guard (single_guard.c) checks that the shim's writer neither allocates nor takes
            # a private mutex while glibc believes the program has one thread.
            guard = os.path.join(self.build, "tests", "single_guard.so")
            return " ".join([guard, self.lib]) if os.path.exists(guard) else self.lib
        asan = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                              text=True).stdout.strip()
        ubsan = subprocess.run(["gcc", "-print-file-name=libubsan.so"], capture_output=True,
                               text=True).stdout.strip()
        return " ".join([asan, ubsan, self.lib])

    def env(self, capfile=None, extra=None, preload=True):
        e = dict(os.environ)
        for k in list(e):
            if k.startswith("CLEARCAP_"):
                del e[k]
        # Control pages and rotation state of this test's processes in a directory of its own:
        # `clearcap ctl all` of one test never reaches another's, run side by side (run.py -j).
        e["XDG_RUNTIME_DIR"] = self.xdg
        if preload:
            e["LD_PRELOAD"] = self.preload()
        if self.tsan:
            e["TSAN_OPTIONS"] = "halt_on_error=1:exitcode=88:report_signal_unsafe=0" + os.environ.get("CC_TSAN_EXTRA", "")
        if self.sanitize:
            e["ASAN_OPTIONS"] = "detect_leaks=0:verify_asan_link_order=0:abort_on_error=0:exitcode=86"
            e["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:exitcode=87"
        if capfile:
            e["CLEARCAP_FILE"] = capfile
        if extra:
            e.update(extra)
        return e

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)
        shutil.rmtree(self.xdg, ignore_errors=True)


def run(cmd, env=None, timeout=60, check=True, input=None, **kw):
    """Runs cmd to completion; returns CompletedProcess with text stdout/stderr."""
    p = subprocess.run(cmd, env=env, timeout=timeout, capture_output=True, text=True, input=input, **kw)
    if check and p.returncode != 0:
        raise AssertionError("%r exited %d\nstdout: %s\nstderr: %s" % (cmd, p.returncode, p.stdout[-2000:],
                                                                       p.stderr[-2000:]))
    return p


def py(env, code, capfile, extra=None, timeout=60, check=True, args=()):
    """Runs a Python program (Debian's python3) under the shim capturing into capfile."""
    return run([PY, "-c", code] + list(args), env=env.env(capfile, extra), timeout=timeout, check=check)


def tshark(capfile, fields, dfilter=None, extra=()):
    """Returns a list of rows (lists of strings), one per frame matching dfilter."""
    cmd = ["tshark", "-n", "-r", capfile, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f"]
    for f in fields:
        cmd += ["-e", f]
    if dfilter:
        cmd += ["-Y", dfilter]
    cmd += list(extra)
    p = run(cmd)
    rows = []
    for line in p.stdout.splitlines():
        rows.append(line.split("\t"))
    return rows


def tshark_count(capfile, dfilter=None, extra=()):
    return len(tshark(capfile, ["frame.number"], dfilter, extra))


def tcpdump_count(capfile, bpf=""):
    p = run(["tcpdump", "-n", "-r", capfile] + ([bpf] if bpf else []))
    return len([l for l in p.stdout.splitlines() if l.strip()])


def follow_tcp(capfile, stream=0, extra=(), proto="tcp"):
    """Bytes each side sent on a TCP stream, from tshark's follow,PROTO,raw (tcp, or tls for the
    decrypted data): (node0, node1)."""
    p = run(["tshark", "-n", "-r", capfile, "-q", "-z", "follow,%s,raw,%d" % (proto, stream)] + list(extra))
    a, b = [], []
    started = False
    for line in p.stdout.splitlines():
        if line.startswith("Node 1:"):
            started = True
            continue
        if not started or line.startswith("="):
            continue
        if line.startswith("\t"):
            b.append(bytes.fromhex(line.strip()))
        elif line.strip():
            a.append(bytes.fromhex(line.strip()))
    return b"".join(a), b"".join(b)


def tcp_server(connections, echo=False):
    """A TCP server on 127.0.0.1 outside the shim, in a thread, for `connections` connections in
    turn: each one's bytes until the client's FIN (echoed in upper case if `echo`) are appended
    to the list returned.  Returns (port, thread, list); join the thread, then read the list."""
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    got = []

    def serve():
        for _ in range(connections):
            c, _ = srv.accept()
            data = b""
            while True:
                d = c.recv(4096)
                if not d:
                    break
                data += d
                if echo:
                    c.sendall(d.upper())
            got.append(data)
            c.close()
        srv.close()

    t = threading.Thread(target=serve)
    t.start()
    return srv.getsockname()[1], t, got


def capinfos_ok(capfile):
    """True when Wireshark's capinfos reads the whole file without complaint."""
    p = run(["capinfos", "-c", capfile], check=False)
    return p.returncode == 0 and "appears to have been cut short" not in p.stderr, p.stdout + p.stderr


def free_port(kind=socket.SOCK_DGRAM, family=socket.AF_INET):
    s = socket.socket(family, kind)
    s.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for_port(port, host="127.0.0.1", timeout=10.0, udp=False):
    """Waits until something listens on a TCP port (UDP: returns after a short delay)."""
    if udp:
        time.sleep(0.3)
        return
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nothing listening on %s:%d" % (host, port))


def eq(a, b, what=""):
    if a != b:
        raise AssertionError("%s: expected %r, got %r" % (what, b, a))


def ok(cond, what):
    if not cond:
        raise AssertionError(what)


def addr(row_ip, row_ip6):
    """The address of a frame from its ip.src/ipv6.src fields, IPv4-mapped written as IPv4."""
    a = row_ip or row_ip6
    return a[7:] if a.startswith("::ffff:") and "." in a else a


def make_cert(env):
    """A self-signed certificate and key for localhost in the test's directory: (cert, key)."""
    cert, key = env.path("cert.pem"), env.path("key.pem")
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-days", "1", "-keyout", key, "-out", cert])
    return cert, key


def need(tool):
    if not shutil.which(tool):
        raise Skip("%s not installed" % tool)


class Screen:
    """Just enough of a VT100 to replay the wrapper's terminal output: text with autowrap, CR, LF,
    DECSC/DECRC (ESC 7/8), IND (ESC D), CUU, CUP, EL, DECSTBM and SGR (ignored).  Rows that scroll
    off the top of the screen are kept in `gone`."""

    def __init__(self, rows, cols):
        self.rows, self.cols = rows, cols
        self.grid = [[" "] * cols for _ in range(rows)]
        self.y = self.x = 0
        self.top, self.bottom = 0, rows - 1
        self.saved = (0, 0)
        self.gone = []

    def line(self, y):
        return "".join(self.grid[y]).rstrip()

    def lines(self):
        return self.gone + [self.line(y) for y in range(self.rows)]

    def down(self):
        if self.y == self.bottom:
            if self.top == 0:
                self.gone.append(self.line(0))
            del self.grid[self.top]
            self.grid.insert(self.bottom, [" "] * self.cols)
        elif self.y < self.rows - 1:
            self.y += 1

    def feed(self, data):
        i = 0
        while i < len(data):
            c = data[i]
            i += 1
            if c == "\x1b":
                if data[i] == "[":
                    m = re.match(r"\[([0-9;]*)([A-Za-z])", data[i:])
                    i += m.end()
                    args = [int(a) if a else 0 for a in m.group(1).split(";")] if m.group(1) else []
                    op = m.group(2)
                    if op == "A":
                        self.y = max(self.top if self.y >= self.top else 0, self.y - max(args[0] if args else 1, 1))
                    elif op == "H":
                        self.y = min(max((args[0] if args else 1) - 1, 0), self.rows - 1)
                        self.x = min(max((args[1] if len(args) > 1 else 1) - 1, 0), self.cols - 1)
                    elif op == "K":
                        self.grid[self.y][self.x:] = [" "] * (self.cols - self.x)
                    elif op == "r":
                        self.top = (args[0] - 1) if args and args[0] else 0
                        self.bottom = (args[1] - 1) if len(args) > 1 and args[1] else self.rows - 1
                        self.y = self.x = 0
                else:
                    op = data[i]
                    i += 1
                    if op == "7":
                        self.saved = (self.y, self.x)
                    elif op == "8":
                        self.y, self.x = self.saved
                    elif op == "D":
                        self.down()
            elif c == "\r":
                self.x = 0
            elif c == "\n":
                self.down()
            elif c >= " ":
                if self.x >= self.cols:
                    self.x = 0
                    self.down()
                self.grid[self.y][self.x] = c
                self.x += 1


DUP_TEXTS = {"dup_port": b"one\ntwo\nthree\nfour\n", "pending_port": b"connected after all\n",
             "dup2_port": b"five\n", "range_port": b"six\n",
             "fork_port": b"from the child\n", "exit_port": b"from the child, leaving\n",
             "twice_port": b"twice, leaving\n", "exec_port": b"written, exec'd, then closed\n"}


def dup_streams(cap, keys, fin_at_exit):
    """Checks a capture of `trace_peer dups` (keys: its "key value" lines): each connection the
    program moved through several numbers, or closed by dup2 or close_range, is one stream from the
    connecting end - its bytes in order with unbroken numbers, whichever number or process wrote
    them, and one FIN, after them all (not at the first number's close) - and tshark flags
    nothing in the connecting end's copy of it.  The connection a child leaves open as it _exits
    ends with a FIN then under the tracer (fin_at_exit); the shim writes none (README)."""
    fields = ["frame.number", "sll.pkttype", "tcp.srcport", "tcp.flags.fin", "tcp.seq_raw", "tcp.len", "tcp.payload",
              "tcp.analysis.flags"]
    for key, text in DUP_TEXTS.items():
        port = int(keys[key])
        sport = int(keys.get(key.replace("_port", "_server"), keys["server_port"]))
        # The connecting end's copy: what it sent, and what it received.
        view = "tcp.port == %d && tcp.port == %d && ((sll.pkttype == 4 && tcp.srcport == %d) || (sll.pkttype == 0 && tcp.dstport == %d))" % (
            sport, port, port, port)
        rows = [dict(zip(fields, r + [""] * len(fields))) for r in tshark(cap, fields, view)]
        sent = [r for r in rows if r["sll.pkttype"] == "4"]
        data = [r for r in sent if r["tcp.payload"]]
        eq(b"".join(bytes.fromhex(r["tcp.payload"]) for r in data), text, "%s: the bytes written, in order" % key)
        for a, b in zip(data, data[1:]):
            eq(int(b["tcp.seq_raw"]), (int(a["tcp.seq_raw"]) + int(a["tcp.len"])) % 2 ** 32,
               "%s: numbered on from the segment before: %r" % (key, data))
        eq([r for r in rows if r["tcp.analysis.flags"]], [], "%s: tshark flags nothing" % key)
        fins = [r for r in sent if r["tcp.flags.fin"] == "1"]
        if key in ("exit_port", "twice_port") and not fin_at_exit:
            eq(fins, [], "%s: no FIN from the connecting end, never an early one: %r" % (key, sent))
            continue
        eq(len(fins), 1, "%s: one FIN from the connecting end: %r" % (key, sent))
        ok(int(fins[0]["frame.number"]) > int(data[-1]["frame.number"]) and
           int(fins[0]["tcp.seq_raw"]) == (int(data[-1]["tcp.seq_raw"]) + int(data[-1]["tcp.len"])) % 2 ** 32,
           "%s: the FIN after the last byte: %r" % (key, sent))


def reused_pair_streams(cap, n, sport, cport, answers=True):
    """Checks a capture of `trace_peer reuse n` (`late n`: answers=False): each connection on the
    one address pair is a stream of its own in tshark, with its own bytes, never a retransmission
    of the one before, and its two ends' copies in it (their numbers agree)."""
    rows = [dict(zip(["stream", "pkttype", "syn", "ack", "payload", "retrans", "reused"], r + [""] * 7))
            for r in tshark(cap, ["tcp.stream", "sll.pkttype", "tcp.flags.syn", "tcp.flags.ack", "tcp.payload",
                                  "tcp.analysis.retransmission", "tcp.analysis.reused_ports"],
                            "tcp.port == %d && tcp.port == %d" % (sport, cport))]
    streams = sorted({int(r["stream"]) for r in rows})
    eq(len(streams), n, "one stream per connection on the reused pair")
    for i, s in enumerate(streams):
        got = [bytes.fromhex(r["payload"]) for r in rows if int(r["stream"]) == s and r["payload"]]
        eq(sorted(got), sorted([b"answer %d\n" % i] * 2 * answers + [b"request %d\n" % i] * 2),
           "stream %d's own bytes, in each end's copy" % i)
    # A segment's first copy is never taken for a retransmission (both ends in one process: the
    # second copy is; the accepting end's SYN-ACK comes after the connecting end's copy of it):
    # the data each end sent, and each connection's SYN, a new one on reused ports after the first.
    sent = [r for r in rows if r["pkttype"] == "4"]
    eq([r for r in sent if r["retrans"] and r["payload"]], [], "data sent taken for retransmissions")
    syns = [r for r in sent if r["syn"] == "1" and r["ack"] == "0"]
    eq([r for r in syns if r["retrans"]], [], "SYNs taken for retransmissions")
    eq(len(syns), n, "SYNs sent")
    eq(sum(1 for r in syns if r["reused"]), n - 1, "SYNs on reused ports")
