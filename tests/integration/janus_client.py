"""A Janus EchoTest client on Debian's aiortc, for clearcap's tests: Janus's own HTTP API (REST
with long polling), an unmodified aiortc peer connection.

usage: janus_client.py URL
Creates a session, attaches janus.plugin.echotest, offers a 440 Hz audio track and a data channel
"chat" (ICE gathered before the offer: no trickle), sends MESSAGES on the channel and waits for
Janus to echo each back, lets the audio run AUDIO_SECONDS, then destroys the session.  Prints
"echoed N" and "done".
"""
import asyncio
import json
import random
import sys
import urllib.request

from aiortc import RTCPeerConnection, RTCSessionDescription

sys.path.insert(0, __import__("os").path.dirname(__file__))
from webrtc_peer import ToneTrack  # noqa: E402

MESSAGES = ["janus message %d" % i for i in range(5)]
AUDIO_SECONDS = 3


def post(url, body):
    body = dict(body, transaction="%08x" % random.getrandbits(32))
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=20) as r:
        reply = json.load(r)
    if reply.get("janus") == "error":
        raise SystemExit("janus error: %r" % reply)
    return reply


def poll(url, want):
    """Long-polls the session until an event with a JSEP arrives (Janus answers after 30 s idle)."""
    for _ in range(20):
        with urllib.request.urlopen(url + "?maxev=1", timeout=40) as r:
            ev = json.load(r)
        for e in ev if isinstance(ev, list) else [ev]:
            if want(e):
                return e
    raise SystemExit("no answer from Janus")


async def main(base):
    session = post(base, {"janus": "create"})["data"]["id"]
    surl = "%s/%d" % (base, session)
    handle = post(surl, {"janus": "attach", "plugin": "janus.plugin.echotest"})["data"]["id"]
    hurl = "%s/%d" % (surl, handle)

    pc = RTCPeerConnection()
    pc.addTrack(ToneTrack())
    channel = pc.createDataChannel("chat")
    echoed, opened = [], asyncio.Event()
    channel.on("open", opened.set)
    channel.on("message", echoed.append)
    await pc.setLocalDescription(await pc.createOffer())
    post(hurl, {"janus": "message", "body": {"audio": True, "video": False, "data": True},
                "jsep": {"type": "offer", "sdp": pc.localDescription.sdp, "trickle": False}})
    loop = asyncio.get_running_loop()
    ev = await loop.run_in_executor(None, poll, surl, lambda e: "jsep" in e)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=ev["jsep"]["sdp"], type=ev["jsep"]["type"]))
    await asyncio.wait_for(opened.wait(), 20)
    for m in MESSAGES:
        channel.send(m)
    for _ in range(200):
        if len(echoed) >= len(MESSAGES):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(AUDIO_SECONDS)
    print("echoed %d" % len(echoed), flush=True)
    await pc.close()
    post(surl, {"janus": "destroy"})
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
