"""Capture core: addresses, directions, call variants, control messages, IP header values, TCP
streams, GSO/GRO, and the program's own behaviour left unchanged.  Programs are Debian's python3
using its socket module (sendto/recvfrom/sendmsg/recvmsg/recv_into...), and C programs built by
the tests where Python cannot reach a corner."""
import os
import re
import socket
import struct
import subprocess
import time

import cclib
from cclib import eq, ok, py, tshark, tshark_count

HERE = os.path.dirname(os.path.abspath(__file__))

QUICK = ["test_udp_wildcard_real_addresses", "test_tcp_stream_bytes", "test_cmsg_unchanged",
         "test_gso_gro_split", "test_flow_cache_follows_changes", "test_receive_calls_as_without_the_shim",
         "test_tcp_socket_under_several_numbers_is_one_stream", "test_hot_rx_lane_follows_changes",
         "test_tcp_socket_shared_across_fork_is_one_stream", "test_sendfile_and_splice_to_tcp",
         "test_raw_syscalls_as_libuv_makes_them"]
TSAN = ["test_udp_wildcard_real_addresses", "test_tcp_stream_bytes", "test_flow_cache_follows_changes",
        "test_tcp_socket_under_several_numbers_is_one_stream"]

UDP_FIELDS = ["sll.pkttype", "ip.src", "udp.srcport", "ip.dst", "udp.dstport", "udp.payload"]


def test_udp_wildcard_real_addresses(env):
    """A server bound to 0.0.0.0 receiving on 127.0.0.2: frames carry 127.0.0.2, never 0.0.0.0."""
    cap = env.path("c.pcapng")
    code = r"""
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 0)); port = s.getsockname()[1]
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(5):
    c.sendto(b'ping%d' % i, ('127.0.0.2', port))
for i in range(5):
    d, a = s.recvfrom(100)
    assert a[0] == '127.0.0.1', a
    s.sendto(b'pong' + d[4:], a)
for i in range(5):
    assert c.recv(100) == b'pong%d' % i
print(port, c.getsockname()[1])
"""
    out = py(env, code, cap).stdout.split()
    sport, cport = out[0], out[1]
    rows = tshark(cap, UDP_FIELDS)
    eq(len(rows), 20, "frames")
    for r in rows:
        ok("0.0.0.0" not in (r[1], r[3]), "wildcard address in frame %r" % r)
    pings = [r for r in rows if bytes.fromhex(r[5]).startswith(b"ping")]
    eq(len(pings), 10, "ping copies")
    for r in pings:
        eq((r[1], r[2], r[3], r[4]), ("127.0.0.1", cport, "127.0.0.2", sport), "ping 5-tuple")
    eq(sorted(r[0] for r in pings), ["0"] * 5 + ["4"] * 5, "ping directions")
    pongs = [r for r in rows if bytes.fromhex(r[5]).startswith(b"pong")]
    for r in pongs:
        # The kernel answers 127.0.0.1 from 127.0.0.1: what the reply really carried.
        eq((r[1], r[2], r[3], r[4]), ("127.0.0.1", sport, "127.0.0.1", cport), "pong 5-tuple")


def test_udp_multicast_and_broadcast_source(env):
    """Unconnected sends to a multicast group with IP_MULTICAST_IF, and to a broadcast address
    (SSDP, mDNS, SAP style): the sent copy has the source the kernel used (the receiver's
    recvfrom says which), not the default route's address nor 0.0.0.0, so that each datagram's
    two copies make one flow."""
    code = r"""
import socket
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
r.bind(('0.0.0.0', 0))
port = r.getsockname()[1]
r.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton('239.1.2.3') + socket.inet_aton('127.0.0.1'))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton('127.0.0.1'))
s.sendto(b'mcast', ('239.1.2.3', port))
print(r.recvfrom(100)[1][0])
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
b.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
b.sendto(b'bcast', ('127.255.255.255', port))
print(r.recvfrom(100)[1][0])
"""
    cap = env.path("c.pcapng")
    p = cclib.py(env, code, cap)
    eq(p.stdout.split(), ["127.0.0.1", "127.0.0.1"], "the kernel's sources, as the receiver saw them")
    rows = tshark(cap, ["sll.pkttype", "ip.src", "ip.dst", "udp.payload"])
    got = sorted((r[0], r[1], r[2], bytes.fromhex(r[3])) for r in rows)
    eq(got, sorted([("4", "127.0.0.1", "239.1.2.3", b"mcast"), ("0", "127.0.0.1", "239.1.2.3", b"mcast"),
                    ("4", "127.0.0.1", "127.255.255.255", b"bcast"), ("0", "127.0.0.1", "127.255.255.255", b"bcast")]),
       "both copies of each from the source used")


def test_udp_ipv6_and_mapped(env):
    """IPv6 on ::1, and IPv4 through a dual-stack :: socket (v4-mapped) framed as IPv4."""
    cap = env.path("c.pcapng")
    code = r"""
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(('::', 0)); port = s.getsockname()[1]
c6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); c6.sendto(b'six', ('::1', port))
c4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c4.sendto(b'four', ('127.0.0.3', port))
got = sorted([s.recvfrom(10)[0], s.recvfrom(10)[0]])
assert got == [b'four', b'six'], got
print(port)
"""
    port = py(env, code, cap).stdout.strip()
    v6 = tshark(cap, ["sll.pkttype", "ipv6.src", "ipv6.dst", "udp.dstport"], "ipv6")
    eq(sorted(r[0] for r in v6), ["0", "4"], "ipv6 directions")
    for r in v6:
        eq((r[1], r[2], r[3]), ("::1", "::1", port), "ipv6 tuple")
    v4 = tshark(cap, ["sll.pkttype", "ip.src", "ip.dst", "udp.dstport"], "ip")
    eq(sorted(r[0] for r in v4), ["0", "4"], "mapped directions")
    for r in v4:
        eq((r[1], r[2], r[3]), ("127.0.0.1", "127.0.0.3", port), "v4-mapped tuple")


def test_tcp_stream_bytes(env):
    """TCP: handshake, MSS-bounded segments, FIN; follow,tcp gives back exactly the bytes."""
    cap = env.path("c.pcapng")
    code = r"""
import os, socket, threading
payload = bytes(range(256)) * 1200 + os.urandom(777)
open(os.environ['OUT'], 'wb').write(payload)
srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(1); port = srv.getsockname()[1]
res = []
def serve():
    c, a = srv.accept(); buf = b''
    while True:
        d = c.recv(7000)
        if not d: break
        buf += d
    c.sendall(b'thanks %d' % len(buf)); c.close(); res.append(buf)
t = threading.Thread(target=serve); t.start()
c = socket.create_connection(('127.0.0.1', port))
for i in range(0, len(payload), 50000):
    c.sendall(payload[i:i + 50000])
c.shutdown(socket.SHUT_WR)
reply = c.recv(100); assert c.recv(100) == b''; c.close(); t.join()
assert res[0] == payload and reply == b'thanks %d' % len(payload)
"""
    out = env.path("payload")
    py(env, code, cap, {"OUT": out})
    payload = open(out, "rb").read()
    a, b = cclib.follow_tcp(cap, 0)
    eq(a, payload, "client->server bytes")
    eq(b, b"thanks %d" % len(payload), "server->client bytes")
    flags = tshark(cap, ["tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin"])
    eq(sum(1 for f in flags if f[0] == "1" and f[1] == "0"), 2, "SYN (one per captured end)")
    eq(sum(1 for f in flags if f[2] == "1"), 4, "FIN both ways, seen by both ends")
    eq(tshark_count(cap, "tcp.analysis.lost_segment || tcp.analysis.ack_lost_segment"), 0, "no gaps")
    mss = max(int(r[0]) for r in tshark(cap, ["tcp.len"]))
    ok(mss <= 65483, "segment larger than loopback MSS: %d" % mss)


def test_tcp_reused_address_pair_is_a_new_stream(env):
    """The kernel reuses a client port for the same server once the last connection ended (TIME_WAIT
    reuse is on for loopback by default, or the client binds its port): each connection starts
    from new sequence numbers, or Wireshark would take all its bytes for retransmissions of the
    last one's (a TLS ClientHello then goes undissected: seen in CI, 119 of 120).  Both ends in one
    process, each closing its side; and with the connecting end gone (closed) before the other
    accepts, the two ends' copies still in one stream each time (they were not: the close had
    counted the connection ended before the accepting end began it)."""
    cclib.need("gcc")
    exe = env.path("trace_peer")
    cclib.run(["gcc", "-O1", "-pthread", "-o", exe, os.path.join(HERE, "trace_peer.c")])
    n = 4
    for mode in ("reuse", "late"):
        cap = env.path(mode + ".pcapng")
        p = cclib.run([exe, mode, str(n)], env=env.env(cap))
        k = dict(l.split() for l in p.stdout.splitlines())
        cclib.reused_pair_streams(cap, n, int(k["server_port"]), int(k["client_port"]), answers=mode == "reuse")


def test_tcp_one_socket_many_numbers(env):
    """test_trace.test_trace_one_socket_many_numbers under the shim: a connection moved through
    numbers made by dup and F_DUPFD_CLOEXEC, each closed in turn, is one stream with one FIN after
    its last byte; dup2 putting a file over its number, or close_range closing it with its twin,
    ends it; a forked child's bytes after the parent closed its copy continue the stream (and,
    left open as the child _exits, get no FIN from us: never an early one)."""
    cclib.need("gcc")
    exe = env.path("trace_peer")
    cclib.run(["gcc", "-O1", "-pthread", "-o", exe, os.path.join(HERE, "trace_peer.c")])
    cap = env.path("dups.pcapng")
    p = cclib.run([exe, "dups"], env=env.env(cap))
    cclib.dup_streams(cap, dict((a, int(b)) for a, b in (l.split() for l in p.stdout.splitlines())), fin_at_exit=False)


