"""Hardening: programs that do unusual things to processes, threads, signals, files, privileges and
the environment, and hostile traffic.  Each test checks two things: the program behaves exactly as
it does without the shim, and what the capture holds (exact counts, read back with tshark)."""
import errno
import fcntl
import hashlib
import os
import random
import shutil
import socket
import struct
import subprocess
import time

import cclib
from cclib import eq, ok, tshark, tshark_count

QUICK = ["test_signal_handler_sends", "test_malformed_datagrams_echo", "test_many_short_threads",
         "test_signal_handler_during_first_packet", "test_threads_that_end",
         "test_privileges_dropped_in_a_chroot_reach_the_writer"]
TSAN = ["test_many_short_threads", "test_signal_handler_sends", "test_posix_spawn_and_vfork", "test_threads_that_end"]

NOBODY = 65534

# Shared C helpers: a sender to 127.0.0.1:PORT and a tiny itoa usable in a signal handler.
C_HEAD = r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static struct sockaddr_in dst;

static void set_dst(int port)
{
    memset(&dst, 0, sizeof(dst));
    dst.sin_family = AF_INET;
    dst.sin_port = htons(port);
    dst.sin_addr.s_addr = htonl(0x7f000001);
}

/* "<tag>-<i>" into buf, async-signal-safe; returns the length. */
static int tag_num(char *buf, const char *tag, int i)
{
    char d[16];
    int n = 0, k = 0;
    while (*tag)
        buf[n++] = *tag++;
    buf[n++] = '-';
    do { d[k++] = '0' + i % 10; i /= 10; } while (i);
    while (k)
        buf[n++] = d[--k];
    return n;
}

static int send_n(int s, const char *tag, int count)
{
    char b[64];
    int ok = 0;
    for (int i = 0; i < count; i++) {
        int n = tag_num(b, tag, i);
        if (sendto(s, b, n, 0, (struct sockaddr *)&dst, sizeof(dst)) == n)
            ok++;
    }
    return ok;
}
"""


def _cc(env, name, src, libs=(), flags=()):
    """Compiles a C program into env.tmp and returns its path."""
    c, exe = env.path(name + ".c"), env.path(name)
    with open(c, "w") as f:
        f.write(C_HEAD + src)
    cclib.run(["gcc", "-O1", "-Wall", "-o", exe, c] + list(flags) + list(libs))
    return exe


def _payloads(cap, dfilter="sll.pkttype == 4"):
    return [bytes.fromhex(r[0]) for r in tshark(cap, ["data.data"], dfilter, ["-d", "udp.port==9,data"])]


def _capinfos_ok(cap):
    good, info = cclib.capinfos_ok(cap)
    ok(good, "capinfos: " + info)


def _cc_lines(stderr):
    return [l for l in stderr.splitlines() if l.startswith("clearcap:")]


# ---- 1. posix_spawn and vfork ----

SPAWN_C = r"""
#include <spawn.h>
extern char **environ;

int main(int argc, char **argv)
{
    set_dst(9);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (argc == 4) {                        /* child: TAG COUNT */
        int n = send_n(s, argv[2], atoi(argv[3]));
        return n == atoi(argv[3]) ? 0 : 3;
    }
    int st[8], k = 0;
    pid_t p1, p2, v;
    int sent = send_n(s, "P", 100);

    char *a1[] = { argv[0], "x", "s1", "200", NULL };
    char *a2[] = { argv[0], "x", "s2", "200", NULL };
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (posix_spawn(&p1, argv[0], NULL, NULL, a1, environ) != 0) return 10;
    if (posix_spawnp(&p2, argv[0], &fa, NULL, a2, environ) != 0) return 11;
    waitpid(p1, &st[k++], 0);
    waitpid(p2, &st[k++], 0);

    char *a3[] = { argv[0], "x", "v1", "200", NULL };
    v = vfork();
    if (v == 0) { execv(argv[0], a3); _exit(127); }
    waitpid(v, &st[k++], 0);
    char *a4[] = { "/nonexistent/prog", NULL };
    v = vfork();
    if (v == 0) { execv(a4[0], a4); _exit(127); }
    waitpid(v, &st[k++], 0);
    v = vfork();
    if (v == 0) _exit(7);
    waitpid(v, &st[k++], 0);

    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "exec '%s' x y1 50", argv[0]);
    st[k++] = system(cmd);
    sent += send_n(s, "Q", 100);

    printf("sent %d statuses", sent);
    for (int i = 0; i < k; i++)
        printf(" %d", WIFEXITED(st[i]) ? WEXITSTATUS(st[i]) : -WTERMSIG(st[i]));
    printf("\n");
    return 0;
}
"""


def test_posix_spawn_and_vfork(env):
    """posix_spawn(p), vfork+exec, vfork+failed exec, vfork+_exit and system(): every process's
    datagrams once, the file valid, the parent's statuses as without the shim."""
    exe = _cc(env, "spawn", SPAWN_C)
    plain = cclib.run([exe], env=env.env(preload=False))
    eq(plain.stdout, "sent 200 statuses 0 0 0 127 7 0\n", "without the shim")
    cap = env.path("c.pcapng")
    p = cclib.run([exe], env=env.env(cap))
    eq(p.stdout, plain.stdout, "stdout under the shim")
    eq(_cc_lines(p.stderr), [], "no clearcap line")
    _capinfos_ok(cap)
    rows = tshark(cap, ["data.data", "frame.comment"], "sll.pkttype == 4", ["-d", "udp.port==9,data"])
    pays = [bytes.fromhex(r[0]) for r in rows]
    eq(len(pays), 850, "all datagrams")
    eq(len(set(pays)), 850, "each once")
    want = {b"P": 100, b"Q": 100, b"s1": 200, b"s2": 200, b"v1": 200, b"y1": 50}
    got = {}
    pid_of = {}
    for pay, r in zip(pays, rows):
        tag = pay.split(b"-")[0]
        got[tag] = got.get(tag, 0) + 1
        pid_of.setdefault(tag, set()).add(r[1].split()[1])
    eq(got, want, "per process")
    for tag, pids in pid_of.items():
        eq(len(pids), 1, "one pid for %r" % tag)
    eq(pid_of[b"P"], pid_of[b"Q"], "parent's pid before and after")
    eq(len(set().union(*pid_of.values())), 5, "five distinct processes")


# ---- 2. threads by the hundred ----

