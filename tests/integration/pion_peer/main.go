// pion_peer: two Pion PeerConnections in one process talk over loopback: ICE (STUN binding
// requests), DTLS, a data channel carrying known messages and an Opus-like RTP track.  It is the
// real Go program the system-call tracing test captures: Go makes its socket calls directly, so
// the LD_PRELOAD shim never sees them.
//
// With -keylog FILE the DTLS master secret of the session is written as an NSS key log line
// (CLIENT_RANDOM), the form Wireshark reads.  pion/webrtc 3.1.56 (Debian 12) does not expose
// pion/dtls's Config.KeyLogWriter, so the secret is read from the connection's state instead:
// dtls.State marshals (gob) with its randoms and master secret.
//
// Exit status 0 when every message and at least -rtp RTP packets arrived, 1 otherwise.
package main

import (
	"bytes"
	"encoding/gob"
	"flag"
	"fmt"
	"net"
	"os"
	"reflect"
	"sync"
	"time"
	"unsafe"

	"github.com/pion/dtls/v2"
	"github.com/pion/ice/v2"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

// The fields of dtls's serializedState that a key log needs (gob matches fields by name).
type dtlsSecrets struct {
	LocalRandom  [32]byte
	RemoteRandom [32]byte
	MasterSecret []byte
	IsClient     bool
}

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "pion_peer: "+format+"\n", a...)
	os.Exit(1)
}

func newAPI() *webrtc.API {
	var s webrtc.SettingEngine
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	s.SetIncludeLoopbackCandidate(true)
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		fail("%v", err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(s), webrtc.WithMediaEngine(m))
}

// dtlsConn reaches the *dtls.Conn of a connected PeerConnection (an unexported field).
func dtlsConn(pc *webrtc.PeerConnection) *dtls.Conn {
	t := pc.SCTP().Transport()
	f := reflect.ValueOf(t).Elem().FieldByName("conn")
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(*dtls.Conn)
}

func keyLogLine(pc *webrtc.PeerConnection) string {
	st := dtlsConn(pc).ConnectionState()
	b, err := st.MarshalBinary()
	if err != nil {
		fail("dtls state: %v", err)
	}
	var s dtlsSecrets
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&s); err != nil {
		fail("dtls state: %v", err)
	}
	client := s.RemoteRandom
	if s.IsClient {
		client = s.LocalRandom
	}
	return fmt.Sprintf("CLIENT_RANDOM %x %x\n", client[:], s.MasterSecret)
}

func waitGathered(pc *webrtc.PeerConnection) {
	<-webrtc.GatheringCompletePromise(pc)
}

func main() {
	keylog := flag.String("keylog", "", "write the DTLS secret as an NSS key log line to this file")
	nmsg := flag.Int("messages", 5, "data channel messages to send")
	nrtp := flag.Int("rtp", 50, "RTP packets to send")
	timeout := flag.Duration("timeout", 20*time.Second, "give up after this long")
	flag.Parse()

	api := newAPI()
	offerer, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		fail("%v", err)
	}
	answerer, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		fail("%v", err)
	}

	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "clearcap")
	if err != nil {
		fail("%v", err)
	}
	if _, err = offerer.AddTrack(track); err != nil {
		fail("%v", err)
	}
	dc, err := offerer.CreateDataChannel("chat", nil)
	if err != nil {
		fail("%v", err)
	}

	var mu sync.Mutex
	gotMsg, gotRTP := 0, 0
	done := make(chan struct{})
	var doneOnce sync.Once
	check := func() {
		if gotMsg >= *nmsg && gotRTP >= *nrtp {
			doneOnce.Do(func() { close(done) })
		}
	}
	answerer.OnDataChannel(func(d *webrtc.DataChannel) {
		d.OnMessage(func(m webrtc.DataChannelMessage) {
			mu.Lock()
			gotMsg++
			check()
			mu.Unlock()
		})
	})
	answerer.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := t.ReadRTP(); err != nil {
				return
			}
			mu.Lock()
			gotRTP++
			check()
			mu.Unlock()
		}
	})

	connected := make(chan struct{})
	var connOnce sync.Once
	offerer.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			connOnce.Do(func() { close(connected) })
		}
	})
	opened := make(chan struct{})
	dc.OnOpen(func() { close(opened) })

	offer, err := offerer.CreateOffer(nil)
	if err != nil {
		fail("%v", err)
	}
	if err = offerer.SetLocalDescription(offer); err != nil {
		fail("%v", err)
	}
	waitGathered(offerer)
	if err = answerer.SetRemoteDescription(*offerer.LocalDescription()); err != nil {
		fail("%v", err)
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		fail("%v", err)
	}
	if err = answerer.SetLocalDescription(answer); err != nil {
		fail("%v", err)
	}
	waitGathered(answerer)
	if err = offerer.SetRemoteDescription(*answerer.LocalDescription()); err != nil {
		fail("%v", err)
	}

	deadline := time.After(*timeout)
	select {
	case <-connected:
	case <-deadline:
		fail("not connected in %v", *timeout)
	}
	if *keylog != "" {
		if err := os.WriteFile(*keylog, []byte(keyLogLine(offerer)), 0600); err != nil {
			fail("%v", err)
		}
	}
	select {
	case <-opened:
	case <-deadline:
		fail("data channel not open in %v", *timeout)
	}
	for i := 0; i < *nmsg; i++ {
		if err := dc.SendText(fmt.Sprintf("clearcap-message-%d", i)); err != nil {
			fail("%v", err)
		}
	}
	// 20 ms Opus-like packets with a recognisable payload.
	payload := bytes.Repeat([]byte{0xfc, 0xff, 0xfe}, 20)
	ticker := time.NewTicker(20 * time.Millisecond)
	defer ticker.Stop()
	for i := 0; ; i++ {
		if i < *nrtp+20 {
			p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(1000 + i), Timestamp: uint32(960 * i), Marker: i == 0}, Payload: payload}
			if err := track.WriteRTP(p); err != nil {
				fail("%v", err)
			}
		}
		select {
		case <-done:
			mu.Lock()
			fmt.Printf("messages %d rtp %d\n", gotMsg, gotRTP)
			mu.Unlock()
			offerer.Close()
			answerer.Close()
			return
		case <-deadline:
			mu.Lock()
			fail("timeout: messages %d/%d rtp %d/%d", gotMsg, *nmsg, gotRTP, *nrtp)
		case <-ticker.C:
		}
	}
}
