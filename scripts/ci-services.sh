#!/usr/bin/env bash
# Makes the services the test suite needs available on a Debian 12 CI machine, idempotently:
# a running PostgreSQL cluster with a login role genrec/genrec (CREATEDB) for the store tests, and
# Chromium with chromedriver for the browser tests. Installs with apt only what is missing.
#
# Everything is logged to stderr; the only line on stdout is
#   GENREC_TEST_POSTGRES_URL=postgresql://genrec:genrec@127.0.0.1:PORT/postgres
# so a caller can do: export "$(scripts/ci-services.sh)". No process this script leaves running
# (the PostgreSQL server) holds that stdout open.
set -euo pipefail

# Keep stdout for the final line only.
exec 3>&1 1>&2

log() { printf 'ci-services: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "must run as root (or with sudo available)"
    SUDO=(sudo)
fi

have_postgres_server() {
    command -v pg_ctlcluster >/dev/null 2>&1 && command -v pg_lsclusters >/dev/null 2>&1 &&
        compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

# apt's output names the package mirrors; keep it in a log file and show only a redacted tail.
APT_LOG="${TMPDIR:-/tmp}/genrec-ci-apt.log"
run_apt() {
    if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@" \
        >"$APT_LOG" 2>&1; then
        log "apt-get $1 failed; last lines of $APT_LOG (addresses redacted):"
        tail -n 20 "$APT_LOG" |
            sed -E -e 's#[a-zA-Z][a-zA-Z0-9+.-]*://[^ ]*#<address>#g' \
                -e 's#[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+\.[A-Za-z]{2,}#<host>#g' >&2
        exit 1
    fi
}

if have_postgres_server && [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    log "postgresql, chromium and chromedriver already installed"
else
    log "installing postgresql, chromium and chromium-driver with apt-get"
    run_apt update
    run_apt install -y --no-install-recommends postgresql chromium chromium-driver
    have_postgres_server || die "postgresql server still missing after apt-get install"
fi

# The first cluster pg_lsclusters lists (one named main if there is one); create one if none.
cluster_line() {
    local lines
    lines=$(pg_lsclusters --no-header 2>/dev/null || true)
    if grep -qE '^[0-9.]+[[:space:]]+main[[:space:]]' <<<"$lines"; then
        grep -E '^[0-9.]+[[:space:]]+main[[:space:]]' <<<"$lines" | head -n 1
    else
        grep -E '^[0-9.]+[[:space:]]' <<<"$lines" | head -n 1 || true
    fi
}

line=$(cluster_line)
if [[ -z $line ]]; then
    version=$(basename "$(dirname "$(dirname "$(
        compgen -G '/usr/lib/postgresql/*/bin/postgres' | sort -V | tail -n 1
    )")")")
    log "no PostgreSQL cluster found; creating $version/main"
    "${SUDO[@]}" pg_createcluster "$version" main >&2
    line=$(cluster_line)
    [[ -n $line ]] || die "pg_createcluster did not produce a cluster"
fi
read -r version cluster port status _ <<<"$line"
[[ $port =~ ^[0-9]+$ ]] || die "cannot read the port of cluster $version/$cluster from pg_lsclusters"

if [[ $status == online* ]]; then
    log "cluster $version/$cluster already running on port $port"
else
    log "starting cluster $version/$cluster on port $port"
    # Exit status 2 means already running (a race with another starter); anything else is checked
    # below by waiting for the server. The server is a daemon that outlives this script: it must
    # not inherit fd 3 (the caller's stdout), or a caller reading that until EOF, as
    # "$(scripts/ci-services.sh)" does, would wait for as long as PostgreSQL runs.
    "${SUDO[@]}" pg_ctlcluster "$version" "$cluster" start >&2 3>&- ||
        log "pg_ctlcluster start: status $?"
fi

for _ in $(seq 1 60); do
    if pg_isready -q -h 127.0.0.1 -p "$port" -t 2; then
        break
    fi
    sleep 1
done
pg_isready -q -h 127.0.0.1 -p "$port" -t 2 ||
    die "PostgreSQL $version/$cluster does not accept connections on 127.0.0.1:$port"

as_postgres_psql() {
    (cd / && "${SUDO[@]}" runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$port" "$@")
}

if [[ $(as_postgres_psql -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'genrec'") == 1 ]]; then
    log "role genrec exists; making sure it can log in and create databases"
    as_postgres_psql -c "ALTER ROLE genrec WITH LOGIN CREATEDB PASSWORD 'genrec'" >&2
else
    log "creating role genrec"
    as_postgres_psql -c "CREATE ROLE genrec WITH LOGIN CREATEDB PASSWORD 'genrec'" >&2
fi

url="postgresql://genrec:genrec@127.0.0.1:${port}/postgres"
# A password login over TCP, as the tests will do it.
PGPASSWORD=genrec psql -X -q -h 127.0.0.1 -p "$port" -U genrec -d postgres -tAc 'SELECT 1' >/dev/null ||
    die "role genrec cannot log in over TCP on 127.0.0.1:$port (check pg_hba.conf)"

log "PostgreSQL ready on 127.0.0.1:$port"
printf 'GENREC_TEST_POSTGRES_URL=%s\n' "$url" >&3
