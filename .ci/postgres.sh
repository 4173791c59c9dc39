# shellcheck shell=bash
# Sourced by .ci/run (or by hand: `. .ci/postgres.sh`): a real PostgreSQL for
# tests/test_postgres.py. Installs Debian's postgresql when it is missing, starts
# the newest cluster listening on 127.0.0.1 only, (re)creates a test role with a
# fresh random password and the right to create databases (each test makes its own),
# and exports NEWSLETTER_TEST_DATABASE_URL. Needs root (CI runs as root). Does
# nothing when NEWSLETTER_TEST_DATABASE_URL is already set.

if [ -n "${NEWSLETTER_TEST_DATABASE_URL:-}" ]; then
    echo "postgres: using the NEWSLETTER_TEST_DATABASE_URL already set"
else
    _pg_newest() { find /usr/lib/postgresql -path '*/bin/postgres' 2>/dev/null | sort -V | tail -n 1; }

    if [ -z "$(_pg_newest)" ]; then
        echo "postgres: installing Debian's postgresql"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    fi
    _pg_version=$(basename "$(dirname "$(dirname "$(_pg_newest)")")")

    # The package creates the cluster "main"; make it when a machine's config said not to.
    if ! pg_lsclusters -h | awk -v v="$_pg_version" '$1 == v && $2 == "main" {f = 1} END {exit !f}'
    then
        pg_createcluster "$_pg_version" main >/dev/null
    fi
    _pg_port=$(pg_lsclusters -h | awk -v v="$_pg_version" '$1 == v && $2 == "main" {print $3}')
    if ! pg_lsclusters -h | awk -v v="$_pg_version" '$1 == v && $2 == "main" && $4 ~ /^online/ {f = 1} END {exit !f}'
    then
        # Passing a server option also keeps pg_ctlcluster from handing over to systemd,
        # which a CI container does not run.
        pg_ctlcluster "$_pg_version" main start -o "-c listen_addresses=127.0.0.1"
    fi
    pg_isready -q -h 127.0.0.1 -p "$_pg_port" -t 30

    _pg_password=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
    # psql as the postgres superuser over the local socket (peer authentication).
    (cd / && runuser -u postgres -- psql -q -X -v ON_ERROR_STOP=1 -p "$_pg_port" -d postgres) <<SQL
SELECT format('CREATE ROLE newsletter_test LOGIN CREATEDB PASSWORD %L', '$_pg_password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'newsletter_test')
UNION ALL
SELECT format('ALTER ROLE newsletter_test LOGIN CREATEDB PASSWORD %L', '$_pg_password')
 WHERE EXISTS (SELECT FROM pg_roles WHERE rolname = 'newsletter_test')
\gexec
SELECT 'CREATE DATABASE newsletter_test OWNER newsletter_test'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'newsletter_test')
\gexec
SQL

    export NEWSLETTER_TEST_DATABASE_URL="postgresql+psycopg://newsletter_test:${_pg_password}@127.0.0.1:${_pg_port}/newsletter_test"
    echo "postgres: PostgreSQL ${_pg_version} on 127.0.0.1:${_pg_port}, database newsletter_test"
    unset -f _pg_newest
    unset _pg_version _pg_port _pg_password
fi