def test_sendfile_and_splice_to_tcp(env):
    """Bytes the kernel moves below the hooks on a TCP connection: sendfile's (socket.sendfile
    with an offset, os.sendfile from the file position) are read again from the file and
    captured exactly; splice's from a pipe cannot be, so the capture shows a gap there (Wireshark:
    a segment not captured) and the process says so once.  The client runs without the shim, so
    the file holds the server's copy alone."""
    cap = env.path("c.pcapng")
    data = env.path("data.bin")
    with open(data, "wb") as f:
        f.write(os.urandom(300000))
    code = r"""
import os, socket, subprocess, sys
data = open(sys.argv[1], 'rb').read()
ls = socket.socket(); ls.bind(('127.0.0.1', 0)); ls.listen(1)
client = ("import socket, sys\n"
          "c = socket.create_connection(('127.0.0.1', int(sys.argv[1]))); got = b''\n"
          "while True:\n"
          "    b = c.recv(65536)\n"
          "    if not b: break\n"
          "    got += b\n"
          "sys.stdout.buffer.write(got)\n")
env = {k: v for k, v in os.environ.items() if k != 'LD_PRELOAD' and not k.startswith('CLEARCAP')}
p = subprocess.Popen([sys.executable, '-c', client, str(ls.getsockname()[1])], env=env, stdout=subprocess.PIPE)
s, _ = ls.accept()
s.sendall(b'HEAD')
with open(sys.argv[1], 'rb') as f:
    assert s.sendfile(f, offset=1000, count=200000) == 200000
    f.seek(5000); n = 0
    while n < 100000:
        n += os.sendfile(s.fileno(), f.fileno(), None, 100000 - n)
    assert f.tell() == 105000
s.sendall(b'MID')
r, w = os.pipe(); os.write(w, b'X' * 5000)
n = 0
while n < 5000:
    n += os.splice(r, s.fileno(), 5000 - n)
s.sendall(b'TAIL'); s.close()
got = p.stdout.read(); p.wait()
assert got == b'HEAD' + data[1000:201000] + data[5000:105000] + b'MID' + b'X' * 5000 + b'TAIL', len(got)
"""
    p = py(env, code, cap, args=[data])
    lines = [l for l in p.stderr.splitlines() if "clearcap" in l]
    eq(len(lines), 1, "one line, for the splice: %r" % p.stderr)
    ok("5000 bytes moved with splice" in lines[0], lines[0])
    d = open(data, "rb").read()
    a, b = cclib.follow_tcp(cap, 0)
    eq(a, b"", "client->server bytes")
    # Wireshark's follow stops at the gap: what it gives is everything before the splice.
    want = b"HEAD" + d[1000:201000] + d[5000:105000] + b"MID"
    ok(b == want, "server->client bytes before the splice: %d bytes, %d expected, %s" %
       (len(b), len(want), "equal" if b == want else "differ"))
    eq(tshark_count(cap, "tcp.analysis.lost_segment"), 1, "one gap, where the splice went")
    rows = tshark(cap, ["tcp.seq", "tcp.payload"], "tcp.len == 4")
    eq((int(rows[-1][0]), bytes.fromhex(rows[-1][1])), (1 + len(want) + 5000, b"TAIL"),
       "TAIL after the spliced bytes' gap")


def test_splice_from_tcp_leaves_a_gap(env):
    """Bytes a program splices from a TCP socket into a pipe never pass through it: the
    received copy shows a gap there (the next segment's sequence number counts them, Wireshark
    marks a segment not captured), and the process says so once.  The peer runs without the shim."""
    cap = env.path("c.pcapng")
    code = r"""
import os, socket, subprocess, sys
ls = socket.socket(); ls.bind(('127.0.0.1', 0)); ls.listen(1)
env = {k: v for k, v in os.environ.items() if k != 'LD_PRELOAD' and not k.startswith('CLEARCAP')}
peer = ("import socket, sys, time\n"
        "c = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
        "for d in (b'AAAA', b'B' * 5000, b'CCCC'):\n"
        "    c.sendall(d); time.sleep(0.2)\n")
p = subprocess.Popen([sys.executable, '-c', peer, str(ls.getsockname()[1])], env=env)
s, _ = ls.accept()
assert s.recv(4) == b'AAAA'
r, w = os.pipe(); n = 0
while n < 5000:
    n += os.splice(s.fileno(), w, 5000 - n)
assert os.read(r, 6000) == b'B' * 5000
got = b''
while True:
    d = s.recv(100)
    if not d: break
    got += d
assert got == b'CCCC', got
p.wait()
"""
    p = py(env, code, cap)
    lines = [l for l in p.stderr.splitlines() if "clearcap" in l]
    eq(len(lines), 1, "one line, for the splice: %r" % p.stderr)
    ok("5000 bytes moved with splice" in lines[0], lines[0])
    rows = tshark(cap, ["tcp.seq", "tcp.payload", "tcp.analysis.lost_segment"], "tcp.len > 0")
    eq([(int(r[0]), bytes.fromhex(r[1]), r[2] != "") for r in rows], [(1, b"AAAA", False), (5005, b"CCCC", True)],
       "received segments: the spliced bytes a gap")

def test_raw_syscalls_as_libuv_makes_them(env):
    """Calls made through syscall(3), as libuv 1.44 makes them (close, sendmmsg, recvmmsg): a
    TCP socket closed by syscall(SYS_close) is forgotten, so the file opened next under its
    number is never taken for the connection (before, its bytes were captured as TCP data), and
    the datagrams of syscall(SYS_sendmmsg) and syscall(SYS_recvmmsg) are captured both ways."""
    src = env.path("raw.c")
    exe = env.path("raw")
    with open(src, "w") as f:
        f.write(r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
    socklen_t al = sizeof a;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    bind(l, (void *)&a, sizeof a); listen(l, 1); getsockname(l, (void *)&a, &al);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (void *)&a, sizeof a)) return 2;
    int s = accept(l, NULL, NULL);
    char b[64];
    if (write(c, "net data", 8) != 8 || read(s, b, sizeof b) != 8) return 3;
    if (syscall(SYS_close, c) != 0) return 4;
    int f = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (f != c || write(f, "FILE CONTENT", 12) != 12) return 5;
    close(f); close(s); close(l);
    /* UDP batches through syscall(), both ways. */
    int u = socket(AF_INET, SOCK_DGRAM, 0), r = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in ra = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
    socklen_t rl = sizeof ra;
    bind(r, (void *)&ra, sizeof ra); getsockname(r, (void *)&ra, &rl);
    struct mmsghdr out[3], in[3];
    struct iovec ov[3], iv[3];
    char msgs[3][8], got[3][16];
    memset(out, 0, sizeof out); memset(in, 0, sizeof in);
    for (int i = 0; i < 3; i++) {
        snprintf(msgs[i], sizeof msgs[i], "batch%d", i);
        ov[i] = (struct iovec){ msgs[i], strlen(msgs[i]) };
        out[i].msg_hdr = (struct msghdr){ .msg_name = &ra, .msg_namelen = sizeof ra, .msg_iov = &ov[i], .msg_iovlen = 1 };
        iv[i] = (struct iovec){ got[i], sizeof got[i] };
        in[i].msg_hdr = (struct msghdr){ .msg_iov = &iv[i], .msg_iovlen = 1 };
    }
    if (syscall(SYS_sendmmsg, u, out, 3, 0) != 3) return 6;
    int n = 0;
    while (n < 3) {
        long k = syscall(SYS_recvmmsg, r, in + n, 3 - n, 0, NULL);
        if (k <= 0) return 7;
        n += (int)k;
    }
    /* A bad descriptor: -1 and EBADF, as glibc's syscall() gives. */
    if (syscall(SYS_close, 99999) != -1 || errno != EBADF) return 8;
    printf("%d %d\n", ntohs(a.sin_port), ntohs(ra.sin_port));
    return 0;
}
""".replace("#include <unistd.h>", "#include <unistd.h>\n#include <errno.h>"))
    cclib.run(["gcc", "-O1", "-o", exe, src])
    cap = env.path("c.pcapng")
    p = cclib.run([exe, env.path("file.txt")], env=env.env(cap))
    tport, uport = p.stdout.split()
    eq(open(env.path("file.txt"), "rb").read(), b"FILE CONTENT", "the program's file")
    tcp = b"".join(bytes.fromhex(r[0]) for r in tshark(cap, ["tcp.payload"], "tcp.len > 0"))
    ok(b"FILE" not in tcp, "a file's bytes captured as the closed connection's: %r" % tcp)
    eq(tcp, b"net data" * 2, "the connection's bytes, each end's copy")
    ok(tshark_count(cap, "tcp.flags.fin == 1 && tcp.port == %s" % tport) > 0, "a FIN for the closed socket")
    rows = tshark(cap, ["sll.pkttype", "udp.payload"], "udp.port == %s" % uport)
    eq(sorted((r[0], bytes.fromhex(r[1])) for r in rows),
       sorted([("4", b"batch%d" % i) for i in range(3)] + [("0", b"batch%d" % i) for i in range(3)]),
       "sendmmsg and recvmmsg through syscall(), each datagram both ways")

def client_streams(rows):
    """tshark rows that start (tcp.stream, tcp.srcport, tcp.flags.syn, tcp.flags.ack, ...): each
    stream's client port, by its SYN, in the order the connections opened."""
    streams = {}
    for r in rows:
        if r[2] == "1" and r[3] == "0":
            streams.setdefault(r[0], r[1])
    return streams


def test_tcp_socket_under_several_numbers_is_one_stream(env):
    """A TCP socket the program reaches by several descriptors (dup then close the original;
    inetd's dup2 onto two numbers, reading on one and writing on the other, shut down on one;
    CPython's socket.fromfd, both used in turn) is one stream in the file: the bytes in order in
    tshark's follow, acknowledgements that add up, one FIN from the client, at the socket's last
    close or its shutdown, and none while another number still holds it."""
    port, t, got = cclib.tcp_server(3, echo=True)
    cap = env.path("c.pcapng")
    code = r"""
import os, socket, sys
port = int(sys.argv[1])
def rd(fd, n):
    b = b''
    while len(b) < n:
        b += os.read(fd, n - len(b))
    return b
c = socket.create_connection(('127.0.0.1', port)); c.sendall(b'a-one\n'); rd(c.fileno(), 6)
d = os.dup(c.fileno()); c.close()
os.write(d, b'a-two\n'); rd(d, 6); os.close(d)
c = socket.create_connection(('127.0.0.1', port))
os.dup2(c.fileno(), 50); os.dup2(c.fileno(), 51); c.close()
for w in (b'b-one\n', b'b-two\n', b'b-three\n'):
    os.write(51, w); rd(50, len(w))
socket.socket(fileno=os.dup(51)).shutdown(socket.SHUT_WR)
assert os.read(50, 10) == b''
os.close(50); os.close(51)
c = socket.create_connection(('127.0.0.1', port)); e = socket.fromfd(c.fileno(), socket.AF_INET, socket.SOCK_STREAM)
for i in range(4):
    s = (c, e)[i % 2]; s.sendall(b'c-%d\n' % i); rd(s.fileno(), 4)
e.close(); c.close()
"""
    p = py(env, code, cap, args=[str(port)])
    t.join(timeout=30)
    want = [b"a-one\na-two\n", b"b-one\nb-two\nb-three\n", b"c-0\nc-1\nc-2\nc-3\n"]
    eq(got, want, "the server got every byte")
    eq(p.stderr.count("clearcap:"), 0, "no warning: %r" % p.stderr)
    rows = tshark(cap, ["tcp.stream", "tcp.srcport", "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin",
                        "tcp.analysis.flags", "tcp.analysis.window_update"])
    streams = client_streams(rows)
    eq(len(streams), 3, "three connections")
    for (stream, client), data in zip(streams.items(), want):
        eq(cclib.follow_tcp(cap, int(stream)), (data, data.upper()), "stream %s whole in tshark's follow" % stream)
        eq([r for r in rows if r[0] == stream and r[5] and not r[6]], [],
           "stream %s: no retransmission, gap, unseen acknowledgement or out-of-order segment" % stream)
        eq(sum(1 for r in rows if r[0] == stream and r[4] == "1" and r[1] == client), 1,
           "one FIN from the client of stream %s" % stream)
    eq(sum(1 for r in rows if r[0] == list(streams)[1] and r[4] == "1"), 2,
       "the inetd-style stream: the client's FIN at its shutdown, the server's read by the other number")


