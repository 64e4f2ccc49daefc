"""`clearcap extract` beyond G.711: Opus to Ogg Opus, VP8 to IVF, H.264 to Annex B, from real
GStreamer senders captured under clearcap, checked with ffprobe/ffmpeg (codec, frame count,
duration, the tone that was sent); lost packets made with editcap; and SRTP streams without a
plaintext copy refused rather than written as noise."""
import math
import os
import re
import struct
import subprocess
import sys
import time

import cclib
from cclib import eq, ok, tshark, tshark_count

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from test_report import dominant_hz, srtp_pcmu_session  # noqa: E402

QUICK = ["test_extract_opus_to_ogg", "test_extract_vp8_to_ivf_with_loss"]

KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d"


def need_gst(*elements):
    cclib.need("gst-launch-1.0")
    cclib.need("ffprobe")
    cclib.need("editcap")
    for e in elements:
        if subprocess.run(["gst-inspect-1.0", e], capture_output=True).returncode != 0:
            raise cclib.Skip("GStreamer element %s not installed (gstreamer1.0-plugins-good/-ugly/-bad)" % e)


def send_under_clearcap(env, cap, pipeline):
    """Runs a GStreamer sender ending in `udpsink` under `clearcap -w cap`, towards a UDP socket
    this test holds open (so the kernel has somewhere to deliver); returns the port."""
    import socket
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    sink.bind(("127.0.0.1", 0))
    port = sink.getsockname()[1]
    try:
        cclib.run([env.tool, "-w", cap, "--", "gst-launch-1.0", "-q"] + pipeline +
                  ["!", "udpsink", "host=127.0.0.1", "port=%d" % port], env=env.env(preload=False), timeout=30)
    finally:
        sink.close()
    return port


def extract(env, cap, out):
    p = cclib.run([env.tool, "extract", cap, "-o", out], env=env.env(preload=False))
    return p.stdout


def probe(path, *entries):
    """ffprobe's view of the first stream: {key: value} for stream entries, format duration."""
    out = cclib.run(["ffprobe", "-v", "error", "-count_frames", "-count_packets", "-select_streams", "0",
                     "-show_entries", "stream=" + ",".join(entries) + ":format=duration", "-of",
                     "default=noprint_wrappers=1", path]).stdout
    return dict(l.split("=", 1) for l in out.splitlines() if "=" in l)


def rtp_packets(cap, port):
    """(frame number, rtp.seq, rtp.timestamp, marker) of the RTP to port, as tshark decodes it."""
    rows = tshark(cap, ["frame.number", "rtp.seq", "rtp.timestamp", "rtp.marker"], "udp.dstport == %d" % port,
                  extra=["-d", "udp.port==%d,rtp" % port])
    return [(int(r[0]), int(r[1]), int(r[2]), r[3] in ("1", "True")) for r in rows]


def one_file(out, ext):
    files = sorted(f for f in os.listdir(out) if f.endswith("." + ext))
    eq(len(files), 1, "one .%s file in %s: %r" % (ext, out, os.listdir(out)))
    ok(re.match(r"ssrc-[0-9a-f]{8}-wire-sent\.%s$" % ext, files[0]), files[0])
    return os.path.join(out, files[0])


