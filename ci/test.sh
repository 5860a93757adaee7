#!/usr/bin/env bash
# The whole test suite, as the README documents it and as .ci/run calls it:
# 1. unit tests of every crate, the criterion benches in test mode (each runs once),
#    and the Gherkin conformance suite against the in-process reference gateway;
# 2. the conformance suite a second time against the reference gateway started as a separate process from its
#    binary, reached only through --proxy-url/--admin-url: the path a real Kong is tested by, run on every CI run.
# 3. the same again with declarative provisioning (POST /config), the path for Kong DB-less, and once more
#    against the binary on a private PostgreSQL (KONG_DATABASE=postgres, Kong's traditional mode); then the
#    OpenID Connect scenarios with their sessions in a private Redis (session_storage: redis);
# 4. the suite against a JSON server that is not Kong: it must fail, with one line saying so.
# Before any of these, formatting (`cargo fmt --check`) and lints (`cargo clippy ... -D warnings`) must be clean.
# Fails if any step fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/setup.sh

# ---- 0. formatting and lints, first: they fail fastest ----
# rustfmt and clippy are rustup components; they cannot be installed offline, so a missing one is one clear line.
for component in fmt clippy; do
    if ! cargo "$component" --version >/dev/null 2>&1; then
        echo "ci/test.sh: 'cargo $component' is not available; install it with: rustup component add ${component/fmt/rustfmt}" >&2
        exit 1
    fi
done
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

cargo test --workspace --all-targets --locked "$@"

# ---- 2. against the gateway binary, as an external target ----
cargo build -p gateway --locked
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
gateway_bin="${target_dir:-target}/debug/gateway"
log_dir="${target_dir:-target}/conformance"
mkdir -p "$log_dir"

# A port nothing listens on (bash's /dev/tcp connect fails). The gateway binds it a moment later; if something
# else took it meanwhile the gateway exits and the loop below tries other ports.
free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

# Whether `GET /` of the Admin API on $1 answers 200 (plain bash: no curl needed).
admin_answers() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
        read -r -t 2 status_line <&3 || exit 1
        [[ "$status_line" == "HTTP/1.1 200"* ]]
    ) 2>/dev/null
}

gateway_pid=""
stop_gateway() {
    if [[ -n "$gateway_pid" ]]; then
        kill "$gateway_pid" 2>/dev/null || true
        wait "$gateway_pid" 2>/dev/null || true
        gateway_pid=""
    fi
}
trap stop_gateway EXIT

# Starts the gateway binary on free ports with the environment given as arguments (NAME=value ...); sets
# proxy_port, admin_port and gateway_pid. Polls the Admin API with a deadline (10 s), never a fixed sleep.
start_gateway() {
    local started="" attempt deadline
    for attempt in 1 2 3 4 5; do
        proxy_port="$(free_port)"
        admin_port="$(free_port)"
        [[ "$proxy_port" != "$admin_port" ]] || continue
        # No status listener (Kong's default is the fixed port 8007) and a private prefix (pid file, generated
        # certificates), so the run binds only the free ports above and leaves nothing behind.
        env KONG_STATUS_LISTEN=off KONG_PREFIX="$log_dir/prefix" "$@" "$gateway_bin" --proxy-listen "127.0.0.1:$proxy_port" --admin-listen "127.0.0.1:$admin_port" \
            >"$log_dir/gateway.log" 2>&1 &
        gateway_pid=$!
        deadline=$((SECONDS + 10))
        while ((SECONDS < deadline)) && kill -0 "$gateway_pid" 2>/dev/null; do
            if admin_answers "$admin_port"; then
                started=yes
                break
            fi
            sleep 0.05
        done
        [[ -n "$started" ]] && return 0
        echo "ci/test.sh: the gateway did not answer on 127.0.0.1:$admin_port (attempt $attempt):" >&2
        tail -n 5 "$log_dir/gateway.log" >&2 || true
        stop_gateway
    done
    echo "ci/test.sh: could not start $gateway_bin" >&2
    exit 1
}