def test_tcp_fin_when_a_socket_loses_its_last_number_otherwise(env):
    """A TCP socket's last descriptor goes by other calls than close: dup2 of another file onto
    its number (a daemon pointing 0-2 at /dev/null), close_range and closefrom (a child
    cleaning up before exec, a server closing a range).  Each closes the socket, as the server
    sees; the file shows the client's FIN then, once per connection, and none while another
    number still holds the socket (two numbers in one range: one FIN; dup2 over one of two: the
    FIN at the other's close)."""
    port, t, got = cclib.tcp_server(5, echo=True)
    cap = env.path("c.pcapng")
    code = r"""
import ctypes, os, socket, sys
port = int(sys.argv[1])
def conn(tag):
    c = socket.create_connection(('127.0.0.1', port))
    c.sendall(tag + b'\n'); b = b''
    while len(b) < len(tag) + 1:
        b += c.recv(100)
    return c
null = os.open('/dev/null', os.O_RDWR)
c = conn(b'dup2'); os.dup2(null, c.fileno()); c.detach()
c = conn(b'range'); os.closerange(c.fileno(), c.fileno() + 1); c.detach()
c = conn(b'two-in-range'); d = os.dup(c.fileno()); lo, hi = min(c.fileno(), d), max(c.fileno(), d)
os.closerange(lo, hi + 1); c.detach()
c = conn(b'dup2-over-one'); d = os.dup(c.fileno()); os.dup2(null, d); c.close()
c = conn(b'closefrom'); fd = c.fileno(); c.detach()
os.close(null)
ctypes.CDLL(None).closefrom(fd)
"""
    p = py(env, code, cap, args=[str(port)])
    t.join(timeout=30)
    want = [b"dup2\n", b"range\n", b"two-in-range\n", b"dup2-over-one\n", b"closefrom\n"]
    eq(got, want, "the server got every byte and each connection's end")
    eq(p.stderr.count("clearcap:"), 0, "no warning: %r" % p.stderr)
    rows = tshark(cap, ["tcp.stream", "tcp.srcport", "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin",
                        "tcp.analysis.flags"])
    streams = client_streams(rows)
    eq(len(streams), 5, "five connections")
    for (stream, client), data in zip(streams.items(), want):
        eq(cclib.follow_tcp(cap, int(stream)), (data, data.upper()), "stream %s whole in tshark's follow" % stream)
        eq(sum(1 for r in rows if r[0] == stream and r[4] == "1" and r[1] == client), 1,
           "one FIN from the client of stream %s (%r)" % (stream, data))
        eq([r for r in rows if r[0] == stream and r[5]], [], "stream %s: nothing tshark flags" % stream)


def test_tcp_socket_shared_across_fork_is_one_stream(env):
    """A TCP connection open when the program forks is one socket in both processes.  Parent and
    child writing and reading it in turn, one closing before the other, the child leaving by exec
    (the socket closes on exec) or by _exit without a close: each connection is one stream in the
    file, whole in tshark's follow, nothing flagged (no overlap of the two processes' bytes), and
    one FIN from the client, after all its bytes, written by the process whose close was the
    socket's last - but where the child exec'd (its count stays: no FIN, never an early one).  A
    child made by a raw clone (no fork handler) leaving by exit() takes nothing from the parent's
    count."""
    port, t, got = cclib.tcp_server(5, echo=True)
    cap = env.path("c.pcapng")
    code = r"""
import os, socket, sys
port = int(sys.argv[1])
def rd(c, n):
    b = b''
    while len(b) < n:
        b += c.recv(n - len(b))
    return b
def say(c, w):
    c.sendall(w); assert rd(c, len(w)) == w.upper()
def conn(tag):
    c = socket.create_connection(('127.0.0.1', port)); say(c, tag + b'-0\n'); return c
# 1: turns, the child closes first, the parent's close is the last
c = conn(b'turns'); r1, w1 = os.pipe(); r2, w2 = os.pipe()
pid = os.fork()
if pid == 0:
    for i in range(3):
        os.read(r1, 1); say(c, b'turns-child-%d\n' % i); os.write(w2, b'x')
    c.close(); os.write(w2, b'x'); os._exit(0)
for i in range(3):
    say(c, b'turns-parent-%d\n' % i); os.write(w1, b'x'); os.read(r2, 1)
os.read(r2, 1); say(c, b'turns-end\n'); os.waitpid(pid, 0); c.close()
# 2: the parent closes at once, the child's close is the last
c = conn(b'handed')
pid = os.fork()
if pid == 0:
    os.read(r1, 1); say(c, b'handed-child\n'); c.close(); os._exit(0)
c.close(); os.write(w1, b'x'); os.waitpid(pid, 0)
# 3: the child execs (Python's sockets close on exec), then the parent goes on: an exec keeps
# its count (one that failed must find it), so no FIN at the parent's close, never an early one
c = conn(b'exec')
pid = os.fork()
if pid == 0:
    say(c, b'exec-child\n'); os.execv('/bin/true', ['true'])
os.waitpid(pid, 0); say(c, b'exec-parent\n'); c.close()
# 4: the child leaves by _exit with the socket open, then the parent goes on
c = conn(b'exit')
pid = os.fork()
if pid == 0:
    say(c, b'exit-child\n'); os._exit(0)
os.waitpid(pid, 0); say(c, b'exit-parent\n'); c.close()
# 5: a child made by a raw clone (no fork handler runs) leaves by exit(): it never counted in
# the parent's streams, so it takes nothing from them; the parent's second number goes first
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
c = conn(b'clone'); d = os.dup(c.fileno())
pid = libc.syscall(56, 17, 0, 0, 0, 0)         # clone(SIGCHLD) on x86_64: a copy of the process
if pid == 0:
    libc.exit(0)
os.waitpid(pid, 0); os.close(d); say(c, b'clone-parent\n'); c.close()
"""
    p = py(env, code, cap, args=[str(port)])
    t.join(timeout=30)
    want = [b"turns-0\n" + b"".join(b"turns-parent-%d\nturns-child-%d\n" % (i, i) for i in range(3)) + b"turns-end\n",
            b"handed-0\nhanded-child\n", b"exec-0\nexec-child\nexec-parent\n", b"exit-0\nexit-child\nexit-parent\n",
            b"clone-0\nclone-parent\n"]
    eq(got, want, "the server got every byte")
    eq(p.stderr.count("clearcap:"), 0, "no warning: %r" % p.stderr)
    # Two processes append to the file, each in its own time: sorted as the README says.
    srt = env.path("sorted.pcapng")
    cclib.run(["reordercap", cap, srt], timeout=30)
    rows = tshark(srt, ["tcp.stream", "tcp.srcport", "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin",
                        "tcp.analysis.flags", "frame.comment", "tcp.len"])
    streams = client_streams(rows)
    eq(len(streams), 5, "five connections")
    parent = {r[6] for r in rows if r[2] == "1" and r[3] == "0"}
    eq(len(parent), 1, "the parent made every connection")
    pids = {r[6] for r in rows} - parent
    eq(len(pids), 4, "frames of the four children: %r" % pids)
    for n, ((stream, client), data) in enumerate(zip(streams.items(), want)):
        eq(cclib.follow_tcp(srt, int(stream)), (data, data.upper()), "stream %s whole in tshark's follow" % stream)
        eq([r for r in rows if r[0] == stream and r[5]], [], "stream %s (%r): nothing tshark flags" % (stream, data))
        fins = [r[6] for r in rows if r[0] == stream and r[4] == "1" and r[1] == client]
        if n == 2:
            eq(fins, [], "no FIN from the client of stream %s (%r): the exec kept its count" % (stream, data))
            continue
        eq(len(fins), 1, "one FIN from the client of stream %s (%r)" % (stream, data))
        sent = [r for r in rows if r[0] == stream and r[1] == client and (r[4] == "1" or r[7] != "0")]
        eq(sent[-1][4], "1", "stream %s (%r): the client's FIN after all its bytes" % (stream, data))
        eq(fins[0] in parent, n != 1, "stream %s's FIN written by %s" % (stream, "the child" if n == 1 else "the parent"))


