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
    # A static program is traced by default (test_trace); told not to, the shim cannot enter it.
    p = cclib.run([env.tool, "-w", cap, "--no-trace", "--", exe], env=env.env(preload=False), check=False)
    lines = [l for l in p.stderr.splitlines() if l.startswith("clearcap:")]
    eq(p.returncode, 7, "exit status of the static program")
    ok(any("did not load the shim" in l for l in lines), lines)


NODE_GET = ("require('https').get({host: '127.0.0.1', port: +process.argv[1], rejectUnauthorized: false}, "
            "r => { r.resume(); r.on('end', () => process.exit(0)); }).on('error', e => { console.error(e.message); "
            "process.exit(1); })")


def test_node_tls_says_why_no_plaintext(env):
    """node carries OpenSSL inside its own binary: its TLS is on the wire but no hook sees the
    plaintext, and the first handshake packet says so (never ciphertext passed off as all)."""
    import shutil
    import subprocess
    import time
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        raise cclib.Skip("node not installed")
    cert, key = env.path("c.pem"), env.path("k.pem")
    cclib.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "1",
               "-keyout", key, "-out", cert])
    port = cclib.free_port(__import__("socket").SOCK_STREAM)
    srv = subprocess.Popen(["openssl", "s_server", "-quiet", "-www", "-accept", str(port), "-cert", cert,
                            "-key", key], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cclib.wait_for_port(port)
        cap = env.path("n.pcapng")
        # Under the sanitizer build the ASan runtime must be preloaded ahead of the shim, which the
        # wrapper keeps first: node's threads do not survive it loaded late.
        p = cclib.run([env.tool, "-w", cap, "--", node, "-e", NODE_GET, str(port)],
                      env=env.env(preload=env.sanitize))
    finally:
        srv.kill()
        srv.wait()
    rows = cclib.tshark(cap, ["frame.comment", "tls.handshake.type"], 'frame.interface_name == "wire" && tls')
    ok(rows, "TLS on the wire: %r" % p.stderr)
    eq(rows[0][1], "1", "the first TLS packet is the ClientHello")
    ok("no TLS library clearcap hooks" in rows[0][0] and "no plaintext" in rows[0][0], rows[0][0])
    eq(cclib.tshark_count(cap, 'frame.interface_name == "plaintext"'), 0, "no plaintext")
