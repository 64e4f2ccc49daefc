"""The NAT lab (`clearcap lab`, tools/lab.sh): two aiortc peers on private LANs behind NATs, with coturn on the
"WAN", each peer under the shim writing its own file.

- Cone NATs (endpoint-independent mapping): the peers connect with server-reflexive candidates;
  each capture shows the STUN mapping keeping the port, and the nominated pair between the local
  address and the other peer's public (NAT) address, with the data channel in the clear.
- Symmetric NATs (a new port per destination): with STUN only the peers never connect, and the
  capture says why (the mapping toward the STUN server is not the one the peer's checks would
  need: every check unanswered); with the TURN relay they connect, and the relay interface holds
  the unwrapped ICE checks, DTLS and decrypted data channel between the two relayed addresses.

(aiortc 1.4's ICE agent, aioice, gets 400 Bad Request from coturn when it mixes TURN with its other
candidates: a ChannelBind retried after 438 Wrong nonce.  The relayed run therefore uses relayed
candidates only, as a browser's iceTransportPolicy "relay" does.)"""
import os
import shutil
import subprocess

import cclib
from cclib import eq, ok, tshark

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "webrtc_peer.py")
QUICK = []
# Started first when tests run in parallel (run.py).
SLOW = ["test_lab_symmetric_nats_need_the_relay", "test_lab_cone_nats_connect_server_reflexive"]

SCRIPT = r"""
coproc A { in_a env CLEARCAP_FILE="$CAP_A" "$PY" "$PEER" offer $MODE 2>"$TMPD/a.err"; }
read -r -t 20 offer <&"${A[0]}"
coproc B { in_b env CLEARCAP_FILE="$CAP_B" "$PY" "$PEER" answer $MODE 2>"$TMPD/b.err"; }
bpid=$B_PID
echo "$offer" >&"${B[1]}"
read -r -t 20 answer <&"${B[0]}"
echo "$answer" >&"${A[1]}"
a=; b=
read -r -t 40 a <&"${A[0]}" || true
[ "$a" = done ] && { read -r -t 40 b <&"${B[0]}" || true; }
kill $bpid 2>/dev/null || true
echo "A:$a B:$b"
"""


def lab_session(env, nat, ice, mode="", timeout=None):
    """One offer/answer session through the lab; returns (captures of A and B, its output line)."""
    for t in ("nft", "nsenter", "unshare"):
        cclib.need(t)
    cclib.need("turnserver")
    if subprocess.run([cclib.PY, "-c", "import aiortc"], capture_output=True).returncode != 0:
        raise cclib.Skip("python3-aiortc not installed")
    if os.getuid() != 0 and subprocess.run(["unshare", "-Urn", "true"], capture_output=True).returncode != 0:
        raise cclib.Skip("not root and no unprivileged user namespaces")
    caps = env.path("a.pcapng"), env.path("b.pcapng")
    script = env.path("lab-script.sh")
    with open(script, "w") as f:
        f.write(SCRIPT)
    e = env.env(preload=True)
    e.update({"CAP_A": caps[0], "CAP_B": caps[1], "PY": cclib.PY, "PEER": PEER, "TMPD": env.tmp, "MODE": mode,
              "PEER_ICE": ice, "PEER_TURN_USER": "lab", "PEER_TURN_PASS": "lab", "CLEARCAP": env.tool})
    if timeout:
        e["PEER_OPEN_TIMEOUT"] = str(timeout)
    p = cclib.run([env.tool, "lab", "--nat", nat, "--script", script], env=e, timeout=120, check=False)
    ok("behind a %s NAT" % nat in p.stderr, p.stderr)
    errs = "".join(open(env.path(f)).read()[-1200:] for f in ("a.err", "b.err") if os.path.exists(env.path(f)))
    return caps, p.stdout.strip().splitlines()[-1:], p.stderr + errs


def report(env, cap):
    import json
    return json.loads(cclib.run([env.tool, "report", "--json", cap], env=env.env(preload=False)).stdout)


