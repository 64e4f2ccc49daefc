"""Never silent: when nothing was captured, the wrapper's exit line says why, from what the
counters page knows: the shim was not loaded (a static binary), the configuration was refused
(one line naming the variable, then this), or the program loaded the shim and simply sent
nothing.  Real programs: coreutils' true, CPython, a static binary built by the test."""
import json
import re

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

    # A process whose capture file cannot be opened (a device): it sent a datagram, so the wrapper
    # says the capture could not start, not that nothing was sent.
    send = "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', 9))"
    p, lines = summary(env, ["sh", "-c", "CLEARCAP_FILE=/dev/full exec %s -c \"%s\"" % (cclib.PY, send)], cap)
    eq(len(lines), 2, "the shim's one line, then the wrapper's: %r" % lines)
    ok("/dev/full is not a regular file" in lines[0], lines[0])
    ok("the capture could not start in 1 of 2 processes" in lines[1], lines[1])
    # The wrapper refuses such a -w itself, before running anything.
    p = cclib.run([env.tool, "-w", "/dev/null", "--", "true"], env=env.env(preload=False), check=False)
    ok(p.returncode != 0 and "/dev/null: not a regular file or a FIFO" in p.stderr, p.stderr)

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


PY_GET = ("import socket, ssl, sys\n"
          "c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE\n"
          "s = c.wrap_socket(socket.create_connection(('127.0.0.1', int(sys.argv[1]))))\n"
          "s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n"
          "while s.recv(65536): pass\n")


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
        # The control: CPython's OpenSSL is hooked, its flow has plaintext and no reason. (Not curl:
        # Debian's curl deadlocks at start-up whenever libasan is preloaded.)
        ccap = env.path("py.pcapng")
        pc = cclib.run([env.tool, "-w", ccap, "--", "python3", "-c", PY_GET, str(port)],
                       env=env.env(preload=env.sanitize))
    finally:
        srv.kill()
        srv.wait()
    rows = cclib.tshark(cap, ["frame.comment", "tls.handshake.type"], 'frame.interface_name == "wire" && tls')
    ok(rows, "TLS on the wire: %r" % p.stderr)
    eq(rows[0][1], "1", "the first TLS packet is the ClientHello")
    ok("no TLS library clearcap hooks" in rows[0][0] and "no plaintext" in rows[0][0], rows[0][0])
    eq(cclib.tshark_count(cap, 'frame.interface_name == "plaintext"'), 0, "no plaintext")
    # The exit table and the report (text and JSON) say why, for the flow.
    ok(re.search(r"flow wire tcp .*:%d: .* tls \d+\nclearcap:   why no plaintext: encrypted: TLS, and no TLS "
                 r"library clearcap hooks" % port, p.stderr), p.stderr)
    text = cclib.run([env.tool, "report", cap]).stdout
    ok("why no plaintext: encrypted: TLS" in text, text)
    flows = json.loads(cclib.run([env.tool, "report", "--json", cap]).stdout)["flows"]
    eq([(f["encrypted"], "no TLS library clearcap hooks" in f["no_plaintext"]) for f in flows], [("tls", True)],
       "the one flow: TLS, and why no plaintext")
    ok("why no plaintext" not in pc.stderr, pc.stderr)
    flows = json.loads(cclib.run([env.tool, "report", "--json", ccap]).stdout)["flows"]
    wire = [f for f in flows if f["interface"] == "wire"]
    ok(wire and all(f["encrypted"] == "tls" and f["no_plaintext"] is None for f in wire), wire)
    ok(cclib.tshark_count(ccap, 'frame.interface_name == "plaintext" && http') >= 2, "the control's HTTP in the clear")


