# shellcheck shell=bash
# Throwaway Redis and PostgreSQL servers for tests, the demo and benchmarks.
#
# Source this file; it defines functions only and changes no shell options.
#
#   jk_free_port                       print a free TCP port on 127.0.0.1
#   jk_start_redis DIR [redis args...] start redis-server in DIR; sets JK_REDIS_PORT, JK_REDIS_PID, JK_REDIS_DIR
#   jk_stop_redis                      SIGTERM JK_REDIS_PID, wait up to 10 s
#   jk_start_redis_cluster DIR [N]     N (3) cluster-enabled redis-servers in DIR, joined by redis-cli --cluster
#                                      create; sets JK_CLUSTER_URL (redis+cluster://...), JK_CLUSTER_PIDS,
#                                      JK_CLUSTER_PORTS
#   jk_stop_redis_cluster              SIGTERM each of JK_CLUSTER_PIDS, wait up to 10 s each
#   jk_start_postgres DIR              initdb + start PostgreSQL in DIR; sets JK_PG_PORT, JK_PG_PID, JK_PG_DIR
#   jk_stop_postgres                   SIGINT (fast shutdown) JK_PG_PID, wait up to 10 s
#   jk_pg_bindir                       print the directory holding initdb and pg_ctl
#
# The stop functions signal only the PID their start function recorded, and only if that PID
# still belongs to a redis-server/postgres process. They never kill anything by name.

jk__log() { echo "redis-server.sh: $*" >&2; }

jk_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# jk__alive PID: true while PID runs (a zombie counts as exited; some init processes never reap).
jk__alive() {
    kill -0 "$1" 2>/dev/null || return 1
    if [[ -r /proc/$1/stat ]]; then
        local stat
        stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
        stat=${stat##*) }
        [[ ${stat:0:1} != Z ]] || return 1
    fi
    return 0
}

# jk__is PID NAME: true if PID is alive and (where /proc exists) its command name is NAME.
jk__is() {
    [[ $1 =~ ^[0-9]+$ ]] && (($1 > 1)) || return 1
    jk__alive "$1" || return 1
    if [[ -r /proc/$1/comm ]]; then
        [[ $(cat "/proc/$1/comm" 2>/dev/null) == "$2"* ]] || return 1
    fi
    return 0
}

# jk__wait_exit PID SECONDS: wait until PID has exited; false on timeout.
jk__wait_exit() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        jk__alive "$1" || return 0
        sleep 0.1
    done
    return 1
}

# jk__stop PID NAME SIGNAL: signal PID if it is still NAME, then wait up to 10 s.
jk__stop() {
    local pid=$1 name=$2 signal=$3
    [[ -n $pid ]] || return 0
    jk__is "$pid" "$name" || return 0
    kill "-$signal" "$pid" 2>/dev/null || return 0
    if ! jk__wait_exit "$pid" 10; then
        jk__log "$name (pid $pid) still running 10 s after SIG$signal; leaving it"
        return 1
    fi
}

jk_start_redis() {
    local dir=${1:?jk_start_redis DIR [redis args...]}
    shift
    mkdir -p "$dir"
    JK_REDIS_DIR=$(cd "$dir" && pwd)
    JK_REDIS_PORT=$(jk_free_port)
    JK_REDIS_PID=
    # Later arguments win, so callers can override any default (for example --appendonly yes).
    redis-server --port "$JK_REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --enable-debug-command local --daemonize yes \
        --dir "$JK_REDIS_DIR" --pidfile "$JK_REDIS_DIR/redis.pid" --logfile "$JK_REDIS_DIR/redis.log" \
        "$@"
    local i
    for ((i = 0; i < 200; i++)); do # up to 10 s
        if [[ -z $JK_REDIS_PID && -s $JK_REDIS_DIR/redis.pid ]]; then
            JK_REDIS_PID=$(<"$JK_REDIS_DIR/redis.pid")
        fi
        if [[ -n $JK_REDIS_PID ]] &&
            [[ $(redis-cli -h 127.0.0.1 -p "$JK_REDIS_PORT" ping 2>/dev/null) == PONG ]]; then
            return 0
        fi
        sleep 0.05
    done
    jk__log "redis-server on port $JK_REDIS_PORT did not answer PING; log tail:"
    tail -n 20 "$JK_REDIS_DIR/redis.log" >&2 2>/dev/null || true
    return 1
}

jk_stop_redis() {
    jk__stop "${JK_REDIS_PID:-}" redis-server TERM || return 1
    JK_REDIS_PID=
}

