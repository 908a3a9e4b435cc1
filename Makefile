# Sluice build. `make` builds build/sluice; `make run` and `make test` are the two
# commands a newcomer needs (see README.md). SANITIZER=address,undefined builds into
# its own directory so sanitized and plain objects never mix.

CC ?= cc
PKGS := libnghttp2 jansson sqlite3 libcrypto zlib
SANITIZER ?=

BUILD ?= build$(if $(SANITIZER),-$(subst $(comma),-,$(SANITIZER)))
comma := ,

CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers \
	-Isrc -pthread -g
ifeq ($(SANITIZER),)
OPT := -O2
else
OPT := -O1 -fno-omit-frame-pointer -fsanitize=$(SANITIZER) -fno-sanitize-recover=all
endif

DEPS_OK := $(shell pkg-config --exists $(PKGS) cmocka 2>/dev/null && echo yes)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
# DuckDB's C library is not a Debian package: scripts/install-duckdb.sh puts it in
# third_party/duckdb/. Binaries find it through their run path: relative to the binary
# (build/sluice, build*/tests/x, build*/bench/x) and the checkout's absolute path.
DUCKDB_DIR := third_party/duckdb
DUCKDB_LIB := $(DUCKDB_DIR)/libduckdb.so
DUCKDB_LIBS = -L$(CURDIR)/$(DUCKDB_DIR) -lduckdb '-Wl,-rpath,$$ORIGIN/../$(DUCKDB_DIR)' \
	'-Wl,-rpath,$$ORIGIN/../../$(DUCKDB_DIR)' -Wl,-rpath,$(CURDIR)/$(DUCKDB_DIR)
# libjq (Debian's jq 1.6, which AWS names for MetadataExtraction) ships no .pc file; it
# links its regex library (libonig) itself.
JQ_LIBS := -ljq
# libsnappy (Firehose's Snappy and HADOOP_SNAPPY output) ships no .pc file either.
SNAPPY_LIBS := -lsnappy
PKG_LIBS = $(shell pkg-config --libs $(PKGS)) $(JQ_LIBS) $(SNAPPY_LIBS) $(DUCKDB_LIBS) -lm

CFLAGS := $(CFLAGS_BASE) $(OPT) $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := -pthread $(if $(SANITIZER),-fsanitize=$(SANITIZER))

PARTS ?= core http iam stream lake catalog delivery query metrics kms
LIB_SRC := $(foreach p,$(PARTS),$(wildcard src/$(p)/*.c))
LIB_OBJ := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRC))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
TOOL_SRC := $(wildcard tools/*.c)
TOOL_BIN := $(patsubst tools/%.c,$(BUILD)/%,$(TOOL_SRC))
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
# The Athena e2e tests write their Parquet fixtures with this helper.
E2E_HELPER_BIN := $(BUILD)/tests/athena_duck_helper

.PHONY: all deps run test unit e2e fuzz bench clean format
all: deps $(BUILD)/sluice $(TOOL_BIN) $(E2E_HELPER_BIN)

# Installs whatever is missing; a no-op on a machine that has everything.
deps:
	@./scripts/install-deps.sh

# Every link needs the library; fetched on first use even when `deps` was not asked for.
$(DUCKDB_LIB): scripts/install-duckdb.sh
	@./scripts/install-duckdb.sh && touch $@

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libsluice.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/sluice: $(BUILD)/obj/main.o $(BUILD)/libsluice.a | $(DUCKDB_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/%: tools/%.c $(BUILD)/libsluice.a | $(DUCKDB_LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libsluice.a $(PKG_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libsluice.a | $(DUCKDB_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags cmocka) $(LDFLAGS) -o $@ $< $(BUILD)/libsluice.a \
		$(PKG_LIBS) $(shell pkg-config --libs cmocka)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libsluice.a | $(DUCKDB_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libsluice.a $(PKG_LIBS)

$(E2E_HELPER_BIN): tests/e2e/athena_duck_helper.c $(BUILD)/libsluice.a | $(DUCKDB_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libsluice.a $(PKG_LIBS)

unit-bins: $(UNIT_BIN) $(E2E_HELPER_BIN)
bench-bins: $(BENCH_BIN)

# Starts Sluice on 127.0.0.1:4566 with its data in ./data.
run: all
	./$(BUILD)/sluice serve --data ./data --listen 127.0.0.1:4566

# Every suite: unit tests, fuzz corpus replay and end-to-end tests, plain and under
# AddressSanitizer + UndefinedBehaviorSanitizer; ends with "N passed, N failed".
test: deps
	@./scripts/install-js-sdk.sh
	@/usr/bin/python3 tests/run_all.py

# Every benchmark, each beside its reference in the same run; prints figures only.
bench: deps all bench-bins
	./bench/run.sh
	./bench/s3_bench.sh
	./$(BUILD)/bench/glue_bench
	SLUICE_BIN=$(BUILD)/sluice ./bench/metadata_contention_bench.py
	BUILD=$(BUILD) SLUICE_BIN=$(BUILD)/sluice ./bench/athena_bench.py
	BUILD=$(BUILD) SLUICE_BIN=$(BUILD)/sluice ./bench/firehose_bench.py
	SLUICE_BIN=$(BUILD)/sluice ./bench/efo_bench.py
	SLUICE_BIN=$(BUILD)/sluice ./bench/slowloris_bench.py

FUZZ_BUILD ?= build-fuzz
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
FUZZ_BIN := $(patsubst fuzz/%.c,$(FUZZ_BUILD)/%,$(FUZZ_SRC))
FUZZ_LIB_OBJ := $(patsubst src/%.c,$(FUZZ_BUILD)/obj/%.o,$(LIB_SRC))
$(FUZZ_BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	clang $(CFLAGS_BASE) -O1 -fsanitize=fuzzer-no-link,address,undefined $(PKG_CFLAGS) -MMD -MP -c $< -o $@
$(FUZZ_BUILD)/%: fuzz/%.c $(FUZZ_LIB_OBJ) | $(DUCKDB_LIB)
	clang $(CFLAGS_BASE) -O1 -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS) -o $@ $< \
		$(FUZZ_LIB_OBJ) $(PKG_LIBS)
fuzz: $(FUZZ_BIN)
# The library objects are kept between runs (make would delete them as intermediates),
# and a fuzzer is relinked when a shared harness header changes.
.SECONDARY: $(FUZZ_LIB_OBJ)
$(FUZZ_BIN): $(wildcard fuzz/*.h)

format:
	clang-format -i $(wildcard src/*/*.c src/*/*.h src/*.c tests/unit/*.c tools/*.c bench/*.c fuzz/*.c)

clean:
	rm -rf build build-* 

# console.c takes its page and script in with .incbin, which -MMD does not see.
CONSOLE_ASSETS := src/metrics/console/index.html src/metrics/console/app.js
$(BUILD)/obj/metrics/console.o $(FUZZ_BUILD)/obj/metrics/console.o: $(CONSOLE_ASSETS)

-include $(LIB_OBJ:.o=.d) $(BUILD)/obj/main.d $(FUZZ_LIB_OBJ:.o=.d)