THREADS_C = r"""
#include <pthread.h>
static int detached_done;

static void *worker(void *arg)
{
    char tag[16];
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    snprintf(tag, sizeof(tag), "t%ld", (long)arg);
    int n = send_n(s, tag, 10);
    close(s);
    if ((long)arg >= 250)
        __atomic_add_fetch(&detached_done, 1, __ATOMIC_SEQ_CST);
    return (void *)(long)n;
}

int main(void)
{
    long total = 0;
    set_dst(9);
    for (long w = 0; w < 250; w += 50) {
        pthread_t t[50];
        for (long i = 0; i < 50; i++)
            if (pthread_create(&t[i], NULL, worker, (void *)(w + i)) != 0) return 2;
        for (long i = 0; i < 50; i++) {
            void *r;
            pthread_join(t[i], &r);
            total += (long)r;
        }
    }
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    for (long i = 250; i < 300; i++) {
        pthread_t t;
        if (pthread_create(&t, &at, worker, (void *)i) != 0) return 3;
    }
    while (__atomic_load_n(&detached_done, __ATOMIC_SEQ_CST) < 50)
        usleep(1000);
    printf("joined sent %ld\n", total);
    return 0;
}
"""


def test_many_short_threads(env):
    """300 threads (250 joined in waves of 50, 50 detached) each send 10 datagrams and end."""
    exe = _cc(env, "threads", THREADS_C, flags=["-pthread"])
    cap = env.path("c.pcapng")
    p = cclib.run([exe], env=env.env(cap))
    eq(p.stdout, "joined sent 2500\n", "stdout")
    eq(_cc_lines(p.stderr), [], "no clearcap line")
    _capinfos_ok(cap)
    pays = _payloads(cap)
    eq(len(pays), 3000, "every datagram")
    eq(set(pays), set(b"t%d-%d" % (t, i) for t in range(300) for i in range(10)), "each once")


# ---- 3. sends from a signal handler ----

SIGSEND_C = r"""
static int s_main, s_hand;
static volatile sig_atomic_t hsent, hfail, ticks;

static void on_alarm(int sig)
{
    /* 400 and no more: a tick may still come between the loop's end and the timer's. */
    if (hsent >= 400)
        return;
    int saved = errno;
    char b[32];
    int n = tag_num(b, "h", ticks);
    /* Alternate the main loop's socket and the handler's own. */
    int fd = (ticks & 1) ? s_main : s_hand;
    if (sendto(fd, b, n, 0, (struct sockaddr *)&dst, sizeof(dst)) == n)
        hsent++;
    else
        hfail++;
    ticks++;
    errno = saved;
}

int main(int argc, char **argv)
{
    set_dst(9);
    s_main = socket(AF_INET, SOCK_DGRAM, 0);
    s_hand = socket(AF_INET, SOCK_DGRAM, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    /* One datagram before the timer, unless "cold": then the handler may hit the capture's start. */
    if (argc < 2 && sendto(s_main, "w-0", 3, 0, (struct sockaddr *)&dst, sizeof(dst)) != 3)
        return 2;
    struct itimerval it = { { 0, 1000 }, { 0, 1000 } };
    setitimer(ITIMER_REAL, &it, NULL);
    int msent = 0, mfail = 0;
    char b[32];
    for (int i = 0; hsent < 400; i++) {
        int n = tag_num(b, "m", i);
        if (sendto(s_main, b, n, 0, (struct sockaddr *)&dst, sizeof(dst)) == n)
            msent++;
        else
            mfail++;
        for (volatile int k = 0; k < 3000; k++)
            ;
    }
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &off, NULL);
    printf("%d %d %d %d\n", msent, mfail, (int)hsent, (int)hfail);
    return 0;
}
"""


def test_signal_handler_sends(env):
    """SIGALRM every 1 ms whose handler sends (on the main loop's socket and on its own, first
    used in the handler) while the main loop sends flat out: each datagram captured once.
    The capture is started by a first datagram before the timer is armed (see the next test for
    a handler that comes in during the start)."""
    exe = _cc(env, "sigsend", SIGSEND_C)
    cap = env.path("c.pcapng")
    p = cclib.run([exe], env=env.env(cap), timeout=60)
    msent, mfail, hsent, hfail = map(int, p.stdout.split())
    eq((mfail, hfail), (0, 0), "no failed send")
    eq(hsent, 400, "handler sends")
    ok(msent > 100, "main loop sent %d" % msent)
    eq(_cc_lines(p.stderr), [], "no clearcap line")
    _capinfos_ok(cap)
    pays = _payloads(cap)
    want = set(b"m-%d" % i for i in range(msent)) | set(b"h-%d" % i for i in range(hsent)) | {b"w-0"}
    eq(len(pays), 1 + msent + hsent, "every datagram")
    eq(set(pays), want, "each once")


def test_signal_handler_during_first_packet(env):
    """The handler's sends may land while the main thread starts the capture (a stranger holds a
    lock on the file for 300 ms to widen the window): no self-deadlock, every datagram once."""
    exe = _cc(env, "sigsend", SIGSEND_C)
    cap = env.path("c.pcapng")
    f = open(cap, "wb")
    fcntl.flock(f, fcntl.LOCK_EX)
    p = subprocess.Popen([exe, "cold"], env=env.env(cap), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        time.sleep(0.3)
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    msent, mfail, hsent, hfail = map(int, out.split())
    eq((p.returncode, mfail, hfail, hsent), (0, 0, 0, 400), "program unaffected")
    eq(_cc_lines(err), [], "no clearcap line")
    _capinfos_ok(cap)
    pays = _payloads(cap)
    eq(len(pays), len(set(pays)), "no duplicates")
    eq(set(pays), set(b"m-%d" % i for i in range(msent)) | set(b"h-%d" % i for i in range(hsent)), "every datagram")


# ---- 5, 6. Disk full, RLIMIT_FSIZE ----

FLOOD_PY = r"""
import resource, signal, socket, sys
if len(sys.argv) > 1:
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
n = 0
for i in range(5000):
    n += s.sendto(b'%05d' % i + b'x' * 195, ('127.0.0.1', 9)) == 200
print('sent', n, 'pending', sorted(signal.sigpending()), flush=True)
"""


def _prefix_readable(cap):
    p = cclib.run(["tshark", "-n", "-r", cap, "-T", "fields", "-e", "data.data", "-d", "udp.port==9,data"],
                  check=False)
    pays = [bytes.fromhex(l) for l in p.stdout.splitlines() if l]
    eq(pays, [b"%05d" % i + b"x" * 195 for i in range(len(pays))], "a clean prefix")
    return len(pays)


def _one_write_warning(stderr, what):
    lines = _cc_lines(stderr)
    eq(len(lines), 1, "exactly one clearcap line: %r" % lines)
    ok("cannot write" in lines[0] and what in lines[0] and "packets lost" in lines[0], lines[0])


def test_disk_full(env):
    mnt = env.path("mnt")
    os.mkdir(mnt)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt]).returncode != 0:
        raise cclib.Skip("cannot mount a tmpfs here")
    try:
        cap = os.path.join(mnt, "c.pcapng")
        p = cclib.run([cclib.PY, "-c", FLOOD_PY], env=env.env(cap), timeout=60)
        eq(p.stdout, "sent 5000 pending []\n", "program unaffected")
        _one_write_warning(p.stderr, "No space left on device")
        n = _prefix_readable(cap)
        ok(100 < n < 5000, "prefix of %d records" % n)
    finally:
        subprocess.run(["umount", mnt])


