# shellcheck shell=bash
#
# What scripts/run-local and scripts/test share: make sure the local RabbitMQ and PostgreSQL
# are up, starting them if they are installed but stopped, and failing loudly otherwise.
# Sourced, not run. Never stops a service: other processes may be using them.
#
# FRONTMON_SKIP_SERVICES=1 skips the checks, for a broker and database that run elsewhere
# (point the services at them with FRONTMON__AMQP__URL and FRONTMON__DATABASE__URL).

# Where the local PostgreSQL is expected; the defaults of the configuration.
: "${FRONTMON_PG_HOST:=127.0.0.1}"
: "${FRONTMON_PG_PORT:=5432}"

log() {
    printf '==> %s\n' "$*" >&2
}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Runs "$@" until it succeeds, every second, for at most $1 seconds.
retry_for() {
    local seconds=$1
    shift
    local deadline=$((SECONDS + seconds))
    until "$@"; do
        if ((SECONDS >= deadline)); then
            return 1
        fi
        sleep 1
    done
}

rabbitmq_running() {
    command -v rabbitmq-diagnostics >/dev/null 2>&1 &&
        rabbitmq-diagnostics -q ping >/dev/null 2>&1
}

postgres_running() {
    command -v pg_isready >/dev/null 2>&1 &&
        pg_isready -q -h "$FRONTMON_PG_HOST" -p "$FRONTMON_PG_PORT"
}

ensure_rabbitmq() {
    if rabbitmq_running; then
        log "RabbitMQ is running."
        ensure_rabbitmq_plugins
        return 0
    fi
    if ! command -v rabbitmq-server >/dev/null 2>&1 ||
        ! command -v rabbitmq-diagnostics >/dev/null 2>&1; then
        die "RabbitMQ is not running and not installed (apt-get install rabbitmq-server)."
    fi
    log "Starting RabbitMQ."
    rabbitmq-server -detached || die "rabbitmq-server -detached failed."
    # Booting the Erlang node takes a few seconds; a node that never answers failed to start.
    retry_for 90 rabbitmq_running ||
        die "RabbitMQ did not start within 90 s (see /var/log/rabbitmq/)."
    log "RabbitMQ is running."
    ensure_rabbitmq_plugins
}

# The consistent-hash exchange behind a partitioned processor (docs/scaling.md): shipped with
# RabbitMQ, enabled online (no restart), once.
ensure_rabbitmq_plugins() {
    command -v rabbitmq-plugins >/dev/null 2>&1 || return 0
    if ! rabbitmq-plugins -q list -e rabbitmq_consistent_hash_exchange 2>/dev/null |
        grep -q rabbitmq_consistent_hash_exchange; then
        log "Enabling the RabbitMQ plugin rabbitmq_consistent_hash_exchange."
        rabbitmq-plugins -q enable rabbitmq_consistent_hash_exchange >/dev/null ||
            die "rabbitmq-plugins enable rabbitmq_consistent_hash_exchange failed."
    fi
}

ensure_postgres() {
    if postgres_running; then
        log "PostgreSQL is running."
        return 0
    fi
    if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! command -v pg_isready >/dev/null 2>&1 ||
        [[ ! -d /etc/postgresql ]]; then
        die "PostgreSQL is not running on $FRONTMON_PG_HOST:$FRONTMON_PG_PORT and not installed" \
            "(apt-get install postgresql)."
    fi
    # Debian keeps one directory per major version; start the newest one's main cluster.
    local version
    version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -n 1)
    [[ -n $version && -d /etc/postgresql/$version/main ]] ||
        die "PostgreSQL is installed but has no main cluster under /etc/postgresql."
    log "Starting PostgreSQL $version."
    pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
        die "pg_ctlcluster $version main start failed (see /var/log/postgresql/)."
    retry_for 30 postgres_running ||
        die "PostgreSQL did not accept connections on $FRONTMON_PG_HOST:$FRONTMON_PG_PORT within 30 s."
    log "PostgreSQL is running."
}

# Both, unless FRONTMON_SKIP_SERVICES=1.
ensure_services() {
    if [[ ${FRONTMON_SKIP_SERVICES:-} == 1 ]]; then
        log "FRONTMON_SKIP_SERVICES=1: not checking RabbitMQ and PostgreSQL."
        return 0
    fi
    ensure_rabbitmq
    ensure_postgres
}

# Prints the value of [SECTION].KEY (or, for `projects`, "ID KEY" of the first project) from a
# TOML file, or nothing when the file does not set it. Needs python3 ≥ 3.11 (tomllib); without
# it prints nothing, so callers fall back to the defaults.
config_value() {
    local file=$1 section=$2 key=$3
    command -v python3 >/dev/null 2>&1 || return 0
    python3 - "$file" "$section" "$key" <<'PY' 2>/dev/null || true
import sys, tomllib
path, section, key = sys.argv[1:4]
with open(path, "rb") as f:
    doc = tomllib.load(f)
if section == "projects":
    projects = doc.get("projects") or []
    if projects:
        print(projects[0].get("id", ""), projects[0].get("public_key", ""))
else:
    value = doc.get(section, {}).get(key)
    if value is not None:
        print(value)
PY
}
