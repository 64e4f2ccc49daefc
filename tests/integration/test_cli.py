"""The `clearcap` command's edges a new user meets first: `make install` and what it installs (man
page and completions agree with --help), settings refused up front with one line, a capture file
that cannot be created, the summary after `clearcap ctl reopen`, flows printed local end first,
and `clearcap report` naming the file it cannot read.  Real programs on loopback; files checked
with tshark."""
import json
import os
import re
import socket
import subprocess
import threading
import time

import cclib
import test_decrypt  # its baresip configuration
from cclib import eq, ok, tshark_count

QUICK = ["test_install_tree_captures", "test_help_man_completion_agree", "test_buffer_size_range",
         "test_environment_checked_once", "test_options_checked_up_front", "test_file_not_creatable",
         "test_hep_impair_environment_checked", "test_append_only_to_a_capture", "test_subcommand_usage_errors",
         "test_lab_usage_errors", "test_ignored_settings_refused",
         "test_refused_before_any_output",
         "test_reopen_summary_names_every_file", "test_flows_local_end_first", "test_report_names_bad_file"]

# The summary's file names come from the writer thread of each process (ctl reopen).
TSAN = ["test_reopen_summary_names_every_file"]

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Sends one datagram every GAP seconds to PORT, printing its pid first and each number after.
SENDER = r"""
import os, socket, sys, time
n, gap, port = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
os.write(1, b'pid %d\n' % os.getpid())
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(n):
    s.sendto(b'seq-%06d' % i, ('127.0.0.1', port))
    os.write(1, b'%d\n' % i)
    time.sleep(gap)
"""


def wrapper(env, args, prog, extra_env=None, **kw):
    """Runs `clearcap ARGS -- PROG` with the environment a user has (no preload of our own)."""
    e = env.env(preload=False, extra=extra_env)
    return cclib.run([env.tool] + list(args) + ["--"] + list(prog), env=e, check=False, **kw)


def cc_lines(stderr):
    return [l for l in stderr.splitlines() if l.startswith("clearcap")]


def refused(p, marker, what):
    """One line on stderr, exit 2, and the program never ran (it would have created marker)."""
    eq(p.returncode, 2, what + ": exit status (stderr %r)" % p.stderr)
    eq(len(p.stderr.splitlines()), 1, what + ": one line: %r" % p.stderr)
    ok(not os.path.exists(marker), what + ": the program did not run")
    return p.stderr.strip()


def touch_prog(marker):
    return [cclib.PY, "-c", "open(%r, 'w').close()" % marker]


# ---------------------------------------------------------------------------------------------
# make install


def make_vars(env):
    """The make variables that name this test run's build (plain, ASan or TSan)."""
    b = env.build.rstrip("/")
    san = "1" if b.endswith("-san") else "thread" if b.endswith("-tsan") else ""
    return ["BUILD=" + b, "SANITIZE=" + san]


