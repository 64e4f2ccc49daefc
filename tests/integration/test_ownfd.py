"""The shim's own descriptors and locks stay out of the program's way (issue: capture pipeline v2,
own fds and locks): a program that dup2's over, closes and close_range's across the capture file
and both key logs keeps its bytes its own and stays captured; a program that forks a hundred
children while TLS threads run loses no secret and sees no false repair; a multi-threaded program
forking while other threads run TLS and SRTP never hangs; vfork children change nothing of the
parent's capture; HEP never goes out through a program's socket; a forked child's first packet
and its dup2 onto the inherited capture number do not race.  Real programs: CPython (ssl,
threads, fork, subprocess), libsrtp2 through pylibsrtp, small C programs built by the test,
checked with tshark."""
import os
import socket
import struct
import subprocess
import time

import cclib
from cclib import eq, make_cert, ok, tshark

QUICK = ["test_own_fds_invisible_to_dup2_and_close_range", "test_vfork_children_and_failed_close_range_change_nothing",
         "test_forked_children_and_waiting_dtls_srtp_keys"]
# Not under TSan: its runtime cannot start threads in the child of a multi-threaded fork (the
# writer's), so no child captures anything there.
TSAN = ["test_own_fds_invisible_to_dup2_and_close_range"]
# Loads both CPUs for 20 s: alone, after the parallel part (run.py -j), so it slows no other test.
SERIAL = ["test_fork_while_threads_run_tls_and_srtp"]

WIRE = 'frame.interface_name == "wire"'


def dsb_lines(capfile):
    """Every secret line of every Decryption Secrets Block (pcapng block type 10) in the file."""
    data = open(capfile, "rb").read()
    off, lines = 0, []
    while off + 12 <= len(data):
        btype, blen = struct.unpack_from("<II", data, off)
        if blen < 12 or off + blen > len(data):
            break
        if btype == 10:
            slen = struct.unpack_from("<I", data, off + 12)[0]
            lines += data[off + 16:off + 16 + slen].decode().splitlines()
        off += blen
    return [l for l in lines if l.strip()]


# A TLS server thread and an SRTP sender in one process: one round of each opens the capture file,
# the TLS key log and the SRTP key log.
ROUND = r"""
import os, socket, ssl, sys, threading, pylibsrtp

KEY30 = bytes(range(30))

def tls_round(tag):
    # To a TLS echo server of the test's, not under the shim: one end of each connection captured.
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); cctx.check_hostname = False; cctx.verify_mode = ssl.CERT_NONE
    with cctx.wrap_socket(socket.create_connection(('127.0.0.1', int(os.environ['ECHO_PORT'])))) as t:
        t.sendall(tag); assert t.recv(100) == tag.upper()

def srtp_round(tag, port):
    pol = pylibsrtp.Policy(key=KEY30, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    sess = pylibsrtp.Session(pol)
    rtp = bytes([0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0x12, 0x34]) + tag
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(sess.protect(rtp), ('127.0.0.1', port)); u.close()
"""