jk_start_redis_cluster() {
    local dir=${1:?jk_start_redis_cluster DIR [N]} n=${2:-3}
    JK_CLUSTER_PIDS=()
    JK_CLUSTER_PORTS=()
    local i port
    while ((${#JK_CLUSTER_PORTS[@]} < n)); do
        port=$(jk_free_port)
        # Each node also listens on port + 10000 (the cluster bus).
        ((port + 10000 < 65536)) || continue
        python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.close()' \
            $((port + 10000)) 2>/dev/null || continue
        JK_CLUSTER_PORTS+=("$port")
    done
    for port in "${JK_CLUSTER_PORTS[@]}"; do
        mkdir -p "$dir/$port"
        redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
            --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
            --dir "$dir/$port" --pidfile "$dir/$port/redis.pid" --logfile "$dir/$port/redis.log"
    done
    for port in "${JK_CLUSTER_PORTS[@]}"; do
        for ((i = 0; i < 200; i++)); do
            [[ -s $dir/$port/redis.pid && $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]] && break
            sleep 0.05
        done
        [[ -s $dir/$port/redis.pid ]] || { jk__log "cluster node $port did not start"; return 1; }
        JK_CLUSTER_PIDS+=("$(<"$dir/$port/redis.pid")")
    done
    local hosts=()
    for port in "${JK_CLUSTER_PORTS[@]}"; do hosts+=("127.0.0.1:$port"); done
    if ! redis-cli --cluster create "${hosts[@]}" --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1; then
        jk__log "redis-cli --cluster create failed:"
        tail -n 20 "$dir/create.log" >&2
        return 1
    fi
    for port in "${JK_CLUSTER_PORTS[@]}"; do
        for ((i = 0; i < 400; i++)); do # up to 20 s
            redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' && break
            sleep 0.05
        done
    done
    JK_CLUSTER_URL="redis+cluster://$(IFS=,; echo "${hosts[*]}")"
}

jk_stop_redis_cluster() {
    local pid
    for pid in "${JK_CLUSTER_PIDS[@]}"; do jk__stop "$pid" redis-server TERM || true; done
    JK_CLUSTER_PIDS=()
}

jk_pg_bindir() {
    local candidate
    if [[ -x /usr/lib/postgresql/15/bin/initdb ]]; then
        echo /usr/lib/postgresql/15/bin
        return 0
    fi
    # Highest installed major version.
    candidate=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [[ -n $candidate && -x $candidate/initdb ]]; then
        echo "$candidate"
        return 0
    fi
    candidate=$(command -v initdb 2>/dev/null) || return 1
    dirname "$candidate"
}

# JK_PG_OPTIONS replaces the test defaults (no fsync: the tests' data is thrown away); benchmarks set it empty
# to measure PostgreSQL as shipped (durable commits).
jk_start_postgres() {
    local dir=${1:?jk_start_postgres DIR}
    local bindir
    bindir=$(jk_pg_bindir) || { jk__log "PostgreSQL (initdb) not found"; return 1; }
    mkdir -p "$dir"
    JK_PG_DIR=$(cd "$dir" && pwd)
    JK_PG_PORT=$(jk_free_port)
    JK_PG_PID=

    # initdb and pg_ctl refuse to run as root: run them as the 'postgres' user, which must own DIR
    # and be able to reach it (every parent directory needs o+x).
    local -a as_owner=()
    if [[ $(id -u) == 0 ]]; then
        chown postgres:postgres "$JK_PG_DIR"
        as_owner=(runuser -u postgres --)
        if ! runuser -u postgres -- test -w "$JK_PG_DIR"; then
            jk__log "user postgres cannot write $JK_PG_DIR; make its parent directories traversable (chmod o+x)"
            return 1
        fi
    fi

    if ! "${as_owner[@]}" "$bindir/initdb" -D "$JK_PG_DIR/data" -U postgres -A trust -E UTF8 --no-sync \
        >"$JK_PG_DIR/initdb.log" 2>&1; then
        jk__log "initdb failed; log tail:"
        tail -n 20 "$JK_PG_DIR/initdb.log" >&2
        return 1
    fi
    local status=0
    "${as_owner[@]}" "$bindir/pg_ctl" -D "$JK_PG_DIR/data" -l "$JK_PG_DIR/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $JK_PG_PORT -k $JK_PG_DIR ${JK_PG_OPTIONS-"-c fsync=off -c synchronous_commit=off -c full_page_writes=off"}" \
        start >/dev/null || status=$?
    # Record the PID even if pg_ctl gave up, so jk_stop_postgres can still stop the server.
    if [[ -s $JK_PG_DIR/data/postmaster.pid ]]; then
        JK_PG_PID=$(head -n 1 "$JK_PG_DIR/data/postmaster.pid")
    fi
    if ((status != 0)) || [[ -z $JK_PG_PID ]]; then
        jk__log "PostgreSQL on port $JK_PG_PORT did not start; log tail:"
        tail -n 20 "$JK_PG_DIR/server.log" >&2 2>/dev/null || true
        return 1
    fi
}

jk_stop_postgres() {
    jk__stop "${JK_PG_PID:-}" postgres INT || return 1
    JK_PG_PID=
}
