#!/bin/sh
# DockMon container entrypoint.
#
#   web      migrate, collectstatic, bootstrap, then serve HTTPS (or HTTP) with daphne
#   worker   Celery worker (waits until the web container has applied the migrations)
#   beat     Celery beat   (same wait)
#   events   the Docker events listener: keeps the container inventory current (same wait)
#   manage.py ARGS...  Django management command, e.g. `manage.py changepassword alice`
#   anything else      run as given, e.g. `sh`
#
# Started as root (the image default), it first hands the data directory to the
# unprivileged `dockmon` user, adds that user to the group owning the mounted Docker
# socket, and re-runs itself as `dockmon`. Started as any other user, it skips that step.
#
# Environment read here (the Django settings read many more):
#   DOCKMON_DATA_DIR        data directory (default /data)
#   DOCKMON_TLS             on (default): serve HTTPS on port 8443; off: plain HTTP on 8000
#   DOCKMON_TLS_HOSTNAME    names for the generated self-signed certificate, comma
#                           separated, first one is the CN (default localhost)
#   DOCKMON_TLS_CERT / _KEY your own certificate and key (PEM paths inside the container)
#   DOCKMON_TLS_CHAIN       optional PEM file with the intermediate certificates
#   DOCKMON_BIND, PORT      listening address (0.0.0.0) and port (8443 / 8000)
#   DOCKMON_PROXY_HEADERS   trust X-Forwarded-For (default: true with TLS off, false with TLS on)
#   DOCKMON_WAIT_TIMEOUT    seconds to wait for the database / migrations (default 300)
#   DOCKMON_WORKER_CONCURRENCY  Celery worker threads (default 8)
#   DOCKMON_CELERY_LOG_LEVEL    Celery log level (default info)
#   DOCKMON_RUN_AS_ROOT     true: do not drop root privileges
set -eu

APP_USER=dockmon
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$SELF")/.."

export DOCKMON_DATA_DIR="${DOCKMON_DATA_DIR:-/data}"
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-dockmon.settings}"
DATA_DIR="$DOCKMON_DATA_DIR"

log() { echo "dockmon-entrypoint: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

lower() { printf '%s' "$1" | tr '[:upper:]' '[:lower:]'; }

# Prints true or false for a boolean variable; $2 is the default when unset or empty.
bool() {
    eval "value=\${$1:-}"
    [ -n "$value" ] || value=$2
    case "$(lower "$value")" in
        1 | true | yes | on) echo true ;;
        0 | false | no | off) echo false ;;
        *) die "$1=$value is not a boolean; use true or false (on or off)." ;;
    esac
}

# The Docker socket the app will talk to (empty when DOCKER_HOST is not a unix socket).
docker_socket() {
    case "${DOCKER_HOST:-}" in
        "") echo /var/run/docker.sock ;;
        unix://*) echo "${DOCKER_HOST#unix://}" ;;
        *) echo "" ;;
    esac
}

# ---- Root phase: fix ownership, find the socket's group, drop to the dockmon user ----
drop_privileges() {
    [ "$(id -u)" = 0 ] || return 0
    as_root=$(bool DOCKMON_RUN_AS_ROOT false)
    if [ "$as_root" = true ]; then
        log "DOCKMON_RUN_AS_ROOT is set: running as root."
        return 0
    fi
    uid=$(id -u "$APP_USER")
    gid=$(id -g "$APP_USER")

    mkdir -p "$DATA_DIR"
    # A fresh named volume is already ours (Docker copies the image's /data ownership);
    # a bind-mounted host directory, a restored backup or a file created through
    # `docker exec` (root by default) may not be.
    if [ -n "$(find "$DATA_DIR" ! -user "$uid" -print -quit)" ]; then
        log "making $DATA_DIR owned by $APP_USER ($uid:$gid)"
        find "$DATA_DIR" ! -user "$uid" -exec chown -h "$uid:$gid" {} + ||
            log "warning: could not change the owner of everything in $DATA_DIR."
    fi
    chmod 0700 "$DATA_DIR" || true

    groups=$gid
    socket=$(docker_socket)
    if [ -n "$socket" ] && [ -S "$socket" ]; then
        socket_gid=$(stat -c %g "$socket")
        [ "$socket_gid" = "$gid" ] || groups="$groups,$socket_gid"
        if ! setpriv --reuid="$uid" --regid="$gid" --groups="$groups" test -w "$socket"; then
            # E.g. a socket owned by root:root with mode 0755 (some Docker Desktop setups).
            log "warning: $socket is not writable through its group (mode $(stat -c %a "$socket"))," \
                "so DockMon keeps running as root to reach it."
            return 0
        fi
    fi

    export HOME="/home/$APP_USER" USER="$APP_USER" LOGNAME="$APP_USER"
    exec setpriv --reuid="$uid" --regid="$gid" --groups="$groups" --no-new-privs "$SELF" "$@"
}

