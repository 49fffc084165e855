#!/usr/bin/env bash
# Install what blockwatch needs on Debian 12: the lab's DNS servers and a venv
# with the project and its dev tools. Idempotent; run as root for apt.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${BLOCKWATCH_VENV:-$ROOT/.venv}
PACKAGES=(unbound nsd knot-resolver iproute2 sqlite3 curl ca-certificates systemd faketime debootstrap systemd-container nginx nftables chromium)

missing=()
for package in "${PACKAGES[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
python3 -c "import ensurepip, venv" 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup: need root to install: ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # the packages' own services are not wanted: the lab starts its servers itself
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
fi

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e "$ROOT[dev]"
echo "setup: ready ($VENV)"
