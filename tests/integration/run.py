"""Runs clearcap's integration tests: every test_* function of every tests/integration/test_*.py.

usage: run.py BUILD_DIR [--quick] [--sanitize] [-j N] [-k SUBSTRING]

--sanitize runs the programs with the ASan/UBSan runtime preloaded ahead of an instrumented shim;
--quick runs only tests marked QUICK = True at module level or listed in a module's QUICK list.
-j N (or CC_JOBS=N) runs N tests at a time, each worker in a network namespace of its own (root
only); tests a module lists in SERIAL (timing-sensitive ones) run afterwards, one at a time, and
those it lists in SLOW first.
Prints one line per test and closes with "N passed, N failed, N skipped".
"""
import ctypes
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cclib  # noqa: E402


def main():
    # Programs the tests start see SIGINT and SIGTERM at their defaults, as from a terminal: a run
    # started in the background by a shell without job control inherits SIGINT ignored, and
    # ignored dispositions survive exec.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    args = sys.argv[1:]
    build = args[0]
    quick = "--quick" in args
    sanitize = "--sanitize" in args or build.rstrip("/").endswith("-san")
    # --tsan: the ThreadSanitizer pass runs the tests that name themselves in a module's TSAN list.
    tsan = build.rstrip("/").endswith("-tsan")
    pattern = None
    if "-k" in args:
        pattern = args[args.index("-k") + 1]
    tests = []
    for name in sorted(os.listdir(HERE)):
        if not (name.startswith("test_") and name.endswith(".py")):
            continue
        spec = importlib.util.spec_from_file_location(name[:-3], os.path.join(HERE, name))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        quick_list = getattr(mod, "TSAN" if tsan else "QUICK", [])
        for attr in sorted(dir(mod)):
            if attr.startswith("test_") and callable(getattr(mod, attr)):
                if (quick or tsan) and not (quick_list is True or attr in quick_list):
                    continue
                if pattern and pattern not in "%s.%s" % (name, attr):
                    continue
                serial = getattr(mod, "SERIAL", [])
                tests.append(("%s.%s" % (name[:-3], attr), getattr(mod, attr),
                              serial is True or attr in serial, attr in getattr(mod, "SLOW", [])))
    wsdir = quiet_port_dissectors()
    try:
        return run_tests(args, tests, build, sanitize)
    finally:
        if wsdir and not os.environ.get("CC_KEEP"):
            shutil.rmtree(wsdir, ignore_errors=True)
        elif wsdir:
            print("note: the tests' Wireshark configuration is kept in %s (WIRESHARK_CONFIG_DIR)" % wsdir)


def run_tests(args, tests, build, sanitize):
    jobs = int(os.environ.get("CC_JOBS", "1"))
    for i, a in enumerate(args):
        if a.startswith("-j"):
            jobs = int(a[2:] or args[i + 1])
    if jobs > 1 and not can_isolate():
        print("note: -j%d needs root (one network namespace per worker): running one at a time" % jobs,
              flush=True)
        jobs = 1
    serial = [t for t in tests if t[2]]
    # The slowest (a module's SLOW list) start first, so that none of them is what the run waits for
    # at its end while the other worker idles.
    shared = sorted((t for t in tests if not t[2]), key=lambda t: not t[3])
    counts = [0, 0, 0]
    if jobs > 1 and len(shared) > 1:
        run_parallel(shared, jobs, build, sanitize, counts)
        run_serial(serial, build, sanitize, counts)
    else:
        run_serial(tests, build, sanitize, counts)
    passed, failed, skipped = counts
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped), flush=True)
    return 1 if failed else 0


# Protocols the tests read: never switched off, whatever port Wireshark gives them.
KEEP_PROTOCOLS = {"dtls", "tls", "stun", "classicstun", "rtp", "rtcp", "srtp", "sip", "hep", "http", "http2",
                  "sctp", "data", "udp", "tcp", "ip", "ipv6", "turnchannel", "dns", "websocket"}


