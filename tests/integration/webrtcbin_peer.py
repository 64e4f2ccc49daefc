"""A WebRTC data-channel answerer on Debian's GStreamer webrtcbin (libnice ICE, GStreamer's DTLS
elements with their own BIO, usrsctp), for clearcap's tests: the stack is unmodified, this is only
the application around it.  It speaks to webrtc_peer.py's offerer (aiortc): reads the offer as one
JSON line on stdin, prints the answer (with all its candidates: aiortc does not trickle), echoes
every message back prefixed with "echo: ", and prints "done" after the binary message.
With "audio" as its argument it also answers the offer's audio: a 440 Hz tone as PCMU (RFC 3551
payload type 0, which aiortc offers) goes back, and what comes in is decoded and dropped.
"""
import json
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

Gst.init(None)
loop = GLib.MainLoop()
pipe = Gst.Pipeline.new("peer")
w = Gst.ElementFactory.make("webrtcbin", "w")
w.set_property("bundle-policy", GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
pipe.add(w)
candidates = []
channels = []
AUDIO = "audio" in sys.argv[1:]


def add_audio():
    """Sends PCMU on the transceiver the offer's audio made, and plays what arrives into a sink."""
    src = Gst.parse_bin_from_description(
        "audiotestsrc is-live=true freq=440 ! audioconvert ! audioresample ! audio/x-raw,rate=8000,channels=1 ! "
        "mulawenc ! rtppcmupay pt=0",
        True)
    pipe.add(src)
    # Linked before the offer is applied: the offer's audio m-line takes this sendrecv transceiver.
    src.link_pads("src", w, "sink_0")
    src.sync_state_with_parent()


def on_pad(_w, pad):
    if pad.get_direction() != Gst.PadDirection.SRC:
        return
    sink = Gst.parse_bin_from_description("queue ! fakesink sync=false", True)
    pipe.add(sink)
    sink.sync_state_with_parent()
    pad.link(sink.get_static_pad("sink"))


def on_candidate(_w, mline, cand):
    candidates.append((mline, cand))


def send_answer():
    sdp = w.get_property("local-description").sdp.as_text()
    lines = [l for l in sdp.replace("\r\n", "\n").split("\n") if l]
    # Candidates after the m= line they belong to (one bundled section here).
    out, seen_m = [], -1
    for l in lines:
        out.append(l)
        if l.startswith("m="):
            seen_m += 1
            out += ["a=" + c for m, c in candidates if m == seen_m and "a=" + c not in lines]
    print(json.dumps({"type": "answer", "sdp": "\r\n".join(out) + "\r\n"}), flush=True)


def on_gathering(_w, _p):
    if w.get_property("ice-gathering-state") == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
        GLib.idle_add(lambda: (send_answer(), False)[1])


def on_channel(_w, ch):
    channels.append(ch)
    ch.connect("on-message-string", lambda c, m: c.emit("send-string", "echo: " + m))

    def on_data(c, data):
        c.emit("send-data", GLib.Bytes.new(b"echo: " + data.get_data()))
        GLib.timeout_add(1000, finish)

    ch.connect("on-message-data", on_data)


def finish():
    print("done", flush=True)
    pipe.set_state(Gst.State.NULL)
    loop.quit()
    return False


def on_answer(promise, _data):
    reply = promise.get_reply()
    answer = reply.get_value("answer") if reply else None
    if answer is None:
        print("no answer: %s" % (reply.to_string() if reply else None), file=sys.stderr, flush=True)
        loop.quit()
        return
    w.emit("set-local-description", answer, Gst.Promise.new())


def modern_sctp(sdp):
    """aiortc offers the old SCTP SDP syntax (m=... DTLS/SCTP 5000, a=sctpmap); webrtcbin wants
    RFC 8841's (UDP/DTLS/SCTP webrtc-datachannel, a=sctp-port).  Signaling's job, not the stacks'."""
    out = []
    for l in sdp.replace("\r\n", "\n").split("\n"):
        if l.startswith("m=application") and "DTLS/SCTP" in l:
            f = l.split()
            l = "m=application %s UDP/DTLS/SCTP webrtc-datachannel" % f[1]
        elif l.startswith("a=sctpmap:"):
            l = "a=sctp-port:%s" % l.split(":")[1].split()[0]
        if l:
            out.append(l)
    return "\r\n".join(out) + "\r\n"


def one_bundle_transport(sdp):
    """aiortc 1.4 offers a BUNDLE group but gives each m-line its own ICE credentials (it drops the
    extra transports once the answer accepts the bundle); webrtcbin refuses that.  Give every
    bundled m-line the first one's credentials and candidates only: signaling's job again."""
    out, ufrag, pwd, m = [], None, None, -1
    for l in sdp.replace("\r\n", "\n").split("\n"):
        if l.startswith("m="):
            m += 1
        elif m == 0 and l.startswith("a=ice-ufrag:"):
            ufrag = l
        elif m == 0 and l.startswith("a=ice-pwd:"):
            pwd = l
        elif m > 0 and l.startswith("a=ice-ufrag:") and ufrag:
            l = ufrag
        elif m > 0 and l.startswith("a=ice-pwd:") and pwd:
            l = pwd
        elif m > 0 and (l.startswith("a=candidate:") or l.startswith("a=end-of-candidates")):
            continue
        if l:
            out.append(l)
    return "\r\n".join(out) + "\r\n"


def got_offer(text):
    offer = json.loads(text)
    if AUDIO:
        add_audio()
    _, msg = GstSdp.SDPMessage.new_from_text(one_bundle_transport(modern_sctp(offer["sdp"])))
    desc = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.OFFER, msg)

    def remote_set(p, _d):
        r = p.get_reply()
        if r is not None and r.has_field("error"):
            print("remote description refused: %s" % r.to_string(), file=sys.stderr, flush=True)
        w.emit("create-answer", None, Gst.Promise.new_with_change_func(on_answer, None))

    w.emit("set-remote-description", desc, Gst.Promise.new_with_change_func(remote_set, None))
    return False


w.connect("on-ice-candidate", on_candidate)
w.connect("notify::ice-gathering-state", on_gathering)
w.connect("on-data-channel", on_channel)
w.connect("pad-added", on_pad)
pipe.set_state(Gst.State.PLAYING)
threading.Thread(target=lambda: GLib.idle_add(got_offer, sys.stdin.readline()), daemon=True).start()
GLib.timeout_add(30000, lambda: (print("timeout", flush=True), loop.quit()))
loop.run()