def test_install_tree_captures(env):
    """`make install DESTDIR=...` lays out bin, lib/clearcap, man1 and both completions; the
    installed clearcap finds its shim in ../lib/clearcap/ and captures curl fetching from
    Python's http.server, which tshark reads as HTTP."""
    cclib.need("curl")
    cclib.need("man")
    root = env.path("root")
    cclib.run(["make", "-s", "-C", REPO, "install", "DESTDIR=" + root, "PREFIX=/usr"] + make_vars(env),
              timeout=300)
    files = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)
    eq(files, ["usr/bin/clearcap", "usr/lib/clearcap/lab.sh", "usr/lib/clearcap/libclearcap.so",
               "usr/share/bash-completion/completions/clearcap", "usr/share/man/man1/clearcap.1",
               "usr/share/zsh/site-functions/_clearcap"], "installed files")
    ok(os.access(os.path.join(root, "usr/bin/clearcap"), os.X_OK), "the command is executable")
    # The installed command finds its lab script.
    lab = cclib.run([os.path.join(root, "usr/bin/clearcap"), "lab", "--help"], env=env.env(preload=False), check=False)
    ok(lab.returncode == 0 and "NAT lab" in lab.stdout, "clearcap lab --help from the installed tree: %r" % lab.stdout[:300])
    man = cclib.run(["man", "-l", os.path.join(root, "usr/share/man/man1/clearcap.1")],
                    env=dict(os.environ, MANWIDTH="100")).stdout
    man = re.sub(".\b", "", man)  # overstrike bold and underline
    ok("--buffer-size" in man.replace("‐", "-") and "CLEARCAP_LIB" in man, "the man page renders: %r" % man[:300])
    cclib.run(["bash", "-n", os.path.join(root, "usr/share/bash-completion/completions/clearcap")])

    # The installed command, moved away from the build tree and without CLEARCAP_LIB.
    port = cclib.free_port(socket.SOCK_STREAM)
    srv = subprocess.Popen([cclib.PY, "-m", "http.server", "--bind", "127.0.0.1", str(port),
                            "--directory", env.tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cclib.wait_for_port(port)
        open(env.path("hello.txt"), "w").write("installed clearcap\n")
        cap = env.path("inst.pcapng")
        e = env.env(preload=False)
        e.pop("CLEARCAP_LIB", None)
        p = cclib.run([os.path.join(root, "usr/bin/clearcap"), "-w", cap, "--", "curl", "-s",
                       "http://127.0.0.1:%d/hello.txt" % port], env=e)
        eq(p.stdout, "installed clearcap\n", "curl's output")
        ok(re.search(r"clearcap: \d+ packets captured, 0 dropped, 1 process, file ", p.stderr), p.stderr)
    finally:
        srv.terminate()
        srv.wait(timeout=10)
    rows = cclib.tshark(cap, ["http.request.uri"], "http.request", ["-d", "tcp.port==%d,http" % port])
    eq([r[0] for r in rows], ["/hello.txt"], "tshark reads curl's request")
    ok(tshark_count(cap, 'http.response.code == 200', ["-d", "tcp.port==%d,http" % port]) == 1, "and the answer")


# ---------------------------------------------------------------------------------------------
# One description per option: --help, the man page and the completions


def help_options(text):
    """Options of a --help text: every -x and --long at the start of an option line."""
    opts = set()
    for line in text.splitlines():
        m = re.match(r"^\s{1,8}((?:-\w|--[\w-]+)(?:,\s*--[\w-]+)?)", line)
        if m:
            opts.update(o.strip() for o in m.group(1).split(","))
    return opts


def man_options(roff):
    """Options the man page describes: those on the line after each .TP."""
    opts = set()
    lines = roff.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.strip() == ".TP" and lines[i + 1].startswith((".B", ".BI", ".BR")):
            tag = re.sub(r"\\f[IR].*?\\fR", "", lines[i + 1]).replace("\\-", "-")
            opts.update(re.findall(r"(?<![\w-])(--[a-z][\w-]*|-[a-zA-Z])\b", tag))
    return opts


def test_help_man_completion_agree(env):
    """Every option of `clearcap --help` (and of report/extract --help) is in the man page and
    both completions, and the man page describes no option --help lacks."""
    e = env.env(preload=False)
    main = help_options(cclib.run([env.tool, "--help"], env=e).stdout.split("\nOptions:\n")[1].split("\n\n")[0])
    sub = set()
    for cmd in ("report", "extract"):
        sub |= help_options(cclib.run([env.tool, cmd, "--help"], env=e).stdout)
    ok({"-w", "-B", "--buffer-size", "--capture", "--stats", "-V"} <= main, "parsed --help: %r" % sorted(main))
    ok({"--json", "--svg", "--both"} <= sub, "parsed subcommand help: %r" % sorted(sub))
    roff = open(os.path.join(REPO, "doc/clearcap.1")).read()
    man = man_options(roff)
    eq(sorted(man - main - sub - {"-o", "-h", "--help"}), [], "in the man page, not in --help")
    eq(sorted((main | sub) - man), [], "in --help, not in the man page")
    # Each environment variable of --help is in the man page too.
    helptext = cclib.run([env.tool, "--help"], env=e).stdout
    for var in set(re.findall(r"\b(?:CLEARCAP_[A-Z_]+|TMPDIR|XDG_RUNTIME_DIR)\b", helptext)):
        ok(var in roff.replace("\\-", "-"), "%s in the man page" % var)
    for comp in ("doc/clearcap.bash", "doc/_clearcap"):
        text = open(os.path.join(REPO, comp)).read()
        missing = [o for o in sorted(main | sub) if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(o), text)]
        eq(missing, [], comp + ": options missing")
    # The bash completion, driven as bash drives it: options, classes after --capture, subcommands.
    if not os.path.exists("/usr/share/bash-completion/bash_completion"):
        raise cclib.Skip("bash-completion not installed")
    script = r"""
source /usr/share/bash-completion/bash_completion
source %s
comp() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
         _clearcap clearcap "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}"; echo "${COMPREPLY[*]}"; }
comp clearcap --buf
comp clearcap -w x --capture rtp,pl
comp clearcap rep
""" % os.path.join(REPO, "doc/clearcap.bash")
    out = cclib.run(["bash", "-c", script]).stdout.splitlines()
    eq(out, ["--buffer-size", "rtp,plaintext", "report"], "bash completion")


# ---------------------------------------------------------------------------------------------
# Settings refused before the program starts


def test_buffer_size_range(env):
    """-B takes 1024..1048576 KiB as --help says; outside, one line naming the option."""
    marker = env.path("ran")
    cap = env.path("b.pcapng")
    for bad in ("10", "1023", "1048577", "0", "-5", "8M"):
        line = refused(wrapper(env, ["-w", cap, "-B", bad], touch_prog(marker)), marker, "-B " + bad)
        ok(line.startswith("clearcap: invalid -B/--buffer-size '%s'" % bad) and "1024" in line, line)
        ok(not os.path.exists(cap), "no capture file")
    code = "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', 9))"
    for good in ("1024", "1048576"):
        p = wrapper(env, ["-w", cap, "-q", "-B", good], [cclib.PY, "-c", code])
        eq((p.returncode, p.stderr), (0, ""), "-B " + good)
        eq(tshark_count(cap), 1, "-B %s captures" % good)


def test_environment_checked_once(env):
    """A bad CLEARCAP_* in the environment stops clearcap with one line naming the variable,
    before a chain of shells and Pythons (each of which would have said it) starts; good values
    pass through to the shim."""
    marker = env.path("ran")
    cap = env.path("e.pcapng")
    # sh -> sh -> python3 -> python3: four processes loading the shim.
    open(env.path("last.py"), "w").write("open(%r, 'w').close()\n" % marker)
    open(env.path("first.py"), "w").write("import subprocess, sys\nsubprocess.run([sys.executable, %r])\n"
                                          % env.path("last.py"))
    chain = ["/bin/sh", "-c", "/bin/sh -c '%s %s; true'; true" % (cclib.PY, env.path("first.py"))]
    p = wrapper(env, ["-w", cap], chain)
    eq(p.returncode, 0, "the chain runs: %r" % p.stderr)
    ok(os.path.exists(marker), "the chain reached the last python")
    os.unlink(marker)
    cases = [
        ("CLEARCAP_BUFFER", "garbage"), ("CLEARCAP_BUFFER", "10240"), ("CLEARCAP_BUFFER", "2G"),
        ("CLEARCAP_CAPTURE", "rtp,h323"), ("CLEARCAP_FILTER", "udp port"), ("CLEARCAP_ROTATE_FILES", "0"),
        ("CLEARCAP_ROTATE_SIZE", "100"), ("CLEARCAP_ROTATE_SECONDS", "1s"),
        ("CLEARCAP_PROGRAMS", "python3," * 600), ("CLEARCAP_KEYLOG", "/" + "k" * 5000),
        ("CLEARCAP_SRTP_KEYLOG", "s" * 5000),
    ]
    for var, val in cases:
        line = refused(wrapper(env, ["-w", cap], chain, {var: val}), marker, var)
        ok(line.startswith("clearcap: %s=" % var), "names the variable: %r" % line[:200])
        ok(len(line) < 500, "bounded line")
        ok(not os.path.exists(cap), var + ": no capture file")
    # The same variables with good values reach the shim and do what they say.
    code = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "[s.sendto(b'x' * 10, ('127.0.0.1', p)) for p in (9, 7, 9)]")
    p = wrapper(env, ["-w", cap, "-q"], [cclib.PY, "-c", code],
                {"CLEARCAP_BUFFER": "2M", "CLEARCAP_FILTER": "udp port 9", "CLEARCAP_CAPTURE": "wire,other"})
    eq((p.returncode, p.stderr), (0, ""), "good values")
    eq(tshark_count(cap), 2, "CLEARCAP_FILTER reached the shim")
    # A value the wrapper replaces with an option's is not the one checked.
    p = wrapper(env, ["-w", cap, "-q", "-B", "2048"], [cclib.PY, "-c", code], {"CLEARCAP_BUFFER": "garbage"})
    eq((p.returncode, p.stderr), (0, ""), "-B replaces CLEARCAP_BUFFER")


