#!/usr/bin/env bash
# Make sure a `redis-server` binary is on PATH, for the tests marked `redis` (they start
# their own server on a free loopback port; nothing is left running). Installs the
# distribution's package with apt-get when run as root (or with sudo); otherwise it says
# how and exits 0 (also when the install fails), so `make test` still runs and the Redis
# tests skip, naming the reason.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        SUDO="unavailable"
    fi
    if [ "$SUDO" != "unavailable" ]; then
        echo "ensure-redis: installing redis-server with apt-get" >&2
        export DEBIAN_FRONTEND=noninteractive
        # a failed install (no network, a locked dpkg) falls through to the message below
        $SUDO apt-get install -y --no-install-recommends redis-server >/dev/null \
            || { $SUDO apt-get update -qq && \
                 $SUDO apt-get install -y --no-install-recommends redis-server >/dev/null; } \
            || true
        if command -v redis-server >/dev/null 2>&1; then
            exit 0
        fi
    fi
fi
cat >&2 <<'MSG'
ensure-redis: no redis-server on PATH and it could not be installed here (needs root or
passwordless sudo with apt-get). Install it yourself -- `apt-get install redis-server`,
`brew install redis`, or `conda install -c conda-forge redis-server` -- or point
FEEDMIXER_REDIS_SERVER at a redis-server binary. Until then the `redis` tests skip.
MSG
