#!/bin/sh
#
# deps.sh  Install the Debian 12 or 13 packages serreg needs, only those
#          that are missing, for the groups named (default: build demo
#          test).
#
#   build  compile serreg.so and the unit tests
#   demo   make demo: the rig (kamailio, python3), the timeline picture
#   test   make test: integration tests, TLS CA, sipp, sanitizers,
#          valgrind, libFuzzer
#   deb    make deb: Debian's packaging tools and lintian
#
# deps.sh --check GROUP...  installs nothing: exits 1 naming what is
# missing (the Makefile's need-deps)
# The lists hold everything a minimal Debian 12 or 13 root
# (mmdebstrap --variant=minbase) lacks; .ci/run proves it on both.
#
set -eu

# The platform (docs/design.md, "Platforms"): the names differ only in
# the clang runtime that libFuzzer and the sanitizers link
VERSION_CODENAME=""
# shellcheck disable=SC1091
[ ! -r /etc/os-release ] || . /etc/os-release
case "$VERSION_CODENAME" in
bookworm) CLANG_RT=libclang-rt-14-dev ;;
trixie) CLANG_RT=libclang-rt-19-dev ;;
*) echo "deps: serreg needs Debian 12 (bookworm) or 13 (trixie)," \
	"this is '${PRETTY_NAME:-unknown}'" >&2
   exit 1 ;;
esac

# libre-dev's headers include zlib.h; its Depends leave zlib1g-dev out
PKGS_build="build-essential libre-dev zlib1g-dev libssl-dev baresip-core"
# procps: ps, to look at a run by hand (the rig reads /proc itself);
# iproute2: ss (the rig cuts a flow with ss -K)
PKGS_demo="baresip-core kamailio python3 procps iproute2
	python3-matplotlib"
# openssl: the TLS tests' throwaway CA; ca-certificates: the system trust
# store of the sip_cafile-less TLS test
# kamailio-outbound-modules, dnsmasq-base: the rig's RFC 5626 edges and
# its DNS (SRV/NAPTR)
PKGS_test="$PKGS_demo kamailio-tls-modules kamailio-outbound-modules
	dnsmasq-base openssl ca-certificates python3-pytest sip-tester clang
	$CLANG_RT valgrind"
PKGS_deb="build-essential debhelper dpkg-dev lintian libre-dev zlib1g-dev
	libssl-dev baresip-core"

# --check: install nothing, fail with the list of what is missing
check=""
if [ "${1:-}" = --check ]; then
	check=1
	shift
fi
[ $# -gt 0 ] || set -- build demo test

want=""
for g in "$@"; do
	case "$g" in
	build) want="$want $PKGS_build" ;;
	demo) want="$want $PKGS_demo" ;;
	test) want="$want $PKGS_test" ;;
	deb) want="$want $PKGS_deb" ;;
	*) echo "deps: unknown group '$g' (build, demo, test, deb)" >&2
	   exit 2 ;;
	esac
done

command -v dpkg-query >/dev/null 2>&1 || {
	echo "deps: dpkg-query not found: serreg needs Debian 12" >&2
	exit 1
}

missing=""
for p in $want; do
	case " $missing " in *" $p "*) continue ;; esac
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q "install ok installed" || missing="$missing $p"
done

[ -z "$missing" ] && exit 0

if [ -n "$check" ]; then
	echo "deps: missing:$missing; run 'make deps' first (make test" \
		"and make demo install what they need)" >&2
	exit 1
fi

echo "deps: installing:$missing"
t0=$(date +%s)
SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 || {
		echo "deps: need root (or sudo) to install:$missing" >&2
		exit 1
	}
	SUDO=sudo
fi
# no questions, no stdin (CI)
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086 # one word per package
$SUDO apt-get install -y -q --no-install-recommends $missing </dev/null
echo "deps: installed in $(($(date +%s) - t0)) s"
