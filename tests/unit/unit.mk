# Unit tests of pcapout/ and shim/ (decoders/ has its own fragment).
# pcapout/ reads SIP and RTCP (the HEP output) with decoders/.
PCAPOUT_UNIT_SRC := $(PCAPOUT_SRC) $(DECODERS_SRC)

UNIT_TESTS += $(BUILD)/tests/test_pcapout $(BUILD)/tests/test_config $(BUILD)/tests/test_srtp_abi \
              $(BUILD)/tests/test_rotate

$(BUILD)/tests/test_pcapout: tests/unit/test_pcapout.c tests/unit/check_main.h $(call OBJ,$(PCAPOUT_UNIT_SRC)) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ tests/unit/test_pcapout.c $(call OBJ,$(PCAPOUT_UNIT_SRC)) -lpcap $(CHECK_LIBS)

CONFIG_UNIT_SRC := shim/config.c shim/select.c $(PCAPOUT_UNIT_SRC)
$(BUILD)/tests/test_config: tests/unit/test_config.c tests/unit/check_main.h $(call OBJ,$(CONFIG_UNIT_SRC)) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ tests/unit/test_config.c $(call OBJ,$(CONFIG_UNIT_SRC)) $(CHECK_LIBS)

# pcapout/tlswait.c: handshake packets waiting for their secrets.
UNIT_TESTS += $(BUILD)/tests/test_tlswait
$(BUILD)/tests/test_tlswait: tests/unit/test_tlswait.c tests/unit/check_main.h $(BUILD)/obj/pcapout/tlswait.o $(BUILD)/obj/pcapout/format.o $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ tests/unit/test_tlswait.c $(BUILD)/obj/pcapout/tlswait.o $(BUILD)/obj/pcapout/format.o $(CHECK_LIBS)

# shim/ownfd.c: own descriptors, key log files, fork lock order (pcapout's writer for the rest).
UNIT_TESTS += $(BUILD)/tests/test_ownfd
$(BUILD)/tests/test_ownfd: tests/unit/test_ownfd.c tests/unit/check_main.h $(BUILD)/obj/shim/ownfd.o $(call OBJ,$(PCAPOUT_UNIT_SRC)) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ tests/unit/test_ownfd.c $(BUILD)/obj/shim/ownfd.o $(call OBJ,$(PCAPOUT_UNIT_SRC)) -lpcap -pthread $(CHECK_LIBS)

# shim/fdtable.c: a TCP stream shared by descriptors and forked processes, across real forks.
UNIT_TESTS += $(BUILD)/tests/test_fdtable
$(BUILD)/tests/test_fdtable: tests/unit/test_fdtable.c tests/unit/check_main.h $(BUILD)/obj/shim/fdtable.o $(BUILD)/obj/pcapout/frame.o $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ tests/unit/test_fdtable.c $(BUILD)/obj/shim/fdtable.o $(BUILD)/obj/pcapout/frame.o $(CHECK_LIBS)

# shim/tcpinfo.c: a joined stream's byte counts, against real loopback connections.
UNIT_TESTS += $(BUILD)/tests/test_tcpinfo
$(BUILD)/tests/test_tcpinfo: tests/unit/test_tcpinfo.c tests/unit/check_main.h $(BUILD)/obj/shim/tcpinfo.o $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ tests/unit/test_tcpinfo.c $(BUILD)/obj/shim/tcpinfo.o $(CHECK_LIBS)

$(BUILD)/tests/test_srtp_abi: tests/unit/test_srtp_abi.c tests/unit/check_main.h shim/srtp_abi.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ tests/unit/test_srtp_abi.c $(CHECK_LIBS)

$(BUILD)/tests/test_rotate: tests/unit/test_rotate.c tests/unit/check_main.h $(BUILD)/obj/pcapout/rotate.o $(BUILD)/obj/pcapout/rundir.o $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ tests/unit/test_rotate.c $(BUILD)/obj/pcapout/rotate.o $(BUILD)/obj/pcapout/rundir.o $(CHECK_LIBS)

# tools/: the analysis behind report, extract and the exit statistics (pure parts, plus the
# header finder of the reader).
ANALYZE_UNIT_SRC := tools/analyze.c tools/noplain.c tools/sipdialog.c tools/encrypted.c tools/rtpstats.c tools/pktparse.c tools/capread.c
UNIT_TESTS += $(BUILD)/tests/test_analyze

