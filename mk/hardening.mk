#
# hardening.mk  Sanitizer, valgrind and fuzzing targets (docs/testing.md,
#               "Hardening")
#
# make unit-asan            unit suite built with ASan+UBSan (gcc)
# make integration-asan     integration suite, serreg.so built with
#                           ASan+UBSan, libasan preloaded into baresip
# make valgrind             unit suite under valgrind memcheck
# make integration-valgrind failover/failback scenarios, baresip under
#                           valgrind memcheck
# make fuzz                 every libFuzzer target, FUZZ_SHORT s each
# make fuzz-long            every libFuzzer target, FUZZ_TIME s each
#

SAN_CC     ?= gcc
SAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer \
	      -fno-sanitize-recover=all
# halt on the first error; leaks too (the unit runner frees everything)
SAN_ENV    := ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=1 \
	      UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	      LSAN_OPTIONS=suppressions=$(CURDIR)/test/sanitizers/lsan.supp

SAN_UNIT   := build/asan/unittest
SAN_MOD    := build/asan/serreg.so
SAN_MOD_OBJS  := $(patsubst %.c,build/asan/mod/%.o,$(MOD_SRCS))
SAN_UNIT_OBJS := $(patsubst %.c,build/asan/test/%.o,$(UNIT_SRCS) \
		   $(PURE_SRCS))

VALGRIND   ?= valgrind
VG_SUPP    := test/sanitizers/valgrind.supp
VG_FLAGS   := --leak-check=full --errors-for-leak-kinds=definite \
	      --error-exitcode=99 --suppressions=$(VG_SUPP)

# The integration scenarios run under valgrind (a failover and a
# failback each); VG_TEST_CI is the one `make test` runs
VG_TESTS   ?= test/integration/test_cisco.py::test_r8_failback_worst_to_best_and_left_tier_probed \
	      test/integration/test_serial.py::test_r3_gaps_skipped_and_worst_wraps_to_best \
	      test/integration/test_lifecycle.py::test_r31_uadel_stops_probes_and_reevaluates \
	      test/integration/test_liveness.py::test_r34_call_holds_failback_until_it_ends
VG_TEST_CI ?= test/integration/test_cisco.py::test_r8_failback_worst_to_best_and_left_tier_probed

FUZZ_CC    ?= clang
FUZZ_SAN   := -g -O1 -fsanitize=address,undefined \
	      -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_SHORT ?= 20
FUZZ_TIME  ?= 600
FUZZ_TARGETS := fuzz_params fuzz_engine
FUZZ_BINS  := $(addprefix build/fuzz/,$(FUZZ_TARGETS))
# -rss_limit_mb: libFuzzer's default 2 GB is more than a shared CI box
FUZZ_OPTS  ?= -rss_limit_mb=1024 -timeout=10 -print_final_stats=1

.PHONY: unit-asan integration-asan valgrind integration-valgrind \
	integration-valgrind-ci fuzz fuzz-long fuzz-build asan-module \
	fuzz-corpus

