#!/usr/bin/env bash
# One-shot schema set-up for temporalio/server, run in the temporalio/admin-tools image
# (docker-compose service `temporal-admin-tools`). Safe to run again: `setup-schema -v 0.0`
# leaves an existing schema alone and `update-schema` only applies newer versions, so the
# same job also upgrades the schema when the admin-tools/server images are bumped together.
#
# Env (shared with the `temporal` service): POSTGRES_SEEDS, DB_PORT, POSTGRES_USER,
# POSTGRES_PWD, DBNAME; ES_SCHEME, ES_SEEDS, ES_PORT, ES_VERSION, ES_VIS_INDEX.
set -euo pipefail

: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${POSTGRES_PWD:?}" "${ES_SEEDS:?}"
DB_PORT="${DB_PORT:-5432}"
DBNAME="${DBNAME:-temporal}"
ES_SCHEME="${ES_SCHEME:-http}"
ES_PORT="${ES_PORT:-9200}"
ES_VERSION="${ES_VERSION:-v7}"
ES_VIS_INDEX="${ES_VIS_INDEX:-temporal_visibility_v1_dev}"
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
ES_SCHEMA_DIR="${TEMPORAL_HOME}/schema/elasticsearch/visibility"
echo "Setting up the visibility index ${ES_VIS_INDEX} on ${ES_SERVER}."
curl --fail --silent --show-error -X PUT "${ES_SERVER}/_cluster/settings" \
    -H 'Content-Type: application/json' --data-binary "@${ES_SCHEMA_DIR}/cluster_settings_${ES_VERSION}.json"
echo
curl --fail --silent --show-error -X PUT "${ES_SERVER}/_template/temporal_visibility_v1_template" \
    -H 'Content-Type: application/json' --data-binary "@${ES_SCHEMA_DIR}/index_template_${ES_VERSION}.json"
echo
if curl --fail --silent --output /dev/null "${ES_SERVER}/${ES_VIS_INDEX}"; then
    echo "Index ${ES_VIS_INDEX} already exists."
else
    curl --fail --silent --show-error -X PUT "${ES_SERVER}/${ES_VIS_INDEX}"
    echo
fi
echo "Temporal schema set-up complete."
