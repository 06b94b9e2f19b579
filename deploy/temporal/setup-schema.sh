#!/bin/sh
# One-shot schema set-up for temporalio/server, run in the temporalio/admin-tools image
# (docker-compose service `temporal-admin-tools`). That image is Alpine with the Temporal
# tools and busybox only (no bash, no curl), so this is POSIX sh and the Elasticsearch
# part is `temporal-elasticsearch-tool`. Safe to run again: `setup-schema -v 0.0` leaves
# an existing schema alone, `update-schema` only applies newer versions (so the same job
# upgrades the schema when the admin-tools/server images are bumped together), and
# `create-index` skips an index that exists.
#
# Env (shared with the `temporal` service): POSTGRES_SEEDS, DB_PORT, POSTGRES_USER,
# POSTGRES_PWD, DBNAME; ES_SCHEME, ES_SEEDS, ES_PORT, ES_VIS_INDEX.
set -eu

: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${POSTGRES_PWD:?}" "${ES_SEEDS:?}" "${ES_VIS_INDEX:?}"
DB_PORT="${DB_PORT:-5432}"
DBNAME="${DBNAME:-temporal}"
ES_SCHEME="${ES_SCHEME:-http}"
ES_PORT="${ES_PORT:-9200}"
TEMPORAL_HOME="${TEMPORAL_HOME:-/etc/temporal}"

# --- PostgreSQL: the main store (visibility lives in Elasticsearch) -----------------
export SQL_PASSWORD="${POSTGRES_PWD}"
sql_tool() {
    temporal-sql-tool --plugin postgres12 --ep "${POSTGRES_SEEDS}" -p "${DB_PORT}" \
        -u "${POSTGRES_USER}" --db "${DBNAME}" "$@"
}
echo "Setting up the Temporal schema in PostgreSQL database ${DBNAME}."
sql_tool setup-schema -v 0.0
sql_tool update-schema -d "${TEMPORAL_HOME}/schema/postgresql/v12/temporal/versioned"

# --- Elasticsearch: cluster settings, index template, visibility index ----------------
ES_SERVER="${ES_SCHEME}://${ES_SEEDS%%,*}:${ES_PORT}"
echo "Setting up the visibility index ${ES_VIS_INDEX} on ${ES_SERVER}."
temporal-elasticsearch-tool --endpoint "${ES_SERVER}" setup-schema
temporal-elasticsearch-tool --endpoint "${ES_SERVER}" create-index --index "${ES_VIS_INDEX}"
echo "Temporal schema set-up complete."
