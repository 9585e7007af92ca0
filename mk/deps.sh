#!/bin/sh
#
# deps.sh  Install the Debian 12 packages serreg builds and tests with,
#          only those that are missing.
#
set -e

PKGS="build-essential baresip-core libre-dev libssl-dev kamailio
      kamailio-tls-modules kamailio-outbound-modules dnsmasq-base
      python3 python3-pytest procps iproute2 clang sip-tester
      valgrind libclang-rt-14-dev"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q "install ok installed" || missing="$missing $p"
done

[ -z "$missing" ] && exit 0

echo "deps: installing:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 || {
		echo "deps: need root (or sudo) to install:$missing" >&2
		exit 1
	}
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends $missing
