#!/usr/bin/env bash
# `npm start`: sets up and runs VoxFleet on this machine — Redis (data in var/redis,
# password in var/redis-password), the gateway and one worker, under a supervisor
# that restarts what crashes. Ctrl-C stops everything. See apps/gateway/README.md.
# `exec` below: the supervisor takes this shell's pid, so signals reach it directly.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
  echo "VoxFleet needs Node.js 20 or newer (found $(node -v))." >&2
  exit 1
fi

if [ ! -d node_modules ]; then
  echo "Installing dependencies (npm ci)..."
  npm ci
fi

if [ -z "${VOXFLEET_REDIS_URL:-}" ] && ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing redis-server with apt-get..."
    DEBIAN_FRONTEND=noninteractive apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server
  else
    echo "redis-server is not installed. Install it with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y redis-server" >&2
    exit 1
  fi
fi

exec node --import tsx apps/stack/src/start.ts
