"""clearcap as a daily tool: live view through a pipe or FIFO, rotation (-C/-G/-W), runtime
control (`clearcap ctl`), the progress line on a terminal, a reader that goes away, and kills at
random moments.  Real programs on loopback; files checked with tshark and capinfos."""
import os
import pty
import random
import re
import select
import signal
import struct
import subprocess
import time

import cclib
from cclib import eq, ok, tshark, tshark_count

SLOW = ["test_fifo_stalled_reader_buffer_grows"]
QUICK = ["test_pause_resume_windows", "test_reopen_new_file", "test_fifo_without_reader_does_not_block",
         "test_rotation_size_ring", "test_ctl_off_until_reopen", "test_reader_goes_away_fifo",
         "test_fifo_many_processes_one_header", "test_rotation_reemits_secrets", "test_torn_record_cut_off",
         "test_exec_with_new_file_wins"]
# Control racing the writer thread (reopen while it drains, rotation switching fds).
TSAN = ["test_reopen_new_file", "test_rotation_processes_agree", "test_pause_resume_windows",
        "test_ctl_off_until_reopen"]

# Sends one numbered datagram every GAP seconds and prints its number after sending it.
SENDER = r"""
import socket, sys, time
n, gap = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(n):
    s.sendto(b'seq-%06d' % i, ('127.0.0.1', 9))
    print(i, flush=True)
    time.sleep(gap)
"""

# SENDER that also prints CLOCK_MONOTONIC just before and just after each send ("I T0 T1"), so
# that a test can say which datagrams went out before or after a moment of its own.
TIMED_SENDER = r"""
import socket, sys, time
n, gap = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(n):
    t0 = time.monotonic()
    s.sendto(b'seq-%06d' % i, ('127.0.0.1', 9))
    print(i, t0, time.monotonic(), flush=True)
    time.sleep(gap)
"""

FLOOD = r"""
import socket, sys, time
n, size = int(sys.argv[1]), int(sys.argv[2])
tag = sys.argv[3].encode() if len(sys.argv) > 3 else b'f'
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(n):
    s.sendto(tag + b'%08d' % i + b'x' * (size - 9), ('127.0.0.1', 9))
    if i % 100 == 0:
        time.sleep(0.001)
"""


def seqs(cap):
    out = []
    for r in tshark(cap, ["udp.payload"], "udp.dstport == 9"):
        b = bytes.fromhex(r[0])
        if b.startswith(b"seq-"):
            out.append(int(b[4:]))
    return out


def ctl(env, *args, check=True):
    return cclib.run([env.tool, "ctl"] + [str(a) for a in args], env=env.env(preload=False), check=check)


def valid(cap):
    good, info = cclib.capinfos_ok(cap)
    ok(good, "capinfos %s: %s" % (cap, info[-300:]))


def capinfos_count(cap):
    """(whole file read without error, packets); -M: exact counts, not "14 k"."""
    p = cclib.run(["capinfos", "-c", "-M", cap], check=False)
    m = re.search(r"Number of packets:\s+(\d+)", p.stdout)
    return p.returncode == 0 and "cut short" not in p.stderr, int(m.group(1)) if m else -1, p.stderr


def wait_line(p, want, timeout=15, lines=None):
    """Reads the program's numbered lines until `want`; returns it.  Each line read is appended
    to `lines` when given."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            raise AssertionError("program ended before %d" % want)
        if lines is not None:
            lines.append(line)
        first = line.split()[:1]
        if first and first[0].isdigit() and int(first[0]) >= want:
            return int(first[0])
    raise AssertionError("timeout waiting for %d" % want)


# ---------------------------------------------------------------------------------------------
# Runtime control


def test_pause_resume_windows(env):
    """Packets sent while paused are absent, the rest present: pause after #20, resume after #45.
    Which datagrams went out while paused is told by the sender's own clock readings around each
    send against the test's around each `ctl` (one CLOCK_MONOTONIC), not by a guessed delay."""
    cap = env.path("c.pcapng")
    p = subprocess.Popen([cclib.PY, "-c", TIMED_SENDER, "70", "0.02"], env=env.env(cap), stdout=subprocess.PIPE,
                         text=True)
    lines = []
    a = wait_line(p, 20, lines=lines)
    pause_start = time.monotonic()
    ctl(env, p.pid, "pause")
    pause_done = time.monotonic()
    st = ctl(env, p.pid, "status").stdout
    ok("paused" in st, st)
    # 50 datagrams a second never grow the buffer past where it starts (CLEARCAP_BUFFER: 8M).
    ok(st.rstrip().endswith(", buffer 1 of 8 MiB"), st)
    b = wait_line(p, 45, lines=lines)
    resume_start = time.monotonic()
    ctl(env, p.pid, "resume")
    resume_done = time.monotonic()
    lines += p.stdout.read().splitlines()
    eq(p.wait(timeout=20), 0, "exit")
    sent = {}
    for line in lines:
        i, t0, t1 = line.split()
        sent[int(i)] = (float(t0), float(t1))
    eq(sorted(sent), list(range(70)), "the sender's lines")
    got = set(seqs(cap))
    # Wholly before the pause began or wholly after the resume was done: captured.
    on = [i for i, (t0, t1) in sent.items() if t1 < pause_start or t0 > resume_done]
    # Wholly between the pause being done and the resume beginning: not captured.
    off = [i for i, (t0, t1) in sent.items() if t0 > pause_done and t1 < resume_start]
    ok(len(off) >= 10 and len(on) >= 30, "windows: %d on, %d off" % (len(on), len(off)))
    eq(sorted(i for i in on if i not in got), [], "sent while on but not captured")
    eq(sorted(i for i in off if i in got), [], "captured while paused")
    print("     on: 0..%d, paused from ~%d to %d, captured %d of 70 (%d surely on, %d surely off)"
          % (a, a + 1, b, len(got), len(on), len(off)))
    valid(cap)


def test_reopen_new_file(env):
    """`ctl reopen` moves the capture to a new file: every datagram in exactly one of the two."""
    c1, c2 = env.path("one.pcapng"), env.path("two.pcapng")
    p = subprocess.Popen([cclib.PY, "-c", SENDER, "60", "0.02"], env=env.env(c1), stdout=subprocess.PIPE,
                         text=True)
    wait_line(p, 25)
    out = ctl(env, p.pid, "reopen", c2).stdout
    ok("writing " + c2 in out, out)
    st = ctl(env, p.pid, "status").stdout
    ok("file " + c2 in st and "capturing" in st, st)
    p.stdout.read()
    eq(p.wait(timeout=20), 0, "exit")
    s1, s2 = seqs(c1), seqs(c2)
    valid(c1)
    valid(c2)
    ok(len(s1) >= 25 and len(s2) >= 10, "both files hold data: %d, %d" % (len(s1), len(s2)))
    eq(sorted(s1 + s2), list(range(60)), "each datagram once, none lost")
    ok(max(s1) < min(s2), "the old file ends where the new one starts")
    # The page is gone with the process.
    eq(ctl(env, p.pid, "status", check=False).returncode, 1, "no page after exit")


