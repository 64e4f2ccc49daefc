# tools/tools.mk - a libFuzzer target for the analysis behind report/extract/exit statistics.
# Included by the top-level Makefile after decoders/decoders.mk (FUZZ_BUILD, FUZZ_CC, ...).

ANALYZE_FUZZ_SRC := tools/analyze.c tools/encrypted.c tools/rtpstats.c tools/pktparse.c tools/report.c tools/capread.c
FUZZ_TARGETS += $(FUZZ_BUILD)/fuzz_analyze

$(FUZZ_BUILD)/fuzz_analyze: tests/fuzz/fuzz_analyze.c tests/fuzz/fuzz_util.h $(ANALYZE_FUZZ_SRC) \
                            $(wildcard tools/*.h) $(DECODERS_FUZZ_OBJ) $(DECODERS_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(ANALYZE_FUZZ_SRC) $(DECODERS_FUZZ_OBJ) -lpcap