def test_lab_cone_nats_connect_server_reflexive(env):
    caps, line, why = lab_session(env, "cone", "stun:100.64.1.1:3478")
    eq(line, ["A:done B:done"], "both peers finished: " + why)
    for cap, me, other in ((caps[0], "10.0.1.2", "100.64.2.2"), (caps[1], "10.0.2.2", "100.64.1.2")):
        # The STUN server saw the peer from its NAT's public address, on the same port (cone).
        mapped = tshark(cap, ["udp.srcport", "stun.att.ipv4", "stun.att.port"],
                        'frame.interface_name == "wire" && stun.type == 0x0101 && udp.srcport == 3478')
        ok(mapped, "a STUN Binding success from the server")
        eq(mapped[0][1].split(",")[0], "100.64.1.2" if me == "10.0.1.2" else "100.64.2.2", "server-reflexive address")
        # DTLS runs between this peer's private address and the other's NAT address.
        dtls = {(r[0], r[1]) for r in tshark(cap, ["ip.src", "ip.dst"], 'frame.interface_name == "wire" && dtls')}
        eq(dtls, {(me, other), (other, me)}, "DTLS between the private address and the peer's srflx address")
        eq(tshark(cap, ["frame.number"], 'frame.interface_name == "relay"'), [], "nothing relayed")
        texts = tshark(cap, ["data.data"], 'frame.interface_name == "plaintext" && sctp.data_payload_proto_id == 51')
        ok(len(texts) >= 10, "the data channel in the clear: %d messages" % len(texts))


def test_lab_symmetric_nats_need_the_relay(env):
    # STUN only: each destination gets a new mapping, so the checks toward the signalled
    # server-reflexive address never come through, and the peers never connect.
    caps, line, why = lab_session(env, "symmetric", "stun:100.64.1.1:3478", timeout=6)
    ok(line != ["A:done B:done"], "no connection without a relay: " + why)
    j = report(env, caps[0])
    tx = [t for t in j["stun"] if t["method"] == "Binding"]
    srv = [t for t in tx if t["to"].endswith(":3478") and t["outcome"] == "success"]
    ok(srv, "the STUN server answered: %r" % tx)
    checks = [t for t in tx if not t["to"].endswith(":3478")]
    ok(checks and all(t["outcome"] == "none" for t in checks), "every check unanswered: %r" % checks)
    # Relayed candidates only: the peers connect through coturn.
    for c in caps:
        os.unlink(c)
    caps, line, why = lab_session(env, "symmetric", "turn:100.64.1.1:3478", mode="relay")
    eq(line, ["A:done B:done"], "connected through the relay: " + why)
    for cap in caps:
        relayed = {(r[0], r[1]) for r in tshark(cap, ["ip.src", "ip.dst"], 'frame.interface_name == "relay" && dtls')}
        eq({a for pair in relayed for a in pair}, {"100.64.1.3"}, "DTLS between the two relayed addresses")
        texts = tshark(cap, ["data.data"], 'frame.interface_name == "plaintext" && sctp.data_payload_proto_id == 51')
        ok(len(texts) >= 10, "the data channel in the clear: %d messages" % len(texts))