def test_verbose_names_hooked_libraries(env):
    """clearcap -v: each process says that it runs the shim and which libraries it found and
    hooked, with their files: curl's OpenSSL, and libsrtp2 in a CPython program using pylibsrtp."""
    import subprocess
    if env.sanitize:
        raise cclib.Skip("curl does not start with libasan preloaded")
    cert, key = cclib.make_cert(env)
    port = cclib.free_port(__import__("socket").SOCK_STREAM)
    srv = subprocess.Popen(["openssl", "s_server", "-quiet", "-www", "-accept", str(port), "-cert", cert,
                            "-key", key], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cclib.wait_for_port(port)
        cap = env.path("v.pcapng")
        p = cclib.run([env.tool, "-v", "-q", "-w", cap, "--", "curl", "-sk", "-o", "/dev/null",
                       "https://127.0.0.1:%d/" % port], env=env.env(preload=False))
    finally:
        srv.kill()
        srv.wait()
    lines = [l for l in p.stderr.splitlines() if l.startswith("clearcap: pid ")]
    ok(any(" curl: shim loaded, capturing to " + cap in l for l in lines), lines)
    ok(any(" curl: OpenSSL found (" in l and "libssl" in l and "hooked" in l for l in lines), lines)
    eq(sum(" OpenSSL found" in l for l in lines), 1, "named once")
    code = ("import pylibsrtp, socket; s = pylibsrtp.Session(pylibsrtp.Policy(key=bytes(30), "
            "ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)); "
            "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(s.protect(bytes([0x80, 0, 0, 1]) + bytes(8) + b'x'), "
            "('127.0.0.1', 9))")
    p = cclib.run([env.tool, "-v", "-q", "-w", cap, "--", cclib.PY, "-c", code], env=env.env(preload=False))
    ok(any("libsrtp2 2." in l and "found (" in l and "libsrtp2" in l.split("found (")[1] for l in
           p.stderr.splitlines()), p.stderr)
    # Without -v, not a word.
    p = cclib.run([env.tool, "-q", "-w", cap, "--", cclib.PY, "-c", code], env=env.env(preload=False))
    eq([l for l in p.stderr.splitlines() if "found (" in l or "shim loaded" in l], [], "silent without -v")


REPLAY = r"""
import socket, sys
hello = bytes.fromhex(sys.argv[1])
junk, dtls = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
# A counter sent little-endian in the first bytes, as a load generator does: from 0xfe16 on, every
# datagram starts with the bytes 22, 254 that also start a DTLS handshake record.
for i in range(0xfe10, 0xfe30):
    junk.sendto(i.to_bytes(8, 'little') + b'\xa5' * 192, ('127.0.0.1', int(sys.argv[2])))
dtls.sendto(hello, ('127.0.0.1', int(sys.argv[3])))
# What follows a handshake: an application-data record of DTLS 1.2, epoch 1 (its body random, as
# ciphertext is).
body = bytes((i * 113 + 7) % 256 for i in range(64))
dtls.sendto(b'\x17\xfe\xfd\x00\x01\x00\x00\x00\x00\x00\x01' + len(body).to_bytes(2, 'big') + body,
            ('127.0.0.1', int(sys.argv[3])))
"""


def test_dtls_note_only_on_a_handshake(env):
    """The first DTLS handshake of a process whose DTLS no hooked library makes says why there
    is no plaintext, on that packet.  Datagrams of another protocol that only start with the
    same two bytes (22, 254) are not DTLS: no note on them, and the report does not call their
    flow DTLS.  The ClientHello is a real one, from `openssl s_client -dtls1_2` (run without the
    shim), replayed by a CPython program that loads no TLS library."""
    import socket
    import subprocess
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(15)
    cli = subprocess.Popen(["openssl", "s_client", "-dtls1_2", "-connect", "127.0.0.1:%d" % rx.getsockname()[1]],
                           stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env=env.env(preload=False))
    try:
        hello = rx.recv(65536)
    finally:
        cli.kill()
        cli.wait()
        rx.close()
    eq(hello[:3], b"\x16\xfe\xff", "a DTLS ClientHello from openssl: %r" % hello[:16])
    junk_port, dtls_port = cclib.free_port(), cclib.free_port()
    cap = env.path("d.pcapng")
    p = cclib.run([env.tool, "-w", cap, "--", cclib.PY, "-c", REPLAY, hello.hex(), str(junk_port), str(dtls_port)],
                  env=env.env(preload=env.sanitize))
    eq(cclib.tshark_count(cap, "udp.dstport == %d" % junk_port), 32, "the other protocol's datagrams")
    noted = cclib.tshark(cap, ["udp.dstport", "dtls.handshake.type"], 'frame.comment contains "encrypted: DTLS"',
                         extra=["-d", "udp.port==%d,dtls" % dtls_port])
    eq(noted, [[str(dtls_port), "1"]], "the note on the ClientHello alone")
    # The report: the DTLS flow says why it has no plaintext; the other flow is not DTLS at all.
    flows = json.loads(cclib.run([env.tool, "report", "--json", cap]).stdout)["flows"]
    by_port = {int(f["a"].rsplit(":", 1)[1]) if f["local"] == "b" else int(f["b"].rsplit(":", 1)[1]): f
               for f in flows}
    eq(sorted(by_port), sorted([junk_port, dtls_port]), "two flows: %r" % flows)
    d, j = by_port[dtls_port], by_port[junk_port]
    ok(d["encrypted"] == "dtls" and "no TLS library clearcap hooks" in (d["no_plaintext"] or ""), d)
    eq((j["encrypted"], j["no_plaintext"], j.get("dtls")), (None, None, None), "the other flow: %r" % j)
    ok(re.search(r":%d: .*\nclearcap:   why no plaintext: encrypted: DTLS" % dtls_port, p.stderr), p.stderr[-1500:])
    ok(not re.search(r":%d: .*\nclearcap:   why no plaintext" % junk_port, p.stderr), p.stderr[-1500:])


def test_start_failure_named_though_others_captured(env):
    """A daemon-like child that sends stderr to /dev/null and drops to nobody before its first
    packet cannot open the capture file (root's, 0600): its one warning is lost with its stderr.
    The parent captures; the wrapper's summary still names the child and the reason."""
    import os
    if os.geteuid() != 0:
        raise cclib.Skip("needs root (the child drops to nobody)")
    cap = env.path("c.pcapng")
    code = r"""
import os, socket
pid = os.fork()
if pid == 0:
    fd = os.open('/dev/null', os.O_WRONLY); os.dup2(fd, 2)
    os.setgroups([]); os.setgid(65534); os.setuid(65534)
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'child', ('127.0.0.1', 9))
    os._exit(0)
os.waitpid(pid, 0)
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'parent', ('127.0.0.1', 9))
print(pid)
"""
    p, lines = summary(env, [cclib.PY, "-c", code], cap)
    eq(p.returncode, 0, "exit status")
    child = p.stdout.strip()
    why = [l for l in lines if "could not start" in l]
    eq(len(why), 1, "one line for the child that could not capture: %r" % lines)
    ok("could not start in 1 more process (python3 (pid %s): CLEARCAP_FILE: cannot open " % child in why[0]
       and "Permission denied" in why[0], why[0])
    ok(any("1 packet captured" in l for l in lines), lines)
    eq([bytes.fromhex(r[0]) for r in cclib.tshark(cap, ["udp.payload"])], [b"parent"], "the parent's datagram")
