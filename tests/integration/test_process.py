"""Many writers, one file: threads, fork, exec, unrelated processes; durability across SIGKILL;
programs that close every descriptor; the wrapper's exit status and summary."""
import os
import signal
import stat
import subprocess
import time

import cclib
from cclib import eq, ok, py, tshark, tshark_count

QUICK = ["test_threads_and_forks_every_record", "test_sigkill_durability", "test_fdopen_socket_closed_by_fclose",
         "test_program_with_one_thread_stays_single_threaded"]
# Also run under ThreadSanitizer (make check); not the fork test: TSan does not support fork in a
# multi-threaded process.
TSAN = ["test_unrelated_processes_one_file", "test_fdopen_socket_closed_by_fclose",
        "test_program_with_one_thread_stays_single_threaded"]


def test_threads_and_forks_every_record(env):
    """8 threads x 500 datagrams, then 4 forked children x 500, then an exec'd child: all counted."""
    cap = env.path("c.pcapng")
    code = r"""
import os, socket, sys, threading
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(('127.0.0.1', 0)); port = r.getsockname()[1]
def blast(tag, n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(n):
        s.sendto(b'%s-%d' % (tag, i), ('127.0.0.1', port))
    s.close()
ts = [threading.Thread(target=blast, args=(b't%d' % k, 500)) for k in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
# The parent's last datagram and each child's first on the same socket to the same peer.
ps = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
ps.sendto(b'pp-0', ('127.0.0.1', port))
kids = []
for k in range(4):
    pid = os.fork()
    if pid == 0:
        ps.sendto(b'pc%d-0' % k, ('127.0.0.1', port))
        blast(b'f%d' % k, 500)
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, '-c',
        "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "for i in range(500): s.sendto(b'e-%%d' %% i, ('127.0.0.1', %d))" % port])
os.waitpid(pid, 0)
"""
    py(env, code, cap, timeout=120)
    good, info = cclib.capinfos_ok(cap)
    ok(good, "capinfos: " + info)
    # udp.payload, not data.data: a socket whose ephemeral source port is one a Wireshark
    # dissector claims has its datagrams dissected as that protocol, with no data.data (seen
    # once: 500 payloads read as empty).
    rows = tshark(cap, ["udp.payload", "frame.comment", "sll.src.ipv4"], "sll.pkttype == 4")
    eq(len(rows), 13 * 500 + 5, "every datagram once")
    payloads = set(bytes.fromhex(r[0]) for r in rows)
    eq(len(payloads), 13 * 500 + 5, "no duplicates")
    pids = set(r[1].split()[1] for r in rows)
    eq(len(pids), 6, "parent, four forked children, one exec'd child")
    # Frames of one forked child all name that child.
    f0 = set(r[1] for r in rows if bytes.fromhex(r[0]).startswith(b"f0-"))
    eq(len(f0), 1, "one pid per child")
    # The link-layer address (the pid, as four bytes) is each record's own, in every header: a
    # child's first datagrams on its parent's flow do not reuse the parent's headers.
    as_addr = lambda pid: ".".join(str(b) for b in int(pid).to_bytes(4, "big"))
    wrong = [r for r in rows if r[2] != as_addr(r[1].split()[1])]
    eq(wrong[:3], [], "link-layer address = pid in the comment")