def test_tcp_stream_goes_on_over_exec(env):
    """A program that execs with TCP connections open (the new image inherits the descriptors,
    as a shell's `exec` or a re-exec on upgrade does): the new image's shim joins each stream
    mid-way and goes on from the bytes already written and read, so the file holds each stream
    whole in tshark's follow, with no retransmission, gap or overlap where the image changed.
    Bytes are left unread across the exec too: the server's second reply arrives before the
    first image reads it.  The new image's first call on the second connection is a write (the
    stream is joined after it, from counts that hold its bytes already)."""
    port, t, got = cclib.tcp_server(2, echo=True)
    cap = env.path("c.pcapng")
    code = r"""
import os, socket, sys, time
def rd(fd, n):
    b = b''
    while len(b) < n:
        b += os.read(fd, n - len(b))
    return b
if len(sys.argv) == 2:
    c = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
    c.sendall(b'before-exec\n'); rd(c.fileno(), 12)
    c.sendall(b'across\n'); time.sleep(0.3)            # its echo waits in the socket, unread
    d = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
    d.sendall(b'second-before\n')                      # served once the first is done
    fd, fd2 = c.detach(), d.detach(); os.set_inheritable(fd, True); os.set_inheritable(fd2, True)
    os.execv(sys.executable, [sys.executable, '-c', os.environ['CODE'], str(fd), str(fd2)])
fd, fd2 = int(sys.argv[1]), int(sys.argv[2])
assert rd(fd, 7) == b'ACROSS\n'
os.write(fd, b'after-exec\n'); rd(fd, 11)
os.close(fd)
os.write(fd2, b'second-after\n')
assert rd(fd2, 27) == b'SECOND-BEFORE\nSECOND-AFTER\n'
os.close(fd2)
"""
    p = py(env, code, cap, {"CODE": code}, args=[str(port)])
    t.join(timeout=30)
    data = [b"before-exec\nacross\nafter-exec\n", b"second-before\nsecond-after\n"]
    eq(got, data, "the server got every byte")
    eq(p.stderr.count("clearcap:"), 0, "no warning: %r" % p.stderr)
    rows = tshark(cap, ["tcp.stream", "tcp.srcport", "tcp.flags.fin", "tcp.analysis.flags", "tcp.analysis.window_update",
                        "tcp.seq", "tcp.len", "tcp.flags.syn", "tcp.flags.ack"])
    streams = client_streams([[r[0], r[1], r[7], r[8]] for r in rows])
    eq(len(streams), 2, "two connections")
    want = [[(1, 12), (13, 7), (20, 11)], [(1, 14), (15, 13)]]
    for (stream, client), d, segs in zip(streams.items(), data, want):
        eq(cclib.follow_tcp(cap, int(stream)), (d, d.upper()), "stream %s whole in tshark's follow" % stream)
        eq([r for r in rows if r[0] == stream and r[3] and not r[4]], [],
           "stream %s: no retransmission, gap, unseen acknowledgement or out-of-order segment" % stream)
        eq([(int(r[5]), int(r[6])) for r in rows if r[0] == stream and r[1] == client and int(r[6]) > 0], segs,
           "stream %s: the client's segments (relative seq, length), the last after the exec" % stream)


def test_tcp_stream_goes_on_over_exec_after_the_peer_left(env):
    """Both ends of a connection in one wrapper run: the accepting end says "bye" and closes, then
    the connecting end execs with the connection open and reads it in the new image.  The new
    image joins the stream in the connection's own generation: both copies of "bye" (sent, and
    received after the exec) are one segment of one stream (the close had moved the pair on, and
    the new image numbered its bytes in another stream)."""
    cap = env.path("c.pcapng")
    code = r"""
import os, socket, sys
if len(sys.argv) == 1:
    l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1)
    c = socket.create_connection(l.getsockname())
    s, _ = l.accept()
    c.sendall(b'hello\n'); assert s.recv(100) == b'hello\n'
    s.sendall(b'bye\n'); s.close()
    fd = c.detach(); os.set_inheritable(fd, True)
    os.execv(sys.executable, [sys.executable, '-c', os.environ['CODE'], str(fd)])
fd, b = int(sys.argv[1]), b''
while True:
    d = os.read(fd, 100)
    if not d: break
    b += d
assert b == b'bye\n', b
os.close(fd)
"""
    cclib.run([env.tool, "-q", "-w", cap, "--", cclib.PY, "-c", code], env=env.env(extra={"CODE": code}, preload=False))
    byes = tshark(cap, ["tcp.stream", "sll.pkttype", "tcp.seq_raw"], "tcp.payload == 62:79:65:0a")
    eq(sorted(r[1] for r in byes), ["0", "4"], "the sent copy and the received one: %r" % byes)
    eq(len({(r[0], r[2]) for r in byes}), 1, "one segment of one stream: %r" % byes)
    eq(len({r[0] for r in tshark(cap, ["tcp.stream"], "tcp")}), 1, "one stream")


CONNECTS = r"""
import select, socket, time
def closed_port():
    s = socket.socket(); s.bind(('127.0.0.1', 0)); p = s.getsockname()[1]; s.close(); return p
s = socket.socket()
try:
    s.connect(('127.0.0.1', closed_port()))
except OSError as e:
    print('blocking', e.errno)
s.close()
c = socket.socket(); c.setblocking(False)
print('nonblocking', c.connect_ex(('127.0.0.1', closed_port())))
select.select([], [c], [], 2)
print('so_error', c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)); c.close()
# The failure learned from the first send or receive instead of SO_ERROR.
import os
for how in ('send', 'recv', 'readv', 'recvmsg'):
    c = socket.socket(); c.setblocking(False); c.connect_ex(('127.0.0.1', closed_port()))
    select.select([], [c], [], 2)
    try:
        {'send': lambda: c.send(b'x'), 'recv': lambda: c.recv(10), 'readv': lambda: os.readv(c.fileno(), [bytearray(10)]),
         'recvmsg': lambda: c.recvmsg(10)}[how]()
    except OSError as e:
        print(how, e.errno)
    c.close()
# Refused, and closed without asking at all: the kernel's state says so (its error left unread).
c = socket.socket(); c.setblocking(False); c.connect_ex(('127.0.0.1', closed_port()))
select.select([], [c], [], 2); c.close()
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(4)
c = socket.socket(); c.setblocking(False); c.connect_ex(l.getsockname())
select.select([], [c], [], 2)
print('connected', c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)); c.close()
c = socket.socket(); c.setblocking(False); c.connect_ex(l.getsockname())
select.select([], [c], [], 2); time.sleep(0.05); c.close()
# A listener with no room (backlog 0, filled): a connect still under way when it is closed.
full = socket.socket(); full.bind(('127.0.0.1', 0)); full.listen(0)
fill = [socket.create_connection(full.getsockname(), timeout=0.3) for _ in range(1)]
c = socket.socket(); c.setblocking(False); c.connect_ex(full.getsockname())
print('pending', not select.select([], [c], [], 0.3)[1], c.getsockname()[1], full.getsockname()[1]); c.close()
"""


def test_tcp_connect_attempts_never_silent(env):
    """Connects that move no byte are in the file as tcpdump would show them: a refused one
    (blocking, and non-blocking as the program learns it from SO_ERROR, or from its first send
    or receive, or not at all before its close) is the SYN, its comment
    saying why, and the peer's RST; a non-blocking one that connected and was closed before any
    byte (asked with SO_ERROR, or not at all) is its handshake and our FIN; one closed while still
    under way is its SYN, saying so.  (There was nothing for any of them.)  The program sees what
    it would without the shim; and curl's refused connect (its own non-blocking connect and
    SO_ERROR) reads the same."""
    cap = env.path("c.pcapng")
    p = py(env, CONNECTS, cap)
    strip = lambda out: [l.split()[:2] if l.startswith("pending") else l for l in out.splitlines()]
    eq(strip(p.stdout), strip(cclib.run([cclib.PY, "-c", CONNECTS], env=env.env(preload=False)).stdout),
       "program output unchanged")
    pending = [l.split() for l in p.stdout.splitlines() if l.startswith("pending")][0]
    eq(pending[1], "True", "the last connect was still under way when closed")
    abandoned = tshark(cap, ["tcp.flags.str", "frame.comment"], "tcp.port == %s" % pending[2])
    eq([r[0].replace("\u00b7", "") for r in abandoned], ["S"], "its SYN alone: %r" % abandoned)
    ok("connect abandoned: closed before an answer came" in abandoned[0][1], abandoned[0][1])
    rows = tshark(cap, ["tcp.stream", "tcp.flags.str", "frame.comment"], "tcp && !(tcp.port == %s)" % pending[3])
    streams = {}
    for r in rows:
        streams.setdefault(r[0], []).append(r[1].replace("\u00b7", "").strip())
    flags = [streams[k] for k in sorted(streams, key=int)]
    eq(flags, [["S", "AR"]] * 7 + [["S", "AS", "A", "AF"], ["S", "AS", "A", "AF"]],
       "refused seven times, then two handshakes closed by our FIN: %r" % rows)
    said = [r[2] for r in rows if "connect failed" in r[2]]
    eq(len(said), 7, "each refused SYN says so: %r" % said)
    ok(all("connect failed: connection refused" in s for s in said), said)
    eq(cclib.tcpdump_count(cap, "tcp[tcpflags] & tcp-rst != 0"), 7, "tcpdump: the seven resets")
    if env.sanitize:
        return          # (curl does not start with libasan preloaded)
    cap2 = env.path("curl.pcapng")
    port = cclib.free_port(socket.SOCK_STREAM)
    r = cclib.run(["curl", "-s", "http://127.0.0.1:%d/" % port], env=env.env(cap2), check=False)
    eq(r.returncode, 7, "curl: failed to connect, as without the shim")
    got = tshark(cap2, ["tcp.flags.str", "frame.comment"])
    eq([x[0].replace("\u00b7", "") for x in got], ["S", "AR"], "curl's SYN and the reset: %r" % got)
    ok("connect failed: connection refused" in got[0][1], got[0][1])


# A non-blocking connect that connects, unasked, and whose connection keepalive then finds dead
# (an nft rule drops everything after a second): the program's first receive gets ETIMEDOUT.
KEEPALIVE_CLIENT = r"""
import select, socket
c = socket.socket(); c.setblocking(False); c.connect_ex(('127.0.0.1', 7000))
select.select([], [c], [], 2)
for opt, v in ((socket.TCP_KEEPIDLE, 1), (socket.TCP_KEEPINTVL, 1), (socket.TCP_KEEPCNT, 2)):
    c.setsockopt(socket.IPPROTO_TCP, opt, v)
c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
c.setblocking(True)
try:
    c.recv(10)
except OSError as e:
    print('recv', e.errno)
c.close()
"""
KEEPALIVE_SCRIPT = r"""
set -e
ip link set lo up
"$PY" -c 'import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 7000)); s.listen(); c, _ = s.accept(); time.sleep(20)' &
listener=$!
sleep 0.5
(sleep 1; nft add table inet cc; nft add chain inet cc in '{ type filter hook input priority 0; }'
 nft add rule inet cc in tcp dport 7000 drop; nft add rule inet cc in tcp sport 7000 drop) &
"$CLEARCAP" -q $TRACE -w "$CAP" -- "$PY" -c "$CLIENT"
kill $listener
"""


# A connect whose SYNs go unanswered (dropped), found failed only at its close, unasked.
NO_ANSWER_CLIENT = r"""
import select, socket, time
c = socket.socket(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, 1); c.setblocking(False)
c.connect_ex(('127.0.0.1', 7001))
select.select([], [c], [], 6); time.sleep(0.2); c.close()
"""
NO_ANSWER_SCRIPT = r"""
set -e
ip link set lo up
nft add table inet cc; nft add chain inet cc in '{ type filter hook input priority 0; }'
nft add rule inet cc in tcp dport 7001 drop
"$CLEARCAP" -q $TRACE -w "$CAP" -- "$PY" -c "$CLIENT"
"""


