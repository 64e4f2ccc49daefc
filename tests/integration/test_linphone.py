"""linphone (Debian's linphone-cli): a DTLS-SRTP audio call between two linphonec, both under the
shim, in a network namespace of the test's own (`unshare -n`: lo with 10.77.0.1, IPv6 off, so
every candidate is one address).  linphone's DTLS is mbedTLS (through bctoolbox), its SRTP
libsrtp2 (through mediastreamer2).

Checked: the call is connected and encrypted as without clearcap; each side's file embeds the
DTLS master secret (mbedTLS's export-keys callback) and both sides log the same ones; the secret
is right, proven independently of clearcap: the Finished records of both directions decrypt with
it (python3-cryptography; Wireshark 4.0 cannot decrypt DTLS 1.2 ChaCha20-Poly1305 at all, with
OpenSSL's secrets neither, so tshark is the judge only for the AES-GCM suites); every SRTP packet
on the wire has its plaintext from the hooks on its 5-tuple, the sender's plaintext is the
receiver's; the wrapper never says packets lacked a plaintext copy they had."""
import hashlib
import hmac
import os
import shutil
import struct
import subprocess

import cclib
from cclib import eq, ok, tshark

QUICK = []
# Started first when tests run in parallel (run.py).
SLOW = ["test_linphone_dtls_srtp_call"]

RC = """[sip]
sip_port={sip}
sip_tcp_port=0
sip_tls_port=0
media_encryption=dtls
media_encryption_mandatory=1
contact=sip:{name}@10.77.0.1
guess_hostname=0
use_ipv6=0
[rtp]
audio_rtp_port={rtp}
video_rtp_port={vrtp}
[sound]
echocancellation=0
[video]
enabled=0
"""

# b answers; a calls, plays a tone into the call, hangs up.  linphonec reads commands on stdin.
SCRIPT = r"""
set -e
ip link set lo up
ip addr add 10.77.0.1/24 dev lo
ip route add default dev lo
sysctl -qw net.ipv6.conf.all.disable_ipv6=1
cd "$DIR"
(sleep 1; echo "soundcard use files"; sleep 13; echo quit) |
    HOME="$DIR/hb" "$TOOL" -w b.pcapng -k b.keys -- linphonec -c b.rc -a -d 0 > b.out 2>&1 &
sleep 1.5
(sleep 1; echo "soundcard use files"; sleep 1; echo "call sip:b@10.77.0.1:5080"; sleep 3;
 echo "play $DIR/tone.wav"; sleep 3; echo "terminate"; sleep 1; echo quit) |
    HOME="$DIR/ha" "$TOOL" -w a.pcapng -k a.keys -- linphonec -c a.rc -d 0 > a.out 2>&1
wait
"""


def _tone(path):
    import math
    import wave
    w = wave.open(path, "wb")
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(8000)
    w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 8000)))
                           for i in range(8000 * 4)))
    w.close()


def _dsb_secrets(path):
    """The NSS key log lines in a pcapng's Decryption Secrets Blocks (type 10, TLS key log)."""
    data = open(path, "rb").read()
    out, off = [], 0
    while off + 12 <= len(data):
        btype, blen = struct.unpack_from("<II", data, off)
        if blen < 12:
            break
        if btype == 10:
            stype, slen = struct.unpack_from("<II", data, off + 8)
            if stype == 0x544C534B:
                out += data[off + 16:off + 16 + slen].decode().split()
        off += blen
    return out


def _prf(secret, label, seed, n):
    """TLS 1.2 PRF with SHA-256 (RFC 5246 section 5)."""
    out, a = b"", label + seed
    while len(out) < n:
        a = hmac.new(secret, a, hashlib.sha256).digest()
        out += hmac.new(secret, a + label + seed, hashlib.sha256).digest()
    return out[:n]


def _records(payload):
    """(type, version, epoch, seq, fragment) of each DTLS record in a datagram."""
    off = 0
    while off + 13 <= len(payload):
        typ, ver, epoch = struct.unpack_from(">BHH", payload, off)
        seq = int.from_bytes(payload[off + 5:off + 11], "big")
        n = struct.unpack_from(">H", payload, off + 11)[0]
        yield typ, ver, epoch, seq, payload[off + 13:off + 13 + n]
        off += 13 + n


def _check_finished_decrypts(cap, ms_by_cr, ports):
    """Both Finished records of each DTLS session decrypt with the file's master secret (ChaCha20)."""
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    opt = ["-o", "sdp.establish_conversation:FALSE", "-o", "tls.keylog_file:"]
    done = 0
    for port in ports:
        flt = 'frame.interface_name == "wire" && dtls && udp.port == %d' % port
        rows = tshark(cap, ["udp.srcport", "dtls.handshake.type", "dtls.handshake.random",
                            "dtls.handshake.ciphersuite", "udp.payload"], flt, opt)
        hello = [r for r in rows if r[1].split(",")[0] == "1"]
        server = [r for r in rows if r[1].split(",")[0] == "2"]
        ok(hello and server, "handshake on port %d: %r" % (port, rows))
        client_port = hello[0][0]
        cr = bytes.fromhex(hello[0][2].split(",")[0].replace(":", ""))
        sr = bytes.fromhex(server[0][2].split(",")[0].replace(":", ""))
        suite = server[0][3].split(",")[0]
        ms = ms_by_cr.get(cr.hex())
        ok(ms, "the file has the master secret of client random %s" % cr.hex())
        if suite != "0xcca8" and suite != "52392":
            # An AES-GCM suite: Wireshark decrypts it from the DSBs alone.
            fin = tshark(cap, ["frame.number"], flt + " && dtls.handshake.type == 20", opt)
            eq(len(fin), 2, "tshark decrypts both Finished messages (suite %s)" % suite)
            done += 1
            continue
        kb = _prf(bytes.fromhex(ms), b"key expansion", sr + cr, 2 * 32 + 2 * 12)
        keys = {"client": (kb[0:32], kb[64:76]), "server": (kb[32:64], kb[76:88])}
        finished = 0
        for r in rows:
            for typ, ver, epoch, seq, frag in _records(bytes.fromhex(r[4])):
                if epoch != 1 or typ != 22:
                    continue
                key, iv = keys["client" if r[0] == client_port else "server"]
                seqnum = struct.pack(">H", epoch) + seq.to_bytes(6, "big")
                nonce = bytes(a ^ b for a, b in zip(iv, b"\0\0\0\0" + seqnum))
                aad = seqnum + struct.pack(">BHH", typ, ver, len(frag) - 16)
                plain = ChaCha20Poly1305(key).decrypt(nonce, frag, aad)     # raises if the secret is wrong
                eq(plain[0], 20, "a Finished message")
                finished += 1
        eq(finished, 2, "both Finished records on port %d decrypt with the master secret" % port)
        done += 1
    return done


