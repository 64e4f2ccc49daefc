# decoders/decoders.mk - unit tests and libFuzzer targets for decoders/.
# Included by the top-level Makefile, which supplies BUILD, ALL_CFLAGS,
# CHECK_LIBS, DECODERS_SRC and the UNIT_TESTS / FUZZ_TARGETS lists.

DECODERS_PROTOS := demux stun dtls rtp rtcp sctp rtppayload sip
DECODERS_HDRS   := $(wildcard decoders/*.h)

DECODERS_TEST_SRC := tests/unit/test_decoders.c tests/unit/test_decoders_regress.c \
                     $(patsubst %,tests/unit/test_%.c,$(DECODERS_PROTOS))
DECODERS_TEST_HDRS := tests/unit/test_decoders.h tests/unit/test_decoders_vectors.h

UNIT_TESTS += $(BUILD)/tests/test_decoders

# CC_TEST_DATA is absolute so the test finds its fixtures from any cwd.
$(BUILD)/tests/test_decoders: $(DECODERS_TEST_SRC) $(call OBJ,$(DECODERS_SRC)) $(DECODERS_HDRS) \
                              $(DECODERS_TEST_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DCC_TEST_DATA='"$(CURDIR)/tests/data"' -o $@ \
	    $(DECODERS_TEST_SRC) $(call OBJ,$(DECODERS_SRC)) $(CHECK_LIBS)

# libFuzzer: always clang, always ASan+UBSan, independent of SANITIZE.
FUZZ_CC     ?= clang
FUZZ_BUILD  := build-fuzz
FUZZ_CFLAGS := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
               -g -O1 -std=gnu11 -D_GNU_SOURCE -I. $(WARN)
DECODERS_FUZZ := $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(DECODERS_PROTOS))
FUZZ_TARGETS += $(DECODERS_FUZZ)

DECODERS_FUZZ_OBJ := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(DECODERS_SRC))

$(DECODERS_FUZZ_OBJ): $(FUZZ_BUILD)/obj/%.o: %.c $(DECODERS_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(DECODERS_FUZZ): $(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h \
                  $(DECODERS_FUZZ_OBJ) $(DECODERS_HDRS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(DECODERS_FUZZ_OBJ)

# decoders/sipframe.c (SIP framing in streams, Call-ID, SDP media for the HEP output) has its unit
# tests in tests/unit/test_hep.c, with the output it serves.
FUZZ_TARGETS += $(FUZZ_BUILD)/fuzz_sipframe
$(FUZZ_BUILD)/fuzz_sipframe: tests/fuzz/fuzz_sipframe.c tests/fuzz/fuzz_util.h $(DECODERS_FUZZ_OBJ) $(DECODERS_HDRS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(DECODERS_FUZZ_OBJ)

# fuzz and fuzz-smoke run every entry of FUZZ_TARGETS (other fragments may
# add theirs): build-fuzz/fuzz_<name> evolves build-fuzz/corpus/<name>,
# reading tests/data/fuzz/<name> as seeds.  libFuzzer writes new inputs only
# to the first directory, so the seeds in the tree are never modified.  A
# crash exits non-zero and leaves the input in build-fuzz/artifacts/.
FUZZ_TIME        ?= 60
FUZZ_SMOKE_TOTAL ?= 32
FUZZ_SMOKE_MIN   ?= 3
# The smoke run's targets are shared among this many parallel lanes (JOBS: one per CPU).
FUZZ_LANES       ?= $(JOBS)

# FUZZ_TARGETS is read when the recipe runs, after every fragment has added
# to it; the recursive make builds them all (prerequisites would see only
# the targets of fragments included before this one).
define fuzz_run
	@+$(MAKE) -s --no-print-directory $(FUZZ_TARGETS)
	@mkdir -p $(FUZZ_BUILD)/artifacts
	@set -e; n_t=$(words $(FUZZ_TARGETS)); secs=$(1); lanes=1; \
	if [ "$$secs" = smoke ]; then \
	    secs=$$(( $(FUZZ_SMOKE_TOTAL) / n_t )); \
	    [ $$secs -ge $(FUZZ_SMOKE_MIN) ] || secs=$(FUZZ_SMOKE_MIN); \
	    lanes=$(FUZZ_LANES); \
	fi; \
	fuzz_one() { \
	    t=$$1; n=$${t##*/fuzz_}; corpus=$(FUZZ_BUILD)/corpus/$$n; mkdir -p $$corpus; \
	    seeds=; [ ! -d tests/data/fuzz/$$n ] || seeds=tests/data/fuzz/$$n; \
	    log=$(FUZZ_BUILD)/$$n.log; \
	    if ! $$t -max_total_time=$$secs -print_final_stats=1 \
	            -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$n- $$corpus $$seeds >$$log 2>&1; then \
	        tail -n 60 $$log; echo "FAIL $$t (log: $$log)"; return 1; \
	    fi; \
	    printf '%-14s %4ss %10s execs  corpus %s\n' $$n $$secs \
	        "$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log)" \
	        "$$(ls $$corpus | wc -l)"; \
	}; \
	lane=0; pids=; \
	while [ $$lane -lt $$lanes ]; do \
	    ( i=0; for t in $(FUZZ_TARGETS); do \
	        [ $$((i % lanes)) -ne $$lane ] || fuzz_one $$t || exit 1; i=$$((i + 1)); \
	    done ) & pids="$$pids $$!"; lane=$$((lane + 1)); \
	done; \
	rc=0; for p in $$pids; do wait $$p || rc=1; done; exit $$rc
endef

.PHONY: fuzz fuzz-smoke fuzz-build
fuzz-build:
	@+$(MAKE) -s --no-print-directory $(FUZZ_TARGETS)

fuzz:
	$(call fuzz_run,$(FUZZ_TIME))

fuzz-smoke:
	$(call fuzz_run,smoke)

# decoders/impairspec.c: the CLEARCAP_IMPAIR syntax and the per-datagram model.
UNIT_TESTS += $(BUILD)/tests/test_impair
$(BUILD)/tests/test_impair: tests/unit/test_impair.c tests/unit/check_main.h $(BUILD)/obj/decoders/impairspec.o \
                            decoders/impairspec.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ tests/unit/test_impair.c $(BUILD)/obj/decoders/impairspec.o $(CHECK_LIBS)