def netns_runs(env, script, client, tag):
    """Runs script in a network namespace of its own, once with the shim and once with the tracer
    (--trace), the client program given; yields (mode, run, capture file) for each."""
    for t in ("nft", "unshare"):
        cclib.need(t)
    if subprocess.run(["unshare", "-n", "true"]).returncode != 0:
        raise cclib.Skip("cannot create a network namespace here")
    for trace in ("", "--trace"):
        cap = env.path("%s%s.pcapng" % (tag, trace))
        e = env.env(preload=False)
        e.update({"PY": cclib.PY, "CLEARCAP": env.tool, "CAP": cap, "CLIENT": client, "TRACE": trace})
        p = cclib.run(["unshare", "-n", "bash", "-c", script], env=e, timeout=60)
        yield trace or "shim", p, cap


def test_tcp_connect_unanswered_found_at_close(env):
    """A non-blocking connect whose SYNs nobody answers (TCP_SYNCNT 1, dropped), closed after it
    failed without the program asking why: its SYN, saying it failed with no answer (the kernel's
    state, its pending error left unread), not that it was abandoned; shim and tracer alike."""
    for mode, _, cap in netns_runs(env, NO_ANSWER_SCRIPT, NO_ANSWER_CLIENT, "na"):
        rows = tshark(cap, ["tcp.flags.str", "frame.comment"], "tcp")
        eq([r[0].replace("\u00b7", "").strip() for r in rows], ["S"], "its SYN alone (%s): %r" % (mode, rows))
        ok("connect failed: no answer" in rows[0][1], rows[0][1])


def test_tcp_connection_lost_before_asked_is_no_failed_connect(env):
    """A non-blocking connect that succeeded, unasked (no SO_ERROR, no byte), and whose connection
    is lost later (keepalive: ETIMEDOUT at the first receive) is its handshake and our FIN, under
    the shim and under the tracer: not a connect that failed, which ETIMEDOUT alone would say."""
    for mode, p, cap in netns_runs(env, KEEPALIVE_SCRIPT, KEEPALIVE_CLIENT, "ka"):
        eq(p.stdout.split(), ["recv", "110"], "the program's receive timed out (%s)" % mode)
        rows = tshark(cap, ["tcp.flags.str", "frame.comment"], "tcp")
        eq([r[0].replace("\u00b7", "").strip() for r in rows], ["S", "AS", "A", "AF"],
           "the handshake and our FIN (%s): %r" % (mode, rows))
        ok(not any("connect failed" in r[1] for r in rows), "no failed connect said: %r" % rows)


FORKED_CONNECT = r"""
import os, select, socket, time
srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(5)
s = socket.socket(); s.setblocking(False); s.connect_ex(srv.getsockname()); select.select([], [s], [], 2)
pid = os.fork()
if pid == 0:
    time.sleep(0.2)
    print('child asks', s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), flush=True)
    s.setblocking(True); s.send(b'from-child'); s.close(); os._exit(0)
print('parent asks', s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), flush=True)
s.close()
c, _ = srv.accept(); assert c.recv(20) == b'from-child'; c.close(); os.waitpid(pid, 0)
"""


def test_tcp_connect_under_way_across_fork_settled_once(env):
    """A non-blocking connect under way at a fork, its outcome asked by both processes (SO_ERROR),
    the parent's copy closed, the child sending: one handshake, the client's numbers the same in
    the client's copy and the server's (a second handshake counted a second connection: two
    streams whose numbers did not meet)."""
    cap = env.path("c.pcapng")
    py(env, FORKED_CONNECT, cap)
    syns = tshark(cap, ["tcp.stream", "sll.pkttype", "tcp.seq_raw"], "tcp.flags.syn == 1 && tcp.flags.ack == 0")
    eq(sorted(r[1] for r in syns), ["0", "4"], "one SYN sent, one received: %r" % syns)
    eq(len({(r[0], r[2]) for r in syns}), 1, "one stream, one number: %r" % syns)
    data = tshark(cap, ["tcp.stream", "sll.pkttype", "tcp.seq_raw"], "tcp.payload == 66:72:6f:6d:2d:63:68:69:6c:64")
    eq(len({(r[0], r[2]) for r in data}), 1, "the child's bytes, sent and received, one segment: %r" % data)


def test_tcp_refused_then_connected_from_one_port_ends_agree(env):
    """socat refused once from a fixed source port, then connecting from it once the server (in
    another wrapper run, with generations of its own) listens: the attempt counts no connection,
    so both ends number the connection alike, and the refused SYN's number is another."""
    cclib.need("socat")
    cport, port = cclib.free_port(socket.SOCK_STREAM), cclib.free_port(socket.SOCK_STREAM)
    cli_cap, srv_cap = env.path("cli.pcapng"), env.path("srv.pcapng")
    script = ("echo a | socat -t1 - TCP:127.0.0.1:%d,sourceport=%d,reuseaddr; sleep 1; "
              "echo b | socat -t1 - TCP:127.0.0.1:%d,sourceport=%d,reuseaddr" % (port, cport, port, cport))
    cli = subprocess.Popen([env.tool, "-q", "-w", cli_cap, "--", "sh", "-c", script], env=env.env(preload=False),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.4)
    out = cclib.run([env.tool, "-q", "-w", srv_cap, "--", "socat", "-u", "TCP-LISTEN:%d,reuseaddr" % port, "-"],
                    env=env.env(preload=False), timeout=30).stdout
    eq(cli.wait(timeout=30), 0, "the client's script (its last socat) succeeded")
    eq(out, "b\n", "the server got the second line")
    c = tshark(cli_cap, ["tcp.seq_raw", "frame.comment"], "tcp.flags.syn == 1 && tcp.flags.ack == 0")
    sv = tshark(srv_cap, ["tcp.seq_raw"], "tcp.flags.syn == 1 && tcp.flags.ack == 0")
    eq(len(c), 2, "the refused SYN and the connection's: %r" % c)
    ok("connect failed: connection refused" in c[0][1], c[0][1])
    eq([r[0] for r in sv], [c[1][0]], "the server's copy of the SYN has the client's number")
    ok(c[0][0] != c[1][0], "the refused attempt's number is another")


def test_tcp_connect_interrupted_goes_on(env):
    """A blocking connect a signal interrupts (EINTR) goes on in the background, as a non-blocking
    one does: the program's bytes on it once it connected are in the file, its SYN and its data
    sent, numbered as the accepting end's copies (they were not captured at all: the stream was
    never opened, and nothing said so)."""
    cclib.need("gcc")
    exe = env.path("connect_eintr")
    cclib.run(["gcc", "-O1", "-o", exe, os.path.join(HERE, "connect_eintr.c")])
    cap = env.path("c.pcapng")
    out = dict(l.split(" ", 1) for l in cclib.run([exe], env=env.env(cap)).stdout.splitlines())
    eq(out["connect"], "-1 Interrupted system call", "the connect was interrupted")
    eq(out["write"], "5", "and then used")
    port = out["port"]
    rows = tshark(cap, ["sll.pkttype", "tcp.flags.syn", "tcp.flags.ack", "tcp.seq_raw", "tcp.len"], "tcp.port == %s" % port)
    sent = [r for r in rows if r[0] == "4" and r[1] == "1" and r[2] == "0"]
    eq(len(sent), 1, "the connecting end's SYN: %r" % rows)
    data = {r[0]: r[3] for r in rows if r[4] == "5"}
    eq(sorted(data), ["0", "4"], "its 5 bytes sent, and received by the accepting end: %r" % rows)
    eq(data["0"], data["4"], "numbered alike in both copies")


def test_tcp_ipv6_sendmsg_recv_into(env):
    cap = env.path("c.pcapng")
    code = r"""
import socket
srv = socket.socket(socket.AF_INET6); srv.bind(('::1', 0)); srv.listen(1); port = srv.getsockname()[1]
c = socket.socket(socket.AF_INET6); c.connect(('::1', port)); s, _ = srv.accept()
c.sendmsg([b'abc', b'defg', b'hij'])
buf = bytearray(100); n = s.recv_into(buf); assert bytes(buf[:n]) == b'abcdefghij'
s.sendall(b'OK'); assert c.recv(10) == b'OK'
c.close(); s.close()
"""
    py(env, code, cap)
    a, b = cclib.follow_tcp(cap, 0)
    eq((a, b), (b"abcdefghij", b"OK"), "stream")
    eq(tshark_count(cap, "ipv6.src == ::1 && ipv6.dst == ::1 && tcp"), tshark_count(cap), "all IPv6")


def test_cmsg_unchanged(env):
    """What we add to see addresses (IP_PKTINFO) never reaches the program; what it asked for does."""
    cap = env.path("c.pcapng")
    code = r"""
import socket
IP_PKTINFO = 8  # linux/in.h; the socket module does not export it
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 0)); port = s.getsockname()[1]
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.sendto(b'one', ('127.0.0.1', port))
data, anc, flags, addr = s.recvmsg(100)
assert (data, anc, flags) == (b'one', [], 0), (data, anc, flags)
# The option the shim turned on reads as the program left it, in an int or in one byte.
assert s.getsockopt(socket.IPPROTO_IP, IP_PKTINFO) == 0
assert s.getsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1) == b'\0'
c.sendto(b'two', ('127.0.0.1', port))
data, anc, flags, addr = s.recvmsg(100, 1000)
assert (data, anc, flags) == (b'two', [], 0), (data, anc, flags)
c.sendto(b'two and a half', ('127.0.0.1', port))
data, anc, flags, addr = s.recvmsg(100, 20000)   # larger than the shim substitutes: stripped in place
assert (data, anc, flags) == (b'two and a half', [], 0), (data, anc, flags)
s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
c.sendto(b'three', ('127.0.0.4', port))
data, anc, flags, addr = s.recvmsg(100, 1000)
assert data == b'three' and len(anc) == 1 and anc[0][:2] == (socket.IPPROTO_IP, IP_PKTINFO), anc
assert s.getsockopt(socket.IPPROTO_IP, IP_PKTINFO) == 1
s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 0)
assert s.getsockopt(socket.IPPROTO_IP, IP_PKTINFO) == 0   # ours is back on, hidden again
s.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
c.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x28)
c.sendto(b'four', ('127.0.0.1', port))
data, anc, flags, addr = s.recvmsg(100, 4)
# A 4-byte control buffer is too small for IP_TOS: the kernel truncates and says so.
assert data == b'four' and flags & socket.MSG_CTRUNC, (anc, flags)
c.sendto(b'five', ('127.0.0.1', port))
data, anc, flags, addr = s.recvmsg(100, 64)
assert anc == [(socket.IPPROTO_IP, socket.IP_TOS, b'\x28')] and flags == 0, (anc, flags)
# MSG_PEEK leaves the datagram; MSG_TRUNC reports its real length.
c.sendto(b'x' * 300, ('127.0.0.1', port))
assert s.recv(10, socket.MSG_PEEK) == b'x' * 10
assert len(s.recv(100, socket.MSG_TRUNC)) == 300  # CPython sizes the result by the return value
# An IPv6 wildcard socket: the shim's IPV6_RECVPKTINFO is hidden the same way.
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s6.bind(('::', 0))
c6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
c6.sendto(b'six', ('::1', s6.getsockname()[1]))
data, anc, flags, addr = s6.recvmsg(100, 1000)
assert (data, anc, flags) == (b'six', [], 0), (data, anc, flags)
assert s6.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO) == 0
# A failed or would-block call captures nothing.
s.setblocking(False)
try:
    s.recv(10)
    raise SystemExit('expected EAGAIN')
except BlockingIOError:
    pass
"""
    py(env, code, cap)
    rows = tshark(cap, ["sll.pkttype", "ip.dst", "ip.dsfield", "udp.length", "frame.len", "frame.cap_len"],
                  "ip && udp")
    eq(len(rows), 14, "7 sent + 7 received, the peek not twice")
    six = tshark(cap, ["sll.pkttype", "ipv6.dst"], "ipv6 && udp")
    eq(sorted(six), [["0", "::1"], ["4", "::1"]], "the IPv6 datagram, received on ::1 (our packet info)")
    three_in = [r for r in rows if r[0] == "0" and r[1] == "127.0.0.4"]
    eq(len(three_in), 1, "received on 127.0.0.4")
    big_in = [r for r in rows if r[0] == "0" and r[3] == "308"]
    eq(len(big_in), 1, "truncated datagram keeps its real UDP length")
    ok(int(big_in[0][5]) < int(big_in[0][4]), "captured length below original length")
    tos_in = [r for r in rows if r[0] == "0" and r[2] == "0x28"]
    eq(len(tos_in), 3, "received TOS taken from IP_TOS cmsgs once the program asked for them")


