# Benchmarks: `make bench` builds these, then runs bench/run.sh $(BUILD).

BENCH_BINS += $(BUILD)/bench/udpflood

$(BUILD)/bench/udpflood: bench/udpflood.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ bench/udpflood.c
