"""Plaintext RTP from libsrtp2: GStreamer's srtpenc/srtpdec (which call only the _mki functions),
each packet in the clear on the 5-tuple of the SRTP datagram that carried it."""
import base64
import glob
import os
import subprocess
import time

import cclib
from cclib import eq, ok, tshark

QUICK = ["test_gstreamer_srtp_sdes"]

KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d"   # 16-byte key, 14-byte salt
SSRC = 0x4d2


def test_gstreamer_srtp_sdes(env):
    cclib.need("gst-launch-1.0")
    if subprocess.run(["gst-inspect-1.0", "srtpenc"], capture_output=True).returncode != 0:
        raise cclib.Skip("GStreamer srtp elements not installed")
    cap = env.path("c.pcapng")
    port = cclib.free_port()
    outdir = env.path("rtp")
    os.mkdir(outdir)
    caps = ("application/x-srtp,media=audio,clock-rate=44100,encoding-name=L16,payload=96,ssrc=(uint)%d,"
            "srtp-key=(buffer)%s,srtp-cipher=(string)aes-128-icm,srtp-auth=(string)hmac-sha1-80,"
            "srtcp-cipher=(string)aes-128-icm,srtcp-auth=(string)hmac-sha1-80,roc=(uint)0" % (SSRC, KEY))
    keys = env.path("srtp.keys")
    recv = subprocess.Popen(["gst-launch-1.0", "-q", "-e", "udpsrc", "port=%d" % port, "caps=" + caps, "!",
                             "srtpdec", "!", "fakesink"], env=env.env(cap, {"CLEARCAP_SRTP_KEYLOG": keys}),
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)
        # The encoder's own output is also written to files, one per RTP packet, to compare with.
        cclib.run(["gst-launch-1.0", "-q", "audiotestsrc", "num-buffers=60", "!", "audioconvert", "!",
                   "rtpL16pay", "!", "application/x-rtp,ssrc=(uint)%d" % SSRC, "!", "tee", "name=t", "!",
                   "queue", "!", "srtpenc", "key=" + KEY, "!", "udpsink", "host=127.0.0.1", "port=%d" % port,
                   "t.", "!", "queue", "!", "multifilesink", "location=" + os.path.join(outdir, "p%05d.rtp")],
                  env=env.env(cap, {"CLEARCAP_SRTP_KEYLOG": keys}), timeout=60)
        time.sleep(1.0)
    finally:
        recv.send_signal(2)
        try:
            recv.wait(timeout=10)
        except subprocess.TimeoutExpired:
            recv.kill()
            recv.wait()
    encoded = [open(f, "rb").read() for f in sorted(glob.glob(os.path.join(outdir, "*.rtp")))]
    ok(len(encoded) >= 60, "encoder produced %d packets" % len(encoded))

    dec = ["-d", "udp.port==%d,rtp" % port]
    fields = ["sll.pkttype", "ip.src", "ipv6.src", "udp.srcport", "ip.dst", "ipv6.dst", "udp.dstport", "rtp.ssrc",
              "rtp.seq", "frame.comment", "udp.payload"]

    def rows(iface):
        out = []
        for r in tshark(cap, fields, 'frame.interface_name == "%s"' % iface, extra=dec):
            out.append([r[0], cclib.addr(r[1], r[2]), r[3], cclib.addr(r[4], r[5]), r[6], r[7], r[8], r[9], r[10]])
        return out
    wire = rows("wire")
    plain = rows("plaintext")
    eq(len(wire), 2 * len(encoded), "every SRTP packet sent and received")
    eq(len(plain), 2 * len(encoded), "every packet in the clear, in both processes")
    wire_keys = {(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in wire}
    pids = set()
    for r in plain:
        ok(tuple(r[:7]) in wire_keys, "plaintext %r matches a wire SRTP packet (SSRC, seq, 5-tuple)" % r[:7])
        ok("flow from SRTP packet" in r[7], r[7])
        eq(int(r[5], 16), SSRC, "SSRC")
        pids.add(r[7].split()[1])
    eq(len(pids), 2, "both processes")
    # What the encoder produced is what the sender's plaintext and the receiver's plaintext hold.
    by_seq = {}
    for r in plain:
        by_seq.setdefault((r[0], int(r[6])), bytes.fromhex(r[8]))
    for pkt in encoded:
        seq = int.from_bytes(pkt[2:4], "big")
        eq(by_seq.get(("4", seq)), pkt, "sent plaintext = encoder output (seq %d)" % seq)
        eq(by_seq.get(("0", seq)), pkt, "received plaintext = encoder output (seq %d)" % seq)
    # The SDES key both processes were given, from their srtp_create/srtp_add_stream policies.
    want = "AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(bytes.fromhex(KEY)).decode()
    lines = open(keys).read().splitlines()
    ok(any(l.startswith("SRTP ? ? ssrc=0x000004d2 ") and l.endswith(want) for l in lines), "receiver's key: %r" % lines)
    ok(any(l.startswith("SRTP ? ? outbound ") and l.endswith(want) for l in lines), "sender's key: %r" % lines)
    # tshark's RTP stream analysis of the plaintext alone: no loss.
    st = cclib.run(["tshark", "-n", "-r", cap, "-q", "-Y", 'frame.interface_name == "plaintext"', "-z", "rtp,streams"]
                   + dec).stdout
    ok("0x000004D2" in st.upper() or "0X000004D2" in st.upper(), st)


def test_unprotect_failures_reported(env):
    """A receiver with the wrong key: no plaintext, and the failures are reported per flow and
    reason at exit and counted in the wrapper's summary."""
    if subprocess.run(["gst-inspect-1.0", "srtpdec"], capture_output=True).returncode != 0:
        raise cclib.Skip("GStreamer srtp elements not installed")
    cap = env.path("c.pcapng")
    port = cclib.free_port()
    wrong = KEY[:-2] + "ff"
    caps = ("application/x-srtp,media=audio,clock-rate=44100,encoding-name=L16,payload=96,ssrc=(uint)%d,"
            "srtp-key=(buffer)%s,srtp-cipher=(string)aes-128-icm,srtp-auth=(string)hmac-sha1-80,"
            "srtcp-cipher=(string)aes-128-icm,srtcp-auth=(string)hmac-sha1-80,roc=(uint)0" % (SSRC, wrong))
    recv = subprocess.Popen([env.tool, "-w", cap, "--", "gst-launch-1.0", "-q", "udpsrc", "port=%d" % port,
                             "num-buffers=40", "caps=" + caps, "!", "srtpdec", "!", "fakesink"],
                            env=env.env(preload=False), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        cclib.run(["gst-launch-1.0", "-q", "audiotestsrc", "num-buffers=40", "!", "audioconvert", "!",
                   "rtpL16pay", "!", "application/x-rtp,ssrc=(uint)%d" % SSRC, "!", "srtpenc", "key=" + KEY, "!",
                   "udpsink", "host=127.0.0.1", "port=%d" % port], env=env.env(preload=False), timeout=60)
        out, err = recv.communicate(timeout=30)
    finally:
        if recv.poll() is None:
            recv.kill()
            recv.wait()
    lines = [l for l in err.splitlines() if l.startswith("clearcap:")]
    fail = [l for l in lines if "srtp_unprotect failed" in l]
    eq(len(fail), 1, "one line for the one flow: %r" % lines)
    ok("> 127.0.0.1:%d: auth_fail=40" % port in fail[0], fail[0])
    summary = [l for l in lines if "packets captured" in l]
    ok(len(summary) == 1 and ", 40 SRTP unprotect failures" in summary[0], lines)
    eq(tshark(cap, ["frame.number"], 'frame.interface_name == "plaintext"'), [], "no plaintext for failed packets")
    eq(len(tshark(cap, ["frame.number"], 'frame.interface_name == "wire"')), 40, "the SRTP datagrams on the wire")