def test_own_fds_invisible_to_dup2_and_close_range(env):
    """Each of the shim's descriptors (capture file, TLS key log, SRTP key log) is closed to the
    program (close, dup, fcntl: EBADF; dup3 onto itself: EINVAL, as the kernel checks that
    first); F_DUPFD from its number gets that number; dup2 over each puts the program's bytes in
    the program's file only; close_range across all of them; capture, key logs and DSBs go on
    afterwards."""
    cert, key = make_cert(env)
    cap, keys, skeys, mine = (env.path("c.pcapng"), env.path("keys.txt"), env.path("srtp.txt"),
                              env.path("mine.txt"))
    code = ROUND + r"""
import errno, fcntl
tls_round(b'before'); srtp_round(b'before', 9)
# An SDES key's line waits for its first packet's flow, which the writer thread matches: the SRTP
# key log is opened then, a moment after the send.
import time
for _ in range(200):
    if os.path.exists(sys.argv[5]) and os.path.getsize(sys.argv[5]):
        break
    time.sleep(0.01)
ours = {os.path.realpath(p) for p in sys.argv[3:6]}
mine = os.open(sys.argv[6], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
found = []
for name in os.listdir('/proc/self/fd'):
    fd = int(name)
    try:
        target = os.readlink('/proc/self/fd/%d' % fd)
    except OSError:
        continue
    if target in ours:
        found.append(fd)
        for what, call in (('close', lambda: os.close(fd)), ('dup', lambda: os.dup(fd)),
                           ('fcntl', lambda: fcntl.fcntl(fd, fcntl.F_GETFD)),
                           ('dup2 from', lambda: os.dup2(fd, mine + 1))):
            try:
                call()
                sys.exit('%s on our fd %d succeeded' % (what, fd))
            except OSError as e:
                assert e.errno == errno.EBADF, (what, e)
assert len(found) == 3, found
# The kernel's EINVAL comes first for the same number twice; F_DUPFD from a number of ours gets it.
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
for fd in found:
    assert libc.dup3(fd, fd, 0) == -1 and ctypes.get_errno() == errno.EINVAL, ('dup3 onto itself', fd)
n = fcntl.fcntl(mine, fcntl.F_DUPFD, min(found))
assert n == min(found), ('F_DUPFD from a number of ours', n, found)
os.close(n)
for fd in sorted(found):
    os.dup2(mine, fd)
    os.write(fd, b'MINE %d\n' % fd)
for fd in sorted(found):
    os.close(fd)
os.closerange(3, 65536)         # close_range(2) in glibc: every descriptor above stderr
tls_round(b'after'); srtp_round(b'after', 9)
print(' '.join(map(str, sorted(found))))
"""
    port = cclib.free_port(socket.SOCK_STREAM)
    srv = subprocess.Popen([cclib.PY, "-c", ECHO, cert, key, str(port)], stdout=subprocess.PIPE, text=True)
    try:
        eq(srv.stdout.readline().strip(), "ready", "echo server up")
        p = cclib.py(env, code, cap, {"CLEARCAP_KEYLOG": keys, "CLEARCAP_SRTP_KEYLOG": skeys,
                                      "ECHO_PORT": str(port)}, args=[cert, key, cap, keys, skeys, mine])
    finally:
        srv.kill()
        srv.wait()
    fds = [int(x) for x in p.stdout.split()]
    eq(open(mine, "rb").read(), b"".join(b"MINE %d\n" % fd for fd in fds), "the program's file holds its bytes only")
    eq(p.stderr.count("clearcap:"), 0, "no warning: %r" % p.stderr)
    # Both TLS rounds decrypt on the wire from the file's own secrets, both SRTP rounds have plaintext.
    streams = []
    for r in tshark(cap, ["tcp.stream"], WIRE + " && tcp.flags.syn == 1 && tcp.flags.ack == 0"):
        if r[0] not in streams:
            streams.append(r[0])
    eq(len(streams), 2, "two TLS connections on the wire")
    for tag, stream in zip(("before", "after"), streams):
        sent, got = cclib.follow_tcp(cap, int(stream), proto="tls",
                                     extra=["-o", "tls.keylog_file:", "-d", "tcp.port==%d,tls" % port])
        eq(sorted((sent, got)), sorted((tag.encode(), tag.upper().encode())),
           "%s round decrypts from the file's DSBs" % tag)
        ok(cclib.tshark_count(cap, 'frame.interface_name == "plaintext" && udp && frame contains "%s"' % tag) == 1,
           "%s SRTP plaintext" % tag)
    tls_lines = open(keys).read().splitlines()
    ok(tls_lines and all(l.split()[0] in ("CLIENT_RANDOM", "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
                                          "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0",
                                          "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET") for l in tls_lines),
       "TLS key log holds key lines only: %r" % tls_lines[:3])
    eq(len(tls_lines), 2 * 5, "both rounds, five TLS 1.3 client secrets each")
    srtp_lines = open(skeys).read().splitlines()
    ok(len(srtp_lines) >= 2 and all(l.startswith("SRTP ") for l in srtp_lines), "SRTP key log: %r" % srtp_lines)


ECHO = r"""
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('127.0.0.1', int(sys.argv[3]))); srv.listen(4)
print('ready', flush=True)
while True:
    c, _ = srv.accept()
    with ctx.wrap_socket(c, server_side=True) as t:
        t.sendall(t.recv(100).upper())
"""

SERVER = r"""
import socket, socketserver, ssl, sys
class H(socketserver.BaseRequestHandler):
    def handle(self):
        data = self.request.recv(1000)
        self.request.sendall(b'HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello')
class S(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    def get_request(self):
        c, a = super().get_request()
        return ctx.wrap_socket(c, server_side=True), a
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ctx.set_alpn_protocols(['http/1.1'])
srv = S(('127.0.0.1', int(sys.argv[3])), H)
print('ready', flush=True)
srv.serve_forever()
"""

