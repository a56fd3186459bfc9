#!/usr/bin/env bash
# Installs or upgrades the Atelier API as a hardened systemd service on a Debian, Ubuntu or
# Amazon Linux VM, from a checkout of this repository:
#
#   sudo systemd/install.sh                 install or upgrade, then (re)start the service
#   systemd/install.sh build SRC DEST       only build a runnable copy of SRC into DEST (new)
#
# What it sets up:
#   user and group `atelier` (system, no login)
#   /opt/atelier-api            the code and its production dependencies, owned by root: the
#                               service can read it, not change it
#   /var/lib/atelier-api        DATA_DIR, the only directory the service may write
#   /etc/atelier-api/atelier-api.env   settings (from systemd/atelier-api.env, never overwritten)
#   /etc/sysctl.d/60-atelier-api.conf  net.ipv4.tcp_migrate_req=1 (the sandboxed service cannot
#                               set it itself: ProtectKernelTunables)
#   /etc/systemd/system/atelier-api.service, enabled
#
# Needs Node.js 20 or later as /usr/bin/node, with npm, and the registry reachable for `npm ci`.
# The distribution's nodejs package is older than 20 on Debian 12 and Ubuntu 24.04: install a
# newer Node.js package first (NodeSource's, or your distribution's newer stream).
set -euo pipefail

readonly APP_DIR=/opt/atelier-api
readonly STATE_DIR=/var/lib/atelier-api
readonly CONF_DIR=/etc/atelier-api
readonly ENV_FILE=$CONF_DIR/atelier-api.env
readonly UNIT_FILE=/etc/systemd/system/atelier-api.service
readonly SYSCTL_FILE=/etc/sysctl.d/60-atelier-api.conf
readonly SERVICE_USER=atelier
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly SRC

log() { printf 'install: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

require_node() {
  [ -x /usr/bin/node ] || die "/usr/bin/node not found: install Node.js 20 or later (the unit runs /usr/bin/node)"
  local major
  major=$(/usr/bin/node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 20 ] || die "Node.js $(/usr/bin/node --version) is too old: the service needs 20 or later"
  command -v npm >/dev/null || die "npm not found: install it with Node.js"
}

# A runnable copy of the project in a new directory: sources, dist/, production dependencies.
build() {
  local src=$1 dest=$2
  [ ! -e "$dest" ] || die "$dest already exists"
  mkdir -p "$dest"
  # Sources only: none of the checkout's dependencies, build output, local data or history.
  tar -C "$src" --exclude=./node_modules --exclude=./dist --exclude=./.data --exclude=./.git --exclude=./tmp -cf - . \
    | tar -C "$dest" -xf -
  # Compiling needs TypeScript, a devDependency: install everything, build, then drop the dev tools.
  (
    cd "$dest"
    npm ci --no-audit --no-fund
    npm run build
    npm prune --omit=dev --no-audit --no-fund
  )
}

create_user() {
  id -u "$SERVICE_USER" >/dev/null 2>&1 && return
  log "creating system user $SERVICE_USER"
  useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
    --shell "$(command -v nologin || echo /sbin/nologin)" "$SERVICE_USER"
}

create_directories() {
  install -d -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0750 "$STATE_DIR"
  install -d -o root -g "$SERVICE_USER" -m 0750 "$CONF_DIR"
  if [ -e "$ENV_FILE" ]; then
    log "keeping $ENV_FILE (compare with systemd/atelier-api.env for new settings)"
  else
    install -o root -g "$SERVICE_USER" -m 0640 "$SRC/systemd/atelier-api.env" "$ENV_FILE"
    log "installed $ENV_FILE: set DATABASE_URL there (unset runs an embedded PostgreSQL in $STATE_DIR)"
  fi
}

# Built beside the running copy and swapped in with two renames, so that a worker respawning
# meanwhile finds a whole tree; the previous one is kept for a rollback.
install_code() {
  rm -rf "$APP_DIR.new"
  build "$SRC" "$APP_DIR.new"
  chown -R root:root "$APP_DIR.new"
  chmod -R u=rwX,go=rX "$APP_DIR.new"
  rm -rf "$APP_DIR.previous"
  if [ -d "$APP_DIR" ]; then mv "$APP_DIR" "$APP_DIR.previous"; fi
  mv "$APP_DIR.new" "$APP_DIR"
}

# A draining worker's queued connections go to the other workers instead of being reset.
enable_request_migration() {
  if [ ! -e /proc/sys/net/ipv4/tcp_migrate_req ]; then
    log "this kernel has no net.ipv4.tcp_migrate_req (Linux 5.14+): a reload may reset a few queued connections"
    return
  fi
  printf '%s\n' \
    '# Atelier API: a worker that stops listening hands its queued connections to the others.' \
    'net.ipv4.tcp_migrate_req = 1' >"$SYSCTL_FILE"
  sysctl -q -p "$SYSCTL_FILE"
}

install_unit() {
  install -o root -g root -m 0644 "$SRC/systemd/atelier-api.service" "$UNIT_FILE"
  systemctl daemon-reload
  systemctl enable --quiet atelier-api.service
  # restart, not reload: an upgrade may change the primary too. Draining finishes the requests
  # in flight; behind nginx, the other instances take the new ones meanwhile.
  systemctl restart atelier-api.service
  log "atelier-api (re)started: systemctl status atelier-api; journalctl -u atelier-api -f"
}

main() {
  if [ "${1:-}" = build ]; then
    [ $# -eq 3 ] || die "usage: $0 build SRC DEST"
    build "$2" "$3"
    return
  fi
  [ $# -eq 0 ] || die "usage: $0 | $0 build SRC DEST"
  [ "$(id -u)" -eq 0 ] || die "run as root (sudo $0)"
  command -v systemctl >/dev/null || die "systemd is required"
  require_node
  create_user
  create_directories
  install_code
  enable_request_migration
  install_unit
}

main "$@"