def test_program_with_one_thread_stays_single_threaded(env):
    """A program with one thread of its own keeps glibc's single-thread paths beside the writer
    (pcapout/single.h: on Debian 12's glibc, not under TSan); initgroups, setgid and setuid still
    reach the writer's thread; the program's first thread of its own gives the flag up."""
    cap = env.path("c.pcapng")
    code = r"""
import ctypes, json, os, socket, threading
libc = ctypes.CDLL(None)
def flag():
    return ctypes.c_char.in_dll(libc, "__libc_single_threaded").value[0]
def tasks():
    out = []
    for t in sorted(os.listdir("/proc/self/task"), key=int):
        st = dict(l.split(":", 1) for l in open("/proc/self/task/%s/status" % t).read().splitlines())
        out.append([st[k].split() for k in ("Uid", "Gid", "Groups")])
    return out
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 0))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"before", r.getsockname())
out = {"before": flag(), "threads": len(tasks())}
if os.getuid() == 0:
    os.initgroups("nobody", 65534); os.setgid(65534); os.setuid(65534)
    out["creds"] = tasks()
out["after_setuid"] = flag()
s.sendto(b"after-setuid", r.getsockname())
t = threading.Thread(target=lambda: None); t.start(); t.join()
out["after_thread"] = flag()
s.sendto(b"after-thread", r.getsockname())
print(json.dumps(out))
"""
    import json
    out = json.loads(py(env, code, cap).stdout)
    single = int(os.confstr("CS_GNU_LIBC_VERSION") == "glibc 2.36" and not env.tsan)
    tasks = 3 if env.tsan else 2            # (ThreadSanitizer's runtime has a thread of its own)
    eq(out["threads"], tasks, "the program's thread and the writer")
    eq(out["before"], single, "glibc's single-thread flag beside the writer")
    eq(out["after_setuid"], single, "the flag after setuid")
    eq(out["after_thread"], 0, "the flag after the program's own thread")
    if "creds" in out:
        creds = out["creds"]
        eq(len(creds), tasks, "tasks after setuid")
        for i, c in enumerate(creds):
            eq(c[0], ["65534"] * 4, "uids of task %d" % i)
            eq(c[1], ["65534"] * 4, "gids of task %d" % i)
            eq(c[2], creds[0][2], "groups of task %d (the first is the program's)" % i)
    eq(sorted(r[0] for r in tshark(cap, ["data.data"], "udp")),
       sorted(x.encode().hex() for x in ("before", "after-setuid", "after-thread")), "the three datagrams")


def test_single_thread_guard_fires(env):
    """The uninstrumented lane's guard (single_guard.c, preloaded with the shim in every test there)
    is loaded and stops a second thread that takes a lock or allocates while glibc believes the
    process has one: what it watches the writer's thread for."""
    if env.sanitize or env.tsan:
        raise cclib.Skip("the guard is preloaded in the uninstrumented lane only")
    code = r"""
import ctypes, threading
flag = ctypes.c_char.in_dll(ctypes.CDLL(None), "__libc_single_threaded")
go = threading.Event()
t = threading.Thread(target=lambda: (go.wait(), bytearray(1 << 20)))
t.start()
flag.value = b"\x01"
go.set()
t.join()
"""
    p = py(env, code, env.path("c.pcapng"), check=False)
    eq(p.returncode, -signal.SIGABRT, "stopped by the guard: %s" % p.stderr[-300:])
    ok("single_guard: " in p.stderr and "while glibc believes the process has one thread" in p.stderr,
       "the guard's line: %r" % p.stderr[-300:])


def test_unrelated_processes_one_file(env):
    """Processes started separately with the same CLEARCAP_FILE append to one valid file."""
    cap = env.path("c.pcapng")
    code = ("import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
            "for i in range(300): s.sendto(b'%s-%d' % (sys.argv[1].encode(), i), ('127.0.0.1', 9))")
    procs = [subprocess.Popen([cclib.PY, "-c", code, "p%d" % k], env=env.env(cap)) for k in range(6)]
    for p in procs:
        eq(p.wait(timeout=60), 0, "exit")
    good, info = cclib.capinfos_ok(cap)
    ok(good, info)
    eq(tshark_count(cap), 1800, "all records")
    # One header: a second section header block would show as a new section in capinfos.
    head = open(cap, "rb").read(4)
    eq(head, b"\x0a\x0d\x0d\x0a", "starts with an SHB")
    eq(open(cap, "rb").read().count(b"\x4d\x3c\x2b\x1a"), 1, "one byte-order magic: one SHB")
    eq(stat.S_IMODE(os.stat(cap).st_mode), 0o600, "created 0600")