STORM = r"""
import os, socket, ssl, sys, threading, time
port, conns, children = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(['http/1.1'])
done = threading.Event()
def tls_client():
    for i in range(conns):
        with ctx.wrap_socket(socket.create_connection(('127.0.0.1', port))) as t:
            t.sendall(b'GET / HTTP/1.0\r\n\r\n')
            while t.recv(1000):
                pass
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    while not done.is_set():
        u.sendto(b'udp thread', ('127.0.0.1', 9)); time.sleep(0.001)
threads = [threading.Thread(target=tls_client) for _ in range(3)]
ut = threading.Thread(target=udp); ut.start()
for t in threads: t.start()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(children):
    pid = os.fork()
    if pid == 0:
        u.sendto(b'child %d' % i, ('127.0.0.1', 9))
        os._exit(0)
    os.waitpid(pid, 0)
    time.sleep(0.01)
for t in threads: t.join()
done.set(); ut.join()
"""


def test_fork_storm_keeps_every_secret_once(env):
    """Three TLS-client threads and a UDP thread while the main thread forks 100 children that
    send one datagram each and leave with _exit: every wire TLS connection decrypts from the
    file alone, each secret is in the file once, and nothing is 'repaired'."""
    cert, key = make_cert(env)
    cap = env.path("c.pcapng")
    port = cclib.free_port(socket.SOCK_STREAM)
    srv = subprocess.Popen([cclib.PY, "-c", SERVER, cert, key, str(port)], stdout=subprocess.PIPE, text=True)
    try:
        eq(srv.stdout.readline().strip(), "ready", "server up")
        conns, children = 40, 100
        p = cclib.py(env, STORM, cap, args=[str(port), str(conns), str(children)], timeout=240)
    finally:
        srv.kill()
        srv.wait()
    ok("removed" not in p.stderr and "clearcap:" not in p.stderr, "no repair, no warning: %r" % p.stderr)
    rows = [bytes.fromhex(r[0]) for r in tshark(cap, ["udp.payload"], WIRE + " && udp.dstport == 9")]
    eq(sorted(r for r in rows if r.startswith(b"child")), sorted(b"child %d" % i for i in range(children)),
       "every child's datagram")
    # The server's port is random: some may belong to another dissector, so TLS is named.
    tls = ["-d", "tcp.port==%d,tls" % port]
    hellos = cclib.tshark_count(cap, WIRE + " && tls.handshake.type == 1", extra=tls)
    eq(hellos, 3 * conns, "ClientHellos on the wire")
    decrypted = tshark(cap, ["tcp.stream"], WIRE + " && http.request", extra=["-o", "tls.keylog_file:"] + tls)
    eq(len({r[0] for r in decrypted}), 3 * conns, "wire connections whose request decrypts from the file alone")
    lines = dsb_lines(cap)
    eq(len(lines), len(set(lines)), "each secret once in the file (%d lines)" % len(lines))
    eq(len(set(lines)), 3 * conns * 5, "five TLS 1.3 client secrets per connection")


FORKER = r"""
import os, socket, ssl, sys, threading, time, pylibsrtp
cert, key, forks = sys.argv[1], sys.argv[2], int(sys.argv[3])
stop = threading.Event()
srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(8)
sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); sctx.load_cert_chain(cert, key)
cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); cctx.check_hostname = False; cctx.verify_mode = ssl.CERT_NONE
def serve(c):
    with sctx.wrap_socket(c, server_side=True) as t:
        d = t.recv(100)
        if d:
            t.sendall(d)
def server():
    while not stop.is_set():
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
def client():
    while not stop.is_set():
        with cctx.wrap_socket(socket.create_connection(srv.getsockname())) as t:
            t.sendall(b'ping'); t.recv(100)
def srtp():
    KEY = bytes(range(30))
    tx = pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    rx = pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND))
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.bind(('127.0.0.1', 0))
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    seq = 0
    while not stop.is_set():
        seq = (seq + 1) & 0xffff
        b.sendto(tx.protect(bytes([0x80, 96, seq >> 8, seq & 255, 0, 0, 0, 1, 0, 0, 0, 7]) + b'x' * 160),
                 a.getsockname())
        rx.unprotect(a.recv(2000))
plain = socket.socket(); plain.bind(('127.0.0.1', 0)); plain.listen(64)
def plain_server():
    while True:
        c, _ = plain.accept()
        c.sendall(c.recv(100)); c.close()
ths = [threading.Thread(target=f, daemon=True) for f in (server, client, srtp, plain_server)]
for t in ths: t.start()
time.sleep(0.2)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
hung = 0
for i in range(forks):
    pid = os.fork()
    if pid == 0:
        # The child captures a datagram and a TCP connection.  Not TLS or SRTP itself: OpenSSL's
        # and NSS's own locks are not fork-safe, and such a child hangs without the shim too.
        u.sendto(b'forked %d' % i, ('127.0.0.1', 9))
        with socket.create_connection(plain.getsockname()) as t:
            t.sendall(b'child %d' % i); t.recv(100)
        os._exit(0)
    deadline = time.time() + 10
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.time() > deadline:
            hung += 1
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            break
        time.sleep(0.001)
stop.set()
print('forked', forks, 'hung', hung, flush=True)
os._exit(0)
"""