def test_linphone_dtls_srtp_call(env):
    cclib.need("linphonec")
    if env.sanitize:
        raise cclib.Skip("linphone under libasan is not part of the quick sanitizer run")
    if not shutil.which("unshare") or subprocess.run(["unshare", "-n", "true"]).returncode != 0:
        raise cclib.Skip("no network namespaces here (unshare -n)")
    d = env.path("lp")
    for sub in ("ha/.local/share/linphone", "hb/.local/share/linphone"):
        os.makedirs(os.path.join(d, sub))     # linphone starts no SIP transport without its database
    for name, sip, rtp in (("a", 5070, 7078), ("b", 5080, 7088)):
        with open(os.path.join(d, name + ".rc"), "w") as f:
            f.write(RC.format(name=name, sip=sip, rtp=rtp, vrtp=rtp + 20))
    _tone(os.path.join(d, "tone.wav"))
    e = env.env(preload=False)
    e.update(DIR=d, TOOL=env.tool)
    p = cclib.run(["unshare", "-n", "bash", "-c", SCRIPT], env=e, timeout=90, check=False)
    aout, bout = (open(os.path.join(d, n + ".out"), errors="replace").read() for n in "ab")
    eq(p.returncode, 0, p.stdout + p.stderr + aout + bout)
    # The program is unchanged: the call connects, encrypted, and ends normally on both sides.
    for out in (aout, bout):
        ok("connected" in out and "is fully encrypted" in out and "ended (No error)" in out, out[-2000:])
        ok("had no plaintext copy" not in out, "the hooks' plaintext is counted as such: " + out[-1500:])
    acap, bcap = os.path.join(d, "a.pcapng"), os.path.join(d, "b.pcapng")
    # The DTLS secrets: the same on both sides, in each file's DSBs.
    lines = {n: sorted(open(os.path.join(d, n + ".keys")).read().split("\n")) for n in "ab"}
    eq(lines["a"], lines["b"], "both ends log the same master secrets")
    secrets = _dsb_secrets(acap)
    ms = {secrets[i + 1]: secrets[i + 2] for i in range(0, len(secrets) - 2, 3) if secrets[i] == "CLIENT_RANDOM"}
    eq(len(ms), 2, "two DTLS sessions (RTP and RTCP ports), their master secrets embedded: %r" % secrets)
    eq(_check_finished_decrypts(acap, ms, [7078, 7079]), 2, "both sessions verified")
    # SRTP: every wire packet has its plaintext from the libsrtp2 hooks, on its 5-tuple.
    for cap, direction in ((acap, "4"), (bcap, "0")):
        dec = ["-d", "udp.port==7078,rtp"]
        rtp = ' && udp.port == 7078 && rtp.version == 2'   # not the STUN and DTLS beside it
        wire = tshark(cap, ["udp.srcport", "udp.dstport", "rtp.seq"], 'frame.interface_name == "wire"' + rtp, dec)
        plain = tshark(cap, ["udp.srcport", "udp.dstport", "rtp.seq", "frame.comment", "sll.pkttype"],
                       'frame.interface_name == "plaintext"' + rtp, dec)
        ok(len(wire) >= 50, "SRTP flowed: %d packets" % len(wire))
        ok(sorted(r[:3] for r in plain) == sorted(wire), "one plaintext per SRTP packet, same 5-tuple and seq: "
           "%d plaintext, %d wire, first %r / %r" % (len(plain), len(wire), plain[:1], wire[:1]))
        ok(all("flow from SRTP packet" in r[3] and "decrypted by clearcap" not in r[3] and r[4] == direction
               for r in plain), plain[:3])
    # Each direction: what the receiver unprotected is what the sender protected, in its order;
    # the sender's last packets may still be in flight when the other side hangs up.
    for src, snd, rcv in ((7078, acap, bcap), (7088, bcap, acap)):
        flt = 'frame.interface_name == "plaintext" && udp.srcport == %d && udp.port == 7078' % src
        sent = [r[0] for r in tshark(snd, ["udp.payload"], flt)]
        got = [r[0] for r in tshark(rcv, ["udp.payload"], flt)]
        ok(len(got) >= len(sent) - 3 and got == [x for x in sent if x in set(got)],
           "the receiver's plaintext from port %d is what the sender protected: sent %d, got %d, "
           "first difference at %r" % (src, len(sent), len(got),
                                       next((i for i, (a, b) in enumerate(zip(sent, got)) if a != b), None)))