def test_lab_without_root_in_a_user_namespace(env):
    """Run by an unprivileged user, the lab builds itself inside a user namespace: A's datagram to
    the STUN server is captured from its private address, and the lab says which NATs it built."""
    import pwd
    for t in ("nft", "nsenter", "unshare"):
        cclib.need(t)
    if os.getuid() != 0:
        raise cclib.Skip("needs root to switch to an unprivileged user")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        raise cclib.Skip("no user nobody")
    if subprocess.run(["setpriv", "--reuid", str(nobody.pw_uid), "--regid", str(nobody.pw_gid), "--clear-groups",
                       "unshare", "-Urn", "true"], capture_output=True).returncode != 0:
        raise cclib.Skip("this kernel allows no unprivileged user namespace")
    import tempfile
    d = tempfile.mkdtemp(prefix="cc-lab-")     # the test's own directory is root's alone
    os.chmod(d, 0o777)
    try:
        _as_nobody(env, nobody, d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _as_nobody(env, nobody, d):
    send = ("%s -c \"import socket; s = socket.socket(2, 2); s.sendto(b'from A', ('100.64.1.1', 3478))\"" % cclib.PY)
    p = cclib.run(["setpriv", "--reuid", str(nobody.pw_uid), "--regid", str(nobody.pw_gid), "--clear-groups",
                   env.tool, "lab", "--nat-a", "symmetric", "-w", os.path.join(d, "x"), "--", send, "true"],
                  env=env.env(preload=False, extra={"HOME": d}), timeout=60, check=False)
    eq(p.returncode, 0, p.stderr)
    ok("A 10.0.1.2 behind a symmetric NAT" in p.stderr and "B 10.0.2.2 behind a cone NAT" in p.stderr, p.stderr)
    rows = tshark(os.path.join(d, "x-a.pcapng"), ["ip.src", "ip.dst", "udp.dstport", "udp.payload"], "udp")
    eq(rows, [["10.0.1.2", "100.64.1.1", "3478", b"from A".hex()]], "A's datagram, from its private address")


STUN_NOW = r"""
in_a "$PY" - <<'PY'
import os, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(struct.pack("!HHI", 1, 0, 0x2112A442) + os.urandom(12), ("100.64.1.1", 3478))
print("stun answered %d" % len(s.recv(2000)))
PY
"""


def need_lab():
    for t in ("nft", "nsenter", "unshare", "turnserver"):
        cclib.need(t)
    if os.getuid() != 0 and subprocess.run(["unshare", "-Urn", "true"], capture_output=True).returncode != 0:
        raise cclib.Skip("not root and no unprivileged user namespaces")


def test_lab_starts_without_waiting_out_coturn(env):
    """The lab waits for coturn until its port is bound, not for a log line some versions never
    print (then the full 5 s): a STUN request sent at once is answered, and the start is quick."""
    import time
    need_lab()
    script = env.path("stun-now.sh")
    with open(script, "w") as f:
        f.write(STUN_NOW)
    t0 = time.time()
    p = cclib.run([env.tool, "lab", "--script", script], env=env.env(preload=False, extra={"PY": cclib.PY}),
                  timeout=60)
    spent = time.time() - t0
    ok("stun answered" in p.stdout, p.stdout + p.stderr)
    ok(spent < 4.5, "the lab took %.1f s" % spent)


def marked(mark):
    """PIDs of the `sleep MARK...` processes."""
    pids = []
    for d in os.listdir("/proc"):
        try:
            argv = open("/proc/%s/cmdline" % d, "rb").read().split(b"\0") if d.isdigit() else []
        except OSError:
            continue
        if argv[:1] == [b"sleep"] and len(argv) > 1 and argv[1].decode(errors="replace").startswith(mark):
            pids.append(int(d))
    return pids


def test_lab_killed_takes_its_programs(env):
    """SIGTERM to the lab's own pid (as a supervisor stops it): the two programs it started in the
    namespaces end with it, none is left behind as an orphan."""
    import signal
    import time
    need_lab()
    mark = "47.%d" % os.getpid()
    p = subprocess.Popen([env.tool, "lab", "-w", env.path("k"), "--", "exec sleep %s1" % mark,
                          "exec sleep %s2" % mark],
                         env=env.env(preload=False), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 4
        while len(marked(mark)) < 2 and time.time() < deadline:
            time.sleep(0.1)
        eq(len(marked(mark)), 2, "both programs started")
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
        deadline = time.time() + 2
        while marked(mark) and time.time() < deadline:
            time.sleep(0.1)
        left = marked(mark)
        eq(left, [], "programs left running")
    finally:
        if p.poll() is None:
            p.terminate()
            p.wait(timeout=10)
        for pid in marked(mark):
            os.kill(pid, signal.SIGKILL)