def test_fork_while_threads_run_tls_and_srtp(env):
    """A program whose threads run TLS and SRTP without pause forks 200 times, and each child
    sends a datagram and makes a TCP connection: no child hangs (every lock the shim owns is
    taken across fork), and each child's traffic is captured."""
    cert, key = make_cert(env)
    cap = env.path("c.pcapng")
    forks = 200
    p = cclib.py(env, FORKER, cap, args=[cert, key, str(forks)], timeout=180)
    eq(p.stdout.strip(), "forked %d hung 0" % forks, "every child finished")
    # One pass of tshark: the file is about 90 MB, and each pass takes some 6 s.
    rows = tshark(cap, ["frame.interface_name", "udp.dstport", "udp.payload", "tcp.len", "tcp.payload"],
                  '(%s && (udp.dstport == 9 || (tcp.len > 0 && frame contains "child "))) || '
                  '(frame.interface_name == "plaintext" && (tcp.len > 0 || udp))' % WIRE)
    wire = [r for r in rows if r[0] == "wire"]
    plain = [r for r in rows if r[0] == "plaintext"]
    datagrams = [bytes.fromhex(r[2]) for r in wire if r[1] == "9"]
    eq(len([d for d in datagrams if d.startswith(b"forked")]), forks, "every child's datagram")
    data = {bytes.fromhex(r[4]) for r in wire if r[3] and int(r[3]) > 0}
    eq(len([d for d in data if b"child " in d]), forks, "every child's TCP data")
    ok(any(r[3] and int(r[3]) > 0 for r in plain), "TLS plaintext captured")
    ok(any(r[1] for r in plain), "SRTP plaintext captured")


def test_no_descriptor_left_stops_with_one_warning(env):
    """A program that dup2's its own file over every descriptor number it may have, the shim's
    included: with no number left to move to, the shim gives its descriptor up (one warning, the
    capture stops), and the program's writes there land in its own file, not in the capture."""
    cap, mine = env.path("c.pcapng"), env.path("mine.txt")
    code = r"""
import os, resource, socket, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b'before', ('127.0.0.1', 9))
mine = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
for fd in range(3, 64):
    if fd not in (s.fileno(), mine):
        os.dup2(mine, fd)
for fd in range(3, 64):
    if fd not in (s.fileno(), mine):
        os.write(fd, b'x')
s.sendto(b'after', ('127.0.0.1', 9))
"""
    p = cclib.py(env, code, cap, args=[mine])
    eq(p.stderr.count("no descriptor left"), 1, "one warning: %r" % p.stderr)
    eq(open(mine, "rb").read(), b"x" * (61 - 2), "the program's bytes, in its own file")
    good, why = cclib.capinfos_ok(cap)
    ok(good, why)
    eq([bytes.fromhex(r[0]) for r in tshark(cap, ["udp.payload"])], [b"before"], "captured until it had to stop")


# The C programs' way to find the capture file's descriptor, as a program would.
FIND_FD = r"""
#include <dirent.h>

/*
 * The lowest descriptor from 3 up that `path` is open on, found in /proc/self/fd as the program
 * would; -1 if none.  Needs <limits.h>, <stdio.h>, <stdlib.h>, <string.h>, <unistd.h>.
 */
static int find(const char *path)
{
	char link[300], target[PATH_MAX];
	int found = -1;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	while (d && (e = readdir(d))) {
		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = 0;
			int fd = atoi(e->d_name);
			if (fd >= 3 && !strcmp(target, path) && (found < 0 || fd < found))
				found = fd;
		}
	}
	if (d)
		closedir(d);
	return found;
}
"""


VFORKER = r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* FIND_FD */

