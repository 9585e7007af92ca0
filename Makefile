#
# Makefile  serreg: serial fallback registration for Debian's baresip
#           (Debian 12: 1.0.0, Debian 13: 1.1.0; mk/serreg.mk picks)
#
# make            build modules/serreg/serreg.so
# make test       install missing dependencies, run every test
# make demo       install missing dependencies, show a failover
# make deb        install missing dependencies, build serreg_VERSION_amd64.deb
# make install    install serreg.so next to Debian's baresip modules
#
# deps, demo, test and deb work on a bare Debian 12 or 13: they run mk/deps.sh
# first, then make again for the build (a make that has read re.mk).
# Any other target that compiles, without libre-dev, stops and says
# what to run first (need-libre in mk/serreg.mk).
#

PROJECT  := serreg
VERSION  := 0.1.0

# Goals that install their dependencies: make does not read re.mk for them
ENTRY_GOALS := deps demo test deb

include mk/serreg.mk

.DEFAULT_GOAL := all

MOD      := modules/serreg/serreg.so
MOD_SRCS := $(wildcard modules/serreg/*.c)
MOD_OBJS := $(patsubst %.c,build/%.o,$(MOD_SRCS))

# The policy engine (engine.h; engine_priv.h is shared by its files)
ENGINE_SRCS := modules/serreg/engine.c modules/serreg/engine_tier.c \
	modules/serreg/engine_acc.c modules/serreg/engine_srv.c \
	modules/serreg/engine_gen.c modules/serreg/engine_flow.c
ENGINE_OBJS := $(patsubst %.c,build/test/%.o,$(ENGINE_SRCS))

# The pure parts, linked into the unit tests
PURE_SRCS := $(ENGINE_SRCS) modules/serreg/params.c
PURE_OBJS := $(patsubst %.c,build/test/%.o,$(PURE_SRCS))
UNIT_SRCS := $(wildcard test/unit/*.c)
UNIT_OBJS := $(patsubst %.c,build/test/%.o,$(UNIT_SRCS))
UNIT      := build/unittest

PYTEST    := $(PYTHON) -m pytest
PYTEST_ARGS ?= -q -p no:cacheprovider

.PHONY: all clean deps test unit integration install uninstall demo \
	test-run demo-run deb deb-build

all: $(MOD)

build/%.o: %.c $(wildcard include/*.h include/*/*.h modules/serreg/*.h) Makefile mk/serreg.mk
	@mkdir -p $(dir $@)
	$(CC) $(MOD_CFLAGS) -c $< -o $@

build/test/%.o: %.c $(wildcard include/*.h include/*/*.h modules/serreg/*.h) $(wildcard test/unit/*.h test/bench/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itest/unit -c $< -o $@

$(MOD): $(MOD_OBJS)
	$(LD) $(SH_LFLAGS) $(LDFLAGS) -o $@ $^ -lssl -lcrypto

$(UNIT): $(UNIT_OBJS) $(PURE_OBJS)
	$(CC) -o $@ $^ -lre

deps:
	@./mk/deps.sh build demo test

unit: $(UNIT)
	./$(UNIT)

integration: $(MOD)
	$(PYTEST) $(PYTEST_ARGS) test/integration

test:
	@./mk/deps.sh build test
	@$(MAKE) --no-print-directory test-run

test-run:
	$(MAKE) all $(UNIT) $(BENCH_FLEET)
	./$(UNIT)
	./$(BENCH_FLEET) --smoke
	$(PYTEST) $(PYTEST_ARGS) test/integration
	$(MAKE) unit-asan fuzz integration-valgrind-ci

# DEMO_ARGS: e.g. --png FILE (the timeline picture, python3-matplotlib)
DEMO_ARGS ?= --png build/demo-timeline.png

demo:
	@./mk/deps.sh build demo
	@$(MAKE) --no-print-directory demo-run

demo-run: all
	$(PYTHON) test/demo.py $(DEMO_ARGS)

# The Debian package (debian/), built by dpkg-buildpackage, checked by
# lintian: serreg_$(VERSION)_amd64.deb here, with the -dbgsym package,
# .buildinfo and .changes (dpkg-buildpackage writes them to ..)
DEB := $(PROJECT)_$(VERSION)_amd64.deb

# (with other goals, make reads re.mk, whose own 'deb' rule then runs)
ifndef LIBRE_READ
deb:
	@./mk/deps.sh deb
	@$(MAKE) --no-print-directory deb-build
endif

deb-build:
	@v=$$(dpkg-parsechangelog -S Version); [ "$$v" = "$(VERSION)" ] || \
		{ echo "deb: debian/changelog is at $$v, VERSION is" \
		  "$(VERSION)" >&2; exit 1; }
	dpkg-buildpackage -b -us -uc
	@for f in ../$(PROJECT)_$(VERSION)_amd64.* \
		  ../$(PROJECT)-dbgsym_$(VERSION)_amd64.deb; do \
		[ ! -e "$$f" ] || mv "$$f" .; done
	lintian --fail-on error --info $(DEB)
	@echo "deb: $(DEB)"

install: $(MOD)
	install -d $(DESTDIR)$(MOD_DIR)
	install -m 0644 $(MOD) $(DESTDIR)$(MOD_DIR)/serreg.so

uninstall:
	rm -f $(DESTDIR)$(MOD_DIR)/serreg.so

clean:
	rm -rf build $(MOD)

# Failover benchmark against the real rig (not part of make test):
# make bench-failover [BENCH_ARGS='--quick --scenario frozen-udp']
BENCH_ARGS ?=

.PHONY: bench-failover
bench-failover: $(MOD)
	$(PYTHON) test/bench/failover.py $(BENCH_ARGS)

# Sanitizers, valgrind, fuzzing: unit-asan, integration-asan, valgrind,
# integration-valgrind, fuzz, fuzz-long
include mk/hardening.mk

# Whatever compiles needs libre-dev's re.mk: without it, need-libre
# (mk/serreg.mk) stops the build and says what to run first
$(MOD_OBJS) $(UNIT_OBJS) $(PURE_OBJS) $(SAN_MOD_OBJS) $(SAN_UNIT_OBJS) \
	$(PURE_SRCS:%.c=build/fuzz/obj/%.o) \
	$(patsubst %.c,build/test/%.o,$(wildcard test/bench/*.c)): | need-libre

# The targets that run the rig, valgrind or clang: without the test
# packages they stop at once, naming them (mk/deps.sh --check)
.PHONY: need-deps
need-deps:
	@./mk/deps.sh --check build test

integration integration-asan valgrind integration-valgrind \
	integration-valgrind-ci fuzz fuzz-long fuzz-build bench-failover \
	bench-fleet-real soak: | need-deps

# Soak (not part of make test): baresip + serreg.so against three
# flapping registrars for SOAK_MINUTES, RSS and serreg's objects flat
SOAK_MINUTES ?= 30
SOAK_SEED    ?= 1

.PHONY: soak
soak: all
	$(PYTHON) test/bench/soak.py --minutes $(SOAK_MINUTES) \
		--seed $(SOAK_SEED) --out build/soak/soak-$(SOAK_SEED).json

# Scale benchmark of the policy engine (R50): not part of make test
BENCH_SCALE := build/bench-scale

$(BENCH_SCALE): build/test/test/bench/scale.o build/test/test/bench/bheap.o \
		$(ENGINE_OBJS)
	$(CC) -o $@ $^ -lre

.PHONY: bench-scale
bench-scale: $(BENCH_SCALE)
	./$(BENCH_SCALE)

# Fleet simulator (issue 11): N engines against loaded registrars, serreg
# and upstream's policy side by side; a smoke run is part of make test.
# make bench-fleet [FLEET_ARGS='-n 100000 -s silent']
BENCH_FLEET := build/bench-fleet
FLEET_ARGS  ?=

$(BENCH_FLEET): build/test/test/bench/fleet.o build/test/test/bench/bheap.o \
		$(ENGINE_OBJS)
	$(CC) -o $@ $^ -lre

.PHONY: bench-fleet
bench-fleet: $(BENCH_FLEET)
	./$(BENCH_FLEET) $(FLEET_ARGS)

# The same curves measured on a real small fleet (30-50 baresip processes
# against two kamailio registrars on 127.0.0.1), beside the simulator's
# for the same N and settings; a few minutes, not part of make test.
# make bench-fleet-real [FLEET_REAL_ARGS='-n 30 --out build/fleet-real.md']
FLEET_REAL_ARGS ?=

.PHONY: bench-fleet-real
bench-fleet-real: $(MOD) $(BENCH_FLEET)
	$(PYTHON) test/bench/fleet_real.py $(FLEET_REAL_ARGS)

# Pictures of the fleet simulator for docs/performance.md (docs/img/)
.PHONY: bench-fleet-plot
bench-fleet-plot: $(BENCH_FLEET)
	$(PYTHON) test/bench/fleet_plot.py