def test_tos_ttl_follow_program(env):
    cap = env.path("c.pcapng")
    code = r"""
import socket
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(('127.0.0.1', 0)); port = r.getsockname()[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0xb8)
s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 7)
s.sendto(b'ef', ('127.0.0.1', port))
s.sendmsg([b'af41'], [(socket.IPPROTO_IP, socket.IP_TOS, (0x88).to_bytes(4, 'little'))], 0, ('127.0.0.1', port))
s.sendmsg([b'ttl3'], [(socket.IPPROTO_IP, socket.IP_TTL, (3).to_bytes(4, 'little'))], 0, ('127.0.0.1', port))
r6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); r6.bind(('::1', 0)); p6 = r6.getsockname()[1]
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, 0x2e << 2)
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 9)
s6.sendto(b'six', ('::1', p6))
"""
    py(env, code, cap)
    rows = tshark(cap, ["udp.payload", "ip.dsfield", "ip.ttl"], "ip && sll.pkttype == 4")
    got = {bytes.fromhex(r[0]): (r[1], r[2]) for r in rows}
    eq(got[b"ef"], ("0xb8", "7"), "socket options")
    eq(got[b"af41"], ("0x88", "7"), "per-message IP_TOS")
    eq(got[b"ttl3"], ("0xb8", "3"), "per-message IP_TTL")
    rows = tshark(cap, ["ipv6.tclass", "ipv6.hlim"], "ipv6 && sll.pkttype == 4")
    eq(rows, [["0x000000b8", "9"]], "IPv6 traffic class and hop limit")


def test_flow_cache_follows_changes(env):
    """Each thread keeps the last datagram's addresses, TOS and TTL per socket and peer: whatever
    changes a socket (options, close and a new socket on the same number, connect) or the peer
    must show in the next frame, in both directions."""
    cap = env.path("c.pcapng")
    code = r"""
import socket
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(('0.0.0.0', 0)); port = r.getsockname()[1]
p1, p2 = ('127.0.0.1', port), ('127.0.0.2', port)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b'a1', p1)
s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x20)
s.sendto(b'a2', p1)
s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 5)
s.sendto(b'a3', p1)
s.sendto(b'a4', p2)
s.sendto(b'a5', p1)
n = s.fileno(); s.close()
t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); t.bind(('127.0.0.3', 0))
assert t.fileno() == n, (t.fileno(), n)
t.sendto(b'b1', p1)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.connect(p1); u.send(b'c1')
u.connect(p2); u.send(b'c2')
for i in range(3):
    t.sendto(b'd%d' % i, (p1, p2)[i % 2])
for i in range(3):
    u.send(b'e%d' % i)
got = {}
for i in range(14):
    d, a = r.recvfrom(100)
    got[d] = a
print(t.getsockname()[1], u.getsockname()[1], got[b'a1'][1])
"""
    tport, uport, sport = py(env, code, cap).stdout.split()
    rows = tshark(cap, ["udp.payload", "sll.pkttype", "ip.src", "udp.srcport", "ip.dst", "udp.dstport",
                        "ip.dsfield", "ip.ttl"])
    frames = {}
    for r in rows:
        frames.setdefault((bytes.fromhex(r[0]), r[1]), []).append(tuple(r[2:]))
    out = lambda d: frames.get((d, "4"), [None])[0]
    rport = out(b"a1")[3]
    eq(out(b"a1"), ("127.0.0.1", sport, "127.0.0.1", rport, "0x00", "64"), "first datagram")
    eq(out(b"a2"), ("127.0.0.1", sport, "127.0.0.1", rport, "0x20", "64"), "after IP_TOS")
    eq(out(b"a3"), ("127.0.0.1", sport, "127.0.0.1", rport, "0x20", "5"), "after IP_TTL")
    eq(out(b"a4"), ("127.0.0.1", sport, "127.0.0.2", rport, "0x20", "5"), "another peer")
    eq(out(b"a5"), ("127.0.0.1", sport, "127.0.0.1", rport, "0x20", "5"), "the first peer again")
    eq(out(b"b1"), ("127.0.0.3", tport, "127.0.0.1", rport, "0x00", "64"), "a new socket on the same fd")
    eq(out(b"c1")[2:4], ("127.0.0.1", rport), "connected to the first peer")
    eq(out(b"c2")[2:4], ("127.0.0.2", rport), "connected again, to the second")
    # Received on the wildcard socket, alternating senders and, from one sender, alternating
    # local addresses: each frame carries its own.
    for i in range(3):
        eq(frames[(b"d%d" % i, "0")][0][:4], ("127.0.0.3", tport, ("127.0.0.1", "127.0.0.2")[i % 2], rport),
           "received d%d" % i)
        eq(frames[(b"e%d" % i, "0")][0][:4], ("127.0.0.1", uport, "127.0.0.2", rport), "received e%d" % i)


# Runs of sends on one thread, each run on what the last changed: the peer, an option, the first
# byte (STUN, a DTLS handshake), connect, the call (sendto, send, write), the socket behind the
# number, the process (fork).  A run's first datagram fills the thread's hot lane (capture_int.h),
# the rest take it.
HOT_RUNS = r"""
import os, socket, struct, sys
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(('0.0.0.0', 0)); port = r.getsockname()[1]
p1, p2 = ('127.0.0.1', port), ('127.0.0.2', port)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sent = [0]
def run(tag, send, n=4):
    for i in range(n):
        send(b'%s%d' % (tag, i)); sent[0] += 1
run(b'a', lambda d: s.sendto(d, p1))
run(b'b', lambda d: s.sendto(d, p2))
run(b'c', lambda d: s.sendto(d, (p1, p2)[d[-1] % 2]))
s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x20)
run(b'd', lambda d: s.sendto(d, p1))
stun = struct.pack('!HHI', 1, 0, 0x2112A442) + b'T' * 12
run(b'e', lambda d: s.sendto(stun if d[-1] == 49 else d, p1))
run(b'f', lambda d: s.sendto(b'\x16' + d if d[-1] == 49 else d, p1))
# STUN's first bytes (0-3) without its cookie, short and long, around a STUN response.
zero = lambda d: bytes([d[-1] % 4]) + d * (1 if d[-1] % 2 else 12)
answer = struct.pack('!HHI', 0x0101, 0, 0x2112A442) + b'Z' * 12
run(b'z', lambda d: s.sendto(answer if d[-1] == 50 else zero(d), p1))
s.connect(p2)
run(b'g', s.send)
run(b'h', lambda d: os.write(s.fileno(), d))
run(b'i', lambda d: s.sendto(d, p1))
n = s.fileno(); s.close()
t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); t.bind(('127.0.0.3', 0))
assert t.fileno() == n, (t.fileno(), n)
run(b'j', lambda d: t.sendto(d, p1))
pid = os.fork()
if pid == 0:
    run(b'k', lambda d: t.sendto(d, p1))
    os._exit(0)
os.waitpid(pid, 0)
sent[0] += 4
run(b'l', lambda d: t.sendto(d, p1))
got = 0
r.settimeout(5)
while got < sent[0]:
    r.recvfrom(100); got += 1
print(t.getsockname()[1], os.getpid(), pid, sent[0])
"""


