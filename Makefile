# clearcap build.  `make` builds the shim and the command, `make install` installs them (PREFIX,
# DESTDIR) with the man page and shell completions, `make check` runs every test,
# `make bench` the benchmarks, `make demo` a real capture.  SANITIZE=1 builds everything with
# ASan+UBSan into build-san/ (the shim then needs libasan preloaded first; tests do that);
# SANITIZE=thread builds with ThreadSanitizer into build-tsan/.

CC      ?= gcc
SANITIZE ?=
ifeq ($(SANITIZE),1)
BUILD   ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else ifeq ($(SANITIZE),thread)
BUILD   ?= build-tsan
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
else
BUILD   ?= build
SANFLAGS :=
endif

WARN    := -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter -Wformat=2
CFLAGS  ?= -O2 -g
ALL_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) $(SANFLAGS) -D_GNU_SOURCE -I.
SHIM_CFLAGS := $(ALL_CFLAGS) -fPIC -fvisibility=hidden -ftls-model=initial-exec
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt -pthread)

DECODERS_SRC := $(wildcard decoders/*.c)
PCAPOUT_SRC  := $(wildcard pcapout/*.c)
SHIM_SRC     := $(wildcard shim/*.c)
HEADERS      := $(wildcard shim/*.h pcapout/*.h decoders/*.h)

LIB  := $(BUILD)/libclearcap.so
TOOL := $(BUILD)/clearcap

# Fragments add to these.
UNIT_TESTS :=
FUZZ_TARGETS :=
BENCH_BINS :=

# make check's builds (and its fuzz smoke's lanes) use every CPU.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
# Integration tests at a time, each worker in a network namespace of its own (root; one at a time
# otherwise).  The tests mostly wait on real programs (the uninstrumented pass keeps 2 CPUs about
# two-thirds busy with three workers), and timing-bound ones run alone after.  The sanitizer
# passes, whose programs are several times heavier, run two at a time.
IT_JOBS ?= 2
IT_JOBS_PLAIN ?= $(if $(filter 1,$(IT_JOBS)),1,$(shell expr $(IT_JOBS) + 1))

.PHONY: all check unit integration fuzz fuzz-smoke bench demo deps clean check-san
all: $(LIB) $(TOOL) $(BUILD)/tests/single_guard.so

# Preloaded beside the shim by the integration tests' uninstrumented lane (tests/integration/cclib.py).
$(BUILD)/tests/single_guard.so: tests/integration/single_guard.c | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARN) -O2 -g -shared -fPIC -o $@ $< -ldl

# Objects are rebuilt when the flags change: the stamp is rewritten only when they differ.
FLAGS_STAMP := $(BUILD)/.cflags
$(FLAGS_STAMP): FORCE | $(BUILD)
	@printf '%s\n' '$(SHIM_CFLAGS)' | cmp -s - $@ || printf '%s\n' '$(SHIM_CFLAGS)' > $@
.PHONY: FORCE
FORCE:

$(BUILD)/obj/%.o: %.c $(HEADERS) $(FLAGS_STAMP) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(SHIM_CFLAGS) -c -o $@ $<

$(BUILD):
	@mkdir -p $@

# tools/ objects also depend on tools/ headers.
$(BUILD)/obj/tools/%.o: tools/%.c $(HEADERS) $(wildcard tools/*.h) $(FLAGS_STAMP) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(SHIM_CFLAGS) -c -o $@ $<

# The objects of sources (one compile each, shared by the shim, the command and the unit tests).
OBJ = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
SHIM_OBJ := $(call OBJ,$(SHIM_SRC) $(PCAPOUT_SRC) $(DECODERS_SRC))

# The shim links only libc (dl and pthread are in libc since glibc 2.34, named for older ones).
$(LIB): $(SHIM_OBJ) shim/exports.map
	$(CC) -shared $(SANFLAGS) -Wl,--version-script=shim/exports.map -Wl,-z,now -Wl,-z,relro \
	    -o $@ $(SHIM_OBJ) -ldl -lpthread

# The command shares the file header (live view) and rotation names with the shim, and (never the
# shim) links libpcap: report, extract and the exit statistics read files with it.
# `clearcap decrypt` frames plaintext as the shim does (frame.c) and links libsrtp2 and libcrypto;
# hep.c's settings parser checks --hep before the program starts.
TOOL_SRC := $(wildcard tools/*.c) pcapout/format.c pcapout/frame.c pcapout/tcpstate.c pcapout/rotate.c pcapout/rundir.c pcapout/hep.c
$(TOOL): $(call OBJ,$(TOOL_SRC) $(DECODERS_SRC)) | $(BUILD)
	$(CC) $(ALL_CFLAGS) -o $@ $(call OBJ,$(TOOL_SRC) $(DECODERS_SRC)) -lpcap -lsrtp2 -lssl -lcrypto -lpthread -lm

-include decoders/decoders.mk
-include tools/tools.mk
-include tools/install.mk
-include shim/shim.mk
-include pcapout/pcapout.mk
-include tests/unit/unit.mk
-include bench/bench.mk

unit: $(UNIT_TESTS) $(LIB)
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $$t; done
	@tests/unit/check_layout.py $(LIB)

integration: all
	@tests/integration/run.sh $(BUILD)

deps:
	@tools/deps.sh

check: deps
	$(MAKE) -j$(JOBS) all unit
	$(MAKE) -j$(JOBS) fuzz-smoke
	$(MAKE) -j$(JOBS) SANITIZE=1 all unit
	$(MAKE) -j$(JOBS) SANITIZE=thread all build-tsan/tests/test_pcapout build-tsan/tests/test_dtlsmatch
	CK_FORK=no build-tsan/tests/test_pcapout
	CK_FORK=no build-tsan/tests/test_dtlsmatch
	tests/integration/run.sh build -j$(IT_JOBS_PLAIN)
	tests/integration/run.sh build-san --quick -j$(IT_JOBS)
	tests/integration/run.sh build-tsan -j$(IT_JOBS)

bench: deps all $(BENCH_BINS)
	@bench/run.sh $(BUILD)

demo: deps all
	@tools/demo.sh $(BUILD)

clean:
	rm -rf build build-san build-tsan build-fuzz