static void say(int c, const char *s)
{
	if (write(c, s, strlen(s)) != (ssize_t)strlen(s))
		exit(2);
	usleep(20000);
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
		return 3;
	say(c, "ONE\n");
	int cap = find(argv[2]);
	if (cap < 0)
		return 4;
	/* vfork children that close the socket, dup2 over the capture file, close every fd. */
	for (int mode = 1; mode <= 3; mode++) {
		pid_t p = vfork();
		if (p == 0) {
			if (mode == 1)
				close(c);
			else if (mode == 2)
				dup2(0, cap);
			else
				close_range(3, ~0U, 0);
			_exit(0);
		}
		waitpid(p, NULL, 0);
		say(c, mode == 1 ? "TWO\n" : mode == 2 ? "THREE\n" : "FOUR\n");
	}
	/* A close_range that fails (a flag the kernel does not know) closes nothing. */
	errno = 0;
	if (close_range(3, ~0U, 0x80) != -1 || errno != EINVAL)
		return 5;
	say(c, "FIVE\n");
	close(c);
	return 0;
}
"""


def test_vfork_children_and_failed_close_range_change_nothing(env):
    """A vfork child shares the parent's memory: its close, dup2 over the capture file and
    close_range act on its own descriptors and must not touch the parent's capture (the fd table,
    the capture file's number).  CPython's subprocess is the everyday case (vfork, then
    close_range in the child); a C program does each in turn; and a close_range that fails
    closes nothing, so it forgets nothing.  Each connection's stream is whole in tshark's follow,
    with one FIN, and no warning."""
    src, exe = env.path("vf.c"), env.path("vf")
    open(src, "w").write(VFORKER.replace("/* FIND_FD */", FIND_FD))
    cclib.run(["gcc", "-O1", "-o", exe, src])
    port, t, got = cclib.tcp_server(2)
    cap = env.path("c.pcapng")
    code = r"""
import socket, subprocess, sys, time
c = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
c.sendall(b'GET /one\n'); time.sleep(0.02)
subprocess.run(['true'], check=True)    # vfork; the child close_range's every descriptor
c.sendall(b'GET /two\n'); time.sleep(0.02)
subprocess.run(['true'], check=True, stdout=c.fileno())     # and dup2's the socket onto 1
c.sendall(b'GET /three\n'); time.sleep(0.02)
c.close()
"""
    p1 = cclib.py(env, code, cap, args=[str(port)])
    p2 = cclib.run([exe, str(port), os.path.realpath(cap)], env=env.env(cap))
    t.join(timeout=30)
    want = [b"GET /one\nGET /two\nGET /three\n", b"ONE\nTWO\nTHREE\nFOUR\nFIVE\n"]
    eq(got, want, "the server got every byte (the programs ran as without the shim)")
    eq(p1.stderr.count("clearcap:") + p2.stderr.count("clearcap:"), 0, "no warning: %r %r" % (p1.stderr, p2.stderr))
    streams = []
    for r in tshark(cap, ["tcp.stream"], "tcp.flags.syn == 1 && tcp.flags.ack == 0"):
        if r[0] not in streams:
            streams.append(r[0])
    eq(len(streams), 2, "two connections")
    for stream, data in zip(streams, want):
        sent, _ = cclib.follow_tcp(cap, int(stream))
        eq(sent, data, "stream %s whole in tshark's follow" % stream)
        eq(cclib.tshark_count(cap, "tcp.stream == %s && tcp.flags.fin == 1 && tcp.srcport != %d" % (stream, port)), 1,
           "one FIN from the client of stream %s, at its close" % stream)
        eq(cclib.tshark_count(cap, "tcp.stream == %s && tcp.analysis.retransmission" % stream), 0,
           "no data sent twice (sequence numbers kept) in stream %s" % stream)


def test_no_descriptor_left_for_hep_stops_it_with_one_warning(env):
    """The same with HEP to a collector: when the program dup2's its own UDP socket over the HEP
    socket's number and no number is left to move to, the shim gives that socket up (one
    warning) and never sends HEP through the program's socket: its peer gets its bytes only,
    though the program goes on sending SIP, which HEP would copy."""
    cap = env.path("c.pcapng")
    collector = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    collector.bind(("127.0.0.1", 0))
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    code = r"""
import os, resource, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(('127.0.0.1', int(sys.argv[1])))
s.send(b'PROG before')
time.sleep(0.1)
# The shim's HEP socket, found as a program would: the other socket in /proc/self/fd.
hep = []
for n in os.listdir('/proc/self/fd'):
    try:
        if int(n) != s.fileno() and os.readlink('/proc/self/fd/' + n).startswith('socket:'):
            hep.append(int(n))
    except OSError:
        pass            # the listing's own descriptor, gone