# ---- Waiting -------------------------------------------------------------------------
# wait_for DESCRIPTION COMMAND...: rerun COMMAND every 3 s until it succeeds.
wait_for() {
    what=$1
    shift
    timeout=${DOCKMON_WAIT_TIMEOUT:-300}
    deadline=$(($(date +%s) + timeout))
    attempt=0
    until output=$("$@" 2>&1); do
        attempt=$((attempt + 1))
        if [ "$(date +%s)" -ge "$deadline" ]; then
            log "gave up waiting for $what after $timeout s; the last attempt said:"
            printf '%s\n' "$output" >&2
            exit 1
        fi
        if [ $((attempt % 10)) = 1 ]; then
            reason=$(printf '%s\n' "$output" | tail -n 1)
            log "waiting for $what${reason:+ ($reason)}"
        fi
        sleep 3
    done
}

database_ready() {
    python -c 'import django
django.setup()
from django.db import connection
connection.ensure_connection()'
}

migrations_applied() {
    python manage.py migrate --check --noinput || {
        echo "unapplied migrations remain"
        return 1
    }
}

# ---- TLS -------------------------------------------------------------------------------
# Escape a value for a Twisted endpoint string (":", "=" and "\" are special).
endpoint_escape() { printf '%s' "$1" | sed 's/[\\:=]/\\&/g'; }

# Creates (or renews) the self-signed certificate; sets TLS_CERT and TLS_KEY.
self_signed_certificate() {
    tls_dir="$DATA_DIR/tls"
    TLS_CERT="$tls_dir/selfsigned.crt"
    TLS_KEY="$tls_dir/selfsigned.key"
    names=$(printf '%s' "${DOCKMON_TLS_HOSTNAME:-localhost}" | tr -d ' ')
    [ -n "$names" ] || names=localhost

    (umask 077 && mkdir -p "$tls_dir")
    if [ -s "$TLS_CERT" ] && [ -s "$TLS_KEY" ] &&
        [ "$(cat "$tls_dir/selfsigned.names" 2>/dev/null)" = "$names" ] &&
        openssl x509 -checkend 86400 -noout -in "$TLS_CERT" >/dev/null 2>&1; then
        return 0
    fi

    common_name=${names%%,*}
    san=""
    set -f # names like *.example.lan are not file patterns here
    for name in $(printf '%s' "$names,localhost,127.0.0.1" | tr -d '[]' | tr ',' ' '); do
        case "$name" in
            *[!0-9.]* | "") case "$name" in *:*) entry="IP:$name" ;; *) entry="DNS:$name" ;; esac ;;
            *) entry="IP:$name" ;;
        esac
        case ",$san," in *",$entry,"*) ;; *) san="${san:+$san,}$entry" ;; esac
    done
    set +f

    log "creating a self-signed certificate for $san (valid 825 days) in $tls_dir"
    (
        umask 077
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
            -subj "/CN=$common_name" \
            -addext "subjectAltName=$san" \
            -addext "basicConstraints=critical,CA:FALSE" \
            -addext "keyUsage=critical,digitalSignature" \
            -addext "extendedKeyUsage=serverAuth" \
            -keyout "$TLS_KEY.new" -out "$TLS_CERT.new" 2>"$tls_dir/openssl.log" ||
            {
                cat "$tls_dir/openssl.log" >&2
                exit 1
            }
        chmod 0600 "$TLS_KEY.new"
        chmod 0644 "$TLS_CERT.new"
        mv -f "$TLS_KEY.new" "$TLS_KEY"
        mv -f "$TLS_CERT.new" "$TLS_CERT"
        printf '%s\n' "$names" >"$tls_dir/selfsigned.names"
        rm -f "$tls_dir/openssl.log"
    ) || die "could not create the self-signed certificate."
}