def test_options_checked_up_front(env):
    """Options that become shim settings are checked with the shim's rules, named as options."""
    marker = env.path("ran")
    cap = env.path("o.pcapng")
    for args, name in ((["--capture", "rtp,h323"], "--capture"), (["-f", "udp port"], "-f/--filter"),
                       (["--filter", "port 5060 and ("], "-f/--filter"),
                       (["-P", "x" * 5000], "-P/--programs"), (["-k", "/" + "k" * 5000], "-k/--keylog")):
        line = refused(wrapper(env, ["-w", cap] + args, touch_prog(marker)), marker, name)
        ok(line.startswith("clearcap: invalid %s '" % name), line[:200])
    line = refused(wrapper(env, ["-w", cap, "--capture", "rtp,h323"], touch_prog(marker)), marker, "classes")
    ok("unknown class 'h323'" in line and "plaintext" in line, line)


def test_hep_impair_environment_checked(env):
    """The HEP and impairment families, inherited or as --hep-name/--hep-password, are checked
    like the other settings: one line naming the variable or option, exit 2, the program never
    runs (the shim would refuse them in every process while the wrapper exited 0)."""
    marker = env.path("ran")
    cap = env.path("h.pcapng")
    base = {"CLEARCAP_HEP": "udp:127.0.0.1:9", "CLEARCAP_IMPAIR": "loss=1%"}
    cases = [("CLEARCAP_HEP", "bogus"), ("CLEARCAP_HEP", "tls:example.net:9062"), ("CLEARCAP_HEP_ID", "abc"),
             ("CLEARCAP_HEP_ID", "4294967296"), ("CLEARCAP_HEP_CLASSES", "sip,h323"),
             ("CLEARCAP_HEP_NAME", "n" * 64), ("CLEARCAP_HEP_PASSWORD", "p" * 64),
             ("CLEARCAP_IMPAIR", "loss=10"), ("CLEARCAP_IMPAIR_SEED", "x"), ("CLEARCAP_IMPAIR_SEED", "-1"),
             ("CLEARCAP_IMPAIR_FILTER", "udp port")]
    for var, val in cases:
        line = refused(wrapper(env, ["-w", cap], touch_prog(marker), dict(base, **{var: val})), marker, var)
        ok(line.startswith("clearcap: %s=" % var), "names the variable: %r" % line[:200])
        ok("p" * 64 not in line, "a key is not shown: %r" % line[:200])
    hep = ["-w", cap, "--hep", "udp:127.0.0.1:9"]
    for opt in ("--hep-name", "--hep-password"):
        line = refused(wrapper(env, hep + [opt, "k" * 64], touch_prog(marker)), marker, opt)
        ok(line.startswith("clearcap: invalid %s" % opt) and "63 bytes" in line, line[:200])
    # 63 bytes, and good inherited values, pass.
    p = wrapper(env, hep + ["-q", "--hep-name", "k" * 63, "--hep-password", "k" * 63], touch_prog(marker),
                dict(base, CLEARCAP_HEP_ID="7", CLEARCAP_IMPAIR_SEED="5", CLEARCAP_HEP_CLASSES="sip,rtp"))
    eq(p.returncode, 0, "good values: %r" % p.stderr)
    ok(os.path.exists(marker), "the program ran")


