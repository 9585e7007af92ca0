#
# serreg.mk  Build glue: libre's conventions for an out-of-tree module
#
# The compiler flags come from Debian's /usr/share/re/re.mk, so the -D set
# (HAVE_STDBOOL_H, HAVE_INTTYPES_H, ...) matches what libre 1.1.0 and
# baresip 1.0.0 were built with.  libre.pc carries none of them.
#

LIBRE_MK  ?= /usr/share/re/re.mk
LIBRE_INC ?= /usr/include/re

ifeq ($(wildcard $(LIBRE_MK)),)
$(error $(LIBRE_MK) not found: run 'make deps' (Debian: libre-dev))
endif

include $(LIBRE_MK)

CFLAGS    += -I$(LIBRE_INC) -Iinclude -Imodules/serreg -Wextra -Wno-unused-parameter
MOD_CFLAGS = $(CFLAGS) -fvisibility=hidden

# Where Debian's baresip looks for modules
MOD_DIR   ?= /usr/lib/baresip/modules
BARESIP   ?= /usr/bin/baresip
PYTHON    ?= /usr/bin/python3
