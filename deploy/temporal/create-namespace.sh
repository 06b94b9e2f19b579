#!/bin/sh
# One-shot: create the mops namespace (if missing) and the mops custom search attributes
# (the missing ones), with the `temporal` CLI of the temporalio/admin-tools image
# (docker-compose service `temporal-create-namespace`; POSIX sh: the image has no bash).
# Safe to run again.
#
# Env: TEMPORAL_ADDRESS, NAMESPACE, NAMESPACE_RETENTION (a Go duration, e.g. 720h),
#      SEARCH_ATTRIBUTES: space-separated Name=Type pairs, the list in
#      starter/stack.py SEARCH_ATTRIBUTES (tests/ops/test_compose.py keeps them equal).
set -eu

: "${TEMPORAL_ADDRESS:?}" "${NAMESPACE:?}" "${SEARCH_ATTRIBUTES:?}"
RETENTION="${NAMESPACE_RETENTION:-720h}"

until temporal operator cluster health --address "${TEMPORAL_ADDRESS}" | grep -q SERVING; do
    echo "Waiting for Temporal at ${TEMPORAL_ADDRESS}."
    sleep 2
done

if temporal operator namespace describe --address "${TEMPORAL_ADDRESS}" --namespace "${NAMESPACE}" >/dev/null 2>&1; then
    echo "Namespace ${NAMESPACE} already exists."
else
    echo "Creating namespace ${NAMESPACE} (retention ${RETENTION})."
    temporal operator namespace create --address "${TEMPORAL_ADDRESS}" --namespace "${NAMESPACE}" \
        --retention "${RETENTION}"
fi
# A new namespace reaches the frontend's namespace cache some seconds after it is
# registered: `describe` reads the database and answers at once, the search attribute
# calls answer "not found" until then. Wait for those (a minute at most, then fail).
attempt=0
until existing="$(temporal operator search-attribute list --address "${TEMPORAL_ADDRESS}" --namespace "${NAMESPACE}" 2>&1)"; do
    attempt=$((attempt + 1))
    if [ "${attempt}" -ge 30 ]; then
        echo "Namespace ${NAMESPACE} did not become usable: ${existing}" >&2
        exit 1
    fi
    sleep 2
done
for pair in ${SEARCH_ATTRIBUTES}; do
    name="${pair%%=*}"
    type="${pair#*=}"
    if printf '%s\n' "${existing}" | grep -qw -- "${name}"; then
        echo "Search attribute ${name} already exists."
        continue
    fi
    echo "Creating search attribute ${name} (${type})."
    temporal operator search-attribute create --address "${TEMPORAL_ADDRESS}" --namespace "${NAMESPACE}" \
        --name "${name}" --type "${type}"
done
echo "Namespace ${NAMESPACE} is ready."