assert len(hep) == 1, hep
# SIP on another socket: what HEP sends the collector a copy of.
sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
held = []
try:
    while True:
        held.append(os.open('/dev/null', os.O_RDONLY))
except OSError:
    pass
os.dup2(s.fileno(), hep[0])
for i in range(3):
    os.write(hep[0], b'PROG after %d' % i)
    sip.sendto(b'OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK%d\r\n'
               b'From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: %d@x\r\n'
               b'CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' % (i, i), ('127.0.0.1', 9))
    time.sleep(0.05)
"""
    try:
        p = cclib.py(env, code, cap, {"CLEARCAP_HEP": "udp:127.0.0.1:%d" % collector.getsockname()[1]},
                     args=[str(peer.getsockname()[1])])
        peer.settimeout(1.0)
        got = []
        try:
            while True:
                got.append(peer.recv(65536))
        except socket.timeout:
            pass
    finally:
        collector.close()
        peer.close()
    eq(got, [b"PROG before", b"PROG after 0", b"PROG after 1", b"PROG after 2"], "the peer got the program's bytes only")
    eq(p.stderr.count("keep the collector's socket"), 1, "one warning for HEP: %r" % p.stderr)


def test_forked_children_write_no_inherited_srtp_key_line(env):
    """An SDES key's line waits for its first packet's flow and is written flowless at exit if
    none comes.  Children forked while it waits, leaving by a normal exit, do not write the
    parent's line again: the SRTP key log holds it once, written by the parent."""
    cap, skeys = env.path("c.pcapng"), env.path("srtp.txt")
    code = r"""
import os, sys, pylibsrtp
sess = pylibsrtp.Session(pylibsrtp.Policy(key=bytes(range(30)), ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        sys.exit(0)         # a normal exit: the shim's exit handlers run in the child
    os.waitpid(pid, 0)
"""
    p = cclib.py(env, code, cap, {"CLEARCAP_SRTP_KEYLOG": skeys})
    lines = open(skeys).read().splitlines()
    eq(len(lines), 1, "the key's line once: %r" % lines)
    ok(lines[0].startswith("SRTP ? ? outbound AES_CM_128_HMAC_SHA1_80 inline:"), "a flowless SDES line: %r" % lines)
    eq(p.stderr.count("clearcap:"), 0, "no warning: %r" % p.stderr)


def test_forked_children_and_waiting_dtls_srtp_keys(env):
    """DTLS-SRTP keys wait for their flow in the session's entry, and are logged flowless at exit
    if none comes (here: OpenSSL over memory BIOs, tests/integration/dtls_fork.c).  Children that
    leave at once by exit() do not log the parent's keys again; a child that goes on with the
    sessions while its parent leaves by _exit (a daemon's fork) logs them, once."""
    src, exe = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dtls_fork.c"), env.path("dtls_fork")
    cclib.run(["gcc", "-O1", "-o", exe, src, "-lssl", "-lcrypto"])
    cert, key = make_cert(env)
    for mode in ("leave", "daemon"):
        cap, skeys = env.path("%s.pcapng" % mode), env.path("%s.srtp" % mode)
        p = cclib.run([exe, cert, key, mode], env=env.env(cap, {"CLEARCAP_SRTP_KEYLOG": skeys}))
        eq(p.stdout, "ok\n", "the program ran as without the shim")
        for _ in range(50):     # the daemon's child may still be writing
            if os.path.exists(skeys) and len(open(skeys).read().splitlines()) >= 2:
                break
            time.sleep(0.1)
        time.sleep(0.3)
        lines = open(skeys).read().splitlines() if os.path.exists(skeys) else []
        eq(len(lines), 2, "%s: the keys once, both directions: %r" % (mode, lines))
        eq(sorted(l.split()[3] for l in lines), ["inbound", "outbound"], "%s: %r" % (mode, lines))
        eq(p.stderr.count("clearcap:"), 0, "no warning: %r" % p.stderr)


# Children that leave by _exit() from a SIGALRM handler while they dup2 over the capture file's
# number again and again (the shim moves its descriptor out of the way under its drain lock): the
# handler often interrupts the shim holding that lock.  Prints how many children had to be killed.
SIGEXIT = r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* FIND_FD */