# Checks the operator's certificate and key; sets TLS_CERT and TLS_KEY.
own_certificate() {
    TLS_CERT=${DOCKMON_TLS_CERT:-}
    TLS_KEY=${DOCKMON_TLS_KEY:-}
    if [ -z "$TLS_CERT" ] || [ -z "$TLS_KEY" ]; then
        die "set both DOCKMON_TLS_CERT and DOCKMON_TLS_KEY (or neither)."
    fi
    for file in "$TLS_CERT" "$TLS_KEY" ${DOCKMON_TLS_CHAIN:+"$DOCKMON_TLS_CHAIN"}; do
        [ -r "$file" ] || die "$file does not exist or is not readable by $(id -un) (uid $(id -u))."
    done
    cert_pub=$(openssl x509 -noout -pubkey -in "$TLS_CERT" 2>/dev/null) ||
        die "$TLS_CERT is not a PEM certificate."
    key_pub=$(openssl pkey -pubout -in "$TLS_KEY" 2>/dev/null) ||
        die "$TLS_KEY is not an unencrypted PEM private key."
    [ "$cert_pub" = "$key_pub" ] || die "$TLS_KEY is not the key of the certificate $TLS_CERT."
    openssl x509 -checkend 0 -noout -in "$TLS_CERT" >/dev/null ||
        log "warning: the certificate $TLS_CERT has expired."
}

# ---- Roles -----------------------------------------------------------------------------
run_web() {
    tls=$(bool DOCKMON_TLS on)
    # Plain HTTP is meant for running behind a reverse proxy, whose X-Forwarded-For is
    # trusted; with TLS, clients talk to daphne directly and could forge that header.
    if [ "$tls" = true ]; then
        proxy_headers=$(bool DOCKMON_PROXY_HEADERS false)
    else
        proxy_headers=$(bool DOCKMON_PROXY_HEADERS true)
    fi
    bind=${DOCKMON_BIND:-0.0.0.0}

    if [ "$tls" = true ]; then
        export PORT="${PORT:-8443}"
        if [ -n "${DOCKMON_TLS_CERT:-}${DOCKMON_TLS_KEY:-}" ]; then
            own_certificate
        else
            self_signed_certificate
        fi
        # Served over HTTPS directly: secure cookies and HSTS, unless the operator decided otherwise.
        [ -n "${DOCKMON_HTTPS:-}" ] || export DOCKMON_HTTPS=true
        endpoint="ssl:port=$PORT:interface=$(endpoint_escape "$bind")"
        endpoint="$endpoint:privateKey=$(endpoint_escape "$TLS_KEY"):certKey=$(endpoint_escape "$TLS_CERT")"
        if [ -n "${DOCKMON_TLS_CHAIN:-}" ]; then
            endpoint="$endpoint:extraCertChain=$(endpoint_escape "$DOCKMON_TLS_CHAIN")"
        fi
        set -- -e "$endpoint"
    else
        export PORT="${PORT:-8000}"
        set -- -b "$bind" -p "$PORT"
    fi
    [ "$proxy_headers" = false ] || set -- "$@" --proxy-headers

    wait_for "the database" database_ready
    python manage.py migrate --noinput
    python manage.py collectstatic --noinput --verbosity 0
    python manage.py bootstrap

    if [ "$tls" = true ]; then scheme=HTTPS; else scheme=HTTP; fi
    log "serving $scheme on $bind:$PORT"
    exec daphne "$@" dockmon.asgi:application
}

drop_privileges "$@"

[ $# -gt 0 ] || set -- web
role=$1
shift
case "$role" in
    web)
        run_web
        ;;
    worker)
        wait_for "the database migrations (the web container applies them)" migrations_applied
        exec celery -A dockmon worker -l "${DOCKMON_CELERY_LOG_LEVEL:-info}" \
            --pool threads --concurrency "${DOCKMON_WORKER_CONCURRENCY:-8}" "$@"
        ;;
    beat)
        wait_for "the database migrations (the web container applies them)" migrations_applied
        exec celery -A dockmon beat -l "${DOCKMON_CELERY_LOG_LEVEL:-info}" "$@"
        ;;
    events)
        wait_for "the database migrations (the web container applies them)" migrations_applied
        exec python manage.py watch_docker_events "$@"
        ;;
    manage.py)
        exec python manage.py "$@"
        ;;
    *)
        exec "$role" "$@"
        ;;
esac
