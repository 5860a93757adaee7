#!/usr/bin/env bash
# Load benchmark: the reference gateway with a session check on every request versus nginx as a plain
# keep-alive reverse proxy, side by side in one run, against the same upstream (nginx answering 200).
#
# Target (DESIGN.md "Performance is a design constraint"): gateway-with-session >= 0.9x nginx-plain-proxy.
# Figures are reported as ratios measured in the same run: the machine is shared and noisy.
#
#   benches/load/run.sh [duration-seconds] [connections]
#
# Installs nginx-light and wrk from Debian when missing (root). Binds 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION="${1:-10}"
CONNECTIONS="${2:-32}"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null; rm -rf "$WORK"' EXIT

need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v wrk >/dev/null || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UPSTREAM_PORT=$(free_port); NGINX_PORT=$(free_port); GW_PORT=$(free_port); GW_ADMIN=$(free_port); GW_PLAIN=$(free_port); GW_PLAIN_ADMIN=$(free_port)

cat > "$WORK/nginx.conf" <<NGINX
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    upstream backend { server 127.0.0.1:$UPSTREAM_PORT; keepalive 64; }
    server {
        listen 127.0.0.1:$UPSTREAM_PORT;
        location / { default_type application/json; return 200 '{"ok":true}'; }
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
NGINX
"$NGINX" -c "$WORK/nginx.conf" -p "$WORK" -g 'daemon on;'

cargo build --release -q -p gateway
GATEWAY=target/release/gateway

cat > "$WORK/session.yaml" <<YAML
_format_version: "3.0"
services:
  - name: bench
    url: http://127.0.0.1:$UPSTREAM_PORT
    routes: [{ name: bench, paths: [/] }]
    plugins:
      - name: session
        config: { secret: load-benchmark-secret, cookie_secure: false }
      - name: key-auth
        config: { anonymous: 81823632-10c0-4098-a4f7-31062520c1e6 }
consumers:
  - username: alex
    keyauth_credentials: [{ key: hello_world }]
  - username: anonymous_users
    id: 81823632-10c0-4098-a4f7-31062520c1e6
plugins:
  - name: request-termination
    service: bench
    consumer: anonymous_users
    config: { status_code: 403, message: Forbidden }
YAML
cat > "$WORK/plain.yaml" <<YAML
_format_version: "3.0"
services:
  - name: bench
    url: http://127.0.0.1:$UPSTREAM_PORT
    routes: [{ name: bench, paths: [/] }]
YAML

RUST_LOG=warn "$GATEWAY" --proxy-listen 127.0.0.1:$GW_PORT --admin-listen 127.0.0.1:$GW_ADMIN -c "$WORK/session.yaml" &
RUST_LOG=warn "$GATEWAY" --proxy-listen 127.0.0.1:$GW_PLAIN --admin-listen 127.0.0.1:$GW_PLAIN_ADMIN -c "$WORK/plain.yaml" &
for port in $GW_PORT $GW_PLAIN $NGINX_PORT; do
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done

COOKIE=$(curl -s -D - -o /dev/null -H 'apikey: hello_world' "http://127.0.0.1:$GW_PORT/" | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -1)
[ -n "$COOKIE" ] || { echo "no session cookie from the gateway" >&2; exit 1; }
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $COOKIE" "http://127.0.0.1:$GW_PORT/")
[ "$status" = 200 ] || { echo "cookie-only request got $status, expected 200" >&2; exit 1; }

rps() { wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "$@" | awk '/Requests\/sec/ {print $2}'; }
# Every request carries the same Cookie header, so all three parse the same bytes.
# Warm up, then measure in alternation so both see the same machine state.
rps -d2s "http://127.0.0.1:$NGINX_PORT/" >/dev/null; rps -d2s -H "Cookie: $COOKIE" "http://127.0.0.1:$GW_PORT/" >/dev/null
NGINX_RPS=$(rps -H "Cookie: $COOKIE" "http://127.0.0.1:$NGINX_PORT/")
GW_RPS=$(rps -H "Cookie: $COOKIE" "http://127.0.0.1:$GW_PORT/")
PLAIN_RPS=$(rps -H "Cookie: $COOKIE" "http://127.0.0.1:$GW_PLAIN/")

python3 - "$NGINX_RPS" "$GW_RPS" "$PLAIN_RPS" <<'PY'
import sys
nginx, gw, plain = map(float, sys.argv[1:])
print(f"nginx plain proxy          {nginx:10.0f} req/s  1.00x")
print(f"gateway, session + key-auth {gw:9.0f} req/s  {gw / nginx:.2f}x  (target >= 0.90x)")
print(f"gateway, no plugins        {plain:10.0f} req/s  {plain / nginx:.2f}x")
PY
