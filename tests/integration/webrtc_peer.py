"""A WebRTC data-channel peer on Debian's aiortc, for clearcap's tests: the stack is unmodified,
this is only the application around it.

usage: webrtc_peer.py offer|answer [audio] [tone] [video [h264]] [relay]
Signaling is one JSON line each way: the offerer prints its offer on stdout and reads the answer
from stdin; the answerer reads the offer from stdin and prints its answer.  The offerer opens a
channel "chat", sends MESSAGES text messages and one binary message, waits for each echo, and
closes; the answerer echoes every message back prefixed with "echo: ".  Prints "done" at the end.
"""
import asyncio
import json
import os
import sys

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

MESSAGES = ["hello %d from the offerer" % i for i in range(5)]
AUDIO = "audio" in sys.argv[2:]
# tone: the offerer's audio is a 440 Hz sine instead of silence; video: it also sends aiortc's
# test video (VP8 is aiortc's first choice; on a loaded 2-core machine its DTLS did not connect).
TONE = "tone" in sys.argv[2:]
VIDEO = "video" in sys.argv[2:]
H264 = "h264" in sys.argv[2:]	# with video: offer H.264 only
# relay: only relayed candidates, through the TURN server the test runs at TURN_SERVER (a browser's
# iceTransportPolicy "relay"; aiortc 1.4 has no such option, so it is passed to aioice directly).
RELAY = "relay" in sys.argv[2:]
TURN_SERVER = "turn:10.200.0.1:3478"


def new_pc():
    # PEER_ICE: STUN/TURN URLs, comma-separated (the NAT lab's server; TURN with PEER_TURN_USER and
    # PEER_TURN_PASS), for server-reflexive and relayed candidates.
    ice = [u for u in os.environ.get("PEER_ICE", "").split(",") if u]
    if ice and not RELAY:
        from aiortc import RTCConfiguration, RTCIceServer
        return RTCPeerConnection(RTCConfiguration(iceServers=[
            RTCIceServer(urls=u, username=os.environ.get("PEER_TURN_USER"),
                         credential=os.environ.get("PEER_TURN_PASS")) if u.startswith("turn:") else
            RTCIceServer(urls=u) for u in ice]))
    if not RELAY:
        return RTCPeerConnection()
    import functools
    import aioice
    import aiortc.rtcicetransport as rtcice
    from aiortc import RTCConfiguration, RTCIceServer
    rtcice.Connection = functools.partial(rtcice.Connection, transport_policy=aioice.TransportPolicy.RELAY)
    turn = [u for u in ice if u.startswith("turn:")]
    return RTCPeerConnection(RTCConfiguration(iceServers=[
        RTCIceServer(urls=turn[0], username=os.environ["PEER_TURN_USER"], credential=os.environ["PEER_TURN_PASS"])
        if turn else RTCIceServer(urls=TURN_SERVER, username="alice", credential="secret")]))
AUDIO_SECONDS = 3


class ToneTrack(AudioStreamTrack):
    """aiortc's silent track with a 440 Hz sine written into each frame."""
    async def recv(self):
        import math
        import struct
        frame = await super().recv()
        n = frame.samples
        pcm = struct.pack("<%dh" % n, *(int(12000 * math.sin(2 * math.pi * 440 * (frame.pts + i) / frame.sample_rate))
                                        for i in range(n)))
        frame.planes[0].update(pcm)
        return frame


def send_sdp(desc):
    print(json.dumps({"type": desc.type, "sdp": desc.sdp}), flush=True)


async def read_sdp():
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    d = json.loads(line)
    return RTCSessionDescription(sdp=d["sdp"], type=d["type"])


async def offer():
    pc = new_pc()
    if AUDIO:
        pc.addTrack(ToneTrack() if TONE else AudioStreamTrack())
    if VIDEO:
        pc.addTrack(VideoStreamTrack())
        if H264:
            from aiortc import RTCRtpSender
            t = [t for t in pc.getTransceivers() if t.kind == "video"][0]
            t.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs
                                   if c.mimeType in ("video/H264", "video/rtx")])
    ch = pc.createDataChannel("chat")
    echoes = asyncio.Queue()
    opened = asyncio.Event()
    ch.on("open", opened.set)
    ch.on("message", lambda m: echoes.put_nowait(m))
    await pc.setLocalDescription(await pc.createOffer())
    send_sdp(pc.localDescription)
    await pc.setRemoteDescription(await read_sdp())
    # PEER_OPEN_TIMEOUT: how long the channel may take to open (a test that expects no connection).
    await asyncio.wait_for(opened.wait(), float(os.environ.get("PEER_OPEN_TIMEOUT", "20")))
    if AUDIO or VIDEO:
        await asyncio.sleep(AUDIO_SECONDS)
    for m in MESSAGES:
        ch.send(m)
        got = await asyncio.wait_for(echoes.get(), 10)
        assert got == "echo: " + m, got
    ch.send(b"\x00\x01binary\xff")
    got = await asyncio.wait_for(echoes.get(), 10)
    assert got == b"echo: \x00\x01binary\xff", got
    await pc.close()
    print("done", flush=True)


async def answer():
    pc = new_pc()
    finished = asyncio.Event()

    @pc.on("track")
    def on_track(track):
        # Send audio back, and keep reading what comes in so the receive side runs.
        if track.kind == "audio":
            pc.addTrack(AudioStreamTrack())

        async def drain():
            while True:
                try:
                    await track.recv()
                except Exception:
                    return
        asyncio.ensure_future(drain())

    @pc.on("datachannel")
    def on_channel(ch):
        @ch.on("message")
        def on_message(m):
            ch.send(("echo: " + m) if isinstance(m, str) else b"echo: " + m)
            if isinstance(m, bytes):
                asyncio.get_running_loop().call_later(1.0, finished.set)

    await pc.setRemoteDescription(await read_sdp())
    await pc.setLocalDescription(await pc.createAnswer())
    send_sdp(pc.localDescription)
    await asyncio.wait_for(finished.wait(), 30)
    await pc.close()
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(offer() if sys.argv[1] == "offer" else answer())