build/asan/mod/%.o: %.c $(wildcard include/*.h modules/serreg/*.h) Makefile mk/serreg.mk \
		    mk/hardening.mk
	@mkdir -p $(dir $@)
	$(SAN_CC) $(MOD_CFLAGS) $(SAN_FLAGS) -c $< -o $@

build/asan/test/%.o: %.c $(wildcard include/*.h modules/serreg/*.h) $(wildcard test/unit/*.h) \
		     mk/hardening.mk
	@mkdir -p $(dir $@)
	$(SAN_CC) $(CFLAGS) $(SAN_FLAGS) -Itest/unit -c $< -o $@

$(SAN_UNIT): $(SAN_UNIT_OBJS)
	$(SAN_CC) $(SAN_FLAGS) -o $@ $^ -lre

$(SAN_MOD): $(SAN_MOD_OBJS)
	$(SAN_CC) -shared $(SAN_FLAGS) -o $@ $^

# preloaded after libasan: modules stay mapped for the leak report
SAN_NODLCLOSE := build/asan/nodlclose.so

$(SAN_NODLCLOSE): test/sanitizers/nodlclose.c
	@mkdir -p $(dir $@)
	$(SAN_CC) -shared -fPIC -O2 -Wall -o $@ $<

asan-module: $(SAN_MOD) $(SAN_NODLCLOSE)

unit-asan: $(SAN_UNIT)
	$(SAN_ENV) ./$(SAN_UNIT)

integration-asan: $(SAN_MOD) $(SAN_NODLCLOSE)
	SERREG_MODULE=$(CURDIR)/$(SAN_MOD) SERREG_ASAN=1 \
		$(PYTEST) $(PYTEST_ARGS) test/integration

valgrind: $(UNIT)
	$(VALGRIND) -q $(VG_FLAGS) ./$(UNIT)

integration-valgrind: $(MOD)
	SERREG_VALGRIND=1 $(PYTEST) $(PYTEST_ARGS) $(VG_TESTS)

integration-valgrind-ci: $(MOD)
	SERREG_VALGRIND=1 $(PYTEST) $(PYTEST_ARGS) $(VG_TEST_CI)

# Coverage feedback from the code under test only (fuzzer-no-link), so
# the corpus holds what reaches new code in engine*.c and params.c
build/fuzz/obj/%.o: %.c $(wildcard include/*.h modules/serreg/*.h) mk/hardening.mk
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/%: test/fuzz/%.c $(PURE_SRCS:%.c=build/fuzz/obj/%.o) \
	      $(wildcard include/*.h modules/serreg/*.h) mk/hardening.mk
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CFLAGS) $(FUZZ_SAN) -c $< -o $@.o
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $@.o \
		$(PURE_SRCS:%.c=build/fuzz/obj/%.o) -lre

fuzz-build: $(FUZZ_BINS)

# The reproducers test/fuzz/crashes/<target>-* first; then new inputs go
# to build/fuzz/corpus/<target> (first directory), the committed corpus
# test/fuzz/corpus/<target> is read only
define fuzz_run
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/corpus/$$t build/fuzz/artifacts; \
		for c in test/fuzz/crashes/$$t-*; do \
			[ -f "$$c" ] || continue; \
			./build/fuzz/$$t $$c >build/fuzz/crash.log 2>&1 || \
			{ grep -A3 invariant build/fuzz/crash.log; \
			  echo "fuzz: reproducer $$c fails"; exit 1; }; \
		done; \
		echo "fuzz: $$t, $(1) s"; \
		./build/fuzz/$$t $(FUZZ_OPTS) -max_total_time=$(1) \
			-artifact_prefix=build/fuzz/artifacts/$$t- \
			build/fuzz/corpus/$$t test/fuzz/corpus/$$t \
			2>build/fuzz/$$t.log || \
			{ tail -60 build/fuzz/$$t.log; exit 1; }; \
		grep -E '^stat::number_of_executed_units|^Done' \
			build/fuzz/$$t.log | tr '\n' ' '; echo; \
	done
endef

fuzz: $(FUZZ_BINS)
	$(call fuzz_run,$(FUZZ_SHORT))

fuzz-long: $(FUZZ_BINS)
	$(call fuzz_run,$(FUZZ_TIME))

# Fold what a run found into the committed corpus, edges only
# (-use_counters=0 keeps it small): then commit test/fuzz/corpus
fuzz-corpus: $(FUZZ_BINS)
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/corpus/$$t; \
		./build/fuzz/$$t -use_counters=0 -merge=1 \
			test/fuzz/corpus/$$t build/fuzz/corpus/$$t \
			2>&1 | grep "MERGE-OUTER: .* new files"; \
	done

# keep the instrumented objects between runs
.SECONDARY: $(PURE_SRCS:%.c=build/fuzz/obj/%.o) \
	    $(FUZZ_TARGETS:%=build/fuzz/%.o)