def test_hot_lane_follows_changes(env):
    """A thread's runs of sends on one socket take the hot lane from the second datagram on: every
    datagram still carries its own addresses, TOS, pid and bytes, whatever changed between runs,
    and a STUN message or a DTLS handshake in the middle of a run is what tshark says it is."""
    cap = env.path("c.pcapng")
    tport, ppid, kid, total = py(env, HOT_RUNS, cap).stdout.split()
    rows = tshark(cap, ["udp.payload", "ip.src", "udp.srcport", "ip.dst", "ip.dsfield", "frame.comment", "stun.type"],
                  "sll.pkttype == 4")
    eq(len(rows), int(total), "every datagram sent, once")
    frames = {bytes.fromhex(r[0]): r[1:] for r in rows}
    eq(len(frames), int(total), "each payload once")
    sport = frames[b"a0"][1]
    want = {}
    for i in range(4):
        want[b"a%d" % i] = ("127.0.0.1", sport, "127.0.0.1", "0x00", ppid)
        want[b"b%d" % i] = ("127.0.0.1", sport, "127.0.0.2", "0x00", ppid)
        want[b"c%d" % i] = ("127.0.0.1", sport, ("127.0.0.1", "127.0.0.2")[(48 + i) % 2], "0x00", ppid)
        want[b"d%d" % i] = ("127.0.0.1", sport, "127.0.0.1", "0x20", ppid)
        for tag in b"gh":
            want[bytes([tag]) + b"%d" % i] = ("127.0.0.1", sport, "127.0.0.2", "0x20", ppid)
        want[b"i%d" % i] = ("127.0.0.1", sport, "127.0.0.1", "0x20", ppid)
        want[b"j%d" % i] = ("127.0.0.3", tport, "127.0.0.1", "0x00", ppid)
        want[b"k%d" % i] = ("127.0.0.3", tport, "127.0.0.1", "0x00", kid)
        want[b"l%d" % i] = ("127.0.0.3", tport, "127.0.0.1", "0x00", ppid)
    for i in (0, 2, 3):
        want[b"e%d" % i] = want[b"f%d" % i] = ("127.0.0.1", sport, "127.0.0.1", "0x20", ppid)
    want[b"\x16f1"] = want[b"f0"]
    answer = struct.pack("!HHI", 0x0101, 0, 0x2112A442) + b"Z" * 12
    for i in (0, 1, 3):
        d = b"z%d" % i
        want[bytes([d[-1] % 4]) + d * (1 if d[-1] % 2 else 12)] = want[b"f0"]
    want[answer] = want[b"f0"]
    pid = lambda comment: (re.findall(r"\bpid (\d+)", comment) or [comment])[0]
    got = {d: tuple(f[:4]) + (pid(f[4]),) for d, f in frames.items() if d in want}
    eq(sorted(got.items()), sorted(want.items()), "each datagram's own headers and pid")
    stun = [r for r in rows if r[6]]
    eq([(r[6], r[3]) for r in stun], [("0x0001", "127.0.0.1"), ("0x0101", "127.0.0.1")],
       "the STUN Binding request in run e, the answer in run z (and none of z's others)")


RX_RUNS = r"""
import os, socket, struct, sys
U = socket.SOCK_DGRAM
def sock(ip):
    x = socket.socket(socket.AF_INET, U); x.bind((ip, 0)); return x
r = sock('127.0.0.1')
s1, s2 = sock('127.0.0.1'), sock('127.0.0.2')
seen = []
def run(tag, send, recv, n=4, body=lambda d: d):
    for i in range(n):
        d = body(b'%s%d' % (tag, i))
        (s1 if send == 1 else s2 if send == 2 else (s1, s2)[i % 2]).sendto(d, r.getsockname())
        got = recv()
        data, name = got if isinstance(got, tuple) else (got, None)
        seen.append((data.hex(), name and '%s:%d' % name))
run(b'a', 1, lambda: r.recvfrom(100))
run(b'b', 2, lambda: r.recvfrom(100))
run(b'c', 0, lambda: r.recvfrom(100))
run(b'd', 1, lambda: r.recv(100))
run(b'e', 1, lambda: os.read(r.fileno(), 100))
stun = struct.pack('!HHI', 1, 0, 0x2112A442) + b'T' * 12
run(b'f', 1, lambda: r.recv(100), body=lambda d: stun if d[-1] == 49 else d)
run(b'g', 1, lambda: r.recv(100), body=lambda d: b'\x16' + d if d[-1] == 49 else d)
run(b'h', 1, lambda: r.recv(100, socket.MSG_DONTWAIT))
run(b'i', 1, lambda: (r.recv(100, socket.MSG_PEEK), r.recv(100))[1])
run(b'j', 1, lambda: r.recv(2), body=lambda d: d + b'-cut')
r.connect(s1.getsockname())
run(b'k', 1, lambda: r.recv(100))
run(b'l', 1, lambda: r.recvfrom(100))
run(b'm', 1, lambda: os.read(r.fileno(), 100))
n = r.fileno(); r.close()
r = sock('127.0.0.3')
assert r.fileno() == n, (r.fileno(), n)
run(b'n', 1, lambda: r.recv(100))
pid = os.fork()
if pid == 0:
    run(b'o', 1, lambda: r.recv(100))
    os._exit(0 if len(seen) == 4 * 15 else 1)
assert os.waitpid(pid, 0)[1] == 0
run(b'p', 1, lambda: r.recv(100))
# STUN's first bytes (0-3) without its cookie, short and long, around a STUN response.
answer = struct.pack('!HHI', 0x0101, 0, 0x2112A442) + b'Z' * 12
run(b'q', 1, lambda: r.recv(100), body=lambda d: answer if d[-1] == 50 else bytes([d[-1] % 4]) + d * (1 if d[-1] % 2 else 12))
print(repr(seen))
print(s1.getsockname()[1], s2.getsockname()[1], os.getpid(), pid)
"""


def test_hot_rx_lane_follows_changes(env):
    """A thread's runs of receives on one socket take the receiving hot lane from the second
    datagram on: recvfrom, recv and read, named or not, connected or not, across a peer that
    changes, a socket closed and another on its number, and a fork.  Every datagram is recorded
    once with its own addresses and pid; a STUN message and a DTLS handshake in a run are what
    tshark says they are; a peeked datagram is recorded once; the program sees what it was sent."""
    cap = env.path("c.pcapng")
    out = py(env, RX_RUNS, cap).stdout.splitlines()
    seen = eval(out[0])
    p1, p2, ppid, kid = out[1].split()
    rows = tshark(cap, ["udp.payload", "ip.src", "udp.srcport", "ip.dst", "frame.comment", "stun.type"],
                  "sll.pkttype == 0")
    frames = {}
    for r in rows:
        frames.setdefault(bytes.fromhex(r[0]), []).append(r[1:])
    want = {}
    for i in range(4):
        tag = lambda t: bytes([t]) + b"%d" % i
        for t in b"adefghikm":
            want[tag(t)] = ("127.0.0.1", p1, "127.0.0.1", ppid)
        want[tag(ord("b"))] = ("127.0.0.2", p2, "127.0.0.1", ppid)
        want[tag(ord("c"))] = ("127.0.0.%d" % (1 + i % 2), (p1, p2)[i % 2], "127.0.0.1", ppid)
        want[tag(ord("j"))[:2]] = ("127.0.0.1", p1, "127.0.0.1", ppid)
        want[tag(ord("l"))] = ("127.0.0.1", p1, "127.0.0.1", ppid)
        for t, who in ((b"n", ppid), (b"o", kid), (b"p", ppid)):
            want[tag(t[0])] = ("127.0.0.1", p1, "127.0.0.3", who)
    stun = struct.pack("!HHI", 1, 0, 0x2112A442) + b"T" * 12
    want[stun] = want.pop(b"f1")
    want[b"\x16g1"] = want.pop(b"g1")
    answer = struct.pack("!HHI", 0x0101, 0, 0x2112A442) + b"Z" * 12
    for i in range(4):
        d = b"q%d" % i
        want[answer if i == 2 else bytes([d[-1] % 4]) + d * (1 if d[-1] % 2 else 12)] = ("127.0.0.1", p1, "127.0.0.3",
                                                                                       ppid)
    pid = lambda comment: (re.findall(r"\bpid (\d+)", comment) or [comment])[0]
    got = {d: [tuple(f[:3]) + (pid(f[3]),) for f in fs] for d, fs in frames.items()}
    eq(sorted(got.items()), sorted((d, [w]) for d, w in want.items()), "each datagram once, with its own headers and pid")
    stuns = [r for r in rows if r[5]]
    eq([(r[5], r[1]) for r in stuns], [("0x0001", "127.0.0.1"), ("0x0101", "127.0.0.1")],
       "the STUN Binding request in run f, the answer in run q (and none of q's others)")
    # The program's own view: every datagram's bytes, and the name it asked for.
    names = {"a": p1, "b": p2, "l": p1}
    for k, (data, name) in enumerate(seen):
        tag = chr(bytes.fromhex(data)[0]) if data[:2] not in ("00", "16") else "fg"[data[:2] == "16"]
        if tag in names:
            eq(name, "127.0.0.1:%s" % names[tag] if tag != "b" else "127.0.0.2:%s" % p2, "name of %s" % data)
        elif tag == "c":
            eq(name.split(":")[1], (p1, p2)[k % 2], "name of %s" % data)
    eq(len(seen), 4 * 16, "the parent's receives")
    eq(bytes.fromhex(seen[9 * 4][0]), b"j0", "a datagram cut to the buffer")


def test_rx_lane_signal_and_names(env):
    """A signal handler receives on another socket while the thread waits in the receiving lane
    (connected or not, either socket): the datagram the wait returns is recorded on its own socket
    and the program is unharmed.  A name buffer the program cannot write gets the kernel's EFAULT,
    as without the shim."""
    exe = env.path("rx_signal")
    cclib.run(["gcc", "-O1", "-pthread", "-o", exe, os.path.join(HERE, "rx_signal.c")])
    for variant in range(3):
        cap = env.path("s%d.pcapng" % variant)
        out = cclib.run([exe, str(variant)], env=env.env(cap)).stdout.splitlines()
        eq(out[0], "got 6 X-on-A", "variant %d: the program's receive" % variant)
        a, s1, b = out[1].split()
        rows = tshark(cap, ["ip.src", "udp.srcport", "ip.dst", "udp.dstport"],
                      'sll.pkttype == 0 && udp.payload == "X-on-A"')
        eq(rows, [["127.0.0.1", s1, "127.0.0.1", a]], "variant %d: recorded on A, once" % variant)
        eq(tshark_count(cap, 'sll.pkttype == 0 && udp.payload == "b-on-B"'), 3, "variant %d: B's three" % variant)
    plain = cclib.run([exe, "3"], env=env.env(preload=False)).stdout
    eq(plain.strip(), "r=-1 errno=14", "without the shim")
    eq(cclib.run([exe, "3"], env=env.env(env.path("e.pcapng"))).stdout, plain, "with the shim")


def test_empty_datagrams(env):
    """Zero-length datagrams, one sent with no iovec at all: each is a packet, both ways."""
    cap = env.path("c.pcapng")
    code = r"""
import socket
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(('127.0.0.1', 0))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b'', r.getsockname())
assert s.sendmsg([], [], 0, r.getsockname()) == 0
s.sendto(b'z', r.getsockname())
print([r.recv(10) for _ in range(3)])
"""
    out = py(env, code, cap).stdout
    ok("[b'', b'', b'z']" in out, "the program's own view: " + out)
    rows = tshark(cap, ["sll.pkttype", "udp.length"], "udp")
    eq(sorted(tuple(r) for r in rows), sorted([("4", "8"), ("4", "8"), ("4", "9"), ("0", "8"), ("0", "8"), ("0", "9")]),
       "three sent, three received, two of them empty")


