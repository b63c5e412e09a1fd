# shellcheck shell=bash
# DocumentDB (Microsoft's MongoDB-wire PostgreSQL extension, MIT) for Oakestra's four MongoDB
# stores: built once against Debian's PostgreSQL and cached, then one PostgreSQL cluster and one
# wire gateway per store, on loopback. Sourced by tools/oakestra.sh, not run.
#
# Why four clusters: Oakestra's root, root-network, cluster and cluster-network stores reuse the
# same database names ("jobs", ...), so they cannot share a server; and DocumentDB needs pg_cron in
# its own database, which pg_cron allows in one database per cluster only.

DOCDB_APT_BUILD=(postgresql-server-dev-$PG_MAJOR libkrb5-dev libbson-dev libpcre2-dev libintelrdfpmath-dev pkg-config make gcc libssl-dev)
DOCDB_APT_RUN=(postgresql-$PG_MAJOR postgresql-$PG_MAJOR-cron postgresql-$PG_MAJOR-postgis-3 postgresql-$PG_MAJOR-rum)
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
DOCDB_USER=oakestra
DOCDB_PASSWORD=oakestra # loopback only; Oakestra's components take it inside their *_MONGO_URL

# pgvector is required by the extension and not packaged for PostgreSQL 15 in Debian 12: its Debian
# source package (trixie) is fetched with apt-get source into a private apt state.
pgvector_source() {
  local d="$CACHE/apt-src" a
  a=(-o "Dir::Etc=$d/etc" -o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache"
    -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  mkdir -p "$d/etc/apt.conf.d" "$d/etc/preferences.d" "$d/etc/sources.list.d" "$d/lists/partial" "$d/cache/archives/partial" "$1"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" >"$d/etc/sources.list"
  apt-get "${a[@]}" update -q && (cd "$1" && apt-get "${a[@]}" source -q --download-only pgvector) &&
    tar -xzf "$1"/pgvector_*.orig.tar.gz -C "$1" && mv "$1"/pgvector-*/ "$1/pgvector"
}

# The extension is built against Debian's libbson 1.23, where one enum value the source uses
# (BSON_SUBTYPE_SENSITIVE, libbson >= 1.25) is missing: it is supplied on the compiler command line.
docdb_build() {
  local log="$STATE/build-documentdb.log" stage="$DOCDB_BUILD/stage" work="$DOCDB_BUILD/work" t0=$SECONDS
  local pgc="$PG_BIN/pg_config" copt='-DBSON_SUBTYPE_SENSITIVE=0x08 -Wno-error=switch'
  [[ -f $DOCDB_BUILD/.complete ]] && return 0
  apt_ensure "${DOCDB_APT_BUILD[@]}" "${DOCDB_APT_RUN[@]}"
  say "documentdb: building the extension and its gateway (one-time, cached in $DOCDB_BUILD; log $log)"
  rm -rf "$DOCDB_BUILD" && mkdir -p "$work" "$stage" "$DOCDB_BUILD/pkgconfig"
  cat >"$DOCDB_BUILD/pkgconfig/intelmathlib.pc" <<EOF
Name: intelmathlib
Description: Intel decimal floating-point math library (Debian libintelrdfpmath-dev)
Version: 2.0u2
Cflags: -I/usr/include
Libs: -l:libbidgcc000.a
EOF
  {
    pgvector_source "$work" &&
      make -C "$work/pgvector" -j2 with_llvm=no PG_CONFIG="$pgc" &&
      make -C "$work/pgvector" install with_llvm=no PG_CONFIG="$pgc" DESTDIR="$stage" &&
      cp -a "$DOCDB_SRC" "$work/documentdb" &&
      for ext in pg_documentdb_core pg_documentdb; do
        PKG_CONFIG_PATH="$DOCDB_BUILD/pkgconfig" make -C "$work/documentdb/$ext" -j2 with_llvm=no \
          PG_CONFIG="$pgc" COPT="$copt" &&
          PKG_CONFIG_PATH="$DOCDB_BUILD/pkgconfig" make -C "$work/documentdb/$ext" install with_llvm=no \
            PG_CONFIG="$pgc" COPT="$copt" DESTDIR="$stage" || exit 1
      done &&
      (cd "$work/documentdb/pg_documentdb_gw" && CARGO_TARGET_DIR="$DOCDB_BUILD/cargo-target" cargo build --release --locked) &&
      install -m 755 "$DOCDB_BUILD/cargo-target/release/documentdb_gateway" "$DOCDB_BUILD/documentdb_gateway"
  } >>"$log" 2>&1 || { tail -n 30 "$log" >&2; die "documentdb: build failed, see $log"; }
  rm -rf "$work" "$DOCDB_BUILD/cargo-target"
  touch "$DOCDB_BUILD/.complete"
  say "documentdb: built in $((SECONDS - t0))s"
}

# PostgreSQL finds extensions only in its own directories: copy the staged files there (a no-op
# when they are already identical).
docdb_install() {
  local stage="$DOCDB_BUILD/stage" f
  apt_ensure "${DOCDB_APT_RUN[@]}"
  while IFS= read -r -d '' f; do
    cmp -s "$stage/$f" "/$f" || { install -D -m 644 "$stage/$f" "/$f" || die "cannot install /$f"; }
  done < <(cd "$stage" && find . -type f -print0)
}

pg_data() { printf '%s/%s' "$PG_ROOT" "$1"; }

# pg_start NAME PORT: a PostgreSQL cluster owned by `postgres` (initdb refuses root).
pg_start() {
  local name=$1 port=$2 data
  data="$(pg_data "$name")"
  mkdir -p "$(svc_dir "pg-$name")"
  if [[ ! -f $data/PG_VERSION ]]; then
    install -d -o postgres -g postgres -m 700 "$data"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
      >>"$(svc_dir "pg-$name")/log" 2>&1 || fail "pg-$name" "initdb failed"
    cat >>"$data/postgresql.conf" <<EOF
# tools/oakestra.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = '$data'
shared_preload_libraries = 'pg_cron, pg_documentdb_core, pg_documentdb'
cron.database_name = 'postgres'
documentdb.enableBackgroundWorker = true
documentdb.enableBackgroundWorkerJobs = true
# Debian 12's pg_cron (1.4) has no "N seconds" schedules: 60 makes the index-build job a plain cron line.
documentdb.indexBuildScheduleInSec = 60
shared_buffers = 32MB
max_connections = 60
ssl = off
EOF
  fi
  launch "pg-$name" / setpriv --reuid=postgres --regid=postgres --init-groups "$PG_BIN/postgres" -D "$data" -p "$port"
}

pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$1" -U postgres; }
psql_at() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U postgres -d postgres "${@:2}"; }

