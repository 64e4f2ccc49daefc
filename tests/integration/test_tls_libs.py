"""TLS libraries other than OpenSSL, behind the shim's TLS seam (shim/tls.c).

GnuTLS: Debian's gnutls-serv --echo and gnutls-cli (gnutls-bin), over TLS 1.3, TLS 1.2 and DTLS
(--udp), both under the shim writing one file.  Each program's plaintext must be exactly the bytes
it sent and received, on the wire's 5-tuple; tshark must decrypt the wire copy from the file's
Decryption Secrets Blocks alone; GnuTLS's own SSLKEYLOGFILE must keep working.

NSS: Debian's selfserv and tstclnt (libnss3-tools) over TLS 1.3 and 1.2, and tstclnt's DTLS client
and server roles: exactly the bytes each moved, on the wire's ports; TLS 1.3 secrets (the wire
decrypts from the DSBs); no TLS 1.2 secrets (NSS gives none: README, Limits).

wolfSSL: a small client and server built in the test against Debian's libwolfssl, over TLS 1.2,
DTLS 1.2 (the wire decrypts from the DSBs alone) and TLS 1.3 (plaintext only, and why).

mbedTLS: Debian's lighttpd with mod_mbedtls (libmbedtls14) serving curl over TLS 1.2: the plaintext
is the decrypted wire stream, on the wire's ports; the wire decrypts from the DSBs alone.

Two libraries in one process: Debian's python3 serving TLS with its ssl module (OpenSSL, loaded by
the _ssl extension) to a client in the same process that calls libgnutls through the dynamic
linker (ctypes), as any program linked with both would."""
import os
import select
import socket
import subprocess
import time

import cclib
from cclib import eq, ok, tshark

QUICK = ["test_gnutls_tls13", "test_openssl_and_gnutls_in_one_process", "test_nss_tls13", "test_mbedtls_lighttpd",
         "test_wolfssl_tls12", "test_mbedtls_dtls_srtp_keys", "test_gnutls_corner_retry_with_null"]

PLAIN = 'frame.interface_name == "plaintext"'
WIRE = 'frame.interface_name == "wire"'
# Both ends of a connection write their copies into one file, each process in its own blocks: a
# receiver's copy of a record read in two calls (header, then body) may have the sender's copy
# between its halves, and without out-of-order reassembly tshark then dissects neither (seen once
# in CI: no ServerHello on the wire; any such interleaving reproduces it).
BOTH_ENDS = ["-o", "tcp.reassemble_out_of_order:TRUE"]
NO_KEYLOG = ["-o", "tls.keylog_file:"]

LINES = [b"first line from gnutls-cli\n", b"second line, \xc3\xa9t\xc3\xa9 \x01\x02 binary-ish\n"]


def make_cert(env):
    cert, key = env.path("cert.pem"), env.path("key.pem")
    cclib.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
               "-days", "1", "-keyout", key, "-out", cert])
    return cert, key


def _bound(port, udp, timeout=10.0):
    """Waits until some socket is bound to port (listening, for TCP), without connecting to it."""
    names = ["/proc/net/udp", "/proc/net/udp6"] if udp else ["/proc/net/tcp", "/proc/net/tcp6"]
    want = ":%04X" % port
    deadline = time.time() + timeout
    while time.time() < deadline:
        for n in names:
            for line in open(n).read().splitlines()[1:]:
                f = line.split()
                if f[1].endswith(want) and (udp or f[3] == "0A"):
                    return
        time.sleep(0.05)
    raise AssertionError("nothing bound to port %d" % port)


