# Benchmarks: `make bench` builds these, then runs bench/run.sh $(BUILD).

BENCH_BINS += $(BUILD)/bench/udpflood

$(BUILD)/bench/udpflood: bench/udpflood.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ bench/udpflood.c

BENCH_BINS += $(BUILD)/bench/srtpflood
$(BUILD)/bench/srtpflood: bench/srtpflood.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ bench/srtpflood.c -lsrtp2 -pthread

BENCH_BINS += $(BUILD)/bench/idlethread.so
$(BUILD)/bench/idlethread.so: bench/idlethread.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -shared -fPIC -o $@ bench/idlethread.c -pthread
