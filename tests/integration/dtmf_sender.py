"""Sends a PCMU tone with RFC 4733 telephone events through Debian's GStreamer (rtpdtmfsrc and
rtpdtmfmux, which give the events the audio's SSRC and clock), for clearcap's tests.

usage: dtmf_sender.py PORT DIGITS
Each digit is pressed for 300 ms, with 300 ms between digits, after 600 ms of the tone alone."""
import sys
import time

import gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

Gst.init(None)
port, digits = int(sys.argv[1]), sys.argv[2]
pipe = Gst.parse_launch(
    "audiotestsrc is-live=true wave=sine freq=300 volume=0.05 samplesperbuffer=160 ! "
    "audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay pt=0 ! rtpdtmfmux name=mux ! "
    "udpsink host=127.0.0.1 port=%d rtpdtmfsrc pt=101 clock-rate=8000 ! mux." % port)
pipe.set_state(Gst.State.PLAYING)


def press(number, start):
    # The event travels upstream from the sink to rtpdtmfsrc (RFC 4733 type 1: an RTP event).
    s = Gst.Structure.new_from_string("dtmf-event, type=(int)1, number=(int)%d, volume=(int)10, start=(boolean)%s"
                                      % (number, "true" if start else "false"))
    pipe.send_event(Gst.Event.new_custom(Gst.EventType.CUSTOM_UPSTREAM, s))


time.sleep(0.6)
for d in digits:
    n = {"*": 10, "#": 11}.get(d)
    press(int(d) if n is None else n, True)
    time.sleep(0.3)
    press(int(d) if n is None else n, False)
    time.sleep(0.3)
time.sleep(0.4)
pipe.send_event(Gst.Event.new_eos())
pipe.get_bus().timed_pop_filtered(2 * Gst.SECOND, Gst.MessageType.EOS)
pipe.set_state(Gst.State.NULL)