def test_extract_opus_to_ogg(env):
    """2 s of a 440 Hz sine as Opus (100 buffers of 20 ms, real time): an Ogg Opus file that
    ffprobe reads as opus with one packet per RTP packet and the sent duration, and that ffmpeg
    decodes back to 440 Hz."""
    need_gst("opusenc", "rtpopuspay")
    cap, out = env.path("opus.pcapng"), env.path("xo")
    port = send_under_clearcap(env, cap, [
        "audiotestsrc", "freq=440", "num-buffers=100", "samplesperbuffer=960", "!",
        "audio/x-raw,rate=48000,channels=1", "!", "opusenc", "frame-size=20", "!", "rtpopuspay"])
    pkts = rtp_packets(cap, port)
    ok(100 <= len(pkts) <= 102, "RTP packets sent: %d" % len(pkts))
    stdout = extract(env, cap, out)
    path = one_file(out, "opus")
    p = probe(path, "codec_name", "channels", "sample_rate", "nb_read_packets")
    eq(p["codec_name"], "opus", "codec")
    eq(int(p["nb_read_packets"]), len(pkts), "one Ogg packet per RTP packet")
    ok(abs(float(p["duration"]) - 2.0) <= 0.02 + 1e-3, "duration %s s for 2.00 s sent" % p["duration"])
    ok(("%d packets, %d Opus packets" % (len(pkts), len(pkts))) in stdout, stdout)
    # The audio itself: ffmpeg's decoder (libopus) gives back the tone.
    pcm = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "s16le", "-ac", "1", "-ar", "8000", "-"],
                         capture_output=True, check=True).stdout
    samples = struct.unpack("<%dh" % (len(pcm) // 2), pcm)
    ok(abs(len(samples) - 16000) <= 160, "decoded %d samples at 8 kHz" % len(samples))
    hz, zc = dominant_hz(samples[4000:12000], 8000)
    ok(abs(hz - 440) <= 3, "dominant frequency %.1f Hz (zero crossings %.1f)" % (hz, zc))
    ok(max(samples) > 5000, "a loud tone, not silence")


def video_case(env, name, enc, pay, ext, codec):
    """60 frames at 30/s, a key frame every 20: the whole stream, then the same capture with one
    packet of frame 30 deleted by editcap."""
    cap, out = env.path(name + ".pcapng"), env.path("x" + name)
    port = send_under_clearcap(env, cap, [
        "videotestsrc", "num-buffers=60", "!", "video/x-raw,width=320,height=240,framerate=30/1", "!"] + enc +
        ["!", pay])
    pkts = rtp_packets(cap, port)
    stamps = sorted(set(p[2] for p in pkts))
    eq(len(stamps), 60, "frames (RTP timestamps) sent")
    stdout = extract(env, cap, out)
    path = one_file(out, ext)
    p = probe(path, "codec_name", "width", "height", "nb_read_frames")
    eq(p["codec_name"], codec, "codec")
    eq((p["width"], p["height"]), ("320", "240"), "size")
    eq(int(p["nb_read_frames"]), 60, "frames decoded: " + stdout)
    if ext == "ivf":
        ok(abs(float(p["duration"]) - 2.0) <= 1 / 30 + 1e-3, "duration %s s for 2.00 s sent" % p["duration"])
    ok("60 frames, 2.00 s" in stdout, stdout)
    dec = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "null", "-"], capture_output=True, text=True)
    eq((dec.returncode, dec.stderr), (0, ""), "ffmpeg decodes without a complaint")

    # A packet delayed behind the next three (cut and concatenated back with editcap/mergecap):
    # put back in its place, nothing is lost.
    multi = next(ts for ts in stamps if len([p for p in pkts if p[2] == ts]) >= 3)
    moved = [p for p in pkts if p[2] == multi][1][0]
    parts = [env.path("%s-part%d.pcapng" % (name, i)) for i in range(4)]
    last = max(p[0] for p in pkts) + 1000
    for part, (a, b) in zip(parts, ((1, moved - 1), (moved, moved), (moved + 1, moved + 3), (moved + 4, last))):
        cclib.run(["editcap", "-r", cap, part, "%d-%d" % (a, b)])
    shuffled = env.path(name + "-reordered.pcapng")
    cclib.run(["mergecap", "-a", "-w", shuffled, parts[0], parts[2], parts[1], parts[3]])
    eq(tshark_count(shuffled), tshark_count(cap), "mergecap kept every frame")
    out3 = env.path("x" + name + "-reordered")
    stdout = extract(env, shuffled, out3)
    p = probe(one_file(out3, ext), "nb_read_frames")
    eq(int(p["nb_read_frames"]), 60, "frames after reordering: " + stdout)
    ok("60 frames" in stdout and "lost" not in stdout and "dropped" not in stdout, stdout)

    # Which frames are key frames, as ffprobe sees them: from 30 on, nothing decodes until the next.
    keys = [l == "key_frame=1" for l in cclib.run(["ffprobe", "-v", "error", "-select_streams", "0",
                                                   "-show_entries", "frame=key_frame", "-of", "default", path]
                                                  ).stdout.split() if l.startswith("key_frame=")]
    eq(len(keys), 60, "key frame flags")
    ok(keys[0] and not keys[30], "frame 0 is a key frame, frame 30 is not: %r" % keys)
    nxt = next((i for i in range(31, 60) if keys[i]), 60)
    # Delete the last packet of frame 30 (its marker: the frame is cut short), or its only one
    # (the frame is gone), as a network would lose it.
    f30 = [p for p in pkts if p[2] == stamps[30]]
    cut = env.path(name + "-lost.pcapng")
    cclib.run(["editcap", cap, cut, str(f30[-1][0])])
    eq(tshark_count(cut), tshark_count(cap) - 1, "editcap removed one frame")
    out2 = env.path("x" + name + "-lost")
    stdout = extract(env, cut, out2)
    path = one_file(out2, ext)
    expect = 60 - (nxt - 30)
    p = probe(path, "codec_name", "nb_read_frames")
    eq(int(p["nb_read_frames"]), expect, "frames decoded after the loss (next key frame %d): %s" % (nxt, stdout))
    ok(("%d frames" % expect) in stdout and "1 packets lost" in stdout, stdout)
    # Every frame from 30 to the key frame is accounted for: lost with the packet, dropped as
    # incomplete, or skipped because it predicts from a frame that was not written.
    m = re.search(r"(\d+) incomplete frames dropped", stdout)
    dropped = int(m.group(1)) if m else 0
    m = re.search(r"(\d+) frames skipped until a key frame", stdout)
    skipped = int(m.group(1)) if m else 0
    eq(dropped + skipped + (len(f30) == 1), nxt - 30, "frames 30..%d: %s" % (nxt - 1, stdout))
    ok(len(f30) == 1 or dropped >= 1, "frame 30 without its last packet is dropped: " + stdout)
    dec = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "null", "-"], capture_output=True, text=True)
    eq((dec.returncode, dec.stderr), (0, ""), "no garbled frame reaches the decoder")