def test_sigkill_durability(env):
    """Packets sent >= 100 ms before SIGKILL are in the file."""
    cap = env.path("c.pcapng")
    code = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(2000):
    s.sendto(b'k%d' % i, ('127.0.0.1', 9))
print('sent', flush=True)
time.sleep(60)
"""
    for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
        if os.path.exists(cap):
            os.unlink(cap)
        # The program gets default dispositions: a test run started in the background by a shell
        # without job control inherits SIGINT ignored, and CPython then installs no handler.
        p = subprocess.Popen([cclib.PY, "-c", code], env=env.env(cap), stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True,
                             preexec_fn=lambda: [signal.signal(s, signal.SIG_DFL) for s in (signal.SIGINT,
                                                                                            signal.SIGTERM)])
        eq(p.stdout.readline().strip(), "sent", "program started")
        time.sleep(0.1)
        # Signalled once asleep: a SIGINT that lands between CPython's last check for signals and
        # its clock_nanosleep is only acted on when the sleep ends (CPython's own race).
        for _ in range(100):
            if open("/proc/%d/task/%d/wchan" % (p.pid, p.pid)).read() == "hrtimer_nanosleep":
                break
            time.sleep(0.05)
        p.send_signal(sig)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            # Say where each thread waits (one fresh-clone run under load saw a hang here once).
            where = {t: open("/proc/%d/task/%s/wchan" % (p.pid, t)).read() + " " +
                     open("/proc/%d/task/%s/stat" % (p.pid, t)).read().split()[2]
                     for t in os.listdir("/proc/%d/task" % p.pid)}
            p.kill()
            p.wait()
            raise AssertionError("no exit 10 s after %s: threads %r" % (sig.name, where))
        eq(tshark_count(cap), 2000, "records after %s" % sig.name)


def test_close_all_fds_and_dup2(env):
    """A program that closes every fd (loop, closerange, close_range) and dup2s over them keeps
    being captured, and its own close calls behave as without the shim."""
    cap = env.path("c.pcapng")
    code = r"""
import os, socket, errno
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b'before', ('127.0.0.1', 9))
keep = s.fileno()
for fd in range(3, 4096):
    if fd != keep:
        try:
            os.close(fd)
        except OSError as e:
            assert e.errno == errno.EBADF
os.closerange(3, keep)
os.closerange(keep + 1, 65536)
s.sendto(b'middle', ('127.0.0.1', 9))
for fd in range(3, 2048):
    if fd != keep:
        os.dup2(0, fd)
