"""Never silent: when nothing was captured, the wrapper's exit line says why, from what the
counters page knows: the shim was not loaded (a static binary), the configuration was refused
(one line naming the variable, then this), or the program loaded the shim and simply sent
nothing.  Real programs: coreutils' true, CPython, a static binary built by the test."""
import cclib
from cclib import eq, ok

QUICK = True


def summary(env, argv, cap):
    p = cclib.run([env.tool, "-w", cap, "--"] + argv, env=env.env(preload=False), check=False)
    return p, [l for l in p.stderr.splitlines() if l.startswith("clearcap:")]


def test_nothing_captured_says_why(env):
    cap = env.path("c.pcapng")
    p, lines = summary(env, ["true"], cap)
    eq(p.returncode, 0, "exit status")
    eq(len(lines), 1, "one line: %r" % lines)
    ok("true loaded the shim (1 process) but sent and received nothing" in lines[0], lines[0])
    ok("did not load" not in p.stderr, p.stderr)

    # A process that changes its own configuration: the exec'd image refuses CLEARCAP_FORMAT.
    p, lines = summary(env, ["sh", "-c", "CLEARCAP_FORMAT=bogus exec %s -c pass" % cclib.PY], cap)
    eq(len(lines), 2, "the shim's one line, then the wrapper's: %r" % lines)
    ok("CLEARCAP_FORMAT" in lines[0], lines[0])
    ok("configuration was refused in 1 of 2 processes" in lines[1] and "did not load" not in p.stderr, lines[1])

    src, exe = env.path("st.c"), env.path("st")
    open(src, "w").write("int main(void) { return 7; }\n")
    cclib.run(["gcc", "-static", "-o", exe, src])
    p, lines = summary(env, [exe], cap)
    eq(p.returncode, 7, "exit status of the static program")
    ok(any("did not load the shim" in l for l in lines), lines)