def _gnutls_pair(env, mode):
    if env.sanitize:
        # gnutls-cli hangs at exit in p11-kit's destructor (setlocale's lock) whenever libasan is
        # preloaded, shim or not (like curl in test_tls).
        raise cclib.Skip("gnutls-cli does not exit with libasan preloaded")
    cclib.need("gnutls-serv")
    cclib.need("gnutls-cli")
    cert, key = make_cert(env)
    udp = mode == "dtls"
    cap, keys, own = env.path("c.pcapng"), env.path("keys.txt"), env.path("gnutls.keys")
    port = cclib.free_port(socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    prio = {"tls13": ["--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.3"],
            "tls12": ["--priority", "NORMAL:-VERS-TLS1.3"], "dtls": ["--udp"]}[mode]
    extra = {"CLEARCAP_KEYLOG": keys}
    srv = subprocess.Popen(["gnutls-serv", "--echo", "-p", str(port), "--x509certfile", cert, "--x509keyfile", key]
                           + (["--udp"] if udp else []), env=env.env(cap, extra), stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _bound(port, udp)
        # The client's own key log (SSLKEYLOGFILE, read by GnuTLS) must still be written.
        cli = subprocess.Popen(["gnutls-cli", "--insecure", "-p", str(port), "127.0.0.1"] + prio,
                               env=env.env(cap, dict(extra, SSLKEYLOGFILE=own)), stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        for line in LINES:
            time.sleep(0.8)
            cli.stdin.write(line)
            cli.stdin.flush()
        time.sleep(0.8)
        cli.stdin.close()
        out = cli.stdout.read()
        cli.wait(timeout=10)
    finally:
        srv.terminate()
        srv.wait(timeout=10)
    for line in LINES:
        ok(line in out, "gnutls-cli got its echo (program unchanged): %r" % out[-300:])
    return cap, keys, own, port


def _check_plaintext(cap, port, udp):
    """Each process's plaintext, per direction, is exactly what it sent and received, on the wire's flow."""
    proto = "udp" if udp else "tcp"
    rows = tshark(cap, ["sll.pkttype", "ip.src", "ipv6.src", proto + ".srcport", proto + ".dstport",
                        proto + ".payload", "frame.comment"], PLAIN + (" && udp" if udp else " && tcp.len > 0"))
    sent = b"".join(LINES)
    got = {}
    for r in rows:
        prog = "cli" if "gnutls-cli" in r[6] else "srv" if "gnutls-serv" in r[6] else "?"
        got.setdefault((prog, r[0]), []).append(bytes.fromhex(r[5]))
        eq(cclib.addr(r[1], r[2]), "127.0.0.1", "plaintext on the real address")
        ok(str(port) in (r[3], r[4]), "plaintext on the server port %d: %r" % (port, r[:5]))
        ok("nested socket call" in r[6] or "transport descriptor" in r[6] or "earlier record" in r[6],
           "flow found and said how: %r" % r[6])
    # 4: outgoing, 0: incoming.  The echo server sends back what it got.
    for key in [("cli", "4"), ("cli", "0"), ("srv", "0"), ("srv", "4")]:
        eq(b"".join(got.get(key, [])), sent, "plaintext bytes of %s, direction %s" % key)
    if udp:
        eq(got[("cli", "4")], LINES, "one datagram per record the client sent")
    wire = {(r[0], r[1]) for r in tshark(cap, [proto + ".srcport", proto + ".dstport"],
                                         WIRE + (" && dtls" if udp else " && tls"), BOTH_ENDS)}
    flows = {(r[3], r[4]) for r in rows}
    ok(flows and flows <= wire, "plaintext ports %r are the wire (D)TLS flow's %r" % (flows, wire))
    return len(rows), sum(len(b) for v in got.values() for b in v)


def _check_keys(keys, own, labels):
    ours = open(keys).read().splitlines()
    theirs = [l for l in open(own).read().splitlines() if l and not l.startswith("#")]
    ok(theirs, "SSLKEYLOGFILE still written by GnuTLS")
    ok(set(theirs) <= set(ours), "our key log has every secret GnuTLS's own has")
    for label in labels:
        # Both ends log each secret once.
        eq(sum(1 for l in ours if l.startswith(label + " ")), 2, "%s lines (both ends)" % label)


def _gnutls_tcp(env, mode):
    cap, keys, own, port = _gnutls_pair(env, mode)
    _check_plaintext(cap, port, udp=False)
    _check_keys(keys, own, ["CLIENT_TRAFFIC_SECRET_0", "SERVER_HANDSHAKE_TRAFFIC_SECRET"] if mode == "tls13"
                else ["CLIENT_RANDOM"])
    # The wire copy decrypts with nothing but the file's DSBs, to the bytes the programs moved.
    ver = tshark(cap, ["tls.handshake.extensions.supported_version", "tls.record.version"],
                 WIRE + " && tls.handshake.type == 2", BOTH_ENDS)
    ok(ver, "ServerHello on the wire")
    eq(ver[0][0] if mode == "tls13" else ver[0][1], "0x0304" if mode == "tls13" else "0x0303", "TLS version")
    stream = int(tshark(cap, ["tcp.stream"], WIRE + " && tls")[0][0])
    dec = cclib.follow_tcp(cap, stream, extra=NO_KEYLOG + BOTH_ENDS, proto="tls")
    eq(dec, (b"".join(LINES), b"".join(LINES)), "wire decrypted from DSBs = plaintext")


def test_gnutls_tls13(env):
    _gnutls_tcp(env, "tls13")


def test_gnutls_tls12(env):
    _gnutls_tcp(env, "tls12")


def test_gnutls_dtls(env):
    cap, keys, own, port = _gnutls_pair(env, "dtls")
    _check_plaintext(cap, port, udp=True)
    _check_keys(keys, own, ["CLIENT_RANDOM"])
    # Every wire copy of an application-data record (client's and server's, sent and received)
    # decrypts from the DSBs alone, to the lines.
    rows = tshark(cap, ["data.data"], WIRE + " && dtls.app_data", extra=NO_KEYLOG)
    eq(len(rows), 4 * len(LINES), "wire DTLS application records")
    eq(sorted(bytes.fromhex(r[0].replace(":", "")) for r in rows), sorted(LINES * 4), "decrypted wire records")


MIXED = r"""
import ctypes, socket, ssl, sys, threading
# libgnutls into the global scope, as for a program linked with it; calls then go through the
# dynamic linker's global lookup (ctypes.CDLL(None)), which is where an LD_PRELOAD hook sits.
ctypes.CDLL("libgnutls.so.30", mode=ctypes.RTLD_GLOBAL)
g = ctypes.CDLL(None)
g.gnutls_record_send.restype = g.gnutls_record_recv.restype = ctypes.c_ssize_t
g.gnutls_record_send.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
g.gnutls_record_recv.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
for f in ("gnutls_set_default_priority", "gnutls_handshake", "gnutls_deinit"):
    getattr(g, f).argtypes = [ctypes.c_void_p]
g.gnutls_credentials_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
g.gnutls_transport_set_int2.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
g.gnutls_bye.argtypes = [ctypes.c_void_p, ctypes.c_int]

sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); sctx.load_cert_chain(sys.argv[1], sys.argv[2])
sctx.keylog_filename = sys.argv[3]
lsn = socket.socket(); lsn.bind(('127.0.0.1', 0)); lsn.listen(1); port = lsn.getsockname()[1]
def serve():                                   # OpenSSL side: answers each request with its reverse
    c, _ = lsn.accept(); s = sctx.wrap_socket(c, server_side=True)
    req = s.recv(1000)
    s.sendall(req[::-1])
    s.recv(1000)                                # the client's close_notify
    s.close()
t = threading.Thread(target=serve, daemon=True); t.start()

cred = ctypes.c_void_p(); sess = ctypes.c_void_p()   # GnuTLS side: client, no verification
assert g.gnutls_certificate_allocate_credentials(ctypes.byref(cred)) == 0
assert g.gnutls_init(ctypes.byref(sess), 2) == 0     # GNUTLS_CLIENT
assert g.gnutls_set_default_priority(sess) == 0
assert g.gnutls_credentials_set(sess, 1, cred) == 0  # GNUTLS_CRD_CERTIFICATE
sock = socket.create_connection(('127.0.0.1', port))
g.gnutls_transport_set_int2(sess, sock.fileno(), sock.fileno())
assert g.gnutls_handshake(sess) == 0
msg = b'request from GnuTLS to OpenSSL\n'
assert g.gnutls_record_send(sess, msg, len(msg)) == len(msg)
buf = ctypes.create_string_buffer(1000)
n = -28
while n in (-28, -52):                         # GNUTLS_E_AGAIN, GNUTLS_E_INTERRUPTED
    n = g.gnutls_record_recv(sess, buf, 1000)
assert n > 0 and buf.raw[:n] == msg[::-1], n
g.gnutls_bye(sess, 1)                          # GNUTLS_SHUT_WR
t.join(); g.gnutls_deinit(sess); sock.close()
print(port)
"""


def test_openssl_and_gnutls_in_one_process(env):
    """One python3 process: an OpenSSL server (ssl module) and a GnuTLS client (libgnutls): both
    libraries' plaintext is captured, each on its own end of the one connection, and both log
    the secrets."""
    cclib.need("gnutls-cli")        # gnutls-bin brings libgnutls30 along
    cert, key = make_cert(env)
    cap, keys, own = env.path("c.pcapng"), env.path("keys.txt"), env.path("py.keys")
    out = cclib.run([cclib.PY, "-c", MIXED, cert, key, own], env=env.env(cap, {"CLEARCAP_KEYLOG": keys}))
    sport = out.stdout.split()[0]
    msg = b"request from GnuTLS to OpenSSL\n"
    rows = tshark(cap, ["sll.pkttype", "tcp.srcport", "tcp.dstport", "tcp.payload"], PLAIN + " && tcp.len > 0")
    cport = [r[1] if r[2] == sport else r[2] for r in rows][0]
    seen = {}
    for r in rows:
        ok(sport in (r[1], r[2]), "plaintext on the server port: %r" % r)
        local = r[1] if r[0] == "4" else r[2]
        side = "openssl" if local == sport else "gnutls" if local == cport else "?"
        seen.setdefault((side, r[0]), b"")
        seen[(side, r[0])] += bytes.fromhex(r[3])
    eq(seen.get(("gnutls", "4")), msg, "GnuTLS client's sent plaintext")
    eq(seen.get(("openssl", "0")), msg, "OpenSSL server's received plaintext")
    eq(seen.get(("openssl", "4")), msg[::-1], "OpenSSL server's sent plaintext")
    eq(seen.get(("gnutls", "0")), msg[::-1], "GnuTLS client's received plaintext")
    # Each secret twice: once from each library's key log hook; Python's own key log kept.
    ours = open(keys).read().splitlines()
    eq(sum(1 for l in ours if l.startswith("CLIENT_TRAFFIC_SECRET_0 ")), 2, "one line per library")
    ok(set(l for l in open(own).read().splitlines() if not l.startswith("#")) <= set(ours),
       "the program's own (OpenSSL) key log callback still called")
    dec = cclib.follow_tcp(cap, int(tshark(cap, ["tcp.stream"], WIRE + " && tls")[0][0]),
                           extra=NO_KEYLOG + BOTH_ENDS, proto="tls")
    eq(sorted(dec), sorted([msg, msg[::-1]]), "wire decrypted from DSBs")


def _nss_db(env):
    """An NSS certificate database holding a self-signed server certificate named "server"."""
    db = env.path("nssdb")
    os.mkdir(db)
    noise = env.path("noise")
    with open(noise, "wb") as f:
        f.write(os.urandom(64))
    cclib.run(["certutil", "-N", "-d", "sql:" + db, "--empty-password"])
    cclib.run(["certutil", "-S", "-d", "sql:" + db, "-n", "server", "-s", "CN=localhost", "-t", "CT,C,C", "-x",
               "-k", "rsa", "-g", "2048", "-v", "12", "-z", noise, "-8", "localhost"])
    return db


def _read_until(f, end, timeout):
    """What pipe f gives until it holds `end`, or timeout seconds passed."""
    got, deadline = b"", time.time() + timeout
    while end not in got and time.time() < deadline:
        r, _, _ = select.select([f], [], [], max(0.0, deadline - time.time()))
        chunk = os.read(f.fileno(), 65536) if r else b""
        if not chunk:
            break
        got += chunk
    return got


def _nss(env, version, opts=()):
    """NSS's selfserv and tstclnt (libnss3-tools): plaintext from PR_Write/PR_Writev/PR_Read, both
    ends in one file, exactly the bytes each program moved, on the wire's ports; the secrets of
    both ends (TLS 1.3's traffic secrets, TLS 1.2's master secret), so tshark decrypts the wire
    from the DSBs alone."""
    for tool in ("selfserv", "tstclnt", "certutil"):
        cclib.need(tool)
    db = _nss_db(env)
    cap, keys = env.path("c.pcapng"), env.path("keys.txt")
    extra = {"CLEARCAP_KEYLOG": keys}
    port = cclib.free_port(socket.SOCK_STREAM)
    srv = subprocess.Popen(["selfserv", "-n", "server", "-p", str(port), "-d", "sql:" + db, "-V", version] +
                           list(opts), env=env.env(cap, extra), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    req = b"GET /nss-test HTTP/1.0\r\n\r\n"
    try:
        _bound(port, udp=False)
        cli = subprocess.Popen(["tstclnt", "-h", "127.0.0.1", "-p", str(port), "-d", "sql:" + db, "-o",
                                "-V", version] + list(opts), env=env.env(cap, extra), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
        cli.stdin.write(req)
        cli.stdin.close()
        # tstclnt never leaves by itself once its stdin ended (with or without the shim): it is
        # stopped once its output holds selfserv's whole answer (which ends "EOF" and three empty
        # lines), or after 20 s.  (A fixed 2 s was not always enough on a loaded machine.)
        out = _read_until(cli.stdout, b"EOF\r\n\r\n\r\n", 20)
        time.sleep(1.0)         # for its records to reach the file: SIGTERM is no flush
        cli.terminate()
        cli.wait(timeout=10)
    finally:
        srv.terminate()
        srv.wait(timeout=10)
    out += cli.stdout.read()
    ok(b"HTTP/1.0 200 OK" in out and req in out, "tstclnt got selfserv's answer: %r" % out[-300:])
    rows = tshark(cap, ["sll.pkttype", "ip.src", "ipv6.src", "tcp.srcport", "tcp.dstport", "tcp.payload",
                        "frame.comment"], PLAIN + " && tcp.len > 0")
    got = {}
    for r in rows:
        prog = "cli" if "tstclnt" in r[6] else "srv" if "selfserv" in r[6] else "?"
        got[(prog, r[0])] = got.get((prog, r[0]), b"") + bytes.fromhex(r[5])
        eq(cclib.addr(r[1], r[2]), "127.0.0.1", "plaintext on the real address")
        ok(str(port) in (r[3], r[4]), "plaintext on the server port")
        ok("nested socket call" in r[6] or "NSPR descriptor" in r[6] or "earlier record" in r[6], r[6])
    eq(got.get(("cli", "4")), req, "tstclnt's sent plaintext")
    eq(got.get(("srv", "0")), req, "selfserv's received plaintext")
    answer = got.get(("srv", "4"), b"")
    ok(answer.startswith(b"HTTP/1.0 200 OK") and answer in out, "selfserv's answer: %r" % answer[:200])
    eq(got.get(("cli", "0")), answer, "tstclnt received what selfserv sent")
    wire = {(r[0], r[1]) for r in tshark(cap, ["tcp.srcport", "tcp.dstport"], WIRE + " && tls", BOTH_ENDS)}
    ok({(r[3], r[4]) for r in rows} <= wire, "plaintext ports are the wire TLS connection's")
    ver = tshark(cap, ["tls.handshake.extensions.supported_version", "tls.record.version"],
                 WIRE + " && tls.handshake.type == 2", BOTH_ENDS)
    tls13 = version.startswith("tls1.3")
    ok(ver, "ServerHello on the wire")
    eq(ver[0][0] if tls13 else ver[0][1], "0x0304" if tls13 else "0x0303", "TLS version on the wire")
    lines = open(keys).read().splitlines()
    for label in (("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0",
                   "SERVER_TRAFFIC_SECRET_0") if tls13 else ("CLIENT_RANDOM",)):
        eq(len({l for l in lines if l.startswith(label + " ")}), 1, "%s: one secret, logged by both ends" % label)
        eq(sum(1 for l in lines if l.startswith(label + " ")), 2, "%s lines" % label)
    # The wire copy decrypts from the DSBs alone, to the bytes the programs moved.
    stream = int(tshark(cap, ["tcp.stream"], WIRE + " && tls")[0][0])
    dec = cclib.follow_tcp(cap, stream, extra=NO_KEYLOG + BOTH_ENDS, proto="tls")
    eq(sorted(dec), sorted([req, answer]), "wire decrypted from DSBs = plaintext")
    return cap


def test_nss_tls13(env):
    # selfserv logs its application secret after it sent its flight, and tstclnt the server's
    # once it has read the server's Finished: both copies of the flight wait for it (tlswait.h),
    # else tshark's single pass cannot decrypt the answer (seen in the ASan lane, 1 run in 3
    # under load, before the wait).
    _nss(env, "tls1.3:tls1.3")


def test_nss_tls12(env):
    _nss(env, "tls1.2:tls1.2")


def test_nss_tls12_extended_master_secret(env):
    """The same with RFC 7627's extended master secret (-G on both ends): its derivation's
    parameters hold no client random; the ClientHello's is taken."""
    cap = _nss(env, "tls1.2:tls1.2", ["-G"])
    ems = tshark(cap, ["tls.handshake.extension.type"], WIRE + " && tls.handshake.type == 2", BOTH_ENDS)
    ok("23" in ems[0][0].split(","), "the ServerHello accepts extended_master_secret: %r" % ems)


def test_nss_dtls(env):
    """tstclnt in DTLS client and server roles (-P): each line typed on one side is, on the
    plaintext interface, exactly once sent by that process and once received by the other, on the
    wire's UDP ports.  (Wireshark 4.0 does not dissect DTLS 1.3's records; no secrets either.)"""
    for tool in ("tstclnt", "certutil"):
        cclib.need(tool)
    db = _nss_db(env)
    cap, keys = env.path("c.pcapng"), env.path("keys.txt")
    port = cclib.free_port(socket.SOCK_DGRAM)
    common = ["-p", str(port), "-h", "127.0.0.1", "-d", "sql:" + db]
    srv = subprocess.Popen(["tstclnt", "-P", "server", "-n", "server", "-w", ""] + common,
                           env=env.env(cap, {"CLEARCAP_KEYLOG": keys}),
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    cli = None
    up, down = b"hello from the NSS DTLS client\n", b"answer from the NSS DTLS server\n"
    try:
        _bound(port, udp=True)
        cli = subprocess.Popen(["tstclnt", "-P", "client", "-o"] + common,
                               env=env.env(cap, {"CLEARCAP_KEYLOG": keys}), stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        time.sleep(0.8)
        cli.stdin.write(up)
        cli.stdin.flush()
        time.sleep(0.8)
        srv.stdin.write(down)
        srv.stdin.flush()
        time.sleep(0.8)
    finally:
        # Neither role leaves by itself: stopped once the lines had time to arrive.
        for p in (cli, srv):
            if p:
                p.terminate()
                p.wait(timeout=10)
    ok(up in srv.stdout.read(), "the server role got the client's line (program unchanged)")
    ok(down in cli.stdout.read(), "the client role got the server's line")
    rows = tshark(cap, ["sll.pkttype", "udp.srcport", "udp.dstport", "udp.payload", "frame.comment"], PLAIN)
    got = {}
    for r in rows:
        pid = r[4].split(";")[0]
        got.setdefault(bytes.fromhex(r[3]), []).append((r[0], r[1], r[2], pid))
        ok("nested socket call" in r[4] or "earlier record" in r[4] or "NSPR descriptor" in r[4], r[4])
    eq(sorted(got), sorted([up, down]), "plaintexts")
    for text, sender_port in ((up, None), (down, str(port))):
        seen = got[text]
        eq(sorted(s[0] for s in seen), ["0", "4"], "%r: once sent, once received" % text)
        eq(len({s[3] for s in seen}), 2, "%r: by two processes" % text)
        if sender_port:
            ok(all(s[1] == sender_port for s in seen), "%r comes from the server port: %r" % (text, seen))
        else:
            ok(all(s[2] == str(port) for s in seen), "%r goes to the server port: %r" % (text, seen))
    wire = {(r[0], r[1]) for r in tshark(cap, ["udp.srcport", "udp.dstport"], WIRE + " && udp")}
    ok({(s[1], s[2]) for v in got.values() for s in v} <= wire, "plaintext ports are the wire flow's")
    lines = open(keys).read().splitlines()
    for label in ("CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"):
        eq(len([l for l in lines if l.startswith(label + " ")]), 2, "%s lines (both ends)" % label)


def test_mbedtls_lighttpd(env):
    """mbedTLS: Debian's lighttpd with mod_mbedtls (libmbedtls14, TLS 1.2) serving two HTTPS
    connections from curl, lighttpd under the shim.  Its plaintext is exactly the decrypted wire
    stream, on the wire's ports; tshark decrypts the wire from the file's Decryption Secrets Blocks
    alone; the key log has one CLIENT_RANDOM per connection."""
    cclib.need("lighttpd")
    if not os.path.exists("/usr/lib/lighttpd/mod_mbedtls.so"):
        raise cclib.Skip("lighttpd-mod-mbedtls not installed")
    cert, key = make_cert(env)
    both = env.path("both.pem")
    with open(both, "w") as f:
        f.write(open(cert).read() + open(key).read())
    www = env.path("www")
    os.mkdir(www)
    pages = {"a.html": "first page over mbedTLS\n", "b.txt": "second, \u00e9t\u00e9 \x01 binary-ish\n" * 40}
    for name, body in pages.items():
        with open(os.path.join(www, name), "w") as f:
            f.write(body)
    port = cclib.free_port(socket.SOCK_STREAM)
    conf = env.path("lighttpd.conf")
    with open(conf, "w") as f:
        f.write('server.document-root = "%s"\nserver.port = %d\nserver.bind = "127.0.0.1"\n'
                'server.modules += ("mod_mbedtls")\nssl.engine = "enable"\nssl.pemfile = "%s"\n'
                'server.errorlog = "%s"\n' % (www, port, both, env.path("error.log")))
    cap, keys = env.path("c.pcapng"), env.path("keys.txt")
    srv = subprocess.Popen(["lighttpd", "-D", "-f", conf], env=env.env(cap, {"CLEARCAP_KEYLOG": keys}),
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _bound(port, False)
        for name, body in pages.items():
            got = cclib.run(["curl", "-sk", "--http1.1", "https://127.0.0.1:%d/%s" % (port, name)],
                            env=env.env(preload=False)).stdout
            eq(got, body, "curl got the page (server unchanged)")
    finally:
        srv.terminate()
        err = srv.communicate(timeout=10)[1]
    ok("clearcap" not in err.decode(errors="replace") or "error" not in err.decode(errors="replace"), err)
    lines = [l.split() for l in open(keys).read().splitlines()]
    eq([l[0] for l in lines], ["CLIENT_RANDOM"] * 2, "one TLS 1.2 master secret per connection: %r" % lines)
    ok(all(len(l[1]) == 64 and len(l[2]) == 96 for l in lines), lines)
    # The wire decrypts from the file alone; each connection's plaintext is the decrypted stream.
    wire = {}
    for r in tshark(cap, ["tcp.stream", "tcp.srcport", "tcp.dstport"], WIRE + " && tls.app_data", NO_KEYLOG):
        wire[r[0]] = {r[1], r[2]}
    eq(len(wire), 2, "two connections whose wire records decrypt: %r" % wire)
    uris = [r[0] for r in tshark(cap, ["http.request.uri"], WIRE + " && http.request", NO_KEYLOG)]
    eq(sorted(uris), ["/a.html", "/b.txt"], "requests decrypted on the wire")
    plain = {}
    for r in tshark(cap, ["tcp.stream", "tcp.srcport", "tcp.dstport", "frame.comment"], PLAIN + " && tcp.len > 0"):
        plain[r[0]] = {r[1], r[2]}
        ok("lighttpd" in r[3] and "nested socket call" in r[3], "flow found by nesting: %r" % r[3])
    eq(sorted(map(sorted, plain.values())), sorted(map(sorted, wire.values())), "plaintext on the wire's ports")
    for ws, ports in wire.items():
        ps = [s for s, p in plain.items() if p == ports][0]
        dec = set(cclib.follow_tcp(cap, int(ws), NO_KEYLOG, proto="tls"))
        clear = set(cclib.follow_tcp(cap, int(ps)))
        eq(clear, dec, "plaintext = the decrypted wire stream, both directions")
        req = [d for d in clear if d.startswith(b"GET /")]
        ok(req and any(d.startswith(b"HTTP/1.1 200 OK") and d.endswith(pages[req[0].split()[1][1:].decode()]
                                                                       .encode()) for d in clear), clear)


WOLF_MSGS = [b"first record from the wolfSSL client", b"second, \xc3\xa9t\xc3\xa9 binary-ish \x01\x02"]


def _peer(env, name, header, libs):
    """tests/integration/NAME.c built against a Debian library (HEADER from its -dev package)."""
    if not os.path.exists(header):
        raise cclib.Skip("%s not installed (its -dev package)" % header)
    exe = env.path(name)
    cclib.run(["gcc", "-O1", "-o", exe, os.path.join(os.path.dirname(os.path.abspath(__file__)), name + ".c")]
              + libs)
    return exe


def _pair_script(server_args, client_args, port, udp):
    """sh: "$EXE" SERVER_ARGS in the background, then, once its port is bound, "$EXE" CLIENT_ARGS."""
    return ('"$EXE" server %s & for i in $(seq 100); do grep -q ":%04X " %s && break; sleep 0.05; done; '
            '"$EXE" client %s; wait' % (server_args, port, "/proc/net/udp" if udp else "/proc/net/tcp",
                                        client_args))


def _wolf(env, mode):
    """tests/integration/wolf_peer.c built against Debian's libwolfssl: its server echoes the
    client's records; both under one clearcap run."""
    exe = _peer(env, "wolf_peer", "/usr/include/wolfssl/ssl.h", ["-lwolfssl"])
    cert, key = make_cert(env)
    udp = mode == "dtls12"
    port = cclib.free_port(socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    cap, keys = env.path("c.pcapng"), env.path("keys.txt")
    script = _pair_script('%s %d "$CERT" "$KEY"' % (mode, port), '%s %d "$M1" "$M2"' % (mode, port), port, udp)
    e = env.env(preload=env.sanitize)
    e.update(EXE=exe, CERT=cert, KEY=key, M1=WOLF_MSGS[0].decode(), M2=WOLF_MSGS[1].decode())
    p = cclib.run([env.tool, "-w", cap, "-k", keys, "--", "sh", "-c", script], env=e, timeout=60)
    eq(p.stdout.encode().split(b"\n")[:2], WOLF_MSGS, "the client got its echoes (programs unchanged)")
    # Each process's plaintext, per direction, is exactly what it moved, on the wire's 5-tuple.
    proto = "udp" if udp else "tcp"
    rows = tshark(cap, ["sll.pkttype", proto + ".srcport", proto + ".dstport", proto + ".payload", "frame.comment"],
                  PLAIN + (" && udp" if udp else " && tcp.len > 0"))
    got = {}
    for r in rows:
        side = "srv" if r[1] == str(port) else "cli"
        ok(str(port) in (r[1], r[2]) and "nested socket call" in r[4], "on the server port, by nesting: %r" % r)
        got.setdefault((side, r[0]), []).append(bytes.fromhex(r[3]))
    sent = b"".join(WOLF_MSGS)
    for k in [("cli", "4"), ("cli", "0"), ("srv", "0"), ("srv", "4")]:
        eq(b"".join(got.get(k, [])), sent, "plaintext of %s, direction %s" % k)
    if udp:
        eq(got[("cli", "4")], WOLF_MSGS, "one datagram per record")
    wire = {(r[0], r[1]) for r in tshark(cap, [proto + ".srcport", proto + ".dstport"],
                                         WIRE + (" && dtls" if udp else " && tls"), BOTH_ENDS)}
    ok({(r[1], r[2]) for r in rows} <= wire,
       "plaintext ports are the wire (D)TLS flow's: %r, wire %r" % (sorted({(r[1], r[2]) for r in rows}), sorted(wire)))
    return cap, keys, p.stderr


def test_wolfssl_tls12(env):
    """wolfSSL TLS 1.2: plaintext, and the master secret read from the session after the
    handshake (Debian's build has no secret callback), so the wire decrypts from the DSBs alone."""
    cap, keys, _ = _wolf(env, "tls12")
    lines = open(keys).read().split()
    eq(lines[0::3], ["CLIENT_RANDOM"] * 2, "one master secret per end: %r" % lines)
    eq(lines[1:3], lines[4:6], "both ends log the same session")
    stream = int(tshark(cap, ["tcp.stream"], WIRE + " && tls")[0][0])
    dec = cclib.follow_tcp(cap, stream, extra=NO_KEYLOG + BOTH_ENDS, proto="tls")
    eq(dec, (b"".join(WOLF_MSGS), b"".join(WOLF_MSGS)), "wire decrypted from DSBs = plaintext")


def test_wolfssl_dtls12(env):
    """wolfSSL DTLS 1.2 on UDP: plaintext per record, and the wire decrypts from the DSBs alone."""
    cap, keys, _ = _wolf(env, "dtls12")
    eq(open(keys).read().split()[0::3], ["CLIENT_RANDOM"] * 2, "one master secret per end")
    dec = [bytes.fromhex(r[0]) for r in tshark(cap, ["data.data"], WIRE + " && dtls.app_data", NO_KEYLOG)]
    # Both ends are in the file: each record is there as sent and as received, and so is its echo.
    eq(sorted(dec), sorted(m for m in WOLF_MSGS for _ in range(4)), "each record decrypted on the wire")


def test_wolfssl_tls13_says_no_secret(env):
    """wolfSSL TLS 1.3: Debian's libwolfssl gives no TLS 1.3 secret; the plaintext is still
    captured, and each process says once why the wire will not decrypt."""
    cap, keys, err = _wolf(env, "tls13")
    ok(not os.path.exists(keys) or not open(keys).read(), "no secret")
    eq(err.count("wolfSSL TLS 1.3: this libwolfssl is built without its secret callback"), 2,
       "each process says why: " + err)


def test_gnutls_dtls_srtp_keys(env):
    """gnutls-serv and gnutls-cli over DTLS with use_srtp (--srtp-profiles): after the handshake
    each end's DTLS-SRTP keys are logged per flow and direction, mirrored between the ends, on the
    wire's DTLS flow; and they are RFC 5764's: the client's write key and salt equal the exporter
    computed here from the file's master secret and the randoms on the wire."""
    if env.sanitize:
        raise cclib.Skip("gnutls-cli does not exit with libasan preloaded")
    cclib.need("gnutls-serv")
    cclib.need("gnutls-cli")
    cert, key = make_cert(env)
    prof = "SRTP_AES128_CM_HMAC_SHA1_80"
    port = cclib.free_port(socket.SOCK_DGRAM)
    cap, keys, srtp = env.path("c.pcapng"), env.path("keys.txt"), env.path("srtp.keys")
    extra = {"CLEARCAP_KEYLOG": keys, "CLEARCAP_SRTP_KEYLOG": srtp}
    srv = subprocess.Popen(["gnutls-serv", "--udp", "--echo", "-p", str(port), "--x509certfile", cert,
                            "--x509keyfile", key, "--srtp-profiles=" + prof], env=env.env(cap, extra),
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _bound(port, True)
        cli = subprocess.Popen(["gnutls-cli", "--udp", "--insecure", "-p", str(port), "127.0.0.1",
                                "--srtp-profiles=" + prof], env=env.env(cap, extra), stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        time.sleep(0.8)
        cli.stdin.write(b"hello\n")
        cli.stdin.flush()
        time.sleep(0.8)
        cli.stdin.close()
        out = cli.stdout.read()
        cli.wait(timeout=10)
    finally:
        srv.terminate()
        srv.wait(timeout=10)
    ok(b"SRTP profile: " + prof.encode() in out, "use_srtp negotiated (program unchanged): %r" % out[-400:])
    _check_dtls_srtp_keys(cap, keys, srtp)


def _check_dtls_srtp_keys(cap, keys, srtp):
    """The SRTP key log of a DTLS-SRTP session with AES_CM_128_HMAC_SHA1_80 between two ends in
    one file: one line per end and direction, mirrored, on the wire's DTLS flow; and RFC 5764's
    keys: the client's write key and salt equal the exporter (RFC 5705, TLS 1.2's PRF) computed
    here from the key log's master secret and the randoms on the wire."""
    import base64
    import hashlib
    import hmac
    lines = [l.split() for l in open(srtp).read().splitlines()]
    eq(len(lines), 4, "two ends x two directions: %r" % lines)
    by = {(l[1], l[2], l[3]): l[5] for l in lines}
    ok(all(l[4] == "AES_CM_128_HMAC_SHA1_80" for l in lines), lines)
    for (local, peer, d), k in by.items():
        eq(by[(peer, local, "inbound" if d == "outbound" else "outbound")], k, "mirrored key")
    wire = {("127.0.0.1:%s" % r[0], "127.0.0.1:%s" % r[1]) for r in tshark(cap, ["udp.srcport", "udp.dstport"],
                                                                             WIRE + " && dtls")}
    ok({(l, p) for l, p, _ in by} <= wire, "keys on the DTLS flow: %r" % wire)
    rows = tshark(cap, ["udp.srcport", "dtls.handshake.type", "dtls.handshake.random", "dtls.handshake.ciphersuite"],
                  WIRE + " && (dtls.handshake.type == 1 || dtls.handshake.type == 2)", NO_KEYLOG)
    suite = int([r[3].split(",")[0] for r in rows if r[1].split(",")[0] == "2"][0], 0)
    # The PRF's hash is the suite's: SHA-384 for the AES-256-GCM ones, SHA-256 for the others here.
    sha = hashlib.sha384 if suite in (0x009d, 0x009f, 0x00a5, 0x00a7, 0x00a9, 0x00ab, 0x00ad, 0xc02c, 0xc02e,
                                       0xc030, 0xc032) else hashlib.sha256
    cr = [r[2].split(",")[0] for r in rows if r[1].split(",")[0] == "1"][0].replace(":", "")
    sr = [r[2].split(",")[0] for r in rows if r[1].split(",")[0] == "2"][0].replace(":", "")
    client_port = [r[0] for r in rows if r[1].split(",")[0] == "1"][0]
    ms = [l.split()[2] for l in open(keys).read().splitlines() if l.split()[1] == cr][0]
    seed, secret, km = b"EXTRACTOR-dtls_srtp" + bytes.fromhex(cr + sr), bytes.fromhex(ms), b""
    a = seed
    while len(km) < 60:
        a = hmac.new(secret, a, sha).digest()
        km += hmac.new(secret, a + seed, sha).digest()
    client_key = km[0:16] + km[32:46]
    got = [k for (l, p, d), k in by.items() if l.endswith(":" + client_port) and d == "outbound"]
    eq([base64.b64decode(k[7:]) for k in got], [client_key], "the client's write key and salt, by RFC 5764")


MBED_MSGS = ["first record from the mbedTLS client", "second record"]


def test_mbedtls_dtls_srtp_keys(env):
    """tests/integration/mbed_peer.c against Debian's libmbedtls: DTLS 1.2 with use_srtp (PSK, no
    libsrtp2 in the process).  Plaintext per record on the wire's flow; the wire decrypts from the
    DSBs alone; the DTLS-SRTP keys mbedTLS's handshake gives are logged per flow and direction
    and are RFC 5764's."""
    exe = _peer(env, "mbed_peer", "/usr/include/mbedtls/ssl.h", ["-lmbedtls", "-lmbedx509", "-lmbedcrypto"])
    port = cclib.free_port(socket.SOCK_DGRAM)
    cap, keys, srtp = env.path("c.pcapng"), env.path("keys.txt"), env.path("srtp.keys")
    script = _pair_script("%d" % port, '%d "$M1" "$M2"' % port, port, True)
    e = env.env(preload=env.sanitize)
    e.update(EXE=exe, M1=MBED_MSGS[0], M2=MBED_MSGS[1])
    p = cclib.run([env.tool, "-w", cap, "-k", keys, "--srtp-keylog", srtp, "--", "sh", "-c", script], env=e,
                  timeout=60)
    eq(p.stdout.split("\n")[:4], ["srtp profile 1", "srtp profile 1"] + MBED_MSGS,
       "use_srtp negotiated, the echoes came back (programs unchanged): " + p.stdout)
    rows = tshark(cap, ["sll.pkttype", "udp.srcport", "udp.payload"], PLAIN + " && udp")
    got = {}
    for r in rows:
        got.setdefault(("srv" if r[1] == str(port) else "cli", r[0]), []).append(bytes.fromhex(r[2]).decode())
    for k in [("cli", "4"), ("cli", "0"), ("srv", "0"), ("srv", "4")]:
        eq(got.get(k), MBED_MSGS, "plaintext of %s, direction %s, one datagram per record" % k)
    dec = [bytes.fromhex(r[0]).decode() for r in tshark(cap, ["data.data"], WIRE + " && dtls.app_data", NO_KEYLOG)]
    eq(sorted(dec), sorted(m for m in MBED_MSGS for _ in range(4)), "each record decrypted on the wire from DSBs")
    _check_dtls_srtp_keys(cap, keys, srtp)


# ---- API corners (tests/integration/tls_corners.c and CPython): what the program sees, and
# what the file gets, where the shim wraps a library's callbacks ----

def _corners(env, define, header, libs):
    return _peer(env, "tls_corners", header, ["-D" + define] + libs)


def _same_output(env, exe, extra=None):
    """The probe's output without and with the shim: the same.  Returns it."""
    cap = env.path("corner.pcapng")
    plain = cclib.run([exe], env=env.env(preload=False), timeout=60).stdout
    shim = cclib.run([exe], env=env.env(cap, extra), timeout=60).stdout
    eq(shim, plain, "the program's own view, with the shim and without")
    return plain


def _tls_server(env, cert, key, port, mode):
    """CPython's ssl without the shim: "line" sends one line and reads one; "sink" reads all."""
    code = r"""
import socket, ssl, sys, time
c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain(sys.argv[1], sys.argv[2])
ls = socket.socket()
if sys.argv[4] == "sink":
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)   # the client soon finds no room
ls.bind(("127.0.0.1", int(sys.argv[3]))); ls.listen(); ls.settimeout(30)
s, _ = ls.accept()
t = c.wrap_socket(s, server_side=True)
if sys.argv[4] == "line":
    t.sendall(b"HELLO-CORNER\n"); t.settimeout(10); print(t.recv(100))
else:
    time.sleep(0.5); n = 0
    while True:
        d = t.recv(65536)
        if not d: break
        n += len(d)
    print(n)
"""
    p = subprocess.Popen([cclib.PY, "-c", code, cert, key, str(port), mode], env=env.env(preload=False),
                         stdout=subprocess.PIPE, text=True)
    _bound(port, udp=False)
    return p


def test_openssl_corner_bio_getters(env):
    """BIO_meth_get_write/get_read give back the program's own callbacks, not the shim's
    trampolines (they were ours)."""
    exe = _corners(env, "OPENSSL", "/usr/include/openssl/bio.h", ["-lssl", "-lcrypto"])
    out = _same_output(env, exe)
    eq(out, "get_write is the program's: 1, get_read is the program's: 1\n", "the probe's view")


def test_openssl_corner_dtls_bio_refuses_record(env):
    """A DTLS client whose own write BIO refuses its record (SSL_write fails, retry later): the
    plaintext is not in the file when the program gives up, and once when its second SSL_write
    goes (it was in the file when refused, and twice after the retry)."""
    exe = _corners(env, "OPENSSL", "/usr/include/openssl/bio.h", ["-lssl", "-lcrypto"])
    cert, key = make_cert(env)
    for retry, want in (("0", 0), ("1", 1)):
        cap = env.path("c%s.pcapng" % retry)
        plain = cclib.run([exe, "dtls", cert, key, retry], env=env.env(preload=False), timeout=60).stdout
        shim = cclib.run([exe, "dtls", cert, key, retry], env=env.env(cap), timeout=60).stdout
        eq(shim, plain, "the program's own view, with the shim and without")
        ok("handshake done: 1 1" in plain and "BIO writes: %d" % (1 + int(retry)) in plain, plain)
        eq(cclib.tshark_count(cap, PLAIN + ' && frame contains "REFUSED-ONCE"'), want,
           "the plaintext in the file (retried: %s)" % retry)


def test_openssl_corner_keylog_many_contexts_and_sni(env):
    """CPython against `openssl s_client`: a server context with the program's own key log
    (keylog_filename) keeps it after 70 other contexts made SSL objects (the shim's table of 64
    lost it: the program's file got no secret); and a server whose SNI callback moves the
    connection to another context (SSLSocket.context, as virtual hosts do) still gives its
    secrets to the file, so tshark decrypts the connection from the file alone (it gave none)."""
    cert, key = make_cert(env)
    code = r"""
import os, socket, ssl, subprocess, sys
cert, key, own, mode = sys.argv[1:5]
srv = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); srv.load_cert_chain(cert, key)
if mode == "many":
    srv.keylog_filename = own
    keep = []
    for i in range(70):
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="x")
        keep.append(c)
else:
    other = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); other.load_cert_chain(cert, key)
    def sni(sslobj, name, ctx):
        sslobj.context = other
    srv.sni_callback = sni
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen()
env = {k: v for k, v in os.environ.items() if not k.startswith(("LD_PRELOAD", "CLEARCAP"))}
cli = subprocess.Popen(["openssl", "s_client", "-quiet", "-connect", "127.0.0.1:%d" % ls.getsockname()[1],
                        "-servername", "vhost.example"], env=env, stdin=subprocess.PIPE,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
s, _ = ls.accept()
t = srv.wrap_socket(s, server_side=True)
cli.stdin.write(b"GET /corner HTTP/1.0\r\n\r\n"); cli.stdin.flush()
print(t.recv(100)); t.sendall(b"served\n"); t.close(); cli.stdin.close(); cli.wait()
"""
    secrets = {}
    for name in ("plain", "shim"):
        own = env.path("own-%s.txt" % name)
        cclib.run([cclib.PY, "-c", code, cert, key, own, "many"], env=env.env(env.path("many.pcapng"), None,
                                                                               preload=name == "shim"), timeout=60)
        secrets[name] = [line for line in open(own).read().splitlines() if not line.startswith("#")]
    ok(len(secrets["plain"]) >= 5, "the program's own key log without the shim: %d secrets" % len(secrets["plain"]))
    eq(len(secrets["shim"]), len(secrets["plain"]), "the program's own key log with the shim, after 70 contexts")
    cap, keys = env.path("sni.pcapng"), env.path("keys.txt")
    cclib.run([cclib.PY, "-c", code, cert, key, env.path("unused"), "sni"], env=env.env(cap, {"CLEARCAP_KEYLOG": keys}),
              timeout=60)
    ok(open(keys).read().count("\n") >= 5, "the SNI-switched connection's secrets in the key log")
    req = tshark(cap, ["http.request.uri"], WIRE + " && http.request", NO_KEYLOG + BOTH_ENDS)
    eq(req, [["/corner"]], "s_client's request decrypted on the wire from the file's own secrets")


def test_mbedtls_corner_export_cb_before_defaults(env):
    """mbedtls_ssl_conf_export_keys_cb before mbedtls_ssl_config_defaults: the program's callback
    still gets its own context pointer (it got NULL), and the secret reaches the key log."""
    exe = _corners(env, "MBEDTLS", "/usr/include/mbedtls/ssl.h", ["-lmbedtls", "-lmbedx509", "-lmbedcrypto"])
    keys = env.path("keys.txt")
    plain = _same_output(env, exe, {"CLEARCAP_KEYLOG": keys})
    ok("context pointer is the program's: 1" in plain and "handshake: client 0, server 0" in plain, plain)
    eq(open(keys).read().count("CLIENT_RANDOM "), 2, "both ends' master secret logged")


def test_nss_corner_peek_captured_once(env):
    """An NSS client that peeks at the server's line (PR_Recv with PR_MSG_PEEK) and then reads it:
    the line is in the file once (a peek was captured as read: twice)."""
    exe = _corners(env, "NSS", "/usr/include/nss/ssl.h", ["-I/usr/include/nss", "-I/usr/include/nspr", "-lssl3",
                                                           "-lnss3", "-lnspr4"])
    cert, key = make_cert(env)
    cap = env.path("c.pcapng")
    port = cclib.free_port(socket.SOCK_STREAM)
    srv = _tls_server(env, cert, key, port, "line")
    out = cclib.run([exe, str(port), "1"], env=env.env(cap), timeout=60).stdout
    srv.wait(timeout=30)
    eq(out, "peeked 13: HELLO-CORNER\nread 13: HELLO-CORNER\n", "the program's view")
    eq(cclib.tshark_count(cap, PLAIN + ' && frame contains "HELLO-CORNER"'), 1, "the line once in the file")
    eq(cclib.tshark_count(cap, PLAIN + ' && frame contains "bye"'), 1, "the client's answer")


def test_gnutls_corner_retry_with_null(env):
    """A non-blocking GnuTLS client that, after GNUTLS_E_AGAIN, calls gnutls_record_send(s, NULL,
    0) as GnuTLS allows (and overwrites its buffer meanwhile): every byte it sent is in the file,
    as it was given (the retries' bytes were lost); and the same with the same-buffer retry."""
    exe = _corners(env, "GNUTLS", "/usr/include/gnutls/gnutls.h", ["-lgnutls"])
    cert, key = make_cert(env)
    for nullretry in ("1", "0"):
        cap = env.path("c%s.pcapng" % nullretry)
        port = cclib.free_port(socket.SOCK_STREAM)
        srv = _tls_server(env, cert, key, port, "sink")
        out = cclib.run([exe, str(port), nullretry], env=env.env(cap), timeout=60).stdout
        got, _ = srv.communicate(timeout=30)
        eq(out, "sent 327680, waited for room: yes\n", "the program's view (retry with NULL: %s)" % nullretry)
        eq(got.strip(), "327680", "the server received it all")
        data = b"".join(bytes.fromhex(r[0]) for r in tshark(cap, ["tcp.payload"], PLAIN + " && tcp.dstport == %d" % port,
                                                             BOTH_ENDS))
        eq(len(data), 327680, "every byte sent in the file (retry with NULL: %s)" % nullretry)
        eq(data, b"".join(bytes([97 + i % 26]) * 8192 for i in range(40)), "as the program gave them")
