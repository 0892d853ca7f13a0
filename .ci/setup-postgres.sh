#!/usr/bin/env bash
# Sets up the PostgreSQL (with postgresql-hll) that the shipping tests use.
#
# Idempotent: installs the packages if missing, starts the Debian cluster,
# creates a test role and database with the hll extension, and prints the
# DSN as a shell export on stdout (progress goes to stderr), so:
#
#   eval "$(bash .ci/setup-postgres.sh)"
#   go test ./test/... ./pkg/sender/...
#
# Tests read the DSN from EIDASTATSD_TEST_PG; with CI set they fail, rather
# than skip, when it is missing.
set -euo pipefail

PG_VERSION=${PG_VERSION:-15}
DB=${EIDASTATSD_TEST_DB:-eidastatsd_test}
ROLE=${EIDASTATSD_TEST_ROLE:-eidastatsd_test}
PASS=${EIDASTATSD_TEST_PASSWORD:-eidastatsd_test}
PORT=${EIDASTATSD_TEST_PORT:-5432}

log() { echo "setup-postgres: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
	log "must run as root (installs packages, starts the cluster)"
	exit 1
fi

need=()
[ -x "/usr/lib/postgresql/$PG_VERSION/bin/postgres" ] || need+=("postgresql-$PG_VERSION" postgresql-client-"$PG_VERSION")
[ -f "/usr/share/postgresql/$PG_VERSION/extension/hll.control" ] || need+=("postgresql-$PG_VERSION-hll")
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq "${need[@]}" >&2
fi

if ! pg_lsclusters -h | awk -v v="$PG_VERSION" '$1==v && $2=="main"' | grep -q .; then
	log "creating cluster $PG_VERSION/main"
	pg_createcluster "$PG_VERSION" main --port "$PORT" >&2
fi
if ! pg_lsclusters -h | awk -v v="$PG_VERSION" '$1==v && $2=="main" && $4=="online"' | grep -q .; then
	log "starting cluster $PG_VERSION/main"
	pg_ctlcluster "$PG_VERSION" main start >&2
fi
PORT=$(pg_lsclusters -h | awk -v v="$PG_VERSION" '$1==v && $2=="main" {print $3}')

# Wait until the server accepts connections (start is asynchronous on some setups).
for _ in $(seq 1 60); do
	if su postgres -c "psql -p $PORT -Atqc 'select 1'" >/dev/null 2>&1; then
		break
	fi
	sleep 0.5
done

psql_su() { su postgres -c "psql -p $PORT -v ON_ERROR_STOP=1 -Atq $*"; }

if [ "$(psql_su "-c \"select 1 from pg_roles where rolname='$ROLE'\"")" != 1 ]; then
	log "creating role $ROLE"
	psql_su "-c \"create role $ROLE login password '$PASS'\"" >&2
fi
if [ "$(psql_su "-c \"select 1 from pg_database where datname='$DB'\"")" != 1 ]; then
	log "creating database $DB"
	psql_su "-c \"create database $DB owner $ROLE\"" >&2
fi
# hll is not a trusted extension: the superuser creates it once per database.
psql_su "-d $DB -c \"create extension if not exists hll\"" >&2

DSN="postgres://$ROLE:$PASS@127.0.0.1:$PORT/$DB?sslmode=disable"
log "ready: $DSN"
echo "export EIDASTATSD_TEST_PG='$DSN'"
