#!/usr/bin/env bash
# A shared MLflow tracking server without Docker: PostgreSQL holds the runs, a folder the artifacts.
#
#   tracking/server.sh                              # http://127.0.0.1:5000; data in ./tracking-data
#   PORT=5001 DATA=/srv/mlflow tracking/server.sh
#   BACKEND_STORE_URI=postgresql+psycopg://user:pw@dbhost/mlflow tracking/server.sh   # an existing database
#   HOST=0.0.0.0 ALLOWED_HOSTS=mlflow.lab.example tracking/server.sh                  # for the team's network
#
# Without BACKEND_STORE_URI it runs its own PostgreSQL (initdb on first start) on 127.0.0.1:$PG_PORT, in
# $DATA/postgres, and stops it when the server stops. Needs mlflow and psycopg (pip install
# 'antelope[postgres]') and, for its own database, PostgreSQL's server binaries.
set -euo pipefail

HOST=${HOST:-127.0.0.1}
PORT=${PORT:-5000}
DATA=$(realpath -m "${DATA:-tracking-data}")
ARTIFACTS=$(realpath -m "${ARTIFACTS:-$DATA/artifacts}")
MLFLOW=${MLFLOW:-mlflow}

as_postgres() {  # PostgreSQL refuses to run as root
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ -z "${BACKEND_STORE_URI:-}" ]; then
    PG_PORT=${PG_PORT:-5432}
    PATH=$PATH:$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ ! -d "$DATA/postgres" ]; then
        mkdir -p "$DATA/postgres"
        chmod 700 "$DATA/postgres"
        if [ "$(id -u)" = 0 ]; then chown postgres "$DATA/postgres"; fi
        as_postgres initdb -D "$DATA/postgres" -A trust -U postgres >/dev/null
    fi
    as_postgres pg_ctl -D "$DATA/postgres" -w -l "$DATA/postgres/server.log" \
        -o "-p $PG_PORT -k $DATA/postgres -c listen_addresses=127.0.0.1" start >/dev/null
    trap 'as_postgres pg_ctl -D "$DATA/postgres" -m fast stop >/dev/null' EXIT
    if ! psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'mlflow'" | grep -q 1; then
        createdb -h 127.0.0.1 -p "$PG_PORT" -U postgres mlflow
    fi
    BACKEND_STORE_URI=postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/mlflow
fi

mkdir -p "$ARTIFACTS"
# MLflow's server-side job runner (GenAI evaluations, trace roll-ups) starts 8 worker processes that training
# runs never use; they would take memory and CPU from trainings on the same machine. Set it to true to keep them.
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}
SHOWN=$(sed -E 's#(://[^:/@]+):[^@/]+@#\1:***@#' <<< "$BACKEND_STORE_URI")  # no password in logs
echo "tracking server: http://$HOST:$PORT  (runs in $SHOWN, artifacts in $ARTIFACTS)" >&2
# Not exec: the EXIT trap above stops PostgreSQL once the server has stopped.
"$MLFLOW" server --backend-store-uri "$BACKEND_STORE_URI" --artifacts-destination "$ARTIFACTS" \
    --host "$HOST" --port "$PORT" --workers "${WORKERS:-2}" ${ALLOWED_HOSTS:+--allowed-hosts "$ALLOWED_HOSTS"}