def test_reopen_refused_says_why_to_the_asker(env):
    """`ctl reopen` to a file that is not a capture (or a directory): the command says why, in
    words, and that the process goes on writing its file; the program's stderr gets no false
    "not capturing" line naming CLEARCAP_FILE; every datagram is in the first file."""
    cap = env.path("one.pcapng")
    junk, folder = env.path("notes.txt"), env.path("adir")
    open(junk, "w").write("not a capture\n")
    os.mkdir(folder)
    p = subprocess.Popen([cclib.PY, "-c", SENDER, "40", "0.02"], env=env.env(cap), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    wait_line(p, 10)
    r = ctl(env, p.pid, "reopen", junk, check=False)
    eq(r.returncode, 1, "refused")
    ok("cannot reopen %s: it exists and is not a clearcap capture" % junk in r.stderr and
       "(still writing %s)" % cap in r.stderr, r.stderr)
    r = ctl(env, p.pid, "reopen", folder, check=False)
    eq(r.returncode, 1, "refused")
    ok("cannot reopen %s: " % folder in r.stderr and "(still writing %s)" % cap in r.stderr, r.stderr)
    st = ctl(env, p.pid, "status").stdout
    ok("capturing" in st and "file " + cap in st, st)
    p.stdout.read()
    err = p.stderr.read()
    eq(p.wait(timeout=20), 0, "exit")
    ok("not capturing" not in err and "CLEARCAP_FILE" not in err, "the program's stderr: %r" % err)
    eq(open(junk).read(), "not a capture\n", "the file refused is untouched")
    eq(sorted(seqs(cap)), list(range(40)), "every datagram in the first file")


def test_ctl_off_until_reopen(env):
    """CLEARCAP_CTL=1 without CLEARCAP_FILE: nothing written until `ctl PID reopen FILE`."""
    cap = env.path("late.pcapng")
    e = env.env(None, {"CLEARCAP_CTL": "1"})
    p = subprocess.Popen([cclib.PY, "-c", SENDER, "50", "0.02"], env=e, stdout=subprocess.PIPE, text=True)
    wait_line(p, 10)
    st = ctl(env, p.pid, "status").stdout
    ok("off" in st, st)
    r = ctl(env, p.pid, "resume", check=False)
    eq(r.returncode, 1, "resume without a file is refused")
    b = wait_line(p, 20)
    ctl(env, p.pid, "reopen", cap)
    p.stdout.read()
    eq(p.wait(timeout=20), 0, "exit")
    got = seqs(cap)
    valid(cap)
    ok(got and min(got) > b - 2 and got == list(range(min(got), 50)), "from the reopen on: %r" % got)


def test_ctl_all_fork_and_stale(env):
    """A forked child has its own page; `ctl all` reaches both; a SIGKILLed process's page is
    swept as stale."""
    cap = env.path("c.pcapng")
    code = r"""
import os, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b'seq-000000', ('127.0.0.1', 9))
pid = os.fork()
if pid:
    print(pid, flush=True)   # the parent alone: two writers could interleave one line
time.sleep(1.5)
for i in range(1, 4):
    s.sendto(b'seq-%06d' % (i + (100 if pid == 0 else 0)), ('127.0.0.1', 9))
if pid:
    os.waitpid(pid, 0)
"""
    p = subprocess.Popen([cclib.PY, "-c", code], env=env.env(cap), stdout=subprocess.PIPE, text=True)
    child = int(p.stdout.readline())
    for _ in range(50):         # the child's page is made in the child: on a loaded machine, later
        st = ctl(env, "all", "status").stdout
        if ("%d " % p.pid) in st and ("%d " % child) in st:
            break
        time.sleep(0.1)
    ok(("%d " % p.pid) in st and ("%d " % child) in st, "both processes listed: " + st)
    ctl(env, child, "pause")
    p.wait(timeout=20)
    got = seqs(cap)
    eq(sorted(got), [0, 1, 2, 3], "the paused child's packets are absent, the parent's present")
    # A killed process leaves its page; `ctl all` removes it.
    k = subprocess.Popen([cclib.PY, "-c", SENDER, "500", "0.02"], env=env.env(cap), stdout=subprocess.PIPE,
                         text=True)
    wait_line(k, 2)
    k.kill()
    k.wait()
    st = ctl(env, "all", "status").stdout
    ok(("%d " % k.pid) not in st, st)
    eq(ctl(env, k.pid, "status", check=False).returncode, 1, "stale page not reported")


def test_ctl_spawned_child_starts_as_its_parent(env):
    """A child made by posix_spawn (vfork and exec: no fork handler runs) of a paused process
    starts paused, one of a resumed process captures, and one of a process `ctl reopen` moved
    writes to the new file, as a forked child and an exec'd image do."""
    cap, cap2 = env.path("c.pcapng"), env.path("two.pcapng")
    code = r"""
import os, socket, sys
child = ("import socket, sys\n"
         "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
         "for i in range(3):\n"
         "    s.sendto(b'seq-%06d' % (int(sys.argv[1]) + i), ('127.0.0.1', 9))\n")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b'seq-000000', ('127.0.0.1', 9))
print(os.getpid(), flush=True)
for base in (100, 200, 300):
    sys.stdin.readline()        # the test pauses, resumes, reopens us meanwhile
    pid = os.posix_spawn(sys.executable, [sys.executable, '-c', child, str(base)], os.environ)
    os.waitpid(pid, 0)
    print(base, flush=True)
"""
    p = subprocess.Popen([cclib.PY, "-c", code], env=env.env(cap), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    eq(int(p.stdout.readline()), p.pid, "started")
    for step in (["pause"], ["resume"], ["reopen", cap2]):
        ctl(env, p.pid, *step)
        p.stdin.write("\n")
        p.stdin.flush()
        p.stdout.readline()
    p.stdin.close()
    eq(p.wait(timeout=20), 0, "exit")
    eq(sorted(seqs(cap)), [0, 200, 201, 202], "paused parent's child absent, resumed parent's present")
    eq(sorted(seqs(cap2)), [300, 301, 302], "the reopened parent's child in the new file")
    valid(cap)
    valid(cap2)


# ---------------------------------------------------------------------------------------------
# Live view


def read_blocks(data):
    """pcapng block types in a byte string (a stream prefix), and the rest."""
    types = []
    off = 0
    while off + 12 <= len(data):
        t, ln = struct.unpack_from("<II", data, off)
        if ln < 12 or off + ln > len(data):
            break
        types.append(t)
        off += ln
    return types, off


def test_live_stdout_latency(env):
    """`clearcap -w - -- prog | reader`: one header, and a packet reaches the reader well within
    100 ms while the program still runs."""
    code = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
time.sleep(0.5)
for i in range(3):
    t = time.time()
    s.sendto(b'seq-%06d' % i, ('127.0.0.1', 9))
    print('sent %d %.6f' % (i, t), flush=True)
    time.sleep(0.7)
"""
    p = subprocess.Popen([env.tool, "-w", "-", "--", cclib.PY, "-c", code], env=env.env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    fd = p.stdout.fileno()
    data = b""
    arrivals = []
    deadline = time.time() + 15
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if not r:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
        types, _ = read_blocks(data)
        while types.count(6) > len(arrivals):
            arrivals.append(time.time())
    rc = p.wait(timeout=10)
    err = p.stderr.read().decode()
    eq(rc, 0, "exit: " + err)
    sent = [float(m.group(1)) for m in re.finditer(r"sent \d+ ([0-9.]+)", err)]
    eq(len(sent), 3, "program output on stderr: " + err)
    types, used = read_blocks(data)
    eq(used, len(data), "whole blocks only")
    eq(types.count(0x0A0D0D0A), 1, "one section header")
    eq(types.count(6), 3, "three packets")
    lat = [a - s for a, s in zip(arrivals, sent)]
    print("     latency to the reader: %s ms" % ", ".join("%.1f" % (x * 1000) for x in lat))
    ok(max(lat) < 0.1, "within 100 ms: %r" % lat)


def test_live_tshark_reads_while_running(env):
    """`clearcap -w - -- prog | tshark -i -` shows the packet before the program exits."""
    cclib.need("tshark")
    code = r"""
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
time.sleep(1.0)
s.sendto(b'seq-000007', ('127.0.0.1', 9))
time.sleep(4)
"""
    cap = subprocess.Popen([env.tool, "-w", "-", "-q", "--", cclib.PY, "-c", code], env=env.env(),
                           stdout=subprocess.PIPE)
    t0 = time.time()
    ts = subprocess.Popen(["tshark", "-l", "-n", "-i", "-", "-T", "fields", "-e", "udp.payload"],
                          stdin=cap.stdout, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    cap.stdout.close()
    line = ts.stdout.readline()
    seen = time.time() - t0
    still_running = cap.poll() is None
    cap.wait(timeout=15)
    ts.wait(timeout=15)
    eq(bytes.fromhex(line.strip()), b"seq-000007", "tshark got the datagram")
    ok(still_running, "seen after %.2f s, before the program's exit" % seen)
    print("     tshark -i - printed the packet %.2f s after start (sent at ~1.0 s)" % seen)


def test_fifo_many_processes_one_header(env):
    """`-w FIFO` with four processes writing 1,000 large records each: one header, no record
    interleaved (records beyond PIPE_BUF are written under the lock)."""
    fifo = env.path("f.fifo")
    os.mkfifo(fifo, 0o600)
    out = env.path("read.pcapng")
    reader = subprocess.Popen(["sh", "-c", "cat < '%s' > '%s'" % (fifo, out)])
    code = ("import subprocess, sys\n"
            "ps = [subprocess.Popen([sys.executable, '-c', sys.argv[1], '1000', '6000', 'p%d' % k]) "
            "for k in range(4)]\n"
            "sys.exit(max(p.wait() for p in ps))")
    p = cclib.run([env.tool, "-w", fifo, "--", cclib.PY, "-c", code, FLOOD], env=env.env(), timeout=60)
    reader.wait(timeout=20)
    valid(out)
    data = open(out, "rb").read()
    types, used = read_blocks(data)
    eq(used, len(data), "whole blocks")
    eq(types.count(0x0A0D0D0A), 1, "one section header")
    eq(tshark_count(out, "udp.dstport == 9"), 4000, "every record")
    ok("4000 packets captured" in p.stderr, p.stderr)


def test_fifo_stalled_reader_buffer_grows(env):
    """A FIFO reader that stalls for 6 s while the program sends 15,000 datagrams (about 6 MB of
    records): the writer is blocked on the FIFO, and the capture buffer, which starts at 1 MiB,
    grows to hold them all (CLEARCAP_BUFFER, 8 MiB by default); every datagram reaches the file.
    With the buffer held at 1 MiB the same run drops packets and says so: the test needs the
    growth.  Once the reader has caught up and 3 s pass without load, the buffer shrinks back and
    the program's resident memory falls by what the growth took (sampled by the program itself,
    from /proc/self/status, while it waits)."""
    code = FLOOD + r"""
def rss():
    for l in open('/proc/self/status'):
        if l.startswith('VmRSS:'):
            return int(l.split()[1])
t0, samples = time.time(), []
while time.time() - t0 < float(sys.argv[4]):
    samples.append(rss())
    time.sleep(0.25)
print(' '.join(map(str, samples)))
import os, subprocess
e = dict(os.environ)
del e['LD_PRELOAD']
print(subprocess.run([os.environ['CCTOOL'], 'ctl', str(os.getpid()), 'status'], env=e, capture_output=True,
                     text=True).stdout.strip())
"""
    reader = ("import shutil, sys, time\n"
              "f, o = open(sys.argv[1], 'rb'), open(sys.argv[2], 'wb')\n"
              "o.write(f.read(1))\n"
              "time.sleep(6)\n"
              "shutil.copyfileobj(f, o)\n")
    results = {}
    for buf in ("8M", "1M"):
        fifo, out = env.path("f%s.fifo" % buf), env.path("read%s.pcapng" % buf)
        os.mkfifo(fifo, 0o600)
        r = subprocess.Popen([cclib.PY, "-c", reader, fifo, out])
        # The reader waiting in open() first: a FIFO nobody reads is not captured at all.
        deadline = time.time() + 10
        while time.time() < deadline and open("/proc/%d/wchan" % r.pid).read() != "wait_for_partner":
            time.sleep(0.02)
        wait = "13" if buf == "8M" else "7"
        p = cclib.py(env, code, fifo, extra={"CLEARCAP_BUFFER": buf, "CCTOOL": env.tool},
                     args=["15000", "300", "f", wait], timeout=60)
        r.wait(timeout=30)
        lines = p.stdout.splitlines()
        results[buf] = (tshark_count(out, "udp.dstport == 9"), p.stderr, [int(x) for x in lines[0].split()], lines[1])
    n, err, rss, st = results["8M"]
    eq(n, 15000, "every datagram in the file (stderr: %r)" % err[-500:])
    ok("capture buffer full" not in err, err[-500:])
    # Grown to 8 MiB (about 7 MiB more resident than at 1 MiB), then given back; `ctl status` says both.
    ok(max(rss) - rss[-1] >= 5 * 1024, "RSS KiB every 0.25 s after the flood: %r" % rss)
    ok(st.endswith(", buffer 1 of 8 MiB (grew to 8 under load)"), st)
    n, err, rss, st = results["1M"]
    ok(st.endswith(", buffer 1 of 1 MiB"), st)
    ok(n < 15000 and "capture buffer full (1 MiB, CLEARCAP_BUFFER)" in err,
       "held at 1 MiB: %d datagrams, %r" % (n, err[-500:]))


def test_fifo_without_reader_does_not_block(env):
    """CLEARCAP_FILE=FIFO with nobody reading: one warning, the program runs uncaptured."""
    fifo = env.path("f.fifo")
    os.mkfifo(fifo, 0o600)
    t = time.time()
    p = cclib.py(env, SENDER, fifo, args=["5", "0.01"], timeout=20, check=False)
    eq(p.returncode, 0, "exit")
    eq(p.stdout.split(), [str(i) for i in range(5)], "output unchanged")
    warns = [l for l in p.stderr.splitlines() if "nobody reads" in l]
    eq(len(warns), 1, "one warning: " + p.stderr)
    ok(time.time() - t < 10, "did not wait for a reader")


def test_reader_goes_away_stdout(env):
    """Issue 7: `clearcap -w - -- prog | head -c 1000`: the program's exit status and output are
    unchanged, no SIGPIPE reaches it, one warning."""
    code = SENDER + "\nimport sys\nprint('done', flush=True)\nsys.exit(3)\n"
    sh = "'%s' -w - -- '%s' -c \"$CODE\" 3000 0 | head -c 1000 > /dev/null; echo \"rc=${PIPESTATUS[0]}\" >&2" % (
        env.tool, cclib.PY)
    e = env.env()
    e["CODE"] = code
    p = subprocess.run(["bash", "-c", sh], env=e, capture_output=True, text=True, timeout=60)
    ok("rc=3" in p.stderr, "the program's status: " + p.stderr[-500:])
    lines = p.stderr.splitlines()
    # The program's lines and the shim's warning share stderr; a line the program wrote in two
    # pieces could hold the warning in between, so the warning is cut out before counting.
    nums = [l.split("clearcap:")[0] for l in lines]
    eq([l for l in nums if l.isdigit()], [str(i) for i in range(3000)],
       "the program's output (on stderr); other lines: %r" % [l for l in lines if not l.isdigit()][:6])
    ok("done" in lines, "ran to the end")
    warns = [l for l in lines if "capture stopped" in l]
    eq(len(warns), 1, "one warning: %r" % warns)


def test_reader_goes_away_fifo(env):
    """Issue 7, without the wrapper: CLEARCAP_FILE=FIFO read by `head -c 1000`; the program's
    stdout is its own and unchanged, its status 3, not killed by SIGPIPE."""
    fifo = env.path("f.fifo")
    os.mkfifo(fifo, 0o600)
    reader = subprocess.Popen(["sh", "-c", "head -c 1000 < '%s' > /dev/null" % fifo])
    time.sleep(0.2)
    code = SENDER + "\nimport sys\nprint('done', flush=True)\nsys.exit(3)\n"
    p = cclib.py(env, code, fifo, args=["3000", "0"], timeout=60, check=False)
    reader.wait(timeout=10)
    eq(p.returncode, 3, "exit status (not -SIGPIPE): " + p.stderr[-300:])
    eq(p.stdout.split(), [str(i) for i in range(3000)] + ["done"], "stdout unchanged")
    eq(len([l for l in p.stderr.splitlines() if "capture stopped" in l]), 1, "one warning: " + p.stderr)


# ---------------------------------------------------------------------------------------------
# Rotation


def test_rotation_size_ring(env):
    """-C 1 -W 3: files FILE0, FILE1, FILE2 reused as a ring, each a valid pcapng of about
    1,000,000 bytes (a file is checked after each batch of at most 64 records)."""
    base = env.path("r.pcapng")
    p = cclib.run([env.tool, "-C", "1", "-W", "3", "-w", base, "--", cclib.PY, "-c", FLOOD, "4000", "1000"],
                  env=env.env(), timeout=60)
    names = sorted(os.listdir(env.tmp))
    eq(names, ["r.pcapng0", "r.pcapng1", "r.pcapng2"], "tcpdump's ring names")
    total = 0
    sizes = {}
    for n in names:
        f = env.path(n)
        valid(f)
        sizes[n] = os.path.getsize(f)
        ok(sizes[n] < 1000000 + 64 * 1200, "%s: %d bytes" % (n, sizes[n]))
        total += tshark_count(f)
    # 4000 records of ~1.1 kB = 4 files and a bit: the ring holds the last three.
    full = [n for n in names if sizes[n] >= 1000000]
    ok(len(full) >= 2, "full files: %r" % sizes)
    ok(1500 < total < 4000, "the ring keeps the newest records only: %d" % total)
    ok("4000 packets captured" in p.stderr, p.stderr)
    # The summary names the ring's files, not FILE (which it never wrote).
    ok("files %s0 and on (rotated by -C)" % base in p.stderr, p.stderr)
    print("     sizes: %s" % sizes)


def test_rotation_size_numbered(env):
    """-C 1 without -W: FILE, FILE1, FILE2, ...; every record in exactly one file."""
    base = env.path("r.pcapng")
    cclib.run([env.tool, "-C", "1", "-w", base, "--", cclib.PY, "-c", FLOOD, "3000", "1000"], env=env.env(),
              timeout=60)
    names = sorted(os.listdir(env.tmp))
    ok(names[0] == "r.pcapng" and names[1:] == ["r.pcapng%d" % i for i in range(1, len(names))],
       "names: %r" % names)
    ok(len(names) >= 3, "rotated: %r" % names)
    total = 0
    for n in names:
        valid(env.path(n))
        total += tshark_count(env.path(n))
    eq(total, 3000, "every record once")


def test_rotation_append_after_its_state_is_gone(env):
    """-a -C 1 where the rotation's state is gone (its directory is emptied at reboot): the run
    goes on after the files the earlier one left, and no packet of theirs is lost (the second file
    was replaced at the first rotation); and -C -W never touches a file named FILE itself, which
    its ring (FILE0...) never writes."""
    base = env.path("r.pcapng")
    runs = [env.path("run1"), env.path("run2")]
    for d in runs:
        os.mkdir(d, 0o700)
    cclib.run([env.tool, "-C", "1", "-w", base, "--", cclib.PY, "-c", FLOOD, "2500", "1000", "a"],
              env=dict(env.env(), XDG_RUNTIME_DIR=runs[0]), timeout=60)
    before = {n: tshark_count(env.path(n)) for n in os.listdir(env.tmp) if n.startswith("r.pcapng")}
    ok(len(before) >= 3, "rotated: %r" % before)
    cclib.run([env.tool, "-a", "-C", "1", "-w", base, "--", cclib.PY, "-c", FLOOD, "1500", "1000", "b"],
              env=dict(env.env(), XDG_RUNTIME_DIR=runs[1]), timeout=60)
    total = 0
    for n in sorted(os.listdir(env.tmp)):
        if n.startswith("r.pcapng"):
            valid(env.path(n))
            got = tshark_count(env.path(n))
            ok(got >= before.get(n, 0), "%s kept its %d packets: %d" % (n, before.get(n, 0), got))
            total += got
    eq(total, 4000, "every record of both runs once")
    precious = env.path("w.pcapng")
    with open(precious, "w") as f:
        f.write("precious\n")
    cclib.run([env.tool, "-C", "1", "-W", "3", "-w", precious, "--", cclib.PY, "-c", FLOOD, "10", "100"],
              env=env.env(), timeout=60)
    eq(open(precious).read(), "precious\n", "FILE itself left alone by a ring of FILE0, FILE1, FILE2")
    ok(os.path.exists(precious + "0"), "the ring's first file")


def test_rotation_time_new_process_new_file(env):
    """-G 1: a process that starts after the current file's second is up starts a new file, not
    writes into the old one (two datagrams 1.5 s apart, from two processes, in two files)."""
    base = env.path("g-%H%M%S.pcapng")
    script = "%s -c \"$1\" 1 0; sleep 1.6; %s -c \"$1\" 1 0" % (cclib.PY, cclib.PY)
    cclib.run([env.tool, "-G", "1", "-w", base, "--", "sh", "-c", script, "sh", SENDER], env=env.env(), timeout=60)
    counts = {n: tshark_count(env.path(n)) for n in sorted(os.listdir(env.tmp)) if n.startswith("g-")}
    eq(sorted(counts.values()), [1, 1], "one datagram in each of two files, and no other file: %r" % counts)


def test_rotation_time_idle_starts_no_file(env):
    """-G 1, as tcpdump -G: a file is started when a packet comes after the current one's second
    is up, so a program idle for seconds leaves no empty files (nor spends -W's); and the summary
    names the first file there is, started at the first packet, not the run's start (it named a
    file that did not exist)."""
    base = env.path("i-%H%M%S.pcapng")
    code = ("import socket, time\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ntime.sleep(1.5)\n"
            "for i in range(3):\n    s.sendto(b'seq-%06d' % i, ('127.0.0.1', 9)); time.sleep(2.2)\n")
    p = cclib.run([env.tool, "-G", "1", "-W", "3", "-w", base, "--", cclib.PY, "-c", code], env=env.env(),
                  timeout=60)
    names = sorted(n for n in os.listdir(env.tmp) if n.startswith("i-"))
    eq([seqs(env.path(n)) for n in names], [[0], [1], [2]], "one datagram in each file, no empty one: %r" % names)
    ok("capture stopped" not in p.stderr, "three files of -W 3 for three seconds with packets: %r" % p.stderr)
    ok(", files %s and on (rotated by -G)" % env.path(names[0]) in p.stderr, "the first file named: %r" % p.stderr)


def test_rotation_time_strftime_directory(env):
    """-G with strftime in the directory part too, as tcpdump takes it ('%Y%m%d/cap-%H%M%S'): the
    file lands in the day's directory (which the user made); a day whose directory is missing is
    refused in one line before the program runs."""
    import time as _time
    day = _time.strftime("%Y%m%d")
    os.mkdir(env.path(day))
    p = cclib.run([env.tool, "-G", "60", "-w", env.path("%Y%m%d/cap-%H%M%S.pcapng"), "--", cclib.PY, "-c", SENDER,
                   "3", "0"], env=env.env(), timeout=60)
    names = os.listdir(env.path(day))
    eq(len(names), 1, "one file in the day's directory: %r" % names)
    eq(tshark_count(os.path.join(env.path(day), names[0])), 3, "its datagrams")
    p = cclib.run([env.tool, "-G", "60", "-w", env.path("none-%Y/cap.pcapng"), "--", "true"], env=env.env(),
                  check=False)
    eq(p.returncode, 2, "a missing directory refused")
    eq(len(p.stderr.strip().splitlines()), 1, "in one line: %r" % p.stderr)


def test_rotation_processes_agree(env):
    """Three unrelated processes rotating one capture (CLEARCAP_ROTATE_*): one sequence of files,
    every record in exactly one, each file valid."""
    base = env.path("m.pcapng")
    extra = {"CLEARCAP_ROTATE_SIZE": "500000", "CLEARCAP_ROTATE_FILES": "100"}
    procs = [subprocess.Popen([cclib.PY, "-c", FLOOD, "1500", "800", "p%d" % k], env=env.env(base, extra))
             for k in range(3)]
    for p in procs:
        eq(p.wait(timeout=60), 0, "exit")
    names = sorted(n for n in os.listdir(env.tmp) if n.startswith("m.pcapng"))
    ok(len(names) >= 5, "files: %r" % names)
    eq(names, ["m.pcapng%02d" % i for i in range(len(names))], "one sequence (two digits for -W 100)")
    total = 0
    for n in names:
        valid(env.path(n))
        total += tshark_count(env.path(n))
        ok(os.path.getsize(env.path(n)) < 500000 + 3 * 64 * 900 + 4096, "%s size" % n)
    eq(total, 4500, "every record once")


def test_rotation_time(env):
    """-G 1: a new strftime-named file every second, each valid; -W 2 with -G stops after two."""
    base = env.path("t-%Y%m%d-%H%M%S.pcapng")
    p = cclib.run([env.tool, "-G", "1", "-W", "2", "-w", base, "--", cclib.PY, "-c", SENDER, "40", "0.1"],
                  env=env.env(), timeout=60)
    names = sorted(os.listdir(env.tmp))
    eq(len(names), 2, "two files: %r" % names)
    for n in names:
        ok(re.match(r"t-\d{8}-\d{6}\.pcapng$", n), n)
        valid(env.path(n))
    ok("capture stopped" in p.stderr, p.stderr)
    # Stopped, not broken: what the program sends after the last file is neither queued nor
    # counted as lost (a hot lane that missed the stop queued it: "N dropped, N write errors").
    ok(re.search(r"captured, 0 dropped", p.stderr) and "write error" not in p.stderr, p.stderr)


def test_rotation_reopen_named_in_summary(env):
    """`ctl reopen` during a -C rotation: the capture goes on rotating under the new name, and
    the summary names both rotations (it named only the first: "r.pcapng and on")."""
    base, new = env.path("r.pcapng"), env.path("new.pcapng")
    code = SENDER.replace("import socket, sys, time", "import os, socket, sys, time\nprint(os.getpid(), flush=True)")
    code += "sys.stdin.readline()\ns.sendto(b'seq-999999', ('127.0.0.1', 9))\n"
    p = subprocess.Popen([env.tool, "-C", "1", "-w", base, "--", cclib.PY, "-c", code, "5", "0"],
                         env=env.env(preload=False), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    pid = int(p.stdout.readline())
    wait_line(p, 4)
    ctl(env, pid, "reopen", new)
    out, err = p.communicate("\n", timeout=30)
    eq(p.returncode, 0, err)
    ok("and on (rotated by -C)" in err and ", %s" % new in err and "and on" in err.split(new, 1)[1][:10],
       "both rotations named: %r" % err)
    got = []
    for n in os.listdir(env.tmp):
        if n.startswith(("r.pcapng", "new.pcapng")):
            got += seqs(env.path(n))
    eq(sorted(got), [0, 1, 2, 3, 4, 999999], "every datagram in one of the files")


def test_rotation_done_said_once_per_run(env):
    """-G 1 -W 2 under the wrapper, with one process of the capture still running after the two
    files and five more starting then (a shell loop): each finds the rotation done and captures
    nothing, and the run says so once, not once per process."""
    base = env.path("o-%H%M%S.pcapng")
    open(env.path("first.py"), "w").write(SENDER + "time.sleep(3)\n")
    open(env.path("one.py"), "w").write(SENDER)
    script = ("%s %s 30 0.1 > /dev/null & sleep 3.5; for i in 1 2 3 4 5; do %s %s 1 0 > /dev/null; done; wait"
              % (cclib.PY, env.path("first.py"), cclib.PY, env.path("one.py")))
    p = cclib.run([env.tool, "-G", "1", "-W", "2", "-w", base, "--", "/bin/sh", "-c", script],
                  env=env.env(preload=False), timeout=60)
    eq(len([n for n in os.listdir(env.tmp) if n.startswith("o-")]), 2, "two files: %r" % os.listdir(env.tmp))
    eq(p.stderr.count("are written and process"), 1, "said once: %r" % p.stderr)


def test_rotation_time_done_then_new_run(env):
    """-G 1 -W 2 by the shim alone (CLEARCAP_ROTATE_*): once the two files are written the capture
    has ended, and a process started while one of its processes still runs captures nothing and
    says what to do; once none runs (ended, waited for or not), a new run starts a new rotation,
    as a new tcpdump -G -W does (it used to capture nothing until the state file was removed by
    hand)."""
    base = env.path("d-%H%M%S.pcapng")
    extra = {"CLEARCAP_ROTATE_SECONDS": "1", "CLEARCAP_ROTATE_FILES": "2"}
    # Sends 30 datagrams 0.1 s apart (the rotation ends after about 2 s), then waits for a line.
    first = SENDER + "print('waiting', flush=True)\nsys.stdin.readline()\n"
    a = subprocess.Popen([cclib.PY, "-c", first, "30", "0.1"], env=env.env(base, extra), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_line(a, 29)
        eq(a.stdout.readline().strip(), "waiting", "the first run sent everything")
        old = sorted(n for n in os.listdir(env.tmp) if n.startswith("d-"))
        eq(len(old), 2, "the first run's two files: %r" % old)
        # Its process still runs: the capture has ended, and a second process joins it.
        p = cclib.py(env, SENDER, base, extra, args=["3", "0"])
        ok("are written and process %d of that capture still runs; not capturing" % a.pid in p.stderr, p.stderr)
        ok(re.search(r"remove \S+/clearcap/rotate-[0-9a-f]{16}\)", p.stderr), "names the state file: " + p.stderr)
        eq(sorted(n for n in os.listdir(env.tmp) if n.startswith("d-")), old, "no new file while it runs")
        # It ends, and is not waited for yet (a zombie, as under a parent that reaps late): that
        # run is over, and a new one starts a rotation of its own.
        a.stdin.write("\n")
        a.stdin.flush()
        for _ in range(200):
            if open("/proc/%d/stat" % a.pid).read().rsplit(")", 1)[1].split()[0] == "Z":
                break
            time.sleep(0.05)
        p = cclib.py(env, SENDER, base, extra, args=["5", "0"])
    finally:
        _, err = a.communicate(timeout=20)
    eq(a.returncode, 0, err)
    ok("capture stopped" in err, err)
    ok("not capturing" not in p.stderr, p.stderr)
    new = sorted(n for n in os.listdir(env.tmp) if n.startswith("d-") and n not in old)
    ok(new, "a new file: %r" % os.listdir(env.tmp))
    got = []
    for n in new:
        valid(env.path(n))
        got += seqs(env.path(n))
    eq(sorted(got), list(range(5)), "the new run's datagrams in the new rotation")


# ---------------------------------------------------------------------------------------------
# Progress line


def _on_pty(args, environ, setup=None):
    """Runs args on a new pseudo-terminal (setup() first, in the child) to its end; all it wrote."""
    pid, master = pty.fork()
    if pid == 0:
        if setup:
            setup()
        os.execve(args[0], args, environ)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    os.close(master)
    return out.decode(errors="replace")


def test_progress_line_on_tty_only(env):
    """On a terminal the wrapper rewrites one line with \\r; into a pipe it prints no such line."""
    args = [env.tool, "-w", env.path("p.pcapng"), "--", cclib.PY, "-c", SENDER, "30", "0.05"]
    text = _on_pty(args, env.env())
    ticks = re.findall(r"\rclearcap: (\d+) packets, [^,]+, file [^,]+, (\d+) dropped", text)
    ok(len(ticks) >= 3, "several updates: %r" % text[-400:])
    counts = [int(t[0]) for t in ticks]
    eq(counts, sorted(counts), "counts only grow")
    ok(counts[-1] > 0, "counts packets")
    ok("30 packets captured" in text, "summary")
    p = cclib.run(args, env=env.env())
    ok("\r" not in p.stderr and "packets, " not in p.stderr.split("captured")[0], "no live line: %r" % p.stderr)


def test_progress_line_apart_from_program_output(env):
    """On a terminal the live line never has the program's output glued onto it, nor overwrites
    a line the program began: the program's lines, interleaved with the redraws, each stand on
    a line of their own, whole, with the line shown meanwhile and gone at the end."""
    import fcntl
    import termios
    rows, cols = 12, 100
    # 30 lines (more than the screen holds: they scroll under the line), a datagram with each.
    code = ("import socket, time\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "for i in range(30):\n"
            "    s.sendto(b'x', ('127.0.0.1', 9))\n"
            "    print('hello from the program, line %d' % i, flush=True)\n"
            "    time.sleep(0.05)\n")
    args = [env.tool, "-w", env.path("p.pcapng"), "--", cclib.PY, "-c", code]
    text = _on_pty(args, dict(env.env(), TERM="xterm"),
                   lambda: fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0)))
    ok(len(re.findall(r"clearcap: \d+ packets, ", text)) >= 3, "the line was shown: %r" % text[-400:])
    scr = cclib.Screen(rows, cols)
    scr.feed(text)
    lines = scr.lines()
    mine = [l for l in lines if "hello from the program" in l]
    eq(mine, ["hello from the program, line %d" % i for i in range(30)],
       "each program line whole, on its own line (screen: %r)" % lines)
    ok(any(l.startswith("clearcap: 30 packets captured") for l in lines), "the summary: %r" % lines)
    ok(not any(re.match(r"clearcap: \d+ packets, ", l) for l in lines), "the live line is gone: %r" % lines)


def test_progress_line_under_job_control(env):
    """Run from an interactive shell on a terminal: ^Z gives the screen back before the shell's
    prompt (no region left, no count on the bottom row while stopped), `fg` brings the line
    back, a run started with & never draws on the terminal the shell has, and a run that
    inherits SIGTSTP ignored is not stopped by ^Z (it would hang the shell)."""
    import fcntl
    import termios
    rows, cols = 12, 100
    code = ("import socket, sys, time\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "for i in range(int(sys.argv[1])):\n"
            "    s.sendto(b'x', ('127.0.0.1', 9))\n"
            "    print('hello from the program, line %d' % i, flush=True)\n"
            "    time.sleep(0.1)\n")
    open(env.path("prog.py"), "w").write(code)
    pid, master = pty.fork()
    if pid == 0:
        fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.execve("/bin/dash", ["dash", "-i"], dict(env.env(preload=False), TERM="xterm", PS1="$ "))
    out, last = [b""], [0]

    def until(pattern, timeout=30):
        """Reads until pattern shows after the last match; returns where this match ends."""
        deadline, start = time.time() + timeout, last[0]
        while True:
            m = re.search(pattern, out[0][start:])
            if m:
                last[0] = start + m.end()
                return last[0]
            left = deadline - time.time()
            ok(left > 0, "waited for %r: %r" % (pattern, out[0][-600:]))
            if select.select([master], [], [], left)[0]:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    chunk = b""
                ok(chunk, "the shell is gone: %r" % out[0][-600:])
                out[0] += chunk

    try:
        until(rb"\$ $")
        run = "%s -w %s -- %s %s" % (env.tool, env.path("j.pcapng"), cclib.PY, env.path("prog.py"))
        os.write(master, (run + " 40\n").encode())
        until(rb"line 5\r\n")
        until(rb"clearcap: \d+ packets, [^\r]*\x1b8")                # the line, drawn after it
        os.write(master, b"\x1a")                                 # ^Z
        stopped = until(rb"Stopped[^\n]*\n(\r?\n)*\$ $")
        time.sleep(1)                                             # 4 ticks, had it not stopped
        os.write(master, b"fg\n")
        resumed = until(rb"fg\r\n")
        until(rb"packets captured[^\n]*\n(?:[^\n]*\n)*\$ $")
        os.write(master, (run + " 10 &\n").encode())
        bg = until(rb"&\r\n")
        until(rb"line 9\r\n")
        bg_end = until(rb"packets captured[^\n]*\n")
        time.sleep(0.3)
        # SIGTSTP ignored by the shell, so by the run: ^Z stops neither the program nor us.
        os.write(master, ("trap '' TSTP; " + run + " 20; echo ign-$?-done\n").encode())
        until(rb"line 3\r\n")
        os.write(master, b"\x1a")
        until(rb"ign-0-done")
        os.write(master, b"exit\n")
        os.waitpid(pid, 0)
    finally:
        os.close(master)
    text = out[0].decode(errors="replace")
    at_stop, while_stopped, after_fg, in_bg = (text[:stopped], text[stopped:resumed], text[resumed:bg],
                                               text[bg:bg_end])
    scr = cclib.Screen(rows, cols)
    scr.feed(at_stop)
    eq((scr.top, scr.bottom), (0, rows - 1), "the region given back at ^Z")
    ok(not any(re.match(r"clearcap: \d+ packets, ", l) for l in scr.lines()),
       "no count left on the screen at ^Z: %r" % scr.lines())
    ok("packets, " not in while_stopped and "\x1b[1;" not in while_stopped,
       "nothing drawn while stopped: %r" % while_stopped)
    ok(re.search(r"\x1b\[1;%dr" % (rows - 1), after_fg) and re.search(r"clearcap: \d+ packets, ", after_fg),
       "the line back after fg: %r" % after_fg[:400])
    scr.feed(text[stopped:bg])
    mine = [l for l in scr.lines() if "hello from the program" in l]
    eq(mine, ["hello from the program, line %d" % i for i in range(40)], "the program's lines whole: %r" % scr.lines())
    ok("hello from the program, line 9" in in_bg and "packets captured" in in_bg, in_bg)
    ok(not re.search(r"clearcap: \d+ packets, ", in_bg) and "\x1b[1;" not in in_bg,
       "nothing drawn from the background: %r" % in_bg)


# ---------------------------------------------------------------------------------------------
# Kills at random moments (issue 7)


def test_kill_at_random_moments(env):
    """A sender under load is SIGKILLed or SIGTERMed at random times (seeded); every file reads
    as a valid pcapng, and a second process appending afterwards leaves it readable."""
    seed = int(os.environ.get("CC_SEED", "0")) or random.randrange(1, 1 << 30)
    rng = random.Random(seed)
    print("     seed %d (CC_SEED=%d to repeat)" % (seed, seed))
    code = FLOOD.replace("if i % 100 == 0:\n        time.sleep(0.001)", "pass")
    for it in range(6):
        cap = env.path("k%d.pcapng" % it)
        sig = rng.choice([signal.SIGKILL, signal.SIGTERM])
        delay = rng.uniform(0.1, 0.5)
        p = subprocess.Popen([cclib.PY, "-c", code, "1000000", str(rng.choice([100, 1400, 5000]))],
                             env=env.env(cap), stderr=subprocess.DEVNULL)
        # The random moment counts from the first record: on a loaded machine the interpreter
        # alone can take longer than the shortest delay to start.
        deadline = time.time() + 20
        while time.time() < deadline and not os.path.exists(cap):
            time.sleep(0.01)
        time.sleep(delay)
        p.send_signal(sig)
        p.wait(timeout=10)
        # Right after the kill the file is a valid prefix; its last record may be cut short (a
        # writev torn between two pages); the next process to open it cuts that record off.
        good, n, err = capinfos_count(cap)
        torn = not good
        ok(good or "cut short in the middle of a packet" in err, err[-300:])
        ok(n > 0, "something was captured")
        ap = cclib.py(env, "import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                      "[s.sendto(b'after-%d' % i, ('127.0.0.1', 9)) for i in range(10)]", cap)
        good, total, err = capinfos_count(cap)
        ok(good, "after the append: " + err[-300:])
        eq(total, n + 10, "records before the append kept, 10 added (%s)" % ap.stderr.strip())
        after = [bytes.fromhex(r[0])[:12] for r in tshark(cap, ["udp.payload"], "frame.number > %d" % (total - 10))]
        eq(after, [b"after-%d" % i for i in range(10)], "appended records readable, at the end")
        print("     #%d %s after %.3f s: %d records%s, then 10 appended" % (it, sig.name, delay, n,
              " (last one cut short, repaired)" if torn else ""))
    # The killed processes left their control pages; `ctl all` sweeps them.
    ctl(env, "all", "status")


def test_rotation_reemits_secrets(env):
    """A TLS 1.3 connection spanning rotations: each new file starts, after its header, with a
    Decryption Secrets Block holding the secrets logged so far (tshark reads every file)."""
    cert, key = env.path("cert.pem"), env.path("key.pem")
    cclib.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
               "-days", "1", "-keyout", key, "-out", cert])
    code = r"""
import socket, ssl, sys, threading, time
cert, key = sys.argv[1], sys.argv[2]
ls = socket.socket(); ls.bind(('127.0.0.1', 0)); ls.listen(1); port = ls.getsockname()[1]
sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); sctx.load_cert_chain(cert, key)
def serve():
    c, _ = ls.accept()
    s = sctx.wrap_socket(c, server_side=True)
    n = 0
    while n < 300 * 1000:
        d = s.recv(65536)
        if not d:
            break
        n += len(d)
    s.sendall(b'bye')
    s.close()
