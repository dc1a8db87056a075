#!/usr/bin/env bash
# A shared MLflow tracking server without Docker: PostgreSQL holds the runs, a folder the artifacts.
#
#   tracking/server.sh                              # http://127.0.0.1:5000, for this machine; data in ./tracking-data
#   PORT=5001 DATA=/srv/mlflow tracking/server.sh
#   BACKEND_STORE_URI=postgresql+psycopg://user:pw@dbhost/mlflow tracking/server.sh   # an existing database
#   MLFLOW_AUTH_ADMIN_PASSWORD=... HOST=0.0.0.0 ALLOWED_HOSTS=mlflow.lab.example tracking/server.sh   # for the team
#
# Opened to a network (HOST other than 127.0.0.1/localhost) it asks everyone for a login: MLflow's basic-auth
# app, its users in $DATA/auth. It refuses to start open without MLFLOW_AUTH_ADMIN_PASSWORD, the password of
# the admin user it creates on the first start (MLflow reads it then only; see README.md). Given a password,
# 127.0.0.1 asks for a login too, and so does every later start on the same $DATA.
#
# Without BACKEND_STORE_URI it runs its own PostgreSQL (initdb on first start) on 127.0.0.1:$PG_PORT, in
# $DATA/postgres, and stops it when the server stops. Needs mlflow[auth] and psycopg (pip install
# 'antelope[postgres]' 'mlflow[auth]') and, for its own database, PostgreSQL's server binaries.
set -euo pipefail

HOST=${HOST:-127.0.0.1}
PORT=${PORT:-5000}
DATA=$(realpath -m "${DATA:-tracking-data}")
ARTIFACTS=$(realpath -m "${ARTIFACTS:-$DATA/artifacts}")
MLFLOW=${MLFLOW:-mlflow}
# Who can reach the server: the address it binds to, or, in a container, the one the host publishes it on.
REACHED_ON=${PUBLISHED_HOST:-$HOST}
if [ -z "${MLFLOW_AUTH_ADMIN_PASSWORD:-}" ]; then
    unset MLFLOW_AUTH_ADMIN_PASSWORD  # set but empty (compose passes it on): MLflow would take it for a password
fi

hide_password() {  # no password in logs
    sed -E 's#(://[^:/@]*):[^@/]+@#\1:***@#' <<< "$1"
}

# --- who may use it: anyone on this machine, or the users of MLflow's basic-auth app ---------------------
AUTH=
if [ -n "${MLFLOW_AUTH_ADMIN_PASSWORD:-}${MLFLOW_AUTH_CONFIG_PATH:-}" ] || [ -e "$DATA/auth/basic_auth.ini" ]; then
    AUTH=1  # once a server has users, it keeps asking for them
fi
case "$REACHED_ON" in
    127.0.0.1 | localhost | ::1 | "[::1]") ;;
    *) if [ -z "$AUTH" ]; then
           echo "tracking/server.sh: HOST=$REACHED_ON opens the server to the network:" \
                "set MLFLOW_AUTH_ADMIN_PASSWORD to make it ask for a login" >&2
           exit 2
       fi ;;
esac
APP=()
if [ -n "$AUTH" ]; then
    mkdir -p "$DATA/auth"
    chmod 700 "$DATA/auth"  # the users' database (hashed passwords) and the session key
    if [ -z "${MLFLOW_FLASK_SERVER_SECRET_KEY:-}" ]; then  # signs the UI's forms; the same across restarts
        if [ ! -s "$DATA/auth/secret_key" ]; then
            (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DATA/auth/secret_key")
        fi
        MLFLOW_FLASK_SERVER_SECRET_KEY=$(cat "$DATA/auth/secret_key")
    fi
    export MLFLOW_FLASK_SERVER_SECRET_KEY
    USERS="users as ${MLFLOW_AUTH_CONFIG_PATH:-} says"
    if [ -z "${MLFLOW_AUTH_CONFIG_PATH:-}" ]; then  # else the operator's own ini file
        export MLFLOW_AUTH_CONFIG_PATH=$DATA/auth/basic_auth.ini
        AUTH_DATABASE_URI=${AUTH_DATABASE_URI:-}
        USERS="users in $(hide_password "${AUTH_DATABASE_URI:-$DATA/auth/users.db}")"
        if [ -n "${MLFLOW_AUTH_ADMIN_PASSWORD:-}" ] && [ -z "$AUTH_DATABASE_URI" ] && [ -e "$DATA/auth/users.db" ]; then
            echo "tracking/server.sh: note: the admin user exists already, so MLFLOW_AUTH_ADMIN_PASSWORD changes" \
                 "nothing (change passwords with users/update-password: tracking/README.md)" >&2
        fi
        # No secret in this file: MLflow reads the admin's password from MLFLOW_AUTH_ADMIN_PASSWORD itself.
        (umask 077 && cat > "$MLFLOW_AUTH_CONFIG_PATH" <<EOF
[mlflow]
# Written by tracking/server.sh at each start; set MLFLOW_AUTH_CONFIG_PATH to use a file of your own.
default_permission = ${DEFAULT_PERMISSION:-EDIT}
database_uri = ${AUTH_DATABASE_URI:-sqlite:///$DATA/auth/users.db}
admin_username = ${MLFLOW_AUTH_ADMIN_USERNAME:-admin}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
EOF
        )
    fi
    APP=(--app-name basic-auth)
fi

# --- where runs are kept ---------------------------------------------------------------------------------
as_postgres() {  # PostgreSQL refuses to run as root
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

OWN_POSTGRES=
if [ -z "${BACKEND_STORE_URI:-}" ]; then
    OWN_POSTGRES=1
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
echo "tracking server: http://$REACHED_ON:$PORT  (runs in $(hide_password "$BACKEND_STORE_URI"), artifacts in" \
     "$ARTIFACTS${AUTH:+; login required, $USERS})" >&2
COMMAND=("$MLFLOW" server "${APP[@]}" --backend-store-uri "$BACKEND_STORE_URI" --artifacts-destination "$ARTIFACTS"
         --host "$HOST" --port "$PORT" --workers "${WORKERS:-2}" ${ALLOWED_HOSTS:+--allowed-hosts "$ALLOWED_HOSTS"})
if [ -n "$OWN_POSTGRES" ]; then
    "${COMMAND[@]}"  # not exec: the EXIT trap above stops PostgreSQL once the server has stopped
else
    exec "${COMMAND[@]}"  # nothing to clean up: the server gets the signals itself (a container's `docker stop`)
fi