def test_append_only_to_a_capture(env):
    """-a onto a file that is no capture, or a capture of the other format, or a symbolic link,
    is refused with one line before the program runs (the shim would refuse it in every process
    and the run would end 0 with nothing captured); an empty file or one of the same format is
    appended to."""
    marker = env.path("ran")
    code = "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', 9))"
    text = env.path("notes.txt")
    open(text, "w").write("not a capture\n")
    pcap = env.path("old.pcap")
    p = wrapper(env, ["-q", "-F", "pcap", "-w", pcap], [cclib.PY, "-c", code])
    eq(p.returncode, 0, p.stderr)
    link = env.path("link.pcap")
    os.symlink(pcap, link)
    for args, what in (([text], "not a clearcap pcapng capture"), ([pcap], "-F pcap appends to it"),
                       (["-F", "pcapng", pcap], "not pcapng"), ([link], "symbolic link")):
        line = refused(wrapper(env, ["-a"] + args[:-1] + ["-w", args[-1]], touch_prog(marker)), marker,
                       " ".join(args))
        ok(line.startswith("clearcap: cannot append to ") and what in line, line)
    eq(open(text).read(), "not a capture\n", "the file is untouched")
    p = wrapper(env, ["-q", "-a", "-F", "pcap", "-w", pcap], [cclib.PY, "-c", code])
    eq((p.returncode, p.stderr), (0, ""), "same format")
    eq(tshark_count(pcap), 2, "appended")
    empty = env.path("empty.pcapng")
    open(empty, "w").close()
    p = wrapper(env, ["-q", "-a", "-w", empty], [cclib.PY, "-c", code])
    eq((p.returncode, p.stderr), (0, ""), "empty file")
    eq(tshark_count(empty), 1, "an empty file gets the header and the packet")


def test_subcommand_usage_errors(env):
    """A usage error of report, extract, decrypt, ctl or the wrapper is one line naming the
    problem and one pointing at --help (not the whole help), exit 2; an option missing its
    argument says so, and --help (ctl's too) exits 0."""
    e = env.env(preload=False)
    cases = [
        (["report", "x.pcapng", "--svg"], "report", "option '--svg' needs an argument"),
        (["report"], "report", "no FILE given"),
        (["report", "a", "b"], "report", "'b' is one too many"),
        (["report", "--bogus", "x"], "report", "unknown or ambiguous option '--bogus'"),
        (["report", "--json=1", "x"], "report", "'--json' takes no argument"),
        (["extract", "x.pcapng", "-o"], "extract", "option -o needs an argument"),
        (["extract"], "extract", "no FILE given"),
        (["decrypt", "x.pcapng"], "decrypt", "-o OUT is needed"),
        (["decrypt", "x.pcapng", "--keylog"], "decrypt", "option '--keylog' needs an argument"),
        (["ctl"], "ctl", "no PID"), (["ctl", "1"], "ctl", "no command given"),
        (["ctl", "1", "frob"], "ctl", "unknown command 'frob'"), (["ctl", "x", "status"], "ctl", "not a PID"),
        (["ctl", "1", "reopen"], "ctl", "reopen needs a FILE"),
        (["-w", "x.pcapng", "--plain-ipv4=1", "--", "true"], None, "'--plain-ipv4' takes no argument"),
        (["-w", "x.pcapng", "--impair"], None, "option '--impair' needs an argument"),
    ]
    for args, cmd, what in cases:
        p = cclib.run([env.tool] + args, env=e, check=False)
        name = "clearcap" + (" " + cmd if cmd else "")
        eq(p.returncode, 2, "%s: exit (%r)" % (args, p.stderr))
        eq(p.stdout, "", "%s: nothing on stdout" % args)
        lines = p.stderr.splitlines()
        eq(len(lines), 2, "%s: two lines: %r" % (args, p.stderr))
        ok(lines[0].startswith(name + ": ") and what in lines[0], "%s: %r" % (args, lines[0]))
        eq(lines[1], "Try '%s --help' for more information." % name, "%s: the hint" % args)
    for cmd in ("ctl", "report", "extract", "decrypt"):
        p = cclib.run([env.tool, cmd, "--help"], env=e, check=False)
        eq(p.returncode, 0, cmd + " --help exits 0")
        ok(p.stdout.startswith("Usage: clearcap " + cmd), "%s --help on stdout: %r" % (cmd, p.stdout[:80]))


def test_lab_usage_errors(env):
    """clearcap lab: an option without its argument says so (not bash's "unbound variable"), and
    a --script that is not there is refused before any namespace is built; --help exits 0."""
    e = env.env(preload=False)
    for args, what in ((["--nat"], "--nat needs an argument"), (["--nat", "--script", "x"], "--nat needs an argument"),
                       (["-w"], "-w needs an argument"), (["--script"], "--script needs an argument")):
        p = cclib.run([env.tool, "lab"] + args, env=e, check=False, timeout=30)
        eq(p.returncode, 2, "%s: exit (%r)" % (args, p.stderr))
        lines = p.stderr.splitlines()
        eq(lines, ["clearcap lab: " + what, "Try 'clearcap lab --help' for more information."], "%s" % args)
    missing = env.path("no-such-script.sh")
    p = cclib.run([env.tool, "lab", "--script", missing], env=e, check=False, timeout=60)
    eq(p.returncode, 2, "--script missing: exit (%r)" % p.stderr)
    eq(p.stderr.splitlines(), ["clearcap lab: --script %s: no such file" % missing], "one line, nothing built")
    p = cclib.run([env.tool, "lab", "--help"], env=e, check=False)
    eq(p.returncode, 0, "--help exits 0")
    ok("NAT lab" in p.stdout, "--help on stdout")