s.sendto(b'after', ('127.0.0.1', 9))
"""
    py(env, code, cap)
    rows = tshark(cap, ["udp.payload"])
    eq([bytes.fromhex(r[0]) for r in rows], [b"before", b"middle", b"after"], "all three captured")


def test_wrapper_status_and_summary(env):
    cap = env.path("w.pcapng")
    code = "import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n" \
           "[s.sendto(b'w', ('127.0.0.1', 9)) for i in range(7)]\nsys.exit(3)"
    p = cclib.run([env.tool, "-w", cap, "--", cclib.PY, "-c", code], env=env.env(preload=False), check=False)
    eq(p.returncode, 3, "exit status passed through")
    # The summary line, then the exit statistics (one line per flow here).
    summary = [l for l in p.stderr.splitlines() if l.startswith("clearcap:") and "packets captured" in l]
    eq(len(summary), 1, "one summary line: %r" % p.stderr)
    ok(p.stderr.splitlines()[0] == summary[0] and "clearcap: flow wire udp" in p.stderr, p.stderr)
    ok("7 packets captured" in summary[0] and "0 dropped" in summary[0], summary[0])
    eq(tshark_count(cap), 7, "file")
    # Death by signal is passed on.
    p = cclib.run([env.tool, "-q", "-w", cap, "--", "/bin/sh", "-c", "kill -TERM $$"],
                  env=env.env(preload=False), check=False)
    eq(p.returncode, -signal.SIGTERM, "dies by the same signal")
    p = cclib.run([env.tool, "--help"], env=env.env(preload=False))
    for opt in ("-w", "--format", "--programs", "--append", "--buffer-size"):
        ok(opt in p.stdout, "--help documents %s" % opt)


def test_file_safety(env):
    """Never through a planted symlink; never into a foreign file; pcap format on request."""
    target = env.path("victim")
    open(target, "w").write("precious")
    link = env.path("link.pcapng")
    os.symlink(target, link)
    code = "import socket; socket.socket(socket.AF_INET,socket.SOCK_DGRAM).sendto(b'x',('127.0.0.1',9))"
    p = py(env, code, link)
    eq(open(target).read(), "precious", "symlink target untouched")
    ok("CLEARCAP_FILE" in p.stderr, "one clear line: %r" % p.stderr)
    foreign = env.path("foreign.pcapng")
    open(foreign, "wb").write(b"not a capture at all")
    p = py(env, code, foreign)
    eq(open(foreign, "rb").read(), b"not a capture at all", "foreign file untouched")
    ok("not a clearcap" in p.stderr, p.stderr)
    pc = env.path("c.pcap")
    py(env, code, pc, {"CLEARCAP_FORMAT": "pcap"})
    py(env, code, pc, {"CLEARCAP_FORMAT": "pcap"})
    eq(open(pc, "rb").read(4), b"\x4d\x3c\xb2\xa1", "nanosecond pcap magic")
    eq(cclib.tcpdump_count(pc), 2, "tcpdump reads both records")
    # Appending pcap records to a pcapng file is refused.
    p = py(env, code, pc, {"CLEARCAP_FORMAT": "pcapng"})
    ok("not a clearcap pcapng" in p.stderr, p.stderr)
    eq(cclib.tcpdump_count(pc), 2, "unchanged")


def test_daemon_parent_loses_nothing(env):
    """glibc's daemon() leaves the parent through an internal _exit: what it sent before is kept."""
    src, exe, cap = env.path("d.c"), env.path("d"), env.path("c.pcapng")
    open(src, "w").write(r"""
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(0x7f000001) };
    for (int i = 0; i < 100; i++) sendto(s, "parent", 6, 0, (struct sockaddr *)&a, sizeof(a));
    if (daemon(1, 1) < 0) return 1;
    for (int i = 0; i < 100; i++) sendto(s, "daemon", 6, 0, (struct sockaddr *)&a, sizeof(a));
    return 0;
}
""")
    cclib.run(["gcc", "-O1", "-o", exe, src])
    cclib.run([exe], env=env.env(cap))
    deadline = time.time() + 5
    while time.time() < deadline and tshark_count(cap) < 200:
        time.sleep(0.2)
    rows = [bytes.fromhex(r[0]) for r in tshark(cap, ["udp.payload"])]
    eq((rows.count(b"parent"), rows.count(b"daemon")), (100, 100), "both processes' packets")