start_gateway

echo "ci/test.sh: conformance suite against the gateway binary (proxy :$proxy_port, Admin API :$admin_port)"
cargo test -p steps --test conformance --locked -- \
    --proxy-url "http://127.0.0.1:$proxy_port" --admin-url "http://127.0.0.1:$admin_port" \
    --junit-report "$log_dir/junit-external.xml" --matrix-report "$log_dir/matrix-external.md"

# The same binary as a read-only-style target: every scenario provisioned by POST /config of its declarative
# document (Kong DB-less's way), one scenario at a time.
echo "ci/test.sh: conformance suite against the gateway binary, declarative provisioning (POST /config)"
cargo test -p steps --test conformance --locked -- \
    --proxy-url "http://127.0.0.1:$proxy_port" --admin-url "http://127.0.0.1:$admin_port" \
    --provisioning declarative \
    --junit-report "$log_dir/junit-declarative.xml" --matrix-report "$log_dir/matrix-declarative.md"

# ---- 3b. the same suite against the binary on PostgreSQL (KONG_DATABASE=postgres), Kong's traditional mode ----
# A private PostgreSQL from Debian's package (ci/setup.sh): initdb into a temporary directory, pg_ctl on a free
# loopback port, as the postgres user (PostgreSQL refuses root); stopped and removed at exit.
stop_gateway
pg_bin="$(find /usr/lib/postgresql -maxdepth 3 -name initdb -path '*/bin/*' 2>/dev/null | sort -V | tail -n 1)"
if [[ -z "$pg_bin" ]]; then
    echo "ci/test.sh: PostgreSQL's initdb not found under /usr/lib/postgresql; ci/setup.sh installs it" >&2
    exit 1