def test_rlimit_fsize(env):
    cap = env.path("c.pcapng")
    p = cclib.run([cclib.PY, "-c", FLOOD_PY, "32768"], env=env.env(cap), timeout=60)
    eq(p.stdout, "sent 5000 pending []\n", "not killed by SIGXFSZ, none pending")
    _one_write_warning(p.stderr, "File too large")
    ok(os.path.getsize(cap) <= 32768, "limit kept")
    n = _prefix_readable(cap)
    ok(100 < n < 5000, "prefix of %d records" % n)


# ---- 4. EINTR storm ----

EINTR_C = r"""
#include <pthread.h>
static volatile sig_atomic_t hits;
static void on_alarm(int sig) { hits++; }
static int port;

static void *late(void *arg)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    usleep(100000);
    sendto(s, "late", 4, 0, (struct sockaddr *)&dst, sizeof(dst));
    close(s);
    return NULL;
}

int main(void)
{
    int r = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
    socklen_t al = sizeof(a);
    bind(r, (struct sockaddr *)&a, sizeof(a));
    getsockname(r, (struct sockaddr *)&a, &al);
    port = ntohs(a.sin_port);
    set_dst(port);

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;                 /* no SA_RESTART */
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = { { 0, 1000 }, { 0, 1000 } };
    setitimer(ITIMER_REAL, &it, NULL);

    const char *names[] = { "recvfrom", "recv", "recvmsg", "read", "recvmmsg", "readv" };
    int counts[6] = { 0 };
    char buf[2048];
    for (int total = 0; total < 300; ) {
        int k = total % 6;
        ssize_t ret;
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        struct iovec v = { buf, sizeof(buf) };
        struct msghdr m = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &v, .msg_iovlen = 1 };
        struct mmsghdr mm = { .msg_hdr = m };
        errno = 0;
        switch (k) {
        case 0: ret = recvfrom(r, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl); break;
        case 1: ret = recv(r, buf, sizeof(buf), 0); break;
        case 2: ret = recvmsg(r, &m, 0); break;
        case 3: ret = read(r, buf, sizeof(buf)); break;
        case 4: ret = recvmmsg(r, &mm, 1, 0, NULL); break;
        default: ret = readv(r, &v, 1); break;
        }
        if (ret == -1 && errno == EINTR) {
            counts[k]++;
            total++;
        } else {
            printf("unexpected %s ret=%zd errno=%d\n", names[k], ret, errno);
            return 1;
        }
    }
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &off, NULL);
    for (int k = 0; k < 6; k++)
        printf("%s EINTR %d\n", names[k], counts[k]);

    errno = 0;
    ssize_t n = recv(r, buf, sizeof(buf), MSG_DONTWAIT);
    printf("dontwait ret=%zd errno=%d\n", n, errno);
    struct timeval tv = { 0, 50000 };
    setsockopt(r, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    errno = 0;
    n = recvfrom(r, buf, sizeof(buf), 0, NULL, NULL);
    printf("timeout ret=%zd errno=%d\n", n, errno);
    tv.tv_usec = 0;
    setsockopt(r, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

    /* With SA_RESTART the blocked receive restarts through the signals and gets the datagram. */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    setitimer(ITIMER_REAL, &it, NULL);
    pthread_t t;
    pthread_create(&t, NULL, late, NULL);
    errno = 0;
    n = recvfrom(r, buf, sizeof(buf), 0, NULL, NULL);
    setitimer(ITIMER_REAL, &off, NULL);
    pthread_join(t, NULL);
    printf("restarted ret=%zd errno=%d data=%.*s\n", n, errno, n > 0 ? (int)n : 0, buf);

    int s = socket(AF_INET, SOCK_DGRAM, 0);
    sendto(s, "hello", 5, 0, (struct sockaddr *)&dst, sizeof(dst));
    errno = 0;
    n = recvfrom(r, buf, sizeof(buf), 0, NULL, NULL);
    printf("last ret=%zd errno=%d data=%.*s\n", n, errno, n > 0 ? (int)n : 0, buf);
    return 0;
}
"""


def test_eintr_storm(env):
    """Receives interrupted 300 times (SA_RESTART off) fail with EINTR exactly as without the shim
    and capture nothing; a restarted receive, EAGAIN and SO_RCVTIMEO behave the same too."""
    exe = _cc(env, "eintr", EINTR_C, flags=["-pthread"])
    plain = cclib.run([exe], env=env.env(preload=False), timeout=30)
    want = "".join("%s EINTR 50\n" % n for n in ("recvfrom", "recv", "recvmsg", "read", "recvmmsg", "readv"))
    want += ("dontwait ret=-1 errno=11\ntimeout ret=-1 errno=11\n"
             "restarted ret=4 errno=0 data=late\nlast ret=5 errno=0 data=hello\n")
    eq(plain.stdout, want, "without the shim")
    cap = env.path("c.pcapng")
    p = cclib.run([exe], env=env.env(cap), timeout=30)
    eq(p.stdout, plain.stdout, "same behaviour under the shim")
    eq(_cc_lines(p.stderr), [], "no clearcap line")
    _capinfos_ok(cap)
    rows = tshark(cap, ["sll.pkttype", "data.data"], None, ["-d", "udp.port==1-65535,data"])
    got = sorted((r[0], bytes.fromhex(r[1])) for r in rows)
    eq(got, [("0", b"hello"), ("0", b"late"), ("4", b"hello"), ("4", b"late")],
       "only the two datagrams, each sent and received; nothing for the failed calls")


# ---- 7. output file deleted, directory made read-only ----

LIVE_PY = r"""
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def burst(tag, n):
    for i in range(n):
        s.sendto(b'%s-%d' % (tag, i), ('127.0.0.1', 9))
burst(b'a', 100)
print('a', flush=True)
sys.stdin.readline()
burst(b'b', 100)
# An exec'd child opens the path anew.
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, '-c',
        "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "for i in range(50): s.sendto(b'e-%d' % i, ('127.0.0.1', 9))\n"
        "print('child ok')"])
_, st = os.waitpid(pid, 0)
print('b', os.waitstatus_to_exitcode(st), flush=True)
sys.stdin.readline()
print('end', flush=True)
"""


