"""Janus (Debian's janus, unmodified) under clearcap: its EchoTest plugin answers a real aiortc
client (tests/integration/janus_client.py, through Janus's HTTP API) with audio and a data channel.
Janus does DTLS with OpenSSL and SRTP with libsrtp2, each on its own thread; the checks are what a
Janus developer needs from one file: the echoed audio as plaintext RTP both ways, the data channel
messages as plaintext SCTP, every SRTP key line once and naming its flow, and no flow said to have
no plaintext.

Janus and the client run in a network namespace the test creates (libnice, like aiortc, gathers no
loopback candidates): a veth pair 10.200.0.1/24 - 10.200.0.2/24, Janus's ICE on 10.200.0.2."""
import glob
import json
import os
import re
import shutil
import subprocess

import cclib
from cclib import eq, ok

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, "janus_client.py")

SCRIPT = r"""
set -e
ip link set lo up
ip link add v0 type veth peer name v1
ip addr add 10.200.0.1/24 dev v0; ip addr add 10.200.0.2/24 dev v1
ip link set v0 up; ip link set v1 up
"$TOOL" -w "$CAP" --srtp-keylog "$KEYS" -- janus -F "$CONF" -C "$CONF/janus.jcfg" -N -L "$TMPD/janus.log" &
J=$!
for i in $(seq 100); do
    "$PY" -c "import socket; socket.create_connection(('10.200.0.2', $PORT), 0.2)" 2>/dev/null && break
    sleep 0.1
done
"$PY" "$CLIENT" "http://10.200.0.2:$PORT/janus" > "$TMPD/client.out" 2> "$TMPD/client.err" || true
kill -TERM $J
for i in $(seq 100); do kill -0 $J 2>/dev/null || break; sleep 0.1; done
# Never leave Janus behind (it would hold this script's output open): the wrapper passes SIGTERM on.
kill -KILL $J 2>/dev/null || true; pkill -KILL -f "janus -F $CONF" || true
wait $J || true
cat "$TMPD/client.out"
"""

JANUS_JCFG = """general: {
	configs_folder = "%(conf)s"
	plugins_folder = "%(lib)s/plugins"
	transports_folder = "%(lib)s/transports"
	events_folder = "%(lib)s/events"
	loggers_folder = "%(lib)s/loggers"
	debug_level = 4
}
media: {
	rtp_port_range = "20000-40000"
}
nat: {
	ice_enforce_list = "10.200.0.2"
}
plugins: {
	disable = "%(plugins)s"
}
transports: {
	disable = "%(transports)s"
}
events: {
	broadcast = false
}
loggers: {
	disable = "libjanus_jsonlog.so"
}
"""

HTTP_JCFG = """general: {
	json = "indented"
	base_path = "/janus"
	http = true
	port = %(port)d
	https = false
	interface = "v1"
}
admin: {
	admin_http = false
}
"""