# The extension and the gateway's user, once per cluster.
pg_setup() {
  local port=$1
  [[ "$(psql_at "$port" -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$DOCDB_USER'")" == 1 ]] && return 0
  psql_at "$port" -c "CREATE EXTENSION IF NOT EXISTS documentdb CASCADE" &&
    psql_at "$port" -c "CREATE ROLE $DOCDB_USER WITH LOGIN INHERIT PASSWORD '$DOCDB_PASSWORD' IN ROLE documentdb_admin_role" &&
    psql_at "$port" -c "ALTER ROLE $DOCDB_USER CREATEROLE" &&
    psql_at "$port" -c "GRANT $DOCDB_USER TO postgres WITH ADMIN OPTION"
}

gw_start() {
  local name=$1 port=$2 pgport=$3 d
  d="$(svc_dir "gw-$name")"
  mkdir -p "$d"
  # A release gateway wants a certificate even when TLS is optional (EnforceSslTcp false).
  [[ -s $d/key.pem ]] || openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=localhost \
    -keyout "$d/key.pem" -out "$d/cert.pem" >/dev/null 2>&1 || fail "gw-$name" "cannot make a certificate"
  cat >"$d/SetupConfiguration.json" <<EOF
{
  "NodeHostName": "localhost",
  "BlockedRolePrefixes": ["documentdb", "citus", "pg", "internal_role"],
  "UseLocalHost": true,
  "GatewayListenPort": $port,
  "PostgresHostName": "127.0.0.1",
  "PostgresPort": $pgport,
  "PostgresSystemUser": "postgres",
  "TransactionTimeoutSecs": 30,
  "CursorTimeoutSecs": 60,
  "PostgresCommandTimeoutSecs": 60,
  "EnforceSslTcp": false,
  "CertificateOptions": {"CertType": "PemFile", "FilePath": "$d/cert.pem", "KeyFilePath": "$d/key.pem"}
}
EOF
  launch "gw-$name" "$d" "$DOCDB_BUILD/documentdb_gateway" "$d/SetupConfiguration.json"
}

# store_up NAME MONGO_PORT PG_PORT
store_up() {
  local name=$1 port=$2 pgport=$3
  # shellcheck disable=SC2317 # called through ensure
  _pg_start() { pg_start "$name" "$pgport"; }
  _pg_ready() { pg_ready "$pgport"; }
  _gw_start() { gw_start "$name" "$port" "$pgport"; }
  _gw_ready() { tcp_open "$port"; }
  ensure "pg-$name" 60 _pg_ready _pg_start
  pg_setup "$pgport" >>"$(svc_dir "pg-$name")/log" 2>&1 || fail "pg-$name" "CREATE EXTENSION documentdb failed"
  ensure "gw-$name" 30 _gw_ready _gw_start
}
