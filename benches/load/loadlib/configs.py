"""Declarative configs (`kong.yml` as JSON) for each load-benchmark scenario, and the clients that get a session
cookie or drive the Admin API beside the traffic.

Runs inside `benches/load/bench.py` before and during measurements. The session configs are Kong's how-to
"Authenticate Consumers with the Key Auth and Sessions plugins" (`fixtures/config/key-auth-session.yaml`); the
OpenID Connect one is the openid-connect part of `fixtures/config/demo.yaml`.
"""

import base64
import http.client
import json
import os
import threading
import urllib.error
import urllib.request

ANONYMOUS = "81823632-10c0-4098-a4f7-31062520c1e6"
KEY = "hello_world"
SESSION_SECRET = "load-benchmark-secret-0123456789abcdef"


def write_config(work, name, doc):
    """Writes a declarative config as JSON (the gateway reads JSON when the file starts with `{`)."""
    path = os.path.join(work, name + ".json")
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    return path


def service(upstream_port, routes=None, plugins=None):
    """The one benchmark service, proxying to the upstream nginx."""
    return {
        "name": "bench",
        "url": f"http://127.0.0.1:{upstream_port}",
        "routes": routes if routes is not None else [{"name": "bench", "paths": ["/"]}],
        "plugins": plugins or [],
    }


def plain(upstream_port):
    """No plugins."""
    return {"_format_version": "3.0", "services": [service(upstream_port)]}


def key_auth(upstream_port):
    """key-auth alone; every request carries `apikey`."""
    return {
        "_format_version": "3.0",
        "services": [service(upstream_port, plugins=[{"name": "key-auth", "config": {"key_names": ["apikey"]}}])],
        "consumers": [{"username": "alex", "keyauth_credentials": [{"key": KEY}]}],
    }


def key_auth_session(upstream_port, storage):
    """The documented key-auth + session flow: anonymous consumer, request-termination 403 for it, session with
    `storage` (`cookie` or `kong`)."""
    return {
        "_format_version": "3.0",
        "services": [service(upstream_port, plugins=[
            {"name": "key-auth", "config": {"key_names": ["apikey"], "anonymous": ANONYMOUS}},
            {"name": "session", "config": {"storage": storage, "cookie_secure": False, "secret": SESSION_SECRET}},
        ])],
        "consumers": [
            {"username": "alex", "keyauth_credentials": [{"key": KEY}]},
            {"username": "anonymous_users", "id": ANONYMOUS},
        ],
        "plugins": [{
            "name": "request-termination",
            "service": "bench",
            "consumer": "anonymous_users",
            "config": {"status_code": 403, "message": "Forbidden"},
        }],
    }


def openid_connect(upstream_port, issuer):
    """demo.yaml's OpenID Connect flow: password grant + session, against the embedded identity provider."""
    return {
        "_format_version": "3.0",
        "services": [service(upstream_port, plugins=[{
            "name": "openid-connect",
            "config": {
                "issuer": issuer,
                "client_id": ["kong"],
                "client_secret": ["kong-client-secret-for-tests-only"],
                "client_auth": ["client_secret_post"],
                "auth_methods": ["session", "password"],
                "session_cookie_secure": False,
                "session_secret": "load-benchmark-oidc-secret-0123456789abcdef",
            },
        }])],
    }


def route_path(i):
    """The path of route `i` of the routes series; fixed width, so no path is a prefix of another."""
    return f"/route-{i:07d}"


def many_routes(upstream_port, n):
    """`n` routes on one service, each with its own prefix path."""
    routes = [{"name": f"r{i}", "paths": [route_path(i)]} for i in range(n)]
    return {"_format_version": "3.0", "services": [service(upstream_port, routes=routes)]}


def credential_key(i):
    """The key-auth key of consumer `i` of the credentials series."""
    return f"key-{i:08d}"


def many_credentials(upstream_port, n):
    """`n` consumers, each with one key-auth key; key-auth on the service."""
    consumers = [{"username": f"c{i}", "keyauth_credentials": [{"key": credential_key(i)}]} for i in range(n)]
    return {
        "_format_version": "3.0",
        "services": [service(upstream_port, plugins=[{"name": "key-auth", "config": {"key_names": ["apikey"]}}])],
        "consumers": consumers,
    }


def spread(n, count):
    """Up to `count` indexes spread evenly over 0..n-1 (first and last included)."""
    if n <= count:
        return list(range(n))
    return sorted({round(i * (n - 1) / (count - 1)) for i in range(count)})


def get(url, headers=None, auth=None):
    """One GET; returns (status, list of Set-Cookie values)."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return response.status, response.headers.get_all("Set-Cookie") or []
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get_all("Set-Cookie") or []


def cookie_header(set_cookies):
    """The `Cookie` header a browser would send back for these Set-Cookie values (name=value pairs)."""
    pairs = [c.split(";", 1)[0] for c in set_cookies]
    return "; ".join(p for p in pairs if p.split("=", 1)[1:] != [""])


def login(url, headers=None, auth=None):
    """Logs in once and checks the cookie alone is accepted; returns the Cookie header."""
    status, set_cookies = get(url, headers=headers, auth=auth)
    if status != 200 or not set_cookies:
        raise RuntimeError(f"login at {url} gave {status} and {len(set_cookies)} cookie(s)")
    cookie = cookie_header(set_cookies)
    status, _ = get(url, headers={"Cookie": cookie})
    if status != 200:
        raise RuntimeError(f"cookie-only request to {url} gave {status}, expected 200")
    return cookie


class AdminWriters:
    """`count` threads writing through the Admin API in a loop (create a consumer, give it a key-auth key,
    delete it), each on its own keep-alive connection, until stopped. Counts writes and failed writes."""

    def __init__(self, admin_port, count):
        self.admin_port = admin_port
        self.count = count
        self.writes = 0
        self.failures = 0
        self.stopping = threading.Event()
        self.threads = []
        self.lock = threading.Lock()

    def start(self):
        """Starts the writers."""
        self.stopping.clear()
        self.writes = self.failures = 0
        self.threads = [threading.Thread(target=self.loop, args=(i,), daemon=True) for i in range(self.count)]
        for t in self.threads:
            t.start()

    def stop(self):
        """Stops the writers and waits for them."""
        self.stopping.set()
        for t in self.threads:
            t.join()

    def loop(self, writer):
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=30)
        n = 0
        while not self.stopping.is_set():
            name = f"writer-{writer}-{n % 16}"
            steps = [
                ("PUT", f"/consumers/{name}", {"custom_id": f"{name}-{n}"}),
                ("POST", f"/consumers/{name}/key-auth", {"key": f"{name}-{n}"}),
                ("DELETE", f"/consumers/{name}", None),
            ]
            for method, path, body in steps:
                ok = self.call(conn, method, path, body)
                with self.lock:
                    self.writes += 1
                    self.failures += 0 if ok else 1
                if not ok:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=30)
            n += 1
        conn.close()

    @staticmethod
    def call(conn, method, path, body):
        try:
            data = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if data else {}
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            response.read()
            return 200 <= response.status < 300
        except (OSError, http.client.HTTPException):
            return False