def _capture_fd(pid, path):
    """The program's descriptor on the capture file, found in /proc/PID/fd."""
    fds = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if t == path or t == path + " (deleted)":
            fds.append((fd, t))
    eq(len(fds), 1, "one descriptor on the capture file")
    return "/proc/%d/fd/%s" % (pid, fds[0][0]), fds[0][1]


def _live(env, cap, before_b, as_nobody=False):
    """Runs LIVE_PY; calls before_b() between the two bursts; returns (stdout, stderr, copy of
    what the still-open descriptor holds)."""
    cmd = [cclib.PY, "-c", LIVE_PY]
    if as_nobody:
        cmd = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups"] + cmd
    p = subprocess.Popen(cmd, env=env.env(cap), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        eq(p.stdout.readline(), "a\n", "first burst")
        before_b()
        p.stdin.write("go\n")
        p.stdin.flush()
        lines = [p.stdout.readline(), p.stdout.readline()]
        eq(lines, ["child ok\n", "b 0\n"], "second burst and the exec'd child")
        fdpath, target = _capture_fd(p.pid, cap)
        copy = env.path("held-%d.pcapng" % len(os.listdir(env.tmp)))
        deadline = time.time() + 5
        while True:
            shutil.copyfile(fdpath, copy)
            if tshark_count(copy) >= 200 or time.time() > deadline:
                break
            time.sleep(0.05)
        p.stdin.write("x\n")
        p.stdin.flush()
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    eq(p.returncode, 0, "exit status")
    eq(out, "end\n", "rest of stdout")
    return err, copy, target


def test_output_deleted_mid_run(env):
    """The file unlinked mid-run: the running process keeps writing to the unlinked inode (every
    datagram there, nothing lost, no warning); an exec'd child creates a new file at the path."""
    cap = env.path("c.pcapng")
    err, held, target = _live(env, cap, lambda: os.unlink(cap))
    eq(target, cap + " (deleted)", "descriptor on the unlinked file")
    eq(_cc_lines(err), [], "no clearcap line")
    _capinfos_ok(held)
    pays = _payloads(held)
    eq(sorted(pays), sorted([b"a-%d" % i for i in range(100)] + [b"b-%d" % i for i in range(100)]),
       "both bursts in the unlinked file, nothing of the child")
    _capinfos_ok(cap)
    eq(sorted(_payloads(cap)), sorted(b"e-%d" % i for i in range(50)), "the exec'd child's new file")


def test_output_dir_readonly_mid_run(env):
    """Run as nobody: the directory made read-only mid-run changes nothing (the open descriptor
    writes on; the exec'd child opens the existing file without creating it).  Then, deleted and
    read-only: the exec'd child cannot create it, says so once, and runs on uncaptured."""
    os.chmod(env.tmp, 0o755)
    d = env.path("out")
    os.mkdir(d)
    os.chown(d, NOBODY, NOBODY)
    cap = os.path.join(d, "c.pcapng")

    err, held, target = _live(env, cap, lambda: os.chmod(d, 0o555), as_nobody=True)
    eq(target, cap, "descriptor on the file")
    eq(_cc_lines(err), [], "no clearcap line")
    _capinfos_ok(cap)
    pays = _payloads(cap)
    want = [b"a-%d" % i for i in range(100)] + [b"b-%d" % i for i in range(100)] + \
        [b"e-%d" % i for i in range(50)]
    eq(sorted(pays), sorted(want), "all three bursts in the one file")

    os.chmod(d, 0o755)
    os.unlink(cap)

    def lock_out():
        os.unlink(cap)
        os.chmod(d, 0o555)
    err, held, target = _live(env, cap, lock_out, as_nobody=True)
    eq(target, cap + " (deleted)", "descriptor on the unlinked file")
    lines = _cc_lines(err)
    eq(len(lines), 1, "one line from the exec'd child: %r" % err)
    ok("CLEARCAP_FILE" in lines[0] and cap in lines[0] and "Permission denied" in lines[0], lines[0])
    ok(not os.path.exists(cap), "nothing created in the read-only directory")
    eq(sorted(_payloads(held)), sorted(want[:200]), "the running process's bursts")


# ---- 8. chroot and privilege drop after start ----

CHROOT_C = r"""
#include <grp.h>
int main(int argc, char **argv)
{
    set_dst(9);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    int n = send_n(s, "root", 50);
    if (chroot(argv[1]) != 0 || chdir("/") != 0) { perror("chroot"); return 2; }
    if (setgroups(0, NULL) || setgid(65534) || setuid(65534)) { perror("setuid"); return 3; }
    n += send_n(s, "nobody", 50);
    int s2 = socket(AF_INET, SOCK_DGRAM, 0);
    n += send_n(s2, "newsock", 50);
    pid_t p = fork();
    if (p == 0)
        _exit(send_n(s2, "child", 50) == 50 ? 0 : 4);
    int st;
    waitpid(p, &st, 0);
    printf("sent %d uid %d child %d cwd-ok %d\n", n, (int)getuid(), WEXITSTATUS(st), access("/etc", F_OK) != 0);
    return 0;
}
"""


def test_chroot_and_setuid_after_start(env):
    """send, chroot, drop to nobody, send on the old and a new socket, fork: the already open
    capture descriptor keeps taking every datagram; the program runs as without the shim."""
    exe = _cc(env, "chr", CHROOT_C)
    jail = env.path("jail")
    os.mkdir(jail)
    plain = cclib.run([exe, jail], env=env.env(preload=False))
    eq(plain.stdout, "sent 150 uid 65534 child 0 cwd-ok 1\n", "without the shim")
    cap = env.path("c.pcapng")
    p = cclib.run([exe, jail], env=env.env(cap))
    eq(p.stdout, plain.stdout, "stdout under the shim")
    eq(_cc_lines(p.stderr), [], "no clearcap line")
    _capinfos_ok(cap)
    pays = _payloads(cap)
    want = [b"%s-%d" % (t, i) for t in (b"root", b"nobody", b"newsock", b"child") for i in range(50)]
    eq(sorted(pays), sorted(want), "every datagram, before and after")
    eq(os.listdir(jail), [], "nothing written inside the jail")


CHROOT_CREDS_C = r"""
#include <grp.h>
int main(int argc, char **argv)
{
    set_dst(9);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    int n = send_n(s, "root", 5);
    if (chroot(argv[1]) != 0 || chdir("/") != 0) { perror("chroot"); return 2; }
    if (setgroups(0, NULL) || setgid(65534) || setuid(65534)) { perror("setuid"); return 3; }
    n += send_n(s, "nobody", 5);
    printf("dropped %d\n", n);
    fflush(stdout);
    getchar();
    return 0;
}
"""


def test_privileges_dropped_in_a_chroot_reach_the_writer(env):
    """A daemon's classic drop: chroot (no /proc from then on), then setgroups, setgid and setuid.
    Every thread of the process, the shim's writer too, is nobody afterwards (pcapout/single.h:
    the credential hooks cannot count threads there, and leave glibc's every-thread broadcast on)."""
    if os.getuid() != 0:
        raise cclib.Skip("needs root to chroot and drop privileges")
    exe = _cc(env, "chrcred", CHROOT_CREDS_C)
    jail = env.path("jail")
    os.mkdir(jail)
    p = subprocess.Popen([exe, jail], env=env.env(env.path("c.pcapng")), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        eq(p.stdout.readline(), "dropped 10\n", "the program's own view")
        creds = {}
        for t in os.listdir("/proc/%d/task" % p.pid):
            st = dict(l.split(":", 1) for l in open("/proc/%d/task/%s/status" % (p.pid, t)).read().splitlines())
            creds[t] = [st[k].split() for k in ("Uid", "Gid", "Groups")]
        ok(len(creds) >= 2, "the program's thread and the writer: %r" % creds)
        for t, c in creds.items():
            eq(c, [["65534"] * 4, ["65534"] * 4, []], "uids, gids and groups of task %s" % t)
    finally:
        p.communicate("\n", timeout=30)
    eq(p.returncode, 0, "exit")
    eq(sorted(_payloads(env.path("c.pcapng"))), sorted(b"%s-%d" % (t, i) for t in (b"root", b"nobody")
                                                      for i in range(5)), "every datagram")


CHROOT_KIDS_C = r"""
int main(int argc, char **argv)
{
    set_dst(9);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    int n = send_n(s, "up", 1);
    if (chroot(argv[1]) != 0 || chdir("/") != 0) { perror("chroot"); return 2; }
    pid_t kids[4];
    for (int k = 0; k < 4; k++) {
        if ((kids[k] = fork()) == 0) {
            char tag[16];
            int m = 0;
            for (int r = 0; r < 40; r++) {
                snprintf(tag, sizeof(tag), "k%d.%d", k, r);
                m += send_n(s, tag, 100);
                usleep(500);
            }
            _exit(m == 4000 ? 0 : 4);
        }
    }
    char tag[16];
    for (int r = 0; r < 40; r++) {
        snprintf(tag, sizeof(tag), "p.%d", r);
        n += send_n(s, tag, 100);
        usleep(500);
    }
    int bad = 0;
    for (int k = 0; k < 4; k++) {
        int st;
        waitpid(kids[k], &st, 0);
        bad += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    printf("sent %d bad %d\n", n, bad);
    return 0;
}
"""


def test_chroot_children_share_the_file(env):
    """Children forked inside a chroot (no /proc: they cannot open a description of their own)
    write their batches while the parent writes its own, all through one file description: no
    one's tail repair takes another's record being written for one a killed writer left."""
    exe = _cc(env, "chrk", CHROOT_KIDS_C)
    jail = env.path("jail")
    os.mkdir(jail)
    cap = env.path("k.pcapng")
    p = cclib.run([exe, jail], env=env.env(cap))
    eq(p.stdout, "sent 4001 bad 0\n", "stdout under the shim")
    eq(_cc_lines(p.stderr), [], "no clearcap line")
    _capinfos_ok(cap)
    pays = _payloads(cap)
    eq(len(pays), 20001, "every datagram")
    want = [b"up-0"] + [b"%s.%d-%d" % (t, r, i) for t in (b"p", b"k0", b"k1", b"k2", b"k3")
                        for r in range(40) for i in range(100)]
    eq(sorted(pays), sorted(want), "every datagram of the parent and the four children")


# ---- 9. set-uid binaries ----

SETUID_C = r"""
int main(void)
{
    set_dst(9);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    int n = send_n(s, "suid", 5);
    printf("ruid %d euid %d sent %d\n", (int)getuid(), (int)geteuid(), n);
    return 0;
}
"""


def test_setuid_binary_not_captured(env):
    """A set-uid root binary run by nobody with CLEARCAP_FILE set: no capture, no file, the
    program runs normally -- whether the shim comes by LD_PRELOAD (the loader drops it) or is
    linked in (the shim sees AT_SECURE).  The same binaries without the set-uid bit are captured."""
    os.chmod(env.tmp, 0o755)
    d = env.path("out")
    os.mkdir(d)
    os.chown(d, NOBODY, NOBODY)
    flags = ["-fsanitize=address,undefined"] if env.sanitize else []
    pre = _cc(env, "suid_pre", SETUID_C, flags=flags)
    linked = _cc(env, "suid_linked", SETUID_C, libs=[env.lib, "-Wl,-rpath," + env.build], flags=flags)
    as_nobody = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups"]
    for exe, preload in ((pre, True), (linked, False)):
        name = os.path.basename(exe)
        cap = os.path.join(d, name + ".pcapng")
        # Control: no set-uid bit, so captured.
        os.chmod(exe, 0o755)
        p = cclib.run(as_nobody + [exe], env=env.env(cap, preload=preload))
        eq(p.stdout, "ruid 65534 euid 65534 sent 5\n", name + " plain")
        eq(tshark_count(cap), 5, name + " captured without the set-uid bit")
        os.unlink(cap)
        os.chmod(exe, 0o4755)
        p = cclib.run(as_nobody + [exe], env=env.env(cap, preload=preload))
        eq(p.stdout, "ruid 65534 euid 0 sent 5\n", name + " set-uid")
        eq(_cc_lines(p.stderr), [], name + ": no clearcap line")
        ok(not os.path.exists(cap), name + ": no file created")
    eq(os.listdir(d), [], "nothing in the output directory")


# ---- 10. environment values length-checked ----

def test_environment_lengths(env):
    """Oversized CLEARCAP_* values: one line naming the variable, the program runs uncaptured."""
    code = ("import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
            "[s.sendto(b'v', ('127.0.0.1', 9)) for i in range(3)]\nprint('ran')")
    cap = env.path("c.pcapng")
    cases = [
        ("CLEARCAP_FILE", {"CLEARCAP_FILE": env.path("f" * 5000)}),
        ("CLEARCAP_FILE", {"CLEARCAP_FILE": "r" * 5000}),
        ("CLEARCAP_PROGRAMS", {"CLEARCAP_FILE": cap, "CLEARCAP_PROGRAMS": ("python3*," * 1112)[:10000]}),
        ("CLEARCAP_KEYLOG", {"CLEARCAP_FILE": cap, "CLEARCAP_KEYLOG": env.path("k" * 5000)}),
        ("CLEARCAP_COUNTERS", {"CLEARCAP_FILE": cap, "CLEARCAP_COUNTERS": env.path("c" * 5000)}),
        ("CLEARCAP_BUFFER", {"CLEARCAP_FILE": cap, "CLEARCAP_BUFFER": "9" * 10000}),
        ("CLEARCAP_FORMAT", {"CLEARCAP_FILE": cap, "CLEARCAP_FORMAT": "p" * 10000}),
    ]
    for var, extra in cases:
        p = cclib.run([cclib.PY, "-c", code], env=env.env(None, extra))
        eq(p.stdout, "ran\n", var + ": program output")
        lines = p.stderr.splitlines()
        eq(len(lines), 1, var + ": one line: %r" % p.stderr[:600])
        ok(lines[0].startswith("clearcap: %s=" % var) and "not capturing" in lines[0], lines[0][:300])
        ok(len(lines[0]) < 400, var + ": the line is bounded (%d chars)" % len(lines[0]))
        eq(sorted(os.listdir(env.tmp)), [], var + ": no file created")
    # The same programs list within bounds does capture (the long one failed for its length only).
    p = cclib.run([cclib.PY, "-c", code], env=env.env(cap, {"CLEARCAP_PROGRAMS": ("python3*," * 400)[:-1]}))
    eq(_cc_lines(p.stderr), [], "in-bounds list: no line")
    eq(tshark_count(cap), 3, "in-bounds list: captured")


# ---- 11. malformed and extreme datagrams ----

ECHO_PY = r"""
import hashlib, socket, sys
n = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.bind(('127.0.0.1', 0))
print(s.getsockname()[1], flush=True)
h = hashlib.sha256()
total = 0
for i in range(n):
    data, peer = s.recvfrom(65535)
    s.sendto(data, peer)
    h.update(len(data).to_bytes(4, 'big') + data)
    total += len(data)
print('n=%d bytes=%d sha=%s' % (n, total, h.hexdigest()), flush=True)
"""


def _malformed():
    """Hostile datagrams: broken STUN/TURN, DTLS, RTP/RTCP, ChannelData, empty and huge."""
    rnd = random.Random(7)

    def rb(n):
        return bytes(rnd.getrandbits(8) for _ in range(n))
    cookie = b"\x21\x12\xa4\x42"
    d = [b"", b"", b""]
    d += [bytes([b]) for b in (0x00, 0x01, 0x02, 0x03, 0x14, 0x16, 0x17, 0x3f, 0x40, 0x7f, 0x80, 0xbf, 0xff)]
    # STUN: lying lengths, truncated headers and attributes, odd attribute sizes.
    stun = [
        b"\x00\x01\xff\xff" + cookie + rb(12),
        b"\x00\x01\x00\x08" + cookie + rb(12),
        b"\x00\x01\x00\x00" + cookie + rb(11),
        b"\x01\x01\x00\x0c" + cookie + rb(12) + b"\x00\x20\xff\xff\x00\x01",
        b"\x00\x01\x00\x08" + cookie + rb(12) + b"\x00\x08\x00\x14" + rb(4),
        b"\x00\x01\x00\x08" + cookie + rb(12) + b"\x80\x28\x00\x04",
        b"\x00\x01\x00\x0c" + cookie + rb(12) + b"\x00\x20\x00\x08\x00\x03\x12\x34" + rb(4),
        b"\x01\x13\x00\x03" + cookie + rb(12) + rb(3),
        b"\x00\x03\x00\x10" + cookie + rb(12) + b"\x00\x13\x00\x00\x00\x0d\x00\x04\xff\xff\xff\xff",
        b"\x00\x01" + cookie,
        b"\x00\x01\x00\x00" + cookie + rb(4),
    ]
    stun += [b"\x00\x01" + struct.pack("!H", rnd.randrange(65536)) + cookie + rb(rnd.randrange(0, 200))
             for _ in range(40)]
    # DTLS: record and handshake headers that lie.
    dtls = [
        b"\x16\xfe\xfd" + b"\x00" * 8 + b"\xff\xff" + rb(20),
        b"\x16\xfe\xfd\x00\x00" + rb(6) + b"\x00\x10" + b"\x01\xff\xff\xff\x00\x00\xff\xff\xff\xff\xff\xff",
        b"\x16\xfe\xfd" + rb(8),
        b"\x17\xfe\xfd\x00\x01" + rb(6) + b"\x00\x04" + rb(4) + b"\x17\xfe\xfd\x00\x01" + rb(3),
        b"\x14\xfe\xff" + b"\x00" * 8 + b"\x00\x01\x01",
        b"\x15\xfe\xfd" + b"\x00" * 8 + b"\x00\x02\x02\x28",
        b"\x19\xfe\xfd" + rb(30),
        b"\x16\xfe\xfd" + b"\x00" * 8 + b"\x00\x00",
    ]
    dtls += [bytes([rnd.choice([20, 21, 22, 23, 25, 47, 63])]) + b"\xfe\xfd" + rb(rnd.randrange(0, 300))
             for _ in range(40)]
    # RTP/RTCP: CSRC counts, extensions and padding past the end; RTCP lengths that lie.
    rtp = [
        b"\x8f\x00" + rb(10),
        b"\x90\x60" + rb(10) + b"\xbe\xde\xff\xff",
        b"\xa0\x60" + rb(10) + b"\xff",
        b"\xa0\x60" + rb(10) + b"\x00",
        b"\x80\xc8\xff\xff" + rb(4),
        b"\x81\xc9\x00\x07" + rb(8),
        b"\x9f\xca\x00\x01" + rb(4),
        b"\x80\xcb\x00\x00",
        b"\x80\xcc\x00\x02" + rb(8) + b"\x80\xc8",
        b"\x80",
        b"\x80\x00\x00",
    ]
    rtp += [bytes([rnd.randrange(0x80, 0xc0)]) + rb(rnd.randrange(0, 400)) for _ in range(40)]
    # TURN ChannelData: lengths beyond the datagram, zero, reserved channel numbers.
    chd = [
        b"\x40\x00\xff\xff" + rb(10),
        b"\x40\x00\x00\x00",
        b"\x7f\xff\x00\x04" + rb(4),
        b"\x4f\xff\x00\x08" + rb(3),
        b"\x40\x01\x00",
        b"\x40\x00\x00\x04" + b"\x80\x00" + rb(2),
        b"\x40\x00\x00\x14" + b"\x00\x01\x00\x00" + cookie + rb(12),
    ]
    chd += [bytes([rnd.randrange(0x40, 0x80)]) + rb(rnd.randrange(0, 300)) for _ in range(40)]
    d += stun + dtls + rtp + chd
    d += [rb(rnd.randrange(1, 1500)) for _ in range(60)]
    d += [b"\x00" * 1472, rb(1473), rb(9000), b"\x80" + rb(65506), b"\x16\xfe\xfd" + rb(65504),
          b"\x40\x00\xff\xfb" + rb(65503), b"\x00\x01\xff\xeb" + cookie + rb(65499), rb(65507)]
    return d


def test_malformed_datagrams_echo(env):
    """A Python UDP echo server under the shim gets broken STUN, DTLS, RTP/RTCP and ChannelData,
    empty and 65507-byte datagrams: no crash, output as computed, every datagram captured both
    ways with its exact length and bytes."""
    dgrams = _malformed()
    cap = env.path("c.pcapng")
    srv = subprocess.Popen([cclib.PY, "-c", ECHO_PY, str(len(dgrams))], env=env.env(cap),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        port = int(srv.stdout.readline())
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        c.bind(("127.0.0.1", 0))
        c.settimeout(10)
        for i, d in enumerate(dgrams):
            c.sendto(d, ("127.0.0.1", port))
            back, _ = c.recvfrom(65535)
            eq(back, d, "echo of datagram %d" % i)
        out, err = srv.communicate(timeout=30)
    finally:
        c.close()
        if srv.poll() is None:
            srv.kill()
            srv.wait()
    h = hashlib.sha256()
    for d in dgrams:
        h.update(len(d).to_bytes(4, "big") + d)
    eq(srv.returncode, 0, "server exit (stderr: %s)" % err[-2000:])
    eq(out, "n=%d bytes=%d sha=%s\n" % (len(dgrams), sum(map(len, dgrams)), h.hexdigest()), "server output")
    eq(_cc_lines(err), [], "no clearcap line")
    _capinfos_ok(cap)
    # udp.payload is the raw bytes whatever Wireshark's dissectors make of them.
    rows = tshark(cap, ["sll.pkttype", "udp.length", "frame.len", "frame.cap_len", "udp.payload"])
    eq(len(rows), 2 * len(dgrams), "every datagram in and out")
    ins = [r for r in rows if r[0] == "0"]
    outs = [r for r in rows if r[0] == "4"]
    for name, side in (("received", ins), ("echoed", outs)):
        eq([int(r[1]) - 8 for r in side], [len(d) for d in dgrams], name + ": exact lengths in order")
        eq([int(r[2]) for r in side], [int(r[3]) for r in side], name + ": nothing truncated")
        eq([bytes.fromhex(r[4]) for r in side], dgrams, name + ": exact bytes")


# ---- threads that end: pthread_exit from main, cancellation of sending threads ----

THREADS_END_C = r"""
#include <pthread.h>
#include <stdatomic.h>

static atomic_int sent_count;
static int s_udp;

static void on_exit_msg(void) { printf("atexit\n"); fflush(stdout); }

/* An exit handler that needs a program thread's stack, and one that ends by a signal. */
static void big_exit(void)
{
    volatile char b[512 * 1024];
    memset((char *)b, 1, sizeof(b));
    printf("big %d\n", b[sizeof(b) - 1]);
    fflush(stdout);
}
static void signal_exit(void) { raise(SIGTERM); printf("survived\n"); fflush(stdout); }

static void *burst_thread(void *arg)
{
    struct timespec ts = { 0, 200000 };
    char b[32];
    for (int i = 0; i < 200; i++) {
        int n = tag_num(b, (const char *)arg, i);
        if (sendto(s_udp, b, n, 0, (struct sockaddr *)&dst, sizeof(dst)) == n)
            atomic_fetch_add(&sent_count, 1);
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void cleanup(void *arg) { (void)arg; printf("cleanup\n"); fflush(stdout); }

/* Sends until cancelled: each sendto is its only cancellation point. */
static void *endless_sender(void *arg)
{
    char b[32];
    (void)arg;
    pthread_cleanup_push(cleanup, NULL);
    for (int i = 0;; i++) {
        int n = tag_num(b, "c", i);
        if (sendto(s_udp, b, n, 0, (struct sockaddr *)&dst, sizeof(dst)) == n)
            atomic_fetch_add(&sent_count, 1);
    }
    pthread_cleanup_pop(0);
    return NULL;
}

int main(int argc, char **argv)
{
    set_dst(9);
    s_udp = socket(AF_INET, SOCK_DGRAM, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "errno")) {
        /* The program's view of a send: results and errno, failing and succeeding. */
        int u = socket(AF_INET, SOCK_DGRAM, 0);
        struct msghdr mh;
        struct iovec v = { "m", 1 };
        memset(&mh, 0, sizeof(mh));
        mh.msg_iov = &v;
        mh.msg_iovlen = 1;
        errno = 0;
        long r1 = sendto(u, "a", 1, 0, (struct sockaddr *)&dst, 3);
        int e1 = errno;
        long r2 = send(u, "b", 1, 0);
        int e2 = errno;
        long r3 = write(u, "c", 1);
        int e3 = errno;
        long r4 = sendmsg(u, &mh, 0);
        int e4 = errno;
        errno = EILSEQ;
        long r5 = sendto(u, "ok-1", 4, 0, (struct sockaddr *)&dst, sizeof(dst));
        int e5 = errno;
        /* Connected to a socket that listens: no port-unreachable comes back to fail a send. */
        int rcv = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in ra = dst;
        socklen_t rl = sizeof(ra);
        ra.sin_port = 0;
        bind(rcv, (struct sockaddr *)&ra, sizeof(ra));
        getsockname(rcv, (struct sockaddr *)&ra, &rl);
        fprintf(stderr, "port %d\n", ntohs(ra.sin_port));
        connect(u, (struct sockaddr *)&ra, sizeof(ra));
        errno = EILSEQ;
        long r6 = send(u, "ok-2", 4, 0) + write(u, "ok-3", 4) + sendmsg(u, &mh, 0);
        int e6 = errno;
        /* The same three received, as many ways: errno untouched by the receive path too. */
        char rb[16];
        errno = EILSEQ;
        long r7 = recv(rcv, rb, sizeof(rb), 0) + recvfrom(rcv, rb, sizeof(rb), 0, NULL, NULL) + read(rcv, rb, sizeof(rb));
        int e7 = errno;
        printf("%ld %d %ld %d %ld %d %ld %d %ld %d %ld %d %ld %d\n", r1, e1, r2, e2, r3, e3, r4, e4, r5, e5, r6, e6,
               r7, e7);
        return 0;
    }
    if (!strcmp(mode, "exit-alone")) {
        /* The main thread leaves by pthread_exit, the only thread the program has. */
        atexit(on_exit_msg);
        sendto(s_udp, "alone", 5, 0, (struct sockaddr *)&dst, sizeof(dst));
        pthread_exit(NULL);
    }
    if (!strcmp(mode, "exit-stack") || !strcmp(mode, "exit-signal")) {
        atexit(mode[5] == 's' && mode[6] == 't' ? big_exit : signal_exit);
        sendto(s_udp, "alone", 5, 0, (struct sockaddr *)&dst, sizeof(dst));
        pthread_exit(NULL);
    }
    if (!strcmp(mode, "exit-threads")) {
        /* The main thread leaves first; the process ends when both of its threads have. */
        pthread_t t1, t2;
        atexit(on_exit_msg);
        sendto(s_udp, "main", 4, 0, (struct sockaddr *)&dst, sizeof(dst));
        pthread_create(&t1, NULL, burst_thread, "x");
        pthread_create(&t2, NULL, burst_thread, "y");
        pthread_exit(NULL);
    }
    if (!strcmp(mode, "cancel")) {
        /* Another thread cancels a sender that makes no other call. */
        pthread_t t;
        void *res;
        pthread_create(&t, NULL, endless_sender, NULL);
        while (atomic_load(&sent_count) < 300)
            sched_yield();
        pthread_cancel(t);
        pthread_join(t, &res);
        printf("joined %s\n", res == PTHREAD_CANCELED ? "cancelled" : "not cancelled");
        return 0;
    }
    if (!strcmp(mode, "self-cancel")) {
        /* A program of one thread cancels itself: its next sendto ends it, before sending. */
        sendto(s_udp, "before", 6, 0, (struct sockaddr *)&dst, sizeof(dst));
        pthread_cleanup_push(cleanup, NULL);
        pthread_cancel(pthread_self());
        sendto(s_udp, "after", 5, 0, (struct sockaddr *)&dst, sizeof(dst));
        printf("not cancelled\n");
        pthread_cleanup_pop(0);
        return 3;
    }
    return 2;
}
"""


def test_threads_that_end(env):
    """Sends made directly (glibc's single-thread path, shim/direct.h) and threads that end: the
    program sees the same results and errno as without the shim; a sender is cancelled at its
    next sendto whether another thread or itself asked; a main thread that leaves by pthread_exit
    leaves the process to end with its last thread (exit 0, atexit handlers run with a program
    thread's stack and the main thread's signal mask), not hang on the shim's writer."""
    exe = _cc(env, "threads_end", THREADS_END_C, flags=["-pthread"])
    modes = ["errno", "exit-alone", "exit-threads", "exit-stack", "exit-signal", "cancel", "self-cancel"]
    if env.tsan:
        # ThreadSanitizer's runtime, preloaded in that lane for the shim alone, starts a background
        # thread of its own that keeps a process whose main thread left (by pthread_exit or
        # cancelled) alive, as ours did.
        modes = ["errno", "cancel"]
    for mode in modes:
        cap = env.path("end-%s.pcapng" % mode)
        want = cclib.run([exe, mode], env=env.env(preload=False), check=False, timeout=30)
        t0 = time.monotonic()
        got = cclib.run([exe, mode], env=env.env(cap), check=False, timeout=30)
        took = time.monotonic() - t0
        eq((got.returncode, got.stdout), (want.returncode, want.stdout), mode + ": as without the shim")
        eq(_cc_lines(got.stderr), [], mode + ": no clearcap line")
        ok(took < 5, "%s: ended in %.1f s" % (mode, took))
        _capinfos_ok(cap)
        pays = _payloads(cap)
        if mode == "errno":
            eq(want.stdout, "-1 %d -1 %d -1 %d -1 %d 4 %d 9 %d 9 %d\n" % (
                errno.EINVAL, errno.EDESTADDRREQ, errno.EDESTADDRREQ, errno.EDESTADDRREQ,
                errno.EILSEQ, errno.EILSEQ, errno.EILSEQ), "errno: the expected results")
            port = int(got.stderr.split("port ")[1].split()[0])
            pays = [bytes.fromhex(r[0]) for r in tshark(cap, ["data.data"], "sll.pkttype == 4",
                                                         ["-d", "udp.port==9,data", "-d", "udp.port==%d,data" % port])]
            eq(sorted(pays), [b"m", b"ok-1", b"ok-2", b"ok-3"], "errno: the sends that went")
        elif mode == "exit-alone":
            eq(want.stdout, "atexit\n", "exit-alone: atexit ran")
            eq(pays, [b"alone"], "exit-alone: captured")
        elif mode in ("exit-stack", "exit-signal"):
            # The exit handlers run as on a program thread: its stack size, its signal mask.
            eq((want.returncode, want.stdout), (0, "big 1\n") if mode == "exit-stack" else (-15, ""),
               mode + ": as expected without the shim")
            eq(pays, [b"alone"], mode + ": captured")
        elif mode == "exit-threads":
            eq(want.stdout, "atexit\n", "exit-threads: atexit ran")
            eq(sorted(pays), sorted([b"main"] + [b"%s-%d" % (t, i) for t in (b"x", b"y") for i in range(200)]),
               "exit-threads: every datagram")
        elif mode == "cancel":
            eq(want.stdout, "cleanup\njoined cancelled\n", "cancel: cancelled")
            ok(len(pays) >= 300 and set(pays) == set(b"c-%d" % i for i in range(len(pays))),
               "cancel: %d datagrams, each once" % len(pays))
        else:
            eq(want.stdout, "cleanup\n", "self-cancel: cancelled at sendto")
            eq(pays, [b"before"], "self-cancel: nothing sent after the cancel")
    if env.tsan:
        return
    # With impairment's sender thread as well: it is ours too, not one of the program's.
    cap = env.path("end-impair.pcapng")
    t0 = time.monotonic()
    got = cclib.run([exe, "exit-threads"], env=env.env(cap, {"CLEARCAP_IMPAIR": "delay=2ms"}), check=False,
                    timeout=30)
    took = time.monotonic() - t0
    eq((got.returncode, got.stdout), (0, "atexit\n"), "impaired exit-threads: as without the shim")
    ok(took < 5, "impaired exit-threads: ended in %.1f s" % took)
    ok("impairment on" in got.stderr, "impaired exit-threads: impairment was on")
    eq(sorted(_payloads(cap)), sorted([b"main"] + [b"%s-%d" % (t, i) for t in (b"x", b"y") for i in range(200)]),
       "impaired exit-threads: every datagram, sent late")
