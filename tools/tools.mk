# tools/tools.mk - libFuzzer targets for the analysis behind report/extract/exit statistics
# and for extract's frame assembly.
# Included by the top-level Makefile after decoders/decoders.mk (FUZZ_BUILD, FUZZ_CC, ...).

ANALYZE_FUZZ_SRC := tools/analyze.c tools/noplain.c tools/sipdialog.c tools/report_sip.c tools/report_steps.c tools/encrypted.c tools/rtpstats.c tools/pktparse.c tools/report.c tools/capread.c
FUZZ_TARGETS += $(FUZZ_BUILD)/fuzz_analyze

$(FUZZ_BUILD)/fuzz_analyze: tests/fuzz/fuzz_analyze.c tests/fuzz/fuzz_util.h $(ANALYZE_FUZZ_SRC) \
                            $(wildcard tools/*.h) $(DECODERS_FUZZ_OBJ) $(DECODERS_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(ANALYZE_FUZZ_SRC) $(DECODERS_FUZZ_OBJ) -lpcap

# Frame assembly of the Opus, VP8 and H.264 writers behind `clearcap extract`.
MEDIA_FUZZ_SRC := tools/media_ogg.c tools/media_ivf.c tools/media_h264.c
FUZZ_TARGETS += $(FUZZ_BUILD)/fuzz_media

$(FUZZ_BUILD)/fuzz_media: tests/fuzz/fuzz_media.c tests/fuzz/fuzz_util.h $(MEDIA_FUZZ_SRC) tools/media.h \
                          $(DECODERS_FUZZ_OBJ) $(DECODERS_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(MEDIA_FUZZ_SRC) $(DECODERS_FUZZ_OBJ)

# The comment walk of tools/capread.c, beside libpcap, over untrusted capture files.
FUZZ_TARGETS += $(FUZZ_BUILD)/fuzz_capread

$(FUZZ_BUILD)/fuzz_capread: tests/fuzz/fuzz_capread.c tests/fuzz/fuzz_util.h tools/capread.c tools/capread.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< tools/capread.c -lpcap