t = threading.Thread(target=serve); t.start()
cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); cctx.check_hostname = False; cctx.verify_mode = ssl.CERT_NONE
c = cctx.wrap_socket(socket.create_connection(('127.0.0.1', port)))
for i in range(300):
    c.sendall(b'%06d' % i + b'm' * 994)
    time.sleep(0.002)
assert c.recv(3) == b'bye'
t.join()
"""
    base = env.path("tls.pcapng")
    # The variable takes bytes (-C takes millions): 200 kB files.
    cclib.py(env, code, base, extra={"CLEARCAP_ROTATE_SIZE": "200000", "CLEARCAP_ROTATE_FILES": "20"},
             args=[cert, key], timeout=60)
    names = sorted(n for n in os.listdir(env.tmp) if n.startswith("tls.pcapng"))
    ok(len(names) >= 3, "rotated: %r" % names)
    for i, n in enumerate(names):
        valid(env.path(n))
        data = open(env.path(n), "rb").read()
        types, _ = read_blocks(data)
        first = [t for t in types if t not in (0x0A0D0D0A, 1)]
        if i == 0:
            continue
        eq(first[0], 0x0A, "%s: a DSB right after the header (blocks %r)" % (n, first[:3]))
        ok(b"CLIENT_TRAFFIC_SECRET_0" in data and b"SERVER_HANDSHAKE_TRAFFIC_SECRET" in data,
           "%s: the connection's secrets" % n)


def test_ctl_survives_exec(env):
    """A pause carries over exec (the new image takes the same page), and so does resume."""
    cap = env.path("c.pcapng")
    second = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(100, 105):
    s.sendto(b'seq-%06d' % i, ('127.0.0.1', 9))
print('ready2', flush=True)
sys.stdin.readline()
for i in range(200, 205):
    s.sendto(b'seq-%06d' % i, ('127.0.0.1', 9))
"""
    first = r"""
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(5):
    s.sendto(b'seq-%06d' % i, ('127.0.0.1', 9))
print('ready1', flush=True)
sys.stdin.readline()
os.execv(sys.executable, [sys.executable, '-c', sys.argv[1]])
"""
    p = subprocess.Popen([cclib.PY, "-c", first, second], env=env.env(cap), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    eq(p.stdout.readline().strip(), "ready1", "first image")
    ctl(env, p.pid, "pause")
    p.stdin.write("go\n")
    p.stdin.flush()
    eq(p.stdout.readline().strip(), "ready2", "second image")
    st = ctl(env, p.pid, "status").stdout
    ok("paused" in st, "still paused after exec: " + st)
    ctl(env, p.pid, "resume")
    p.stdin.write("go\n")
    p.stdin.close()
    eq(p.wait(timeout=20), 0, "exit")
    eq(sorted(seqs(cap)), list(range(5)) + list(range(200, 205)), "paused across exec, resumed after")


def test_stranger_lock_mid_run(env):
    """A stranger takes the file's flock for good while the program writes: the writer waits for
    it once (2 s), then writes without it; nothing is lost."""
    import fcntl
    cap = env.path("c.pcapng")
    p = subprocess.Popen([cclib.PY, "-c", SENDER, "150", "0.02"], env=env.env(cap), stdout=subprocess.PIPE,
                         text=True)
    wait_line(p, 10)
    time.sleep(0.1)
    f = open(cap, "rb")
    fcntl.flock(f, fcntl.LOCK_EX)
    try:
        p.stdout.read()
        eq(p.wait(timeout=30), 0, "exit")
    finally:
        f.close()
    eq(sorted(seqs(cap)), list(range(150)), "every datagram")
    valid(cap)


def test_fifo_without_wrapper_sections(env):
    """CLEARCAP_FILE=FIFO for two unrelated programs, no wrapper: each writes its own header (a
    new pcapng section with the same interfaces) and tshark reads every record of both."""
    fifo = env.path("f.fifo")
    os.mkfifo(fifo, 0o600)
    out = env.path("read.pcapng")
    # The reader keeps a writer end open itself, so that it sees no end-of-file between programs.
    reader = subprocess.Popen(["sh", "-c", "exec 3<>'%s'; exec cat <&3 > '%s'" % (fifo, out)],
                              stderr=subprocess.DEVNULL)
    time.sleep(0.2)
    procs = [subprocess.Popen([cclib.PY, "-c", SENDER, "50", "0.01"], env=env.env(fifo),
                              stdout=subprocess.DEVNULL) for _ in range(2)]
    for p in procs:
        eq(p.wait(timeout=30), 0, "exit")
    time.sleep(0.3)
    reader.kill()
    reader.wait()
    data = open(out, "rb").read()
    types, used = read_blocks(data)
    eq(used, len(data), "whole blocks")
    eq(types.count(0x0A0D0D0A), 2, "one section per program")
    eq(tshark_count(out, "udp.dstport == 9"), 100, "tshark reads both sections")


def test_exec_with_new_file_wins(env):
    """A program that execs a new image with another CLEARCAP_FILE gets that file (its choice
    wins over the control page it inherits); a file set by `ctl reopen` carries over only when
    CLEARCAP_FILE is unchanged."""
    a, b, c = env.path("a.pcapng"), env.path("b.pcapng"), env.path("c.pcapng")
    code = r"""
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
n = int(sys.argv[1])
s.sendto(b'seq-%06d' % n, ('127.0.0.1', 9))
print('sent', flush=True)
sys.stdin.readline()
if n == 0:
    env = dict(os.environ, CLEARCAP_FILE=sys.argv[2])
    os.execve(sys.executable, [sys.executable, '-c', sys.argv[3], '1', sys.argv[2], sys.argv[3]], env)
if n == 1:
    os.execv(sys.executable, [sys.executable, '-c', sys.argv[3], '2', sys.argv[2], sys.argv[3]])
"""
    p = subprocess.Popen([cclib.PY, "-c", code, "0", b, code], env=env.env(a), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    eq(p.stdout.readline().strip(), "sent", "image 0")
    p.stdin.write("\n")
    p.stdin.flush()
    eq(p.stdout.readline().strip(), "sent", "image 1 (CLEARCAP_FILE=b)")
    ctl(env, p.pid, "reopen", c)
    p.stdin.write("\n")
    p.stdin.flush()
    eq(p.stdout.readline().strip(), "sent", "image 2 (same CLEARCAP_FILE, after a reopen)")
    p.stdin.write("\n")
    p.stdin.close()
    eq(p.wait(timeout=20), 0, "exit")
    eq((seqs(a), seqs(b), seqs(c)), ([0], [1], [2]), "each image's packet in its file")


def test_torn_record_cut_off(env):
    """A capture whose last record was cut short (as a writer killed mid-writev leaves it): the
    next process cuts the partial record off, says so once, and appends readable records."""
    cap = env.path("c.pcapng")
    cclib.py(env, SENDER, cap, args=["20", "0"])
    whole = open(cap, "rb").read()
    types, used = read_blocks(whole)
    eq(used, len(whole), "a whole capture to start with")
    last = struct.unpack("<I", whole[-4:])[0]     # the last block's length (its comment names the pid)
    with open(cap, "ab") as f:
        f.write(whole[-last:-last + 74])      # the first 74 bytes of a record
    good, n, err = capinfos_count(cap)
    ok(not good and "cut short" in err and n == 20, "torn at the end: %s" % err)
    p = cclib.py(env, SENDER, cap, args=["5", "0"])
    ok("removed 74 bytes of a record cut short" in p.stderr, p.stderr)
    good, n, err = capinfos_count(cap)
    ok(good, err)
    eq(n, 25, "20 + 5 records")
    eq(seqs(cap), list(range(20)) + list(range(5)), "old records, then the new ones")


def test_live_stdout_to_file_and_reopen_to_fifo(env):
    """`clearcap -w - -- prog > file` writes a plain capture (appended to with >>); `ctl reopen`
    can switch a running capture to a FIFO that a reader drains."""
    out = env.path("so.pcapng")
    for _ in range(2):
        with open(out, "ab") as f:
            eq(subprocess.run([env.tool, "-w", "-", "--", cclib.PY, "-c", SENDER, "5", "0"], env=env.env(),
                              stdout=f, stderr=subprocess.DEVNULL, timeout=30).returncode, 0, "exit")
    valid(out)
    eq(seqs(out), list(range(5)) * 2, "both runs in the file")
    fifo, got = env.path("f.fifo"), env.path("got.pcapng")
    os.mkfifo(fifo, 0o600)
    reader = subprocess.Popen(["sh", "-c", "exec cat < '%s' > '%s'" % (fifo, got)])
    cap = env.path("c.pcapng")
    p = subprocess.Popen([cclib.PY, "-c", SENDER, "40", "0.02"], env=env.env(cap), stdout=subprocess.PIPE,
                         text=True)
    wait_line(p, 10)
    ctl(env, p.pid, "reopen", fifo)
    p.stdout.read()
    eq(p.wait(timeout=20), 0, "exit")
    reader.wait(timeout=10)
    a, b = seqs(cap), seqs(got)
    valid(got)
    eq(sorted(a + b), list(range(40)), "every datagram in the file or the FIFO")
    ok(len(b) >= 20, "the FIFO got the rest: %d" % len(b))