fi
pg_bin="$(dirname "$pg_bin")"
pg_dir="$(mktemp -d)"
as_postgres() {
    if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
stop_postgres() {
    as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
}
trap 'stop_gateway; stop_postgres' EXIT
[[ "$(id -u)" == 0 ]] && chown postgres:postgres "$pg_dir"
pg_port="$(free_port)"
as_postgres "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust -E UTF8 --no-sync >"$log_dir/initdb.log" 2>&1 ||
    { echo "ci/test.sh: initdb failed:" >&2; tail -n 5 "$log_dir/initdb.log" >&2; exit 1; }
if ! as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 30 \
    -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null; then
    echo "ci/test.sh: PostgreSQL did not start on 127.0.0.1:$pg_port:" >&2
    tail -n 5 "$pg_dir/server.log" >&2 || true
    exit 1
fi
as_postgres "$pg_bin/psql" -X -q -h "$pg_dir" -p "$pg_port" -U postgres -d postgres \
    -c "CREATE ROLE kong LOGIN" -c "CREATE DATABASE kong OWNER kong"
pg_env=(KONG_DATABASE=postgres KONG_PG_HOST=127.0.0.1 "KONG_PG_PORT=$pg_port" KONG_DB_UPDATE_FREQUENCY=1)
env "${pg_env[@]}" "$gateway_bin" migrations bootstrap >"$log_dir/migrations.log"
start_gateway "${pg_env[@]}"
echo "ci/test.sh: conformance suite against the gateway binary on PostgreSQL (proxy :$proxy_port, Admin API :$admin_port)"
cargo test -p steps --test conformance --locked -- \
    --proxy-url "http://127.0.0.1:$proxy_port" --admin-url "http://127.0.0.1:$admin_port" \
    --junit-report "$log_dir/junit-postgres.xml" --matrix-report "$log_dir/matrix-postgres.md"
stop_gateway
stop_postgres
trap stop_gateway EXIT

# ---- 3c. the OpenID Connect scenarios with their sessions in Redis (Kong EE's session_storage: redis) ----
# A private redis-server from Debian's package (ci/setup.sh) on a free loopback port, without persistence; the
# in-process reference gateway's openid-connect plugin is provisioned with session_storage: redis and this server
# (--oidc-redis). Only the @openid-connect scenarios run: the others have no openid-connect plugin.
redis_dir="$(mktemp -d)"
redis_port="$(free_port)"
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$redis_dir" \
    >"$log_dir/redis.log" 2>&1 &
redis_pid=$!
stop_redis() {
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    rm -rf "$redis_dir"
}
trap 'stop_gateway; stop_redis' EXIT
deadline=$((SECONDS + 10))
until (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null; do
    if ((SECONDS >= deadline)) || ! kill -0 "$redis_pid" 2>/dev/null; then
        echo "ci/test.sh: redis-server did not listen on 127.0.0.1:$redis_port:" >&2
        tail -n 5 "$log_dir/redis.log" >&2 || true
        exit 1
    fi
    sleep 0.05
done
echo "ci/test.sh: OpenID Connect scenarios with session_storage: redis (redis-server :$redis_port)"
cargo test -p steps --test conformance --locked -- --tags @openid-connect --oidc-redis "127.0.0.1:$redis_port" \
    --junit-report "$log_dir/junit-redis.xml" --matrix-report "$log_dir/matrix-redis.md"
# The sessions really went to Redis: it holds keys (RESP DBSIZE over bash's /dev/tcp, no redis-cli needed).
redis_keys="$(
    exec 3<>"/dev/tcp/127.0.0.1/$redis_port"
    printf '*1\r\n$6\r\nDBSIZE\r\n' >&3
    read -r -t 2 reply <&3
    echo "${reply//[$':\r']/}"
)"
if ! [[ "$redis_keys" =~ ^[0-9]+$ ]] || ((redis_keys == 0)); then
    echo "ci/test.sh: the OpenID Connect run left no session in Redis (DBSIZE '$redis_keys')" >&2
    exit 1
fi
echo "ci/test.sh: Redis holds $redis_keys session keys after the run"
stop_redis
trap stop_gateway EXIT

# ---- 4. a target that is not Kong must fail the run, with one line ----
# A plain JSON server (Python's http.server, serving {"hello":"world"} as its root): the preflight must refuse it.
stop_gateway
not_kong_dir="$(mktemp -d)"
echo '{"hello":"world"}' >"$not_kong_dir/index.html"
not_kong_port="$(free_port)"
python3 -m http.server "$not_kong_port" --bind 127.0.0.1 --directory "$not_kong_dir" >/dev/null 2>&1 &
not_kong_pid=$!
trap 'stop_gateway; kill "$not_kong_pid" 2>/dev/null || true; rm -rf "$not_kong_dir"' EXIT
deadline=$((SECONDS + 10))
until (exec 3<>"/dev/tcp/127.0.0.1/$not_kong_port") 2>/dev/null || ((SECONDS >= deadline)); do sleep 0.05; done
echo "ci/test.sh: conformance suite against a JSON server that is not Kong (must fail)"
if cargo test -p steps --test conformance --locked -- \
    --proxy-url "http://127.0.0.1:$not_kong_port" --admin-url "http://127.0.0.1:$not_kong_port" \
    --junit-report "$log_dir/junit-not-kong.xml" --matrix-report "$log_dir/matrix-not-kong.md" \
    >"$log_dir/not-kong.log" 2>&1; then
    echo "ci/test.sh: the suite passed against a server that is not Kong" >&2
    cat "$log_dir/not-kong.log" >&2
    exit 1
fi
if ! grep -q "is not a Kong-compatible Admin API" "$log_dir/not-kong.log"; then
    echo "ci/test.sh: the run against a non-Kong server failed without saying why:" >&2
    tail -n 5 "$log_dir/not-kong.log" >&2
    exit 1
fi
grep "is not a Kong-compatible Admin API" "$log_dir/not-kong.log"
echo "ci/test.sh: all runs passed"