def test_janus_echotest(env):
    if not shutil.which("janus"):
        raise cclib.Skip("janus not installed")
    if not shutil.which("unshare") or subprocess.run(["unshare", "-n", "true"]).returncode != 0:
        raise cclib.Skip("cannot create a network namespace here")
    if subprocess.run([cclib.PY, "-c", "import aiortc"], capture_output=True).returncode != 0:
        raise cclib.Skip("python3-aiortc not installed")
    libs = glob.glob("/usr/lib/*/janus/plugins/libjanus_echotest.so")
    ok(libs, "Janus's EchoTest plugin")
    lib = os.path.dirname(os.path.dirname(libs[0]))
    conf = env.path("conf")
    os.mkdir(conf)
    others = lambda kind, keep: ",".join(sorted(os.path.basename(p) for p in glob.glob(os.path.join(lib, kind, "*.so"))
                                                if os.path.basename(p) != keep))
    port = 18088
    with open(os.path.join(conf, "janus.jcfg"), "w") as f:
        f.write(JANUS_JCFG % {"conf": conf, "lib": lib, "plugins": others("plugins", "libjanus_echotest.so"),
                              "transports": others("transports", "libjanus_http.so")})
    with open(os.path.join(conf, "janus.transport.http.jcfg"), "w") as f:
        f.write(HTTP_JCFG % {"port": port})
    with open(os.path.join(conf, "janus.plugin.echotest.jcfg"), "w") as f:
        f.write("general: {\n}\n")
    cap, keys = env.path("janus.pcapng"), env.path("srtp.keys")
    e = env.env(None, preload=False)
    e.pop("LD_PRELOAD", None)
    e.update({"TOOL": env.tool, "CAP": cap, "KEYS": keys, "CONF": conf, "TMPD": env.tmp, "PY": cclib.PY,
              "CLIENT": CLIENT, "PORT": str(port)})
    p = cclib.run(["unshare", "-n", "bash", "-c", SCRIPT], env=e, timeout=120, check=False)
    err = open(env.path("client.err")).read()[-1500:] if os.path.exists(env.path("client.err")) else ""
    log = open(env.path("janus.log")).read()[-1500:] if os.path.exists(env.path("janus.log")) else ""
    eq(p.stdout.split()[-3:], ["echoed", "5", "done"], "the client's session with Janus (client: %s; janus: %s; %s)"
       % (err, log, p.stderr[-1500:]))
    summary = p.stderr

    # The data channel, decrypted: each message in Janus's received copy and in its echo.
    dc = [bytes.fromhex(r[1]).decode(errors="replace")
          for r in cclib.tshark(cap, ["sll.pkttype", "data.data"], 'frame.interface_name == "plaintext" && sctp.data_payload_proto_id == 51',
                                ["-o", "sctp.try_heuristic_first:TRUE"]) if r[1]]
    if not dc:
        dc = [r[0] for r in cclib.tshark(cap, ["sctp.data_payload"], 'frame.interface_name == "plaintext" && sctp')]
    pkts = cclib.tshark(cap, ["sll.pkttype", "sctp.data_payload_proto_id"], 'frame.interface_name == "plaintext" && sctp.data_payload_proto_id == 51')
    eq(sorted({r[0] for r in pkts}), ["0", "4"], "WebRTC strings on the data channel received (0) and echoed (4)")
    ok(len(pkts) >= 10, "5 messages each way in the clear: %d" % len(pkts))

    # The audio, decrypted: plaintext RTP received and echoed back, the same SSRC both ways
    # (EchoTest relays the stream), with the plaintext as many as the SRTP on the wire.
    rtp = cclib.tshark(cap, ["sll.pkttype", "rtp.ssrc", "rtp.p_type"], 'frame.interface_name == "plaintext" && rtp',
                       ["--enable-heuristic", "rtp_udp"])
    by_dir = {d: {r[1] for r in rtp if r[0] == d and r[2] != "" and not 72 <= int(r[2]) <= 79} for d in ("0", "4")}
    ok(by_dir["0"] and by_dir["4"], "plaintext RTP received and sent: %r" % by_dir)
    ok(len([r for r in rtp if r[0] == "0"]) >= 100, "3 s of audio received in the clear: %d" % len(rtp))
    ok("why no plaintext" not in summary, summary)

    # Every SRTP key line names its flow and appears once (one per direction of the one session).
    lines = [l for l in open(keys).read().splitlines() if l.startswith("SRTP ")]
    ok(lines, "SRTP key lines")
    eq(len(lines), len(set(lines)), "no key line twice: %r" % lines)
    for l in lines:
        ok(re.match(r"SRTP 10\.200\.0\.2:\d+ 10\.200\.0\.[12]:\d+ (inbound|outbound) \S+ inline:", l), l)
    eq(sorted(l.split()[3] for l in lines), ["inbound", "outbound"], "one key per direction: %r" % lines)

    # The report agrees: DTLS flow with plaintext, no reason given.
    flows = json.loads(cclib.run([env.tool, "report", "--json", cap]).stdout)["flows"]
    dtls = [f for f in flows if f["encrypted"] == "dtls"]
    ok(dtls and all(f["no_plaintext"] is None for f in dtls), dtls)