$(BUILD)/tests/test_analyze: tests/unit/test_analyze.c tests/unit/check_main.h $(call OBJ,$(ANALYZE_UNIT_SRC)) \
                             $(wildcard tools/*.h) $(call OBJ,$(DECODERS_SRC)) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ tests/unit/test_analyze.c $(call OBJ,$(ANALYZE_UNIT_SRC)) $(call OBJ,$(DECODERS_SRC)) -lpcap $(CHECK_LIBS)

# shim/dtlsmatch.c's waiting plaintexts, with the capture side stubbed (also under TSan: no lock).
UNIT_TESTS += $(BUILD)/tests/test_dtlsmatch
$(BUILD)/tests/test_dtlsmatch: tests/unit/test_dtlsmatch.c tests/unit/check_main.h $(BUILD)/obj/shim/dtlsmatch.o $(BUILD)/obj/pcapout/frame.o \
                               $(BUILD)/obj/pcapout/wmem.o $(call OBJ,$(DECODERS_SRC)) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ tests/unit/test_dtlsmatch.c $(BUILD)/obj/shim/dtlsmatch.o $(BUILD)/obj/pcapout/frame.o $(BUILD)/obj/pcapout/wmem.o \
		$(call OBJ,$(DECODERS_SRC)) \
		-pthread $(CHECK_LIBS)

# shim/srtpmatch.c's matching on the writer's side, with the writer and the capture side stubbed.
UNIT_TESTS += $(BUILD)/tests/test_srtpmatch
$(BUILD)/tests/test_srtpmatch: tests/unit/test_srtpmatch.c tests/unit/check_main.h $(BUILD)/obj/shim/srtpmatch.o $(BUILD)/obj/shim/dtlsmatch.o \
                               $(BUILD)/obj/pcapout/frame.o $(BUILD)/obj/pcapout/ring.o $(BUILD)/obj/pcapout/wmem.o $(call OBJ,$(DECODERS_SRC)) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ tests/unit/test_srtpmatch.c $(BUILD)/obj/shim/srtpmatch.o $(BUILD)/obj/shim/dtlsmatch.o $(BUILD)/obj/pcapout/frame.o $(BUILD)/obj/pcapout/ring.o \
		$(BUILD)/obj/pcapout/wmem.o \
		$(call OBJ,$(DECODERS_SRC)) $(CHECK_LIBS)

# tools/envcheck.c (the wrapper's check of CLEARCAP_*) against shim/config.c, value for value.
UNIT_TESTS += $(BUILD)/tests/test_envcheck
$(BUILD)/tests/test_envcheck: tests/unit/test_envcheck.c tests/unit/check_main.h $(BUILD)/obj/tools/envcheck.o tools/envcheck.h \
                              $(call OBJ,$(CONFIG_UNIT_SRC)) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ tests/unit/test_envcheck.c $(BUILD)/obj/tools/envcheck.o $(call OBJ,$(CONFIG_UNIT_SRC)) -lpcap $(CHECK_LIBS)

# tools/trace.c: which programs are traced (ELF files written by the test).
TRACE_UNIT_SRC := tools/trace.c tools/trace_fd.c tools/trace_sys.c tools/trace_out.c tools/progress.c pcapout/frame.c pcapout/tcpstate.c \
                  $(BUILD)/obj/pcapout/format.o
UNIT_TESTS += $(BUILD)/tests/test_trace
$(BUILD)/tests/test_trace: tests/unit/test_trace.c tests/unit/check_main.h $(call OBJ,$(TRACE_UNIT_SRC)) $(wildcard tools/*.h) \
                           $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ tests/unit/test_trace.c $(call OBJ,$(TRACE_UNIT_SRC)) -lpcap $(CHECK_LIBS)

# shim/tls.c, the TLS-library seam, with the capture side, the writer and the adapters stubbed.
UNIT_TESTS += $(BUILD)/tests/test_tls
$(BUILD)/tests/test_tls: tests/unit/test_tls.c tests/unit/check_main.h $(BUILD)/obj/shim/tls.o $(BUILD)/obj/shim/dtlsmatch.o $(BUILD)/obj/pcapout/frame.o \
                         $(BUILD)/obj/pcapout/wmem.o $(call OBJ,$(DECODERS_SRC)) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ tests/unit/test_tls.c $(BUILD)/obj/shim/tls.o $(BUILD)/obj/shim/dtlsmatch.o $(BUILD)/obj/pcapout/frame.o $(BUILD)/obj/pcapout/wmem.o \
		$(call OBJ,$(DECODERS_SRC)) \
		-pthread $(CHECK_LIBS)

# tools/: clearcap decrypt's Hello parameters, exporter, key files and SRTP key trial.
DECRYPT_UNIT_SRC := tools/dtlssrtp.c tools/srtpdec.c tools/index.c tools/srtpkeyfile.c tools/sdpkeys.c tools/keylog.c tools/pktparse.c
UNIT_TESTS += $(BUILD)/tests/test_decrypt
$(BUILD)/tests/test_decrypt: tests/unit/test_decrypt.c tests/unit/check_main.h $(call OBJ,$(DECRYPT_UNIT_SRC)) \
                             $(wildcard tools/*.h) $(call OBJ,$(DECODERS_SRC)) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ tests/unit/test_decrypt.c $(call OBJ,$(DECRYPT_UNIT_SRC)) $(call OBJ,$(DECODERS_SRC)) -lsrtp2 -lcrypto \
		$(CHECK_LIBS)

# pcapout/hep.c (HEPv3 encoding, records read back), decoders/sip.c and the HEP settings.
UNIT_TESTS += $(BUILD)/tests/test_hep
$(BUILD)/tests/test_hep: tests/unit/test_hep.c tests/unit/check_main.h $(call OBJ,$(CONFIG_UNIT_SRC)) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ tests/unit/test_hep.c $(call OBJ,$(CONFIG_UNIT_SRC)) \
		-lpcap -pthread $(CHECK_LIBS)