def test_extract_vp8_to_ivf_with_loss(env):
    need_gst("vp8enc", "rtpvp8pay")
    video_case(env, "vp8", ["vp8enc", "deadline=1", "keyframe-max-dist=20"],
               "rtpvp8pay", "ivf", "vp8")


def test_extract_h264_to_annexb_with_loss(env):
    need_gst("x264enc", "rtph264pay")
    video_case(env, "h264", ["x264enc", "tune=zerolatency", "key-int-max=20", "speed-preset=ultrafast"],
               "rtph264pay", "h264", "h264")


def test_extract_srtp_opus_plaintext_copy_only(env):
    """Opus over SRTP (srtpenc/srtpdec) received under clearcap: the plaintext copy becomes the
    Ogg Opus file, the wire copy is refused with one line naming why; the report marks it."""
    need_gst("opusenc", "rtpopuspay", "srtpenc", "srtpdec")
    cap, out = env.path("sopus.pcapng"), env.path("xs")
    ssrc = 0x1234abcd
    port = cclib.free_port()
    caps = ("application/x-srtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=96,ssrc=(uint)%d,"
            "srtp-key=(buffer)%s,srtp-cipher=(string)aes-128-icm,srtp-auth=(string)hmac-sha1-80,"
            "srtcp-cipher=(string)aes-128-icm,srtcp-auth=(string)hmac-sha1-80,roc=(uint)0" % (ssrc, KEY))
    recv = subprocess.Popen([env.tool, "-w", cap, "--", "gst-launch-1.0", "-q", "udpsrc", "port=%d" % port,
                             "num-buffers=75", "caps=" + caps, "!", "srtpdec", "!", "fakesink"],
                            env=env.env(preload=False), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        cclib.run(["gst-launch-1.0", "-q", "audiotestsrc", "freq=440", "num-buffers=75", "samplesperbuffer=960",
                   "!", "audio/x-raw,rate=48000,channels=1", "!", "opusenc", "frame-size=20", "!", "rtpopuspay",
                   "ssrc=%d" % ssrc, "!", "srtpenc", "key=" + KEY, "!", "udpsink", "host=127.0.0.1",
                   "port=%d" % port], env=env.env(preload=False), timeout=30)
        _, err = recv.communicate(timeout=20)
    finally:
        if recv.poll() is None:
            recv.kill()
            recv.wait()
    eq(recv.returncode, 0, "receiver under clearcap: " + err)
    stdout = extract(env, cap, out)
    eq(sorted(f for f in os.listdir(out) if not f.endswith(".pcap")),
       ["ssrc-%08x-plaintext-recv.opus" % ssrc], stdout)
    ok(re.search(r"ssrc 0x%08x wire recv: SRTP \(encrypted: a plaintext copy.*extracted instead" % ssrc, stdout),
       stdout)
    p = probe(os.path.join(out, "ssrc-%08x-plaintext-recv.opus" % ssrc), "codec_name", "nb_read_packets")
    eq(p["codec_name"], "opus", "codec")
    eq(int(p["nb_read_packets"]), tshark_count(cap, "sll.ifindex == 2"), "one Ogg packet per plaintext copy")
    rep = cclib.run([env.tool, "report", cap, "--json"], env=env.env(preload=False)).stdout
    import json
    streams = {s["interface"]: s for s in json.loads(rep)["rtp_streams"] if s["ssrc"] == ssrc}
    eq((streams["wire"]["encrypted"], streams["plaintext"]["encrypted"]), (True, False), "encrypted in the report")
    ok("SRTP (encrypted" in cclib.run([env.tool, "report", cap], env=env.env(preload=False)).stdout, "text report")


def test_extract_refuses_srtp_without_plaintext(env):
    """A PCMU call over SRTP with only its wire copy left (the plaintext frames removed, as in a
    tcpdump of the same call): extract writes no WAV of noise and says why in one line."""
    cap = env.path("c.pcapng")
    srtp_pcmu_session(env, cap, buffers=60)
    wire = env.path("wire.pcapng")
    cclib.run(["tshark", "-r", cap, "-Y", "sll.ifindex == 1", "-w", wire])
    eq(tshark_count(wire, "sll.ifindex == 2"), 0, "no plaintext left")
    ok(tshark_count(wire) >= 50, "the wire copy is there")
    out = env.path("xw")
    stdout = extract(env, wire, out)
    eq([f for f in os.listdir(out) if not f.endswith(".pcap")], [], "no media file: " + stdout)
    lines = [l for l in stdout.splitlines() if "SRTP" in l]
    eq(len(lines), 1, stdout)
    ok("not extracted" in lines[0] and "auth tag" in lines[0], lines[0])
    # The same file with the plaintext copies: the WAV is written, from them only.
    out = env.path("xp")
    stdout = extract(env, cap, out)
    ok(any(f.endswith("-plaintext-recv.wav") for f in os.listdir(out)), stdout)
    ok(not any("-wire-" in f for f in os.listdir(out)), stdout)


def test_extract_webrtc_opus(env):
    """A real WebRTC session (two aiortc peers, DTLS-SRTP over ICE), the offerer sending a 440 Hz
    tone as Opus and the answerer silence back: from the plaintext copies extract writes an Ogg
    Opus file per stream and direction with one packet per RTP packet tshark finds, the tone
    comes back out; every wire (SRTP) copy is refused with its reason, never written."""
    from test_webrtc import run_session
    cclib.need("ffprobe")
    cap, out = env.path("w.pcapng"), env.path("xw")
    run_session(env, cap, mode="audio tone")
    stdout = extract(env, cap, out)
    files = sorted(f for f in os.listdir(out) if not f.endswith(".pcap"))
    ok(not any("-wire-" in f or "-relay-" in f for f in files), "no file from a wire copy: %r" % files)
    refused = [l for l in stdout.splitlines() if "SRTP (encrypted" in l]
    # Two audio streams, each sent and received: four wire copies.
    eq(len(refused), 4, "the wire copies are refused: " + stdout)
    opus = [f for f in files if f.endswith(".opus")]
    eq(len(opus), 4, "Opus, two streams each seen sent and received: %r" % files)
    tone = []
    for f in opus:
        ssrc = int(f.split("-")[1], 16)
        pkttype = "4" if f.endswith("sent.opus") else "0"
        n = len(tshark(cap, ["frame.number"], "sll.ifindex == 2 && sll.pkttype == %s && rtp.ssrc == 0x%08x" %
                       (pkttype, ssrc), extra=["-o", "rtp.heuristic_rtp:TRUE"]))
        p = probe(os.path.join(out, f), "codec_name", "nb_read_packets")
        eq(p["codec_name"], "opus", f)
        ok(n >= 100, "%d plaintext RTP packets of 0x%08x" % (n, ssrc))
        eq(int(p["nb_read_packets"]), n, "%s: one Ogg packet per RTP packet: %s" % (f, stdout))
        ok(abs(float(p["duration"]) - n * 0.02) <= 0.021, "%s: %s s for %d packets of 20 ms" % (f, p["duration"], n))
        pcm = subprocess.run(["ffmpeg", "-v", "error", "-i", os.path.join(out, f), "-f", "s16le", "-ac", "1",
                              "-ar", "8000", "-"], capture_output=True, check=True).stdout
        samples = struct.unpack("<%dh" % (len(pcm) // 2), pcm)
        if max(samples[4000:12000]) > 3000:
            tone.append(dominant_hz(samples[4000:12000], 8000)[0])
    # The offerer's stream, sent and received: the tone; the answerer's: silence.
    eq(len(tone), 2, "two files hold the tone: %r" % tone)
    ok(all(abs(t - 440) <= 3 for t in tone), "440 Hz: %r" % tone)
    # Without the plaintext copies (a tcpdump of the same call): the DTLS on each stream's
    # 5-tuple says DTLS-SRTP; nothing is written, and the report agrees.
    wire = env.path("wire.pcapng")
    cclib.run(["tshark", "-r", cap, "-Y", "sll.ifindex != 2", "-w", wire])
    out = env.path("xw2")
    stdout = extract(env, wire, out)
    eq([f for f in os.listdir(out) if not f.endswith(".pcap")], [], stdout)
    refused = [l for l in stdout.splitlines() if "SRTP (encrypted: DTLS-SRTP" in l and "not extracted" in l]
    eq(len(refused), 4, stdout)
    import json
    rep = json.loads(cclib.run([env.tool, "report", wire, "--json"], env=env.env(preload=False)).stdout)
    media = [s for s in rep["rtp_streams"] if s["valid"]]
    ok(len(media) >= 4 and all(s["encrypted"] for s in media), "report: %r" %
       [(s["ssrc_hex"], s["encrypted"], s["encrypted_reason"]) for s in media])


def goertzel(samples, rate, f):
    w = 2 * math.pi * f / rate
    c = 2 * math.cos(w)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + c * s1 - s2, s1
    return s1 * s1 + s2 * s2 - c * s1 * s2


def test_extract_dtmf_drawn_into_wav(env):
    """A PCMU call (a 300 Hz tone) in which GStreamer's rtpdtmfsrc presses 5 and 9 (RFC 4733
    events on the audio's SSRC): the WAV holds each digit's two Q.23 frequencies for as long as
    tshark says the event lasted, where it began, and the 300 Hz tone elsewhere."""
    need_gst("rtpdtmfsrc", "rtpdtmfmux", "rtppcmupay")
    probe_gi = subprocess.run([cclib.PY, "-c", "import gi; gi.require_version('Gst', '1.0')"], capture_output=True)
    if probe_gi.returncode != 0:
        raise cclib.Skip("python3-gst-1.0 not installed")
    import socket
    import wave
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    port = sink.getsockname()[1]
    cap, out = env.path("dtmf.pcapng"), env.path("xd")
    try:
        cclib.run([env.tool, "-q", "-w", cap, "--", cclib.PY, os.path.join(HERE, "dtmf_sender.py"), str(port), "59"],
                  env=env.env(preload=False), timeout=30)
    finally:
        sink.close()
    dec = ["-d", "udp.port==%d,rtp" % port]
    audio_ts = [int(r[0]) for r in tshark(cap, ["rtp.timestamp"], "rtp.p_type == 0", extra=dec)]
    events = {}
    for ts, ev, dur in tshark(cap, ["rtp.timestamp", "rtpevent.event_id", "rtpevent.duration"], "rtpevent",
                              extra=dec):
        events[int(ts)] = (int(ev), max(int(dur), events.get(int(ts), (0, 0))[1]))
    eq(sorted(e[0] for e in events.values()), [5, 9], "events tshark decodes: %r" % events)
    stdout = extract(env, cap, out)
    ok("DTMF 59 drawn in" in stdout, stdout)
    wavs = [f for f in os.listdir(out) if f.endswith(".wav")]
    eq(len(wavs), 1, stdout)
    w = wave.open(os.path.join(out, wavs[0]))
    pcm = w.readframes(w.getnframes())
    samples = struct.unpack("<%dh" % (len(pcm) // 2), pcm)
    pairs = {5: (770, 1336), 9: (852, 1477)}
    others = [697, 770, 852, 941, 1209, 1336, 1477, 1633, 300]
    for ts, (ev, dur) in events.items():
        off = ts - audio_ts[0]
        ok(dur >= 1600 and off + dur <= len(samples), "event %d at %d for %d samples" % (ev, off, dur))
        win = samples[off + 80:off + dur - 80]
        p = {f: goertzel(win, 8000, f) for f in others}
        lo, hi = pairs[ev]
        for f in others:
            if f not in (lo, hi):
                ok(min(p[lo], p[hi]) > 20 * p[f], "digit %d: %d/%d Hz over %d Hz: %r" % (ev, lo, hi, f, p))
    # Before the first event only the 300 Hz tone is there.
    first = min(events) - audio_ts[0]
    win = samples[max(0, first - 2400):first - 80]
    p = {f: goertzel(win, 8000, f) for f in others}
    ok(all(p[300] > 20 * p[f] for f in others if f != 300), "the call's tone before the digits: %r" % p)


def webrtc_video(env, mode, ext, codec):
    """aiortc sends its test video over DTLS-SRTP to another aiortc: extract writes the offerer's
    sent and the answerer's received plaintext copies as files that ffprobe reads with the codec
    and the frame count extract reports, the frame count being the distinct RTP timestamps
    tshark finds and ffmpeg decoding them without a complaint; the wire copies are refused."""
    from test_webrtc import run_session
    cclib.need("ffprobe")
    cap, out = env.path("v.pcapng"), env.path("xv")
    run_session(env, cap, mode=mode)
    stdout = extract(env, cap, out)
    files = sorted(f for f in os.listdir(out) if not f.endswith(".pcap"))
    ok(not any("-wire-" in f for f in files), "no file from a wire copy: %r" % files)
    vids = [f for f in files if f.endswith("." + ext)]
    eq(sorted(f.rsplit("-", 1)[1] for f in vids), ["recv." + ext, "sent." + ext], "video sent and received: %r" % files)
    eq(len([l for l in stdout.splitlines() if "SRTP (encrypted" in l]), 2, stdout)
    for f in vids:
        ssrc = int(f.split("-")[1], 16)
        m = re.search(r"%s: \w+ \w+, (\d+) packets, (\d+) frames, ([\d.]+) s" %
                      re.escape(os.path.join(out, f)), stdout)
        ok(m, stdout)
        frames = int(m.group(2))
        p = probe(os.path.join(out, f), "codec_name", "width", "height", "nb_read_frames")
        eq(p["codec_name"], codec, f)
        eq((p["width"], p["height"]), ("640", "480"), "aiortc's test video size")
        eq(int(p["nb_read_frames"]), frames, f)
        if ext == "ivf":
            ok(abs(float(p["duration"]) - float(m.group(3))) <= 0.05, "duration %s vs %s" % (p["duration"], m.group(3)))
        pkttype = "4" if f.endswith("sent." + ext) else "0"
        rows = tshark(cap, ["rtp.timestamp"], "sll.ifindex == 2 && sll.pkttype == %s && rtp.ssrc == 0x%08x" %
                      (pkttype, ssrc), extra=["-o", "rtp.heuristic_rtp:TRUE"])
        ok(frames >= 30, "at least a second of video: " + m.group(0))
        eq(len(set(r[0] for r in rows)), frames, "distinct RTP timestamps of 0x%08x" % ssrc)
        eq(len(rows), int(m.group(1)), "packets of 0x%08x" % ssrc)
        dec = subprocess.run(["ffmpeg", "-v", "error", "-i", os.path.join(out, f), "-f", "null", "-"],
                             capture_output=True, text=True)
        eq((dec.returncode, dec.stderr), (0, ""), "ffmpeg decodes %s without a complaint" % f)


def test_extract_webrtc_vp8(env):
    """VP8 (aiortc's first choice) from a real WebRTC session to IVF."""
    webrtc_video(env, "video", "ivf", "vp8")


def test_extract_webrtc_h264(env):
    """H.264 (aiortc's libx264 through PyAV, offered alone) from a real WebRTC session to Annex B."""
    webrtc_video(env, "video h264", "h264", "h264")


G711_EDGES = r"""
import socket, struct, time
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(('127.0.0.1', 0))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def send(ssrc, pt, seq, ts, pad=0):
    b0 = 0x80 | (0x20 if pad else 0)
    pay = b'\xff' * 160 + (b'\x00' * (pad - 1) + bytes([pad]) if pad else b'')
    s.sendto(struct.pack('!BBHII', b0, pt, seq, ts, ssrc) + pay, r.getsockname())
    r.recv(2000)
    time.sleep(0.002)
# 0xa1: 30 PCMU packets with 4 bytes of RTP padding each, then 20 PCMA ones on the same SSRC.
for i in range(50):
    send(0xa1, 0 if i < 30 else 8, 100 + i, 1000 + 160 * i, pad=4 if i < 30 else 0)
# 0xb2: PCMU whose RTP clock goes back after 25 packets (a sender that restarted its clock).
for i in range(50):
    send(0xb2, 0, 500 + i, (90000 if i < 25 else 10000) + 160 * i)
print('ok')
"""


def test_extract_g711_padding_pt_change_and_clock_jump(env):
    """Hand-made G.711 streams from python3: RTP padding is not taken for an SRTP auth tag (the
    stream is clear, reported so, and extracted); a change from PCMU to PCMA on one SSRC is one
    change, and both halves are in the .wav (50 packets, 1 s); packets whose RTP time is before the
    stream's first are said not placed, not hidden behind a packet count."""
    import json
    import wave
    cap = env.path("g711.pcapng")
    cclib.run([env.tool, "-q", "-w", cap, "--", cclib.PY, "-c", G711_EDGES], env=env.env(None, preload=False))
    streams = json.loads(cclib.run([env.tool, "report", "--json", cap]).stdout)["rtp_streams"]
    a1 = [s for s in streams if s["ssrc"] == 0xa1]
    eq(len(a1), 2, "0xa1 sent and received")
    for s in a1:
        eq(s["encrypted"], False, "padded PCMU is clear: %r" % s)
        eq(s["payload_type_changes"], 1, "one change, PCMU to PCMA")
        eq(s["telephone_event_pt"], None, "no telephone events")
    out = env.path("ex")
    p = cclib.run([env.tool, "extract", cap, "-o", out])
    line = [l for l in p.stdout.splitlines() if "ssrc-000000a1-wire-sent" in l]
    ok(line and "PCMU and PCMA" in line[0] and "50 packets" in line[0], p.stdout)
    with wave.open(os.path.join(out, "ssrc-000000a1-wire-sent.wav")) as w:
        eq(w.getnframes(), 50 * 160, "both halves placed: 1 s at 8 kHz")
    line = [l for l in p.stdout.splitlines() if "ssrc-000000b2-wire-sent" in l]
    ok(line and "25 not placed" in line[0], p.stdout)