def test_gso_gro_split(env):
    """A UDP_SEGMENT send is three datagrams on the wire; a UDP_GRO receive is split back."""
    cap = env.path("c.pcapng")
    code = r"""
import socket, struct
UDP_SEGMENT, UDP_GRO = 103, 104
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(('127.0.0.1', 0)); port = r.getsockname()[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(('127.0.0.1', port))
msg = b'A' * 1000 + b'B' * 1000 + b'C' * 500
s.sendmsg([msg], [(socket.SOL_UDP, UDP_SEGMENT, struct.pack('H', 1000))])
for want in (b'A' * 1000, b'B' * 1000, b'C' * 500):
    assert r.recv(4000) == want
r.setsockopt(socket.SOL_UDP, UDP_GRO, 1)
s.setsockopt(socket.SOL_UDP, UDP_SEGMENT, 700)
s.send(b'D' * 700 + b'E' * 700 + b'F' * 100)
data, anc, flags, addr = r.recvmsg(4000, 64)
print(len(data), anc)
# UDP_GRO turned on after recv took the receiving hot lane: recv then gets the segments as one.
s.setsockopt(socket.SOL_UDP, UDP_SEGMENT, 0)
r2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r2.bind(('127.0.0.1', 0))
s.connect(r2.getsockname())
for i in range(3):
    s.send(b'p%d' % i); assert r2.recv(100) == b'p%d' % i
r2.setsockopt(socket.SOL_UDP, UDP_GRO, 1)
s.sendmsg([b'G' * 10 + b'H' * 10 + b'I' * 10], [(socket.SOL_UDP, UDP_SEGMENT, struct.pack('H', 10))])
print(len(r2.recv(100)))
"""
    out = py(env, code, cap).stdout
    rows = tshark(cap, ["sll.pkttype", "udp.length"], "udp")
    sent = [int(r[1]) - 8 for r in rows if r[0] == "4"]
    eq(sent, [1000, 1000, 500, 700, 700, 100, 2, 2, 2, 10, 10, 10], "GSO sends split into real datagrams")
    recvd = [int(r[1]) - 8 for r in rows if r[0] == "0"]
    eq(recvd, [1000, 1000, 500, 700, 700, 100, 2, 2, 2, 10, 10, 10], "GRO receive split into real datagrams: " + out)


def test_recvmmsg_sendmmsg_c(env):
    """sendmmsg/recvmmsg from C (python has neither): batch counts exact, names right."""
    src = env.path("mm.c")
    exe = env.path("mm")
    open(src, "w").write(r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
int main(void) {
    int r = socket(AF_INET, SOCK_DGRAM, 0), s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
    socklen_t l = sizeof(a);
    bind(r, (struct sockaddr *)&a, sizeof(a)); getsockname(r, (struct sockaddr *)&a, &l);
    a.sin_addr.s_addr = htonl(0x7f000005);
    struct mmsghdr m[8]; struct iovec v[8]; char b[8][32];
    for (int i = 0; i < 8; i++) {
        snprintf(b[i], 32, "msg%d", i); v[i].iov_base = b[i]; v[i].iov_len = strlen(b[i]);
        memset(&m[i], 0, sizeof(m[i])); m[i].msg_hdr.msg_iov = &v[i]; m[i].msg_hdr.msg_iovlen = 1;
        m[i].msg_hdr.msg_name = &a; m[i].msg_hdr.msg_namelen = sizeof(a);
    }
    if (sendmmsg(s, m, 8, 0) != 8) return 1;
    struct mmsghdr in[8]; struct iovec iv[8]; char rb[8][32]; struct sockaddr_in from[8];
    memset(in, 0, sizeof(in));
    for (int i = 0; i < 8; i++) {
        iv[i].iov_base = rb[i]; iv[i].iov_len = 32; in[i].msg_hdr.msg_iov = &iv[i]; in[i].msg_hdr.msg_iovlen = 1;
        in[i].msg_hdr.msg_name = &from[i]; in[i].msg_hdr.msg_namelen = sizeof(from[i]);
    }
    int n = 0;
    while (n < 8) {
        int k = recvmmsg(r, in + n, 8 - n, MSG_WAITFORONE, NULL);
        if (k <= 0) return 2;
        for (int i = n; i < n + k; i++)
            if (in[i].msg_len != 4 || in[i].msg_hdr.msg_namelen != sizeof(struct sockaddr_in) ||
                in[i].msg_hdr.msg_controllen != 0 || in[i].msg_hdr.msg_flags != 0) return 3;
        n += k;
    }
    printf("%d\n", ntohs(a.sin_port));
    return 0;
}
""")
    cclib.run(["gcc", "-O1", "-o", exe, src])
    port = cclib.run([exe], env=env.env(cap := env.path("c.pcapng"))).stdout.strip()
    rows = tshark(cap, ["sll.pkttype", "ip.dst", "udp.dstport", "udp.payload"], "udp")
    eq(len(rows), 16, "8 out + 8 in")
    for r in rows:
        eq((r[1], r[2]), ("127.0.0.5", port), "destination")
    eq(sorted(bytes.fromhex(r[3]) for r in rows if r[0] == "0"), [b"msg%d" % i for i in range(8)], "payloads")


def test_received_datagram_cut_short_by_the_buffer(env):
    """A datagram longer than the program's buffer, received through recv, recvfrom, read,
    recvmsg, readv and recvmmsg (connected, through the receiving hot lane, and not): the program
    gets what it would without the shim (test_receive_calls_as_without_the_shim, case trunc),
    and the file shows the datagram as long as it was, cut short where the buffer ended
    (frame.len against frame.cap_len), as tcpdump with a snap length would, never as a whole
    shorter datagram."""
    exe = env.path("recv_same")
    cclib.run(["gcc", "-O1", "-o", exe, os.path.join(HERE, "recv_same.c")])
    cap = env.path("c.pcapng")
    cclib.run([exe, "trunc"], env=env.env(cap), timeout=60)
    rows = tshark(cap, ["frame.len", "frame.cap_len", "udp.length"], "sll.pkttype == 0 && udp.length == 108")
    # Per socket: recv, recvfrom, read, recv MSG_TRUNC, recvmsg, readv, recvmmsg cut short (7 x 2
    # sockets), and the datagram peeked at an offset then received whole (1 x 2).
    eq(len(rows), 16, "every 100-byte datagram received, as 100 bytes long: %r" % rows)
    eq(sorted((r[0], r[1]) for r in rows), [("148", "148")] * 2 + [("148", "58")] * 14,
       "148 bytes long, 58 captured (10 of payload) where the buffer was 10 bytes")
    eq(tshark_count(cap, "sll.pkttype == 0 && udp.length < 108 && udp.length > 13"), 0, "none as a shorter whole")


def test_unix_and_files_ignored(env):
    cap = env.path("c.pcapng")
    code = r"""
import socket, os
a, b = socket.socketpair(); a.send(b'unix'); assert b.recv(10) == b'unix'
r, w = os.pipe(); os.write(w, b'pipe'); assert os.read(r, 10) == b'pipe'
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('127.0.0.1', 0))
u.sendto(b'udp', u.getsockname()); assert u.recv(10) == b'udp'
"""
    py(env, code, cap)
    eq(tshark_count(cap), 2, "only the UDP datagram, out and in")


def test_bad_config_runs_uncaptured(env):
    cap = env.path("c.pcapng")
    p = py(env, "import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); "
                "s.sendto(b'x',('127.0.0.1',9)); print('ran')", cap, {"CLEARCAP_FORMAT": "pcapx"})
    eq(p.stdout.strip(), "ran", "program ran")
    lines = [l for l in p.stderr.splitlines() if "clearcap" in l]
    eq(len(lines), 1, "one line")
    ok("CLEARCAP_FORMAT" in lines[0], "names the variable: %r" % lines[0])
    ok(not os.path.exists(cap), "nothing captured")
    p = py(env, "print('ran')", cap, {"CLEARCAP_BUFFER": "12Q"})
    ok("CLEARCAP_BUFFER" in p.stderr and p.stdout.strip() == "ran", p.stderr)


def test_programs_filter(env):
    cap = env.path("c.pcapng")
    code = ("import socket,subprocess,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
            "s.sendto(b'parent',('127.0.0.1',9));"
            "subprocess.run(['/bin/sh','-c','printf shell | socat -u - UDP:127.0.0.1:9'])")
    cclib.need("socat")
    py(env, code, cap, {"CLEARCAP_PROGRAMS": "socat"})
    rows = tshark(cap, ["udp.payload", "frame.comment"])
    eq([bytes.fromhex(r[0]) for r in rows], [b"shell"], "only socat captured")
    ok("socat" in rows[0][1], "comment names the program: %r" % rows[0][1])


def test_receive_calls_as_without_the_shim(env):
    """tests/integration/recv_same.c prints what the receive calls give a program in the corners
    where a shim that substitutes its own buffers could differ: reading nothing from a UDP socket
    (0 at once, the datagram left queued), too many iovecs, errno after a successful first read
    of a pipe or of a socket the shim never saw created, control messages cut short (the header's
    length, MSG_CTRUNC), options set with a short length, several messages around the packet info
    we strip, an IPv6 socket with the program's IPv4 packet info, name buffers with no or a
    negative length, the program's packet info on a dup of its socket and on one inherited over
    exec (as systemd's PassPacketInfo hands them over), recvmmsg past the kernel's 1024 messages,
    with a control buffer over 8 KiB beside a small one and with a negative name length, a recvmsg
    control buffer over 8 KiB (no byte written past what the kernel says), an option set through
    a dup (one socket), calls given no header or vector (EFAULT, not a crash), and a partial
    sendmmsg's errno, impaired too; a socket with SO_PEEK_OFF (the offset after a receive and
    the next peek), and a recvmsg vector the kernel refuses unread (EMSGSIZE, not a crash).  The output under the shim must be the one without it, case by
    case."""
    exe = env.path("recv_same")
    cclib.run(["gcc", "-O1", "-o", exe, os.path.join(HERE, "recv_same.c")])
    cap = env.path("c.pcapng")
    for case, extra in [(c, None) for c in ("read0", "errno_kept", "cmsg", "optlen", "strip", "v6", "name", "dup",
                                            "inherit", "mmsg", "bigctl", "dupopt", "nullptr", "sendmmsg",
                                            "trunc", "peekoff", "badiov")] + \
                       [("sendmmsg", {"CLEARCAP_IMPAIR": "loss=0%"})]:
        plain = cclib.run([exe, case], timeout=60)
        shim = cclib.run([exe, case], env=env.env(cap, extra), timeout=60)
        eq(shim.stdout, plain.stdout, "case %s%s: the same output with the shim" % (case, " impaired" if extra else ""))
        ok(plain.stdout.count("\n") >= 1, "case %s printed its results" % case)