static void bye(int sig) { (void)sig; _exit(0); }

int main(int argc, char **argv)
{
	struct sockaddr_in d = { .sin_family = AF_INET, .sin_port = htons(9) };
	d.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int u = socket(AF_INET, SOCK_DGRAM, 0), hung = 0, kids = atoi(argv[2]);
	sendto(u, "parent", 6, 0, (struct sockaddr *)&d, sizeof(d));
	usleep(30000);
	int cap = find(argv[1]);
	if (cap < 0)
		return 3;
	int nul = open("/dev/null", O_WRONLY);
	for (int k = 0; k < kids; k++) {
		pid_t p = fork();
		if (p == 0) {
			signal(SIGALRM, bye);
			struct itimerval it = { { 0, 0 }, { 0, 1000 + 97 * k } };
			setitimer(ITIMER_REAL, &it, NULL);
			for (;;) {
				sendto(u, "child", 5, 0, (struct sockaddr *)&d, sizeof(d));
				cap = find(argv[1]);
				if (cap >= 0) dup2(nul, cap);
			}
		}
		int st;
		for (int t = 0; t < 200 && waitpid(p, &st, WNOHANG) == 0; t++)
			usleep(10000);
		if (waitpid(p, &st, WNOHANG) == 0) {
			hung++;
			kill(p, SIGKILL);
			waitpid(p, &st, 0);
		}
	}
	printf("hung=%d\n", hung);
	return 0;
}
"""


def test_exit_from_signal_handler_inside_the_shim(env):
    """A program whose signal handler calls _exit() while the thread it interrupted holds one of
    the shim's locks (Kamailio's children leave so on SIGTERM) ends as it would without the shim:
    150 forked children dup2 over the capture file's number in a loop until a timer's handler
    _exits; none hangs (the shim skips its exit work there, with one warning per such process),
    and the file stays readable with everything else in it."""
    src, exe = env.path("sigexit.c"), env.path("sigexit")
    open(src, "w").write(SIGEXIT.replace("/* FIND_FD */", FIND_FD))
    cclib.run(["gcc", "-O1", "-o", exe, src])
    cap = env.path("c.pcapng")
    p = cclib.run([exe, os.path.realpath(cap), "150"], env=env.env(cap), timeout=300)
    eq(p.stdout, "hung=0\n", "every child ended by itself")
    lines = [l for l in p.stderr.splitlines() if l]
    ok(all("left from a signal handler that interrupted clearcap" in l for l in lines), "only that warning: %r" % lines)
    ok(len(lines) <= 150, "at most once per process: %d" % len(lines))
    ok(cclib.capinfos_ok(cap)[0], "the file reads whole: %s" % cclib.capinfos_ok(cap)[1])
    eq(cclib.tshark_count(cap, 'udp.dstport == 9 && udp.payload == 70:61:72:65:6e:74'), 1, "the parent's datagram")
    ok(cclib.tshark_count(cap, 'udp.dstport == 9 && udp.payload == 63:68:69:6c:64') > 100, "the children's")


RACER = r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* FIND_FD */

static int u, cap, nul;
static volatile int go, done;
static struct sockaddr_in d;

/* In the child, against its first packet: the program takes the capture file's number. */
static void *dupper(void *arg)
{
	(void)arg;
	while (!go)
		;
	for (int i = 0; i < 2000 && !done; i++)
		dup2(nul, cap);
	dup2(nul, cap);
	return NULL;
}

int main(int argc, char **argv)
{
	char link[64], target[PATH_MAX];
	int children = atoi(argv[2]), bad = 0;

	d.sin_family = AF_INET;
	d.sin_port = htons(9);
	d.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	u = socket(AF_INET, SOCK_DGRAM, 0);
	sendto(u, "parent", 6, 0, (struct sockaddr *)&d, sizeof(d));
	usleep(30000);
	if ((cap = find(argv[1])) < 0)
		return 3;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", cap);
	for (int k = 0; k < children; k++) {
		pid_t p = fork();
		if (p == 0) {
			pthread_t t;
			char m[32];
			nul = open("/dev/null", O_WRONLY);
			pthread_create(&t, NULL, dupper, NULL);
			go = 1;
			usleep(k % 50);
			int n = snprintf(m, sizeof(m), "child %d", k);
			sendto(u, m, n, 0, (struct sockaddr *)&d, sizeof(d));
			done = 1;
			pthread_join(t, NULL);
			ssize_t l = readlink(link, target, sizeof(target) - 1);
			target[l > 0 ? l : 0] = 0;
			if (strcmp(target, "/dev/null")) {
				fprintf(stderr, "child %d: fd %d is '%s', not /dev/null\n", k, cap, target);
				_exit(1);
			}
			exit(0);
		}
		int st;
		waitpid(p, &st, 0);
		bad += !WIFEXITED(st) || WEXITSTATUS(st);
	}
	printf("bad=%d\n", bad);
	return 0;
}
"""