def test_ignored_settings_refused(env):
    """Settings that would be silently ignored are refused with one line before the program runs:
    --impair-seed/--impair-filter without --impair, CLEARCAP_ROTATE_FILES with nothing to rotate
    by, a key given twice in one --impair spec, a program list that names no program.  The
    messages name the rule: a number's range, a size's suffixes."""
    marker = env.path("ran")
    cap = env.path("i.pcapng")
    cases = [
        (["--impair-seed", "7"], {}, "--impair-seed and --impair-filter need --impair"),
        (["--impair-filter", "udp"], {}, "--impair-seed and --impair-filter need --impair"),
        ([], {"CLEARCAP_ROTATE_FILES": "3"}, "CLEARCAP_ROTATE_FILES=3: needs CLEARCAP_ROTATE_SIZE or"),
        (["--impair", "loss=1%,delay=5ms,loss=2%"], {}, "out:loss given twice"),
        (["--impair", "in:loss=1%;in:loss=2%"], {}, "in:loss given twice"),
        ([], {"CLEARCAP_IMPAIR": "delay=5ms;delay=6ms"}, "CLEARCAP_IMPAIR=delay=5ms;delay=6ms: out:delay given twice"),
        (["-P", ",,"], {}, "invalid -P/--programs ',,': names no program"),
        ([], {"CLEARCAP_PROGRAMS": ","}, "CLEARCAP_PROGRAMS=,: names no program"),
        ([], {"CLEARCAP_ROTATE_SIZE": "1T"}, "digits, optionally followed by K, M or G"),
        ([], {"CLEARCAP_ROTATE_SECONDS": "0"}, "expected a whole number from 1 to 100000000"),
    ]
    for args, extra, what in cases:
        p = wrapper(env, ["-w", cap] + args, touch_prog(marker), extra)
        eq(p.returncode, 2, "%s %s: exit (%r)" % (args, extra, p.stderr))
        ok(p.stderr.startswith("clearcap: ") and what in p.stderr.splitlines()[0], "%s %s: %r" % (args, extra, p.stderr))
        ok(len(p.stderr.splitlines()) <= 2, "one line (and the --help hint): %r" % p.stderr)
        ok(not os.path.exists(marker), "the program did not run")
    # What these rules leave alone still runs.
    for args, extra in ((["--impair-seed", "7"], {"CLEARCAP_IMPAIR": "loss=1%"}),
                        (["-C", "1"], {"CLEARCAP_ROTATE_FILES": "3"}),
                        (["--impair", "out:loss=1%;in:loss=2%"], {}), (["-P", "python3*,,x"], {})):
        p = wrapper(env, ["-q", "-w", cap] + args, touch_prog(marker), extra)
        eq(p.returncode, 0, "%s %s: %r" % (args, extra, p.stderr))
        ok(os.path.exists(marker), "%s %s: the program ran" % (args, extra))
        os.unlink(marker)


def test_refused_before_any_output(env):
    """-w - with -C/-G is refused before a byte reaches standard output (the header went out
    first); an option argument that is '--' or, for a file, starts with '-' is refused (-k -- prog
    wrote keys to a file named '--'); a directory as PROGRAM is said to be one, not 'Permission
    denied'."""
    marker = env.path("ran")
    e = env.env(preload=False)
    for rot in (["-C", "1"], ["-G", "60"]):
        p = subprocess.run([env.tool, "-w", "-"] + rot + ["--"] + touch_prog(marker), env=e, capture_output=True,
                           timeout=30)
        eq(p.returncode, 2, "%s: exit (%r)" % (rot, p.stderr))
        eq(p.stdout, b"", "%s: nothing on standard output" % rot)
        ok(b"standard output (-w -) cannot be rotated" in p.stderr, p.stderr)
        ok(not os.path.exists(marker), "the program did not run")
    cap = env.path("k.pcapng")
    cwd = env.path("cwd")
    os.mkdir(cwd)
    for args, what in ((["-w", cap, "-k", "--"], "option -k needs a file name, not '--'"),
                       (["-w", cap, "--srtp-keylog", "-q"], "option '--srtp-keylog' needs a file name, not '-q'"),
                       (["-w", "--"], "option -w needs a file name, not '--'"),
                       (["-w", cap, "-P", "--"], "option -P needs an argument, not '--'")):
        p = cclib.run([env.tool] + args + touch_prog(marker), env=e, check=False, cwd=cwd)
        eq(p.returncode, 2, "%s: exit (%r)" % (args, p.stderr))
        ok(p.stderr.startswith("clearcap: " + what), "%s: %r" % (args, p.stderr))
        ok(not os.path.exists(marker), "%s: the program did not run" % args)
        eq(os.listdir(cwd), [], "%s: no file named like an option" % args)
    d = env.path("adir")
    os.mkdir(d)
    p = wrapper(env, ["-w", cap], [d])
    eq(p.returncode, 126, "a directory cannot be executed: %r" % p.stderr)
    eq(p.stderr, "clearcap: %s: Is a directory\n" % d, "says it is a directory")


