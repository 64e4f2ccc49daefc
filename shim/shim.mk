# shim/shim.mk - a libFuzzer target for the shim's TURN follower (hostile relayed traffic).
# Included by the top-level Makefile after decoders/decoders.mk (FUZZ_BUILD, FUZZ_CC, ...).

FUZZ_TARGETS += $(FUZZ_BUILD)/fuzz_turn

$(FUZZ_BUILD)/fuzz_turn: tests/fuzz/fuzz_turn.c tests/fuzz/fuzz_util.h shim/turn.c shim/turn.h pcapout/frame.c \
                         $(DECODERS_FUZZ_OBJ) $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< pcapout/frame.c $(DECODERS_FUZZ_OBJ)