def test_forked_child_dup2_onto_capture_fd_during_first_packet(env):
    """A forked child writes through a file description of its own, made at its first packet from
    the number it inherited.  A thread of the child dup2's /dev/null onto that number meanwhile:
    the program's descriptor stays its own (/dev/null), and every child's datagram is captured,
    with no warning."""
    src, exe = env.path("race.c"), env.path("race")
    open(src, "w").write(RACER.replace("/* FIND_FD */", FIND_FD))
    cclib.run(["gcc", "-O1", "-pthread", "-o", exe, src])
    cap = env.path("c.pcapng")
    n = 200
    p = cclib.run([exe, os.path.realpath(cap), str(n)], env=env.env(cap), timeout=120)
    eq(p.stdout.strip(), "bad=0", "every child's fd is its own: %r" % p.stderr[-500:])
    eq(p.stderr.count("clearcap:"), 0, "no warning: %r" % p.stderr[-500:])
    got = {bytes.fromhex(r[0]) for r in tshark(cap, ["udp.payload"], "udp.dstport == 9") if r[0]}
    eq(sorted({b"child %d" % k for k in range(n)} - got), [], "every child's datagram captured")


def test_spawn_fork_and_refused_dup2_as_without_the_shim(env):
    """CPython, run with and without the shim, prints the same: os.posix_spawn with a dup2 from
    the capture file's number (not the program's: EBADF, where the child got our file and wrote
    into the capture); errno after fork in the child and the parent (the child's new control page
    left EEXIST there); a dup2 onto the capture file's number past a lowered descriptor limit
    (EBADF, and the program's next open still gets the lowest number: ours had moved down to it)."""
    code = r"""
import ctypes, os, resource, socket, sys
cap = os.path.realpath(os.environ["CLEARCAP_FILE"]) if "CLEARCAP_FILE" in os.environ else ""
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"first", ("127.0.0.1", 9))
ours = 1000
for n in os.listdir("/proc/self/fd"):
    try:
        if cap and os.readlink("/proc/self/fd/" + n) == cap:
            ours = int(n)
            print("the capture file's number found", file=sys.stderr)
    except OSError:
        pass
try:
    pid = os.posix_spawn("/bin/echo", ["echo", "SPAWNED-CHILD-WROTE-THIS"], os.environ,
                         file_actions=[(os.POSIX_SPAWN_DUP2, ours, 1)])
    print("posix_spawn: ran, status", os.waitpid(pid, 0)[1], flush=True)
except OSError as e:
    print("posix_spawn:", e.strerror, flush=True)
libc = ctypes.CDLL(None, use_errno=True)
ctypes.set_errno(4242)
pid = libc.fork()
if pid == 0:
    os.write(1, b"errno in the child after fork: %d\n" % ctypes.get_errno())
    os._exit(0)
os.waitpid(pid, 0)
print("errno in the parent after fork:", ctypes.get_errno(), flush=True)
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
try:
    os.dup2(0, ours)
    print("dup2 past the limit: done")
except OSError as e:
    print("dup2 past the limit:", e.strerror)
fd = os.open("/dev/null", os.O_RDONLY)
print("next open:", fd, flush=True)
s.sendto(b"last", ("127.0.0.1", 9))
"""
    cap = env.path("c.pcapng")
    plain = cclib.run([cclib.PY, "-c", code], env=env.env(preload=False), timeout=60).stdout
    shim = cclib.run([cclib.PY, "-c", code], env=env.env(cap), timeout=60)
    ok("the capture file's number found" in shim.stderr, "the probe found our descriptor: %r" % shim.stderr)
    eq(shim.stdout, plain, "the program's own view, with the shim and without")
    ok("posix_spawn: Bad file descriptor" in plain and "child after fork: 4242" in plain, plain)
    eq([bytes.fromhex(r[0]) for r in tshark(cap, ["udp.payload"], "udp.dstport == 9")], [b"first", b"last"],
       "both datagrams captured, the file whole")
    ok(cclib.capinfos_ok(cap)[0], "capinfos reads the file")