def quiet_port_dissectors():
    """The programs' ports are random, drawn from the kernel's ephemeral range, where Wireshark
    registers a few dissectors by port (tzsp 37008, pn_rt 34962, enip 44818, irc 57000, ...): a
    flow on such a port is handed to that dissector before the DTLS or TLS heuristics look at it,
    and a test's wire checks then find no (D)TLS (about 0.2% of flows; reproduced by moving a good
    capture's client port to each of them).  Every tshark the tests start reads a configuration
    directory of ours (WIRESHARK_CONFIG_DIR) whose disabled_protos switches those dissectors off,
    which also keeps a developer's own Wireshark preferences out of the results.  Returns the
    directory, or None without tshark."""
    if not shutil.which("tshark"):
        return None
    # The kernel's default range (a worker's new network namespace starts with it), and this one's.
    lo, hi = 32768, 60999
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            a, b = (int(x) for x in f.read().split())
            lo, hi = min(lo, a), max(hi, b)
    except (OSError, ValueError):
        pass
    d = tempfile.mkdtemp(prefix="cc-it-wireshark-")
    # Wireshark's own registrations, not a developer's: read with the empty directory.
    p = subprocess.run(["tshark", "-G", "decodes"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       universal_newlines=True, env=dict(os.environ, WIRESHARK_CONFIG_DIR=d))
    if p.returncode != 0:
        print("note: tshark -G decodes failed (status %d): no dissector switched off" % p.returncode, flush=True)
    protos = set()
    for line in p.stdout.splitlines():
        f = line.split("\t")
        if len(f) >= 3 and f[0] in ("udp.port", "tcp.port") and f[1].isdigit() and lo <= int(f[1]) <= hi:
            protos.add(f[2])
    with open(os.path.join(d, "disabled_protos"), "w") as f:
        f.write("".join(name + "\n" for name in sorted(protos - KEEP_PROTOCOLS)))
    os.environ["WIRESHARK_CONFIG_DIR"] = d
    return d


def run_one(tname, fn, build, sanitize):
    """Runs one test; returns (kind, line) where kind is 0 passed, 1 failed, 2 skipped."""
    env = cclib.Env(build, sanitize=sanitize)
    t0 = time.time()
    kind = 0
    try:
        fn(env)
    except cclib.Skip as e:
        kind, line = 2, "SKIP %-50s %s" % (tname, e)
    except Exception:
        kind = 1
        line = "FAIL %-50s (%.1fs)\n     %s" % (tname, time.time() - t0,
                                             traceback.format_exc().replace("\n", "\n     "))
    else:
        line = "ok   %-50s (%.1fs)" % (tname, time.time() - t0)
    if kind != 1 or not os.environ.get("CC_KEEP"):
        env.cleanup()
    return kind, line


def run_serial(tests, build, sanitize, counts):
    for tname, fn, _, _ in tests:
        kind, line = run_one(tname, fn, build, sanitize)
        counts[kind] += 1
        print(line, flush=True)


CLONE_NEWNET = 0x40000000


def can_isolate():
    return os.geteuid() == 0 and shutil.which("ip") is not None


def isolate():
    """Moves this worker into a network namespace of its own with loopback up: the tests' fixed
    ports, coturn, Kamailio and the like of one worker never meet another's."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


def run_parallel(tests, jobs, build, sanitize, counts):
    """Runs tests in `jobs` forked workers, each taking the next test from a shared pipe of
    indexes, each in its own network namespace; the parent prints each result as it comes."""
    todo_r, todo_w = os.pipe()
    done_r, done_w = os.pipe()
    # fixed-width records: a pipe read() of one record's size takes a whole record, atomically
    for i in range(len(tests)):
        os.write(todo_w, b"%7d\n" % i)
    results = tempfile.mkdtemp(prefix="cc-it-results-")
    os.close(todo_w)
    pids = []
    for _ in range(jobs):
        pid = os.fork()
        if pid == 0:
            os.close(done_r)
            code = 0
            try:
                isolate()
                todo = os.fdopen(todo_r, "rb", buffering=0)
                while True:
                    idx = todo.read(8)
                    if len(idx) != 8:
                        break
                    tname, fn, _, _ = tests[int(idx)]
                    kind, line = run_one(tname, fn, build, sanitize)
                    with open(os.path.join(results, idx.decode().strip()), "w") as f:
                        json.dump([kind, line], f)
                    os.write(done_w, idx)
            except BaseException:
                traceback.print_exc()
                code = 1
            os._exit(code)
        pids.append(pid)
    os.close(todo_r)
    os.close(done_w)
    with os.fdopen(done_r, "rb") as done:
        for raw in done:
            with open(os.path.join(results, raw.decode().strip())) as f:
                kind, line = json.load(f)
            counts[kind] += 1
            print(line, flush=True)
    shutil.rmtree(results, ignore_errors=True)
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        if status != 0:
            counts[1] += 1
            print("FAIL a test worker ended with status %d" % status, flush=True)


if __name__ == "__main__":
    sys.exit(main())