def test_file_not_creatable(env):
    """A -w path whose file cannot be created is refused before the program starts, with the
    file named: a missing directory, /proc (writable to root, yet no file can be made there)."""
    marker = env.path("ran")
    for path in ("/proc/nope.pcapng", "/nonexistent-dir/x", "/proc/self/nope/x.pcapng", "/proc/x/"):
        line = refused(wrapper(env, ["-w", path], touch_prog(marker)), marker, path[:60])
        ok(line.startswith("clearcap: ") and (path in line or path.rsplit("/", 1)[0] in line), line[:300])
    ok(not os.path.exists("/proc/nope.pcapng"), "nothing left behind")
    # A creatable file is not left behind by the check when nothing is captured.
    cap = env.path("quiet.pcapng")
    p = wrapper(env, ["-w", cap], ["/bin/true"])
    eq(p.returncode, 0, p.stderr)
    ok(not os.path.exists(cap), "no empty file from the check")


# ---------------------------------------------------------------------------------------------
# The summary at exit


def read_until(p, want, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            raise AssertionError("program ended early")
        if line.strip() == want:
            return
    raise AssertionError("timeout waiting for %r" % want)


def test_reopen_summary_names_every_file(env):
    """After `ctl reopen` of two processes (one to b, then both to c, one back to a), the summary
    names a, b and c once each, and the exit table and --stats count every datagram of all
    three files, as tshark counts them."""
    port = cclib.free_port()
    a, b, c = env.path("a.pcapng"), env.path("b.pcapng"), env.path("c.pcapng")
    stats = env.path("s.json")
    # Two senders: the program and a child it starts, each printing its pid.
    code = ("import subprocess, sys\n"
            "kid = subprocess.Popen([sys.executable, '-c', %r, '60', '0.02', '%d'])\n"
            "exec(compile(%r, 'sender', 'exec'))\n"
            "kid.wait()\n") % (SENDER, port, SENDER)
    # Under TSan the runtime must be preloaded ahead of the shim: the wrapper keeps it first.
    p = subprocess.Popen([env.tool, "-w", a, "--stats", stats, "--", cclib.PY, "-c", code, "60", "0.02", str(port)],
                         env=env.env(preload=env.tsan), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pids = []
    out = []
    deadline = time.time() + 20
    while len(pids) < 2 and time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        out.append(line)
        if line.startswith("pid "):
            pids.append(int(line.split()[1]))
    eq(len(pids), 2, "both senders started: %r" % out)
    read_until(p, "10")
    def ctl(pid, f):
        r = cclib.run([env.tool, "ctl", str(pid), "reopen", f], env=env.env(preload=False))
        ok("writing " + f in r.stdout, r.stdout)
    ctl(pids[0], b)
    read_until(p, "25")
    ctl(pids[0], c)
    ctl(pids[1], c)
    read_until(p, "40")
    ctl(pids[1], a)
    rest, err = p.communicate(timeout=30)
    eq(p.returncode, 0, err)
    counts = {f: tshark_count(f, "udp.dstport == %d" % port) for f in (a, b, c)}
    ok(all(n > 0 for n in counts.values()), "every file holds datagrams: %r" % counts)
    eq(sum(counts.values()), 120, "each of the 2 x 60 datagrams in one file: %r" % counts)
    summary = [l for l in err.splitlines() if " captured" in l]
    eq(len(summary), 1, err)
    m = re.search(r", files (.*)$", summary[0])
    ok(m, "the summary names several files: %r" % summary[0])
    eq(m.group(1).split(", "), [a, b, c], "each file once, first as given, then in reopen order")
    ok(summary[0].startswith("clearcap: 120 packets captured"), summary[0])
    flows = [l for l in err.splitlines() if l.startswith("clearcap: flow ") and ":%d:" % port in l]
    sent = sum(int(re.search(r"-> (\d+)/", l).group(1)) for l in flows)
    eq(sent, 120, "the exit table counts all three files: %r" % flows)
    js = json.load(open(stats))
    eq(js["frames"], 120, "--stats counts all three files")


def test_summary_says_paused(env):
    """A run paused with `clearcap ctl pause` says so at the end, and for how long: paused before
    its first packet and never resumed, the summary says the capture was paused, not that the
    program sent nothing; paused after some packets, it counts the ones kept out."""
    port = cclib.free_port()
    # Prints its pid, sends FIRST datagrams, says "sent", waits for a line, sends the rest.
    code = ("import os, socket, sys\n"
            "first, rest = int(sys.argv[1]), int(sys.argv[2])\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "print('pid', os.getpid(), flush=True)\n"
            "for i in range(first): s.sendto(b'x', ('127.0.0.1', %d))\n"
            "print('sent', flush=True)\n"
            "sys.stdin.readline()\n"
            "for i in range(rest): s.sendto(b'x', ('127.0.0.1', %d))\n") % (port, port)

    def paused_run(cap, first, rest):
        p = subprocess.Popen([env.tool, "-w", cap, "--", cclib.PY, "-c", code, str(first), str(rest)],
                             env=env.env(preload=env.tsan), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        pid = int(p.stdout.readline().split()[1])
        read_until(p, "sent")
        r = cclib.run([env.tool, "ctl", str(pid), "pause"], env=env.env(preload=False))
        ok("paused" in r.stdout, r.stdout)
        time.sleep(0.5)
        _, err = p.communicate("go\n", timeout=30)
        eq(p.returncode, 0, err)
        return err

    def pause_time(err):
        m = re.search(r"(\d+\.\d) s of the (\d+\.\d) s run", err)
        ok(m, "how long it was paused: %r" % err)
        paused, run = float(m.group(1)), float(m.group(2))
        ok(0.4 <= paused <= run, "paused %.1f s of %.1f s" % (paused, run))

    err = paused_run(env.path("none.pcapng"), 0, 5)
    ok("nothing was captured: capture was paused (clearcap ctl pause) for " in err, err)
    ok("5 packets sent or received while paused were not captured" in err, err)
    ok("sent and received nothing" not in err, "the program did send: " + err)
    pause_time(err)
    cap = env.path("some.pcapng")
    err = paused_run(cap, 3, 4)
    ok(re.search(r"clearcap: 3 packets captured, 0 dropped, 1 process, 4 not captured while paused \(", err), err)
    pause_time(err)
    eq(tshark_count(cap, "udp.dstport == %d" % port), 3, "the datagrams sent before the pause")


def test_flows_local_end_first(env):
    """The exit table prints each flow from the capturing program's end: a program that only
    sends shows '-> N/..B <- 0/0B' whether its port sorts before or after the peer's; one that
    only receives shows '-> 0/0B <- N/..B'."""
    hi, lo = 0, 0
    while not (hi > 30000 and lo < hi):
        hi, lo = cclib.free_port(), cclib.free_port()
        hi, lo = max(hi, lo), min(hi, lo)
    send = ("import socket, sys; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "s.bind(('127.0.0.1', int(sys.argv[1])))\n"
            "[s.sendto(b'y' * 50, ('127.0.0.1', int(sys.argv[2]))) for i in range(4)]\n")
    for src, dst in ((hi, lo), (lo, hi)):
        p = wrapper(env, ["-w", env.path("f.pcapng")], [cclib.PY, "-c", send, str(src), str(dst)])
        eq(p.returncode, 0, p.stderr)
        flows = [l for l in p.stderr.splitlines() if l.startswith("clearcap: flow ")]
        eq(len(flows), 1, p.stderr)
        ok(flows[0].startswith("clearcap: flow wire udp 127.0.0.1:%d <-> 127.0.0.1:%d: -> 4/" % (src, dst)) and
           " <- 0/0B" in flows[0], "sender first: %r" % flows[0])
        js = json.loads(cclib.run([env.tool, "report", "--json", env.path("f.pcapng")],
                                  env=env.env(preload=False)).stdout)
        f = js["flows"][0]
        eq(f[f["local"]], "127.0.0.1:%d" % src, "JSON names the local end: %r" % f)
    # A receiver: the datagrams come from this (uncaptured) test process.
    port = cclib.free_port()
    recv = ("import socket, sys; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "s.bind(('127.0.0.1', %d)); print('ready', flush=True)\n"
            "[s.recv(100) for i in range(3)]\n" % port)
    pr = subprocess.Popen([env.tool, "-w", env.path("r.pcapng"), "--", cclib.PY, "-c", recv],
                          env=env.env(preload=False), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    eq(pr.stdout.readline().strip(), "ready", "receiver up")
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    for _ in range(3):
        u.sendto(b"z" * 20, ("127.0.0.1", port))
    _, err = pr.communicate(timeout=30)
    eq(pr.returncode, 0, err)
    flows = [l for l in err.splitlines() if l.startswith("clearcap: flow ")]
    eq(len(flows), 1, err)
    ok(re.match(r"clearcap: flow wire udp 127\.0\.0\.1:%d <-> 127\.0\.0\.1:%d: -> 0/0B <- 3/\d+B other 3$"
                % (port, u.getsockname()[1]), flows[0]), "receiver first: %r" % flows[0])
    u.close()


# ---------------------------------------------------------------------------------------------
# report and extract on files that are not captures


def test_report_names_bad_file(env):
    """report and extract on an empty file, garbage, a directory or a missing file: one line
    that names the file, exit 2."""
    empty, garbage, missing = env.path("empty.pcapng"), env.path("garbage.pcapng"), env.path("missing.pcapng")
    open(empty, "w").close()
    open(garbage, "wb").write(os.urandom(64) + b"\x00" * 64)
    d = env.path("adir")
    os.mkdir(d)
    e = env.env(preload=False)
    for f in (empty, garbage, d, missing):
        for cmd in (["report"], ["report", "--json"], ["extract", "-o", env.tmp]):
            p = cclib.run([env.tool] + cmd + [f], env=e, check=False)
            eq(p.returncode, 2, "%s %s: exit (%r)" % (cmd[0], f, p.stderr))
            lines = p.stderr.splitlines()
            eq(len(lines), 1, "%s %s: one line: %r" % (cmd[0], f, p.stderr))
            ok(lines[0].startswith("clearcap %s: %s: " % (cmd[0], f)), "names the file: %r" % lines[0])
            eq(p.stdout, "", "nothing on stdout")
    p = cclib.run([env.tool, "report", d], env=e, check=False)
    ok(p.stderr.strip().endswith("Is a directory"), p.stderr)
    p = cclib.run([env.tool, "report", empty], env=e, check=False)
    ok("empty" in p.stderr.split(": ", 2)[2], p.stderr)


# ---------------------------------------------------------------------------------------------
# The README's one Wireshark setting: DTLS-SRTP next to the SIP/SDP that set it up

# test_decrypt's baresip configuration, with dtls_srtp media.
BARESIP_CONFIG = test_decrypt.BARESIP_CONFIG.replace("{mediaenc_module}", "dtls_srtp.so")


def test_dtls_srtp_next_to_sip_decrypts_with_setting(env):
    """baresip calls baresip (SIP on UDP, dtls_srtp media), both captured into one file: with the
    setting the README gives (tshark -o sdp.establish_conversation:FALSE), every DTLS Finished
    in the wire copy decrypts from the file's own secrets, and SIP and RTP are still dissected."""
    cclib.need("baresip")
    if not os.path.exists("/usr/lib/baresip/modules/dtls_srtp.so"):
        raise cclib.Skip("baresip's dtls_srtp module is not installed")
    cap = env.path("call.pcapng")
    sip = {name: cclib.free_port() for name in ("a", "b")}
    rtp = {"a": 31000 + os.getpid() % 200 * 100, "b": 51000 + os.getpid() % 200 * 100}
    for name in ("a", "b"):
        d = env.path(name)
        os.makedirs(d)
        with open(os.path.join(d, "config"), "w") as f:
            f.write(BARESIP_CONFIG.format(port=sip[name], dir=d, rtp=rtp[name], rtp_end=rtp[name] + 99))
        with open(os.path.join(d, "accounts"), "w") as f:
            f.write("<sip:%s@127.0.0.1:%d>;regint=0;mediaenc=dtls_srtp;answermode=auto;audio_codecs=PCMU\n"
                    % (name, sip[name]))
        open(os.path.join(d, "contacts"), "w").close()
    e = env.env(preload=False, extra={"HOME": env.tmp})
    b = subprocess.Popen([env.tool, "-q", "-a", "-w", cap, "--", "baresip", "-f", env.path("b"), "-t", "6"],
                         env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    a = cclib.run([env.tool, "-q", "-a", "-w", cap, "--", "baresip", "-f", env.path("a"), "-t", "4",
                   "-e", "/dial sip:b@127.0.0.1:%d" % sip["b"]], env=e, check=False, timeout=30)
    b.wait(timeout=30)
    eq(a.returncode, 0, "baresip a: %s" % a.stderr[-500:])
    # The condition: SDP in the file names the ports the DTLS handshakes run on.
    # (Read with the setting: without it the SDP's media conversation may hide the DTLS as RTP.)
    setting = ["-o", "sdp.establish_conversation:FALSE"]
    sdp_ports = {r[0] for r in cclib.tshark(cap, ["sdp.media.port"], "sdp")}
    dtls_ports = {p for r in cclib.tshark(cap, ["udp.srcport", "udp.dstport"], "dtls", setting) for p in r}
    ok(sdp_ports and sdp_ports <= dtls_ports, "SDP names the DTLS ports: %r, %r" % (sdp_ports, dtls_ports))
    ccs = cclib.tshark_count(cap, "dtls.change_cipher_spec", setting)
    fin = cclib.tshark_count(cap, "dtls.handshake.type == 20", setting)
    default = cclib.tshark_count(cap, "dtls.handshake.type == 20")
    print("     Finished decrypted: %d of %d with the setting, %d without" % (fin, ccs, default))
    ok(ccs >= 4, "both handshakes (RTP and RTCP), both sides: %d ChangeCipherSpec" % ccs)
    eq(fin, ccs, "every Finished after a ChangeCipherSpec decrypts with the setting")
    ok(cclib.tshark_count(cap, "sip.Method == \"INVITE\"", setting) > 0, "SIP still dissected")
    ok(cclib.tshark_count(cap, "rtp", setting) > 100, "RTP still dissected (DTLS-SRTP sets it up)")


def test_keylog_fifo_never_blocks(env):
    """CLEARCAP_KEYLOG naming a FIFO: with nobody reading it, a CPython TLS client and server
    finish as without the shim, with one line saying why no key line goes there (the shim's
    open blocked the program for good), and `clearcap -k FIFO` ends too (it blocked reading the
    FIFO back at exit); with a reader, the reader gets the secrets."""
    cert, key = cclib.make_cert(env)
    fifo = env.path("keys.fifo")
    os.mkfifo(fifo)
    code = r"""
import socket, ssl, sys, threading
srv = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); srv.load_cert_chain(sys.argv[1], sys.argv[2])
cli = ssl.create_default_context(); cli.check_hostname = False; cli.verify_mode = ssl.CERT_NONE
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen()
def serve():
    s, _ = ls.accept(); t = srv.wrap_socket(s, server_side=True); t.sendall(b"fifo-test"); t.close()
threading.Thread(target=serve).start()
c = cli.wrap_socket(socket.create_connection(ls.getsockname()), server_hostname="x")
print(c.recv(20).decode()); c.close()
"""
    p = cclib.run([cclib.PY, "-c", code, cert, key], env=env.env(env.path("a.pcapng"), {"CLEARCAP_KEYLOG": fifo}),
                  timeout=30)
    eq(p.stdout, "fifo-test\n", "the program's view")
    eq(p.stderr.count("a FIFO nobody reads"), 1, "one line: %r" % p.stderr)
    p = cclib.run([env.tool, "-q", "-w", env.path("b.pcapng"), "-k", fifo, "--", cclib.PY, "-c", code, cert, key],
                  env=env.env(preload=False), timeout=30)
    eq(p.stdout, "fifo-test\n", "the program's view under the wrapper")
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo).read()))
    reader.start()
    p = cclib.run([cclib.PY, "-c", code, cert, key], env=env.env(env.path("c.pcapng"), {"CLEARCAP_KEYLOG": fifo}),
                  timeout=30)
    reader.join(30)
    ok(got and "CLIENT_TRAFFIC_SECRET_0 " in got[0], "the reader got the secrets: %r" % got)
