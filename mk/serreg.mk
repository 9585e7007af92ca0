#
# serreg.mk  Build glue: libre's conventions for an out-of-tree module
#
# The compiler flags come from Debian's /usr/share/re/re.mk, so the -D set
# (HAVE_STDBOOL_H, HAVE_INTTYPES_H, ...) matches what libre 1.1.0 and
# baresip 1.0.0 were built with.  libre.pc carries none of them.
#

LIBRE_MK  ?= /usr/share/re/re.mk
LIBRE_INC ?= /usr/include/re

# Without libre-dev the Makefile still parses.  The ENTRY_GOALS (deps,
# demo, test, deb: they install it, then run make again) do not read
# re.mk at all, so its own 'deb' rule is not in the way; whatever
# compiles without it stops in need-libre and says what to run first.
ifeq ($(MAKECMDGOALS),)
LIBRE_READ := yes
else ifneq ($(filter-out $(ENTRY_GOALS),$(MAKECMDGOALS)),)
LIBRE_READ := yes
endif
ifdef LIBRE_READ
-include $(LIBRE_MK)
endif

# The platform is the baresip-core installed: Debian 12's 1.0.0 or
# Debian 13's 1.1.0.  include/VERSION/baresip.h declares its API (and
# SERREG_BARESIP); a build for another version stops in need-libre.
BARESIP_VERSION ?= $(shell dpkg-query -W -f='$${Version}' baresip-core \
	2>/dev/null | sed 's/^[0-9]*://; s/-[^-]*$$//')
PLATFORMS := 1.0.0 1.1.0

CFLAGS    += -I$(LIBRE_INC) -Iinclude/$(BARESIP_VERSION) -Imodules/serreg \
	-Wextra -Wno-unused-parameter
MOD_CFLAGS = $(CFLAGS) -fvisibility=hidden

# Where Debian's baresip looks for modules
MOD_DIR   ?= /usr/lib/baresip/modules
BARESIP   ?= /usr/bin/baresip
PYTHON    ?= /usr/bin/python3

# Order-only prerequisite of every compile rule
.PHONY: need-libre
need-libre:
	@test -f $(LIBRE_MK) || { echo "$(LIBRE_MK) not found (Debian" \
		"package libre-dev): run 'make deps' first, or 'make demo'" \
		"/ 'make test', which install what they need" >&2; exit 1; }
	@test -f include/$(BARESIP_VERSION)/baresip.h || { echo "baresip" \
		"'$(BARESIP_VERSION)': serreg is built for Debian's" \
		"baresip-core $(PLATFORMS) (make deps installs it)" >&2; \
		exit 1; }