def test_fdopen_socket_closed_by_fclose(env):
    """A TCP socket written through stdio (fdopen) and closed by fclose: glibc closes it past
    close(), and the next open() gets its number.  That file's bytes are not captured as the
    connection's, the connection ends with its FIN, stdio's blind spot is said once, and the
    next connection, written with write(), is captured."""
    src, exe, cap = env.path("fd.c"), env.path("fd"), env.path("c.pcapng")
    open(src, "w").write(r"""
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
static int dial(int port) {
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(0x7f000001) };
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) < 0) exit(1);
    return c;
}
int main(int argc, char **argv) {
    int port = atoi(argv[1]), c = dial(port);
    FILE *f = fdopen(c, "w");
    if (!f || fprintf(f, "through stdio\n") < 0 || fclose(f) != 0) return 2;
    int fd = open(argv[2], O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (fd != c) return 3;      /* the socket's number, reused */
    if (write(fd, "FILE DATA, NOT THE NETWORK\n", 27) != 27 || close(fd) != 0) return 4;
    c = dial(port);
    if (write(c, "after", 5) != 5 || close(c) != 0) return 5;
    return 0;
}
""")
    cclib.run(["gcc", "-O1", "-o", exe, src])
    port, t, got = cclib.tcp_server(2)
    p = cclib.run([exe, str(port), env.path("file.txt")], env=env.env(cap))
    t.join(10)
    eq(got, [b"through stdio\n", b"after"], "the server got both connections' bytes")
    eq(open(env.path("file.txt"), "rb").read(), b"FILE DATA, NOT THE NETWORK\n", "the file")
    rows = tshark(cap, ["tcp.stream", "tcp.flags.fin", "tcp.payload", "sll.pkttype"])
    payloads = [bytes.fromhex(r[2].replace(":", "")) for r in rows if r[2]]
    ok(not any(b"FILE" in x or b"NETWORK" in x for x in payloads), "no file bytes captured: %r" % payloads)
    eq(payloads, [b"after"], "the write() connection's bytes")
    fins = [r[0] for r in rows if r[1] in ("1", "True") and r[3] == "4"]
    eq(sorted(fins), ["0", "1"], "each connection's FIN from the program")
    eq(tshark_count(cap, "tcp.analysis.flags && !tcp.analysis.window_update"), 0, "tshark finds nothing wrong")
    eq(p.stderr.count("through stdio (fdopen)"), 1, "stdio's blind spot said once: %r" % p.stderr)


def test_closefrom_keeps_capturing(env):
    """glibc's closefrom() (and close_range() from C) over the capture fd: capture goes on, and
    the program's own descriptors are closed exactly as without the shim."""
    src, exe, cap = env.path("cf.c"), env.path("cf"), env.path("c.pcapng")
    open(src, "w").write(r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void) {
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(0x7f000001) };
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    sendto(s, "one", 3, 0, (struct sockaddr *)&a, sizeof(a));
    int extra = open("/dev/null", O_RDONLY);
    closefrom(3);
    /* The program's own fds are gone, as without the shim. */
    if (fcntl(s, F_GETFD) != -1 || fcntl(extra, F_GETFD) != -1) return 1;
    s = socket(AF_INET, SOCK_DGRAM, 0);
    sendto(s, "two", 3, 0, (struct sockaddr *)&a, sizeof(a));
    close_range(3, ~0U, 0);
    s = socket(AF_INET, SOCK_DGRAM, 0);
    sendto(s, "three", 5, 0, (struct sockaddr *)&a, sizeof(a));
    puts("ok");
    return 0;
}
""")
    cclib.run(["gcc", "-O1", "-o", exe, src])
    p = cclib.run([exe], env=env.env(cap))
    eq(p.stdout, "ok\n", "program unaffected")
    eq([bytes.fromhex(r[0]) for r in tshark(cap, ["udp.payload"])], [b"one", b"two", b"three"], "all captured")


def test_exec_with_another_file(env):
    """A captured shell that runs a command with its own CLEARCAP_FILE (exec in the same pid): the
    command's packets go to its file, the shell's to the shell's."""
    a, b = env.path("shell.pcapng"), env.path("cmd.pcapng")
    send = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            "[s.sendto(b'%s %d' % (b'TAG', i), ('127.0.0.1', 9)) for i in range(5)]")
    script = ("%s -c \"%s\"; exec env CLEARCAP_FILE=%s %s -c \"%s\""
              % (cclib.PY, send.replace("TAG", "shell"), b, cclib.PY, send.replace("TAG", "cmd")))
    cclib.run(["bash", "-c", script], env=env.env(a))
    eq(tshark_count(a), 5, "the shell's own child in its file")
    eq(tshark_count(b), 5, "the exec'd command in the file its environment names")
    eq(tshark_count(b, 'udp.payload contains "shell"'), 0, "nothing of the shell's in the command's file")
