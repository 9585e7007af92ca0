#!/bin/sh
#
# test_deb.sh  The Debian package in a fresh Debian 12 or 13 root (as
#              root): apt-get install ./serreg_*.deb, the demo against
#              the INSTALLED module, apt-get remove, purge, nothing left
#              (Debian 13: its own serreg.so diverted, then given back
#              byte for byte).
#
#   sh test/package/test_deb.sh ./serreg_0.1.0_amd64.deb
#
# .ci/run runs it in a minimal root of its own (mmdebstrap minbase), in a
# clean clone where modules/serreg/serreg.so was never built.  It changes
# the system it runs on: not for a developer's machine.
#
set -eu

fail() { echo "test_deb: FAIL: $*" >&2; exit 1; }
step() { echo "test_deb: $*"; }

[ $# -eq 1 ] || { echo "usage: $0 ./serreg_VERSION_amd64.deb" >&2; exit 2; }
DEB=$1
[ -f "$DEB" ] || fail "$DEB not found (make deb)"
[ "$(id -u)" = 0 ] || fail "needs root (it installs and removes packages)"
case "$DEB" in /*|./*) ;; *) DEB=./$DEB ;; esac
SRC=$(cd "$(dirname "$0")/../.." && pwd)
MOD=/usr/lib/baresip/modules/serreg.so
DOC=/usr/share/doc/serreg
TMP=$(mktemp -d /tmp/serreg-deb.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

export DEBIAN_FRONTEND=noninteractive
DISTRIB=$MOD.distrib

# What the demo's rig needs, and Debian's baresip as a user has it before
# serreg (apt would find it in the package's Depends, but Debian 13's
# own serreg.so must be in place first)
step "apt-get install the demo's rig and baresip: python3 kamailio" \
	"procps baresip-core"
apt-get update -q >"$TMP/apt.log" 2>&1 || { cat "$TMP/apt.log"; exit 1; }
apt-get install -y -q --no-install-recommends python3 kamailio procps \
	baresip-core </dev/null >"$TMP/apt.log" 2>&1 ||
	{ cat "$TMP/apt.log"; exit 1; }

# Debian 13's baresip-core ships upstream's serreg.so at $MOD: the
# package diverts it and gives it back, byte for byte, when it goes
ORIG=""
if [ -e "$MOD" ]; then
	owner=$(dpkg -S "$MOD" 2>/dev/null | cut -d: -f1)
	[ "$owner" = baresip-core ] ||
		fail "$MOD is there before the install, not baresip-core's"
	ORIG=$(sha256sum "$MOD" | cut -d' ' -f1)
	step "Debian's $MOD before the install: sha256 $ORIG"
fi

# Everything outside the package's own files, before and after
snapshot() {
	find /usr /etc /opt /var/lib/dpkg/info -xdev \
		\( -type f -o -type l -o -type d \) 2>/dev/null | sort
}

step "apt-get install $DEB"
apt-get install -y -q --no-install-recommends "$DEB" </dev/null \
	>"$TMP/apt.log" 2>&1 || { cat "$TMP/apt.log"; exit 1; }
grep -E '^(Setting up|Unpacking) serreg' "$TMP/apt.log" || true
dpkg-query -W -f='${Package} ${Version} ${Status}\n' serreg
dpkg-query -W -f='Depends: ${Depends}\n' serreg
snapshot >"$TMP/with"
# serreg's files, and its directories no other package owns (these go too)
dpkg -L serreg | while read -r f; do
	if [ ! -d "$f" ] || [ "$(dpkg -S "$f" 2>/dev/null)" = "serreg: $f" ]
	then echo "$f"; fi
done | sort >"$TMP/files"

[ -f "$MOD" ] || fail "$MOD not installed"
dpkg-divert --list "$MOD" | grep -q 'by serreg' ||
	fail "no diversion of $MOD by serreg"
if [ -n "$ORIG" ]; then
	[ "$(sha256sum "$DISTRIB" | cut -d' ' -f1)" = "$ORIG" ] ||
		fail "Debian's module is not kept as $DISTRIB"
	[ "$(sha256sum "$MOD" | cut -d' ' -f1)" != "$ORIG" ] ||
		fail "$MOD is still Debian's"
	step "Debian's module diverted to $DISTRIB; $MOD is serreg's"
fi
for f in manual.md.gz example-config example-accounts copyright; do
	[ -f "$DOC/$f" ] || fail "$DOC/$f not installed"
done
if ldd "$MOD" | grep -q 'not found'; then
	ldd "$MOD"; fail "$MOD: a library it links is missing"
fi
[ ! -e "$SRC/modules/serreg/serreg.so" ] ||
	fail "$SRC/modules/serreg/serreg.so exists: the demo must use $MOD"

step "the demo against $MOD"
SERREG_MODULE=$MOD timeout 120 /usr/bin/python3 "$SRC/test/demo.py" \
	>"$TMP/demo.log" 2>&1 || { cat "$TMP/demo.log"; fail "demo failed"; }
cat "$TMP/demo.log"
grep -q "module $MOD" "$TMP/demo.log" || fail "the demo did not load $MOD"
grep -q 'moved to the backup' "$TMP/demo.log" || fail "no failover"
grep -q 'moved back to the primary' "$TMP/demo.log" || fail "no failback"

step "apt-get remove serreg"
apt-get remove -y -q serreg </dev/null >"$TMP/apt.log" 2>&1 ||
	{ cat "$TMP/apt.log"; exit 1; }
if [ -n "$ORIG" ]; then
	[ "$(sha256sum "$MOD" | cut -d' ' -f1)" = "$ORIG" ] ||
		fail "$MOD after remove is not Debian's, byte for byte"
	[ ! -e "$DISTRIB" ] || fail "$DISTRIB left after remove"
	step "Debian's $MOD is back, byte for byte"
else
	[ ! -e "$MOD" ] || fail "$MOD left after remove"
fi
! dpkg-divert --list "$MOD" | grep -q . ||
	fail "the diversion of $MOD is left after remove"
[ ! -e "$DOC" ] || fail "$DOC left after remove"

# No conffiles: remove already forgets the package, and apt cannot find
# a local package it forgot, so the purge is dpkg's (a no-op then)
st=$(dpkg-query -W -f='${db:Status-Abbrev}' serreg 2>/dev/null || true)
step "after remove dpkg has serreg as '${st:-unknown}'; dpkg --purge serreg"
dpkg --purge serreg >"$TMP/apt.log" 2>&1 || { cat "$TMP/apt.log"; exit 1; }
st=$(dpkg-query -W -f='${db:Status-Abbrev}' serreg 2>/dev/null || true)
case "$st" in ""|"un "*|"pn "*) ;; *) fail "dpkg still knows serreg: '$st'" ;; esac
[ -z "$ORIG" ] || [ "$(sha256sum "$MOD" | cut -d' ' -f1)" = "$ORIG" ] ||
	fail "$MOD after purge is not Debian's, byte for byte"

# The system is what it was with serreg installed, less serreg's files
snapshot >"$TMP/after"
{
	grep -vxF -f "$TMP/files" "$TMP/with" |
		grep -v '^/var/lib/dpkg/info/serreg\.' |
		grep -vxF "$DISTRIB" || true
	[ -z "$ORIG" ] || echo "$MOD"
} | sort >"$TMP/expect"
if ! diff -u "$TMP/expect" "$TMP/after" >"$TMP/diff"; then
	cat "$TMP/diff"; fail "remove + purge left the system changed"
fi
step "PASS: installed, demo ran on the installed module, removed" \
	"and purged with nothing left"
