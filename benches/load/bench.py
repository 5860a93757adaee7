#!/usr/bin/env python3
"""Load benchmark of the reference gateway against nginx, measured the way DESIGN.md's figures were measured.

Run by `benches/load/run.sh` (which installs nginx-light and wrk and builds the release gateway), or directly:

    python3 benches/load/bench.py [--rounds 8] [--seconds 8] [--scenarios a,b] [--quick] [--full-scale] [--out DIR]

Layout: the server under test (the gateway, or nginx as a plain keep-alive reverse proxy) alone on CPU 1 with
`taskset -c 1`; wrk (`-t1 -c32`), the upstream nginx (`return 200`), the identity provider and the Admin API
writers on CPU 0. Each paired scenario alternates rounds with its baseline (order reversed every other round), so
each ratio compares two neighbouring runs; pairs with more than 5 % CPU steal (/proc/stat) are dropped. Every run
must have zero non-2xx responses and zero socket errors. CPU per request per process comes from
/proc/PID/stat utime+stime deltas; peak RSS from VmHWM. Results: OUT/results.md, OUT/results.json, OUT/plot.svg.
"""

import argparse
import datetime
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep benches/load free of __pycache__

from loadlib import configs, report, system
from loadlib.system import LOAD_CPU, SUT_CPU

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

PAIRED = ["plain", "floor", "key-auth", "session-cookie", "session-kong", "oidc-session", "admin-writers", "connections"]
SERIES = ["scale-routes", "scale-credentials", "scale-sessions"]

# Sizes of the scaling series: --quick, the default, and --full-scale (the sizes of the targets).
SIZES = {
    "quick": {"scale-routes": [10, 1000], "scale-credentials": [10, 10_000], "scale-sessions": [1000, 10_000]},
    "default": {
        "scale-routes": [10, 100, 1000, 10_000],
        "scale-credentials": [10, 1000, 100_000],
        "scale-sessions": [10_000, 100_000],
    },
    "full": {
        "scale-routes": [10, 100, 1000, 10_000],
        "scale-credentials": [10, 1000, 100_000, 1_000_000],
        "scale-sessions": [10_000, 100_000, 1_000_000],
    },
}

STEAL_LIMIT = 5.0
WRITERS = 4
HIGH_CONNECTIONS = 1024


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, help="rounds per scenario (default 8; 2 with --quick)")
    p.add_argument("--seconds", type=int, help="seconds per wrk run (default 8; 2 with --quick)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    p.add_argument("--scenarios", default="all",
                   help="comma-separated, from: " + ",".join(PAIRED + SERIES) + " (or all, scaling)")
    p.add_argument("--quick", action="store_true", help="short rounds and small scaling sizes (a smoke run)")
    p.add_argument("--full-scale", action="store_true",
                   help="scaling series up to the target sizes (1,000,000 credentials and sessions)")
    p.add_argument("--start-timeout", type=int, default=900,
                   help="seconds a gateway may take to load its config (a larger size of a series that takes "
                        "longer is reported as not run; default 900)")
    p.add_argument("--out", default=os.path.join(ROOT, "target", "load-bench"), help="results directory")
    p.add_argument("--publish", action="store_true",
                   help="also write benches/RESULTS.md and benches/RESULTS.svg (the committed run)")
    p.add_argument("--gateway-bin", default=os.path.join(ROOT, "target", "release", "gateway"))
    p.add_argument("--floor-bin", default=os.path.join(ROOT, "target", "release", "floor"),
                   help="the benches crate's floor binary (a bare hyper + tokio reverse proxy)")
    p.add_argument("--demo-bin", default=os.path.join(ROOT, "target", "release", "demo"),
                   help="the steps crate's demo binary (its identity provider serves the OpenID Connect scenario)")
    args = p.parse_args(argv)
    args.rounds = args.rounds or (2 if args.quick else 8)
    args.seconds = args.seconds or (2 if args.quick else 8)
    wanted = []
    for name in args.scenarios.split(","):
        name = name.strip()
        if name == "all":
            wanted += PAIRED + SERIES
        elif name == "scaling":
            wanted += SERIES
        elif name in PAIRED + SERIES:
            wanted.append(name)
        elif name:
            p.error(f"unknown scenario {name!r}")
    args.scenarios = [s for s in PAIRED + SERIES if s in wanted]
    args.sizes = SIZES["quick" if args.quick else "full" if args.full_scale else "default"]
    return args


class Bench:
    """One benchmark run: the shared upstream and nginx proxy, and the results collected so far."""

    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.procs = system.Processes(work)
        self.results = {"paired": {}, "series": {}, "not_run": {}, "memory": {}}
        self.upstream_port = system.free_port()
        self.nginx_port = system.free_port()
        _, self.upstream_pid = system.start_nginx(self.procs, "upstream", system.NGINX_UPSTREAM, LOAD_CPU,
                                                  port=self.upstream_port)
        _, self.nginx_pid = system.start_nginx(self.procs, "nginx", system.NGINX_PROXY, SUT_CPU,
                                               port=self.nginx_port, upstream=self.upstream_port)
        self.scripts = 0

    def log(self, message):
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    def script(self, headers, variants=None, limit=None):
        self.scripts += 1
        return system.wrk_script(os.path.join(self.work, f"wrk-{self.scripts}.lua"), headers, variants, limit)

    def gateway(self, name, doc):
        config = configs.write_config(self.work, name, doc)
        gw = system.Gateway(self.procs, self.args.gateway_bin, name, config, timeout=self.args.start_timeout)
        self.log(f"{name}: started in {gw.start_seconds:.1f} s, RSS {gw.rss_kib() / 1024:.1f} MiB")
        return gw

    def target(self, label, url, pid, script, connections=None, before=None, after=None):
        return {"label": label, "url": url, "pid": pid, "script": script,
                "connections": connections or self.args.connections, "before": before, "after": after}

    def nginx_target(self, script):
        return self.target("nginx", f"http://127.0.0.1:{self.nginx_port}", self.nginx_pid, script)

    def run(self, target, seconds):
        if target["before"]:
            target["before"]()
        try:
            result = system.run_wrk(target["url"], target["script"], seconds, target["connections"],
                                    {"server": target["pid"], "upstream": self.upstream_pid})
        finally:
            extra = target["after"]() if target["after"] else None
        if extra:
            result.update(extra)
        result.pop("output", None)
        return result

    def paired(self, name, title, base, test):
        """Alternating rounds of `base` and `test`; each round's two runs form one pair."""
        args = self.args
        warm = max(1, min(2, args.seconds))
        self.run(base, warm)
        self.run(test, warm)
        pairs = []
        for r in range(args.rounds):
            order = [("base", base), ("test", test)]
            if r % 2:
                order.reverse()
            runs = {key: self.run(t, args.seconds) for key, t in order}
            steal = max(runs["base"]["steal_percent"], runs["test"]["steal_percent"])
            pair = {"round": r, "first": order[0][0], "base": runs["base"], "test": runs["test"],
                    "steal_percent": steal, "dropped": steal > STEAL_LIMIT}
            pairs.append(pair)
            self.log(f"{name} round {r + 1}/{args.rounds}: {base['label']} {runs['base']['rps']:.0f} req/s, "
                     f"{test['label']} {runs['test']['rps']:.0f} req/s, ratio "
                     f"{runs['test']['rps'] / runs['base']['rps']:.3f}, steal {steal:.1f} %"
                     + (" (dropped)" if pair["dropped"] else ""))
        self.results["paired"][name] = {"title": title, "base": base["label"], "test": test["label"],
                                        "pairs": pairs}

    def series(self, name, title, gateways, scripts, extra):
        """Alternating rounds over the sizes of one scaling series (order reversed every other round)."""
        args = self.args
        sizes = sorted(gateways)
        targets = {n: self.target(f"{n:,}", gateways[n].url, gateways[n].pid, scripts[n]) for n in sizes}
        for n in sizes:
            self.run(targets[n], max(1, min(2, args.seconds)))
        rounds = []
        for r in range(args.rounds):
            order = sizes if r % 2 == 0 else list(reversed(sizes))
            runs = {n: self.run(targets[n], args.seconds) for n in order}
            steal = max(run["steal_percent"] for run in runs.values())
            rounds.append({"round": r, "runs": {str(n): runs[n] for n in sizes}, "steal_percent": steal,
                           "dropped": steal > STEAL_LIMIT})
            costs = ", ".join(f"{n:,}: {runs[n]['cpu_us_per_request']['server']:.1f} µs" for n in sizes)
            self.log(f"{name} round {r + 1}/{args.rounds}: {costs}, steal {steal:.1f} %")
        for n in sizes:
            extra.setdefault(n, {})["peak_rss_kib"] = gateways[n].peak_kib()
            extra[n]["rss_kib"] = gateways[n].rss_kib()
        self.results["series"][name] = {"title": title, "sizes": sizes, "rounds": rounds,
                                        "extra": {str(n): e for n, e in extra.items()}}

    # The scenarios.

    def scenario_plain(self):
        gw = self.gateway("plain", configs.plain(self.upstream_port))
        self.results["memory"]["idle_rss_kib"] = gw.rss_kib()
        script = self.script({})
        self.paired("plain", "gateway, no plugins", self.nginx_target(script),
                    self.target("gateway", gw.url, gw.pid, script))
        self.results["memory"]["plain_peak_rss_kib"] = gw.peak_kib()
        gw.stop()

    def scenario_floor(self):
        """The stack's floor: a bare hyper 1.x + tokio reverse proxy (benches/src/bin/floor.rs), pinned like the
        gateway. What it costs over nginx, the gateway cannot go below without leaving hyper."""
        if not os.access(self.args.floor_bin, os.X_OK):
            self.results["not_run"]["floor"] = (
                f"no floor binary at {self.args.floor_bin} (build it: cargo build --release -p benches --bin floor)")
            return
        port = system.free_port()
        proc = self.procs.spawn("floor", [self.args.floor_bin, "--listen", f"127.0.0.1:{port}",
                                          "--upstream", f"127.0.0.1:{self.upstream_port}"], SUT_CPU)
        try:
            url = f"http://127.0.0.1:{port}"
            system.wait_http(url + "/", timeout=20, proc=proc)
            script = self.script({})
            self.paired("floor", "bare hyper 1.x + tokio reverse proxy, no gateway logic (the stack's floor)",
                        self.nginx_target(script), self.target("floor", url, proc.pid, script))
            self.results["memory"]["floor_peak_rss_kib"] = system.status_kib(proc.pid, "VmHWM")
        finally:
            self.procs.stop(proc)

    def scenario_key_auth(self):
        gw = self.gateway("key-auth", configs.key_auth(self.upstream_port))
        script = self.script({"apikey": configs.KEY})
        self.check(gw.url, {"apikey": configs.KEY})
        self.paired("key-auth", "gateway, key-auth (apikey on every request)", self.nginx_target(script),
                    self.target("gateway", gw.url, gw.pid, script))
        gw.stop()

    def scenario_session(self, storage):
        name = f"session-{storage}"
        gw = self.gateway(name, configs.key_auth_session(self.upstream_port, storage))
        cookie = configs.login(gw.url + "/", headers={"apikey": configs.KEY})
        script = self.script({"Cookie": cookie})
        self.paired(name, f"gateway, key-auth + session (storage: {storage}), session cookie on every request",
                    self.nginx_target(script), self.target("gateway", gw.url, gw.pid, script))
        self.results["memory"][f"{name}_cookie_bytes"] = len(cookie)
        gw.stop()

    def scenario_oidc_session(self):
        if not os.access(self.args.demo_bin, os.X_OK):
            self.results["not_run"]["oidc-session"] = (
                f"no demo binary at {self.args.demo_bin} (build it: cargo build --release -p steps --bin demo)")
            return
        idp_port = system.free_port()
        demo = self.procs.spawn("demo", [
            self.args.demo_bin, "--idp-listen", f"127.0.0.1:{idp_port}",
            "--upstream-listen", f"127.0.0.1:{system.free_port()}",
            "--proxy-listen", f"127.0.0.1:{system.free_port()}",
            "--admin-listen", f"127.0.0.1:{system.free_port()}",
        ], LOAD_CPU, env={"RUST_LOG": "warn"})
        issuer = f"http://127.0.0.1:{idp_port}/realms/kong"
        try:
            system.wait_http(issuer + "/.well-known/openid-configuration", timeout=120)
            gw = self.gateway("oidc-session", configs.openid_connect(self.upstream_port, issuer))
            cookie = configs.login(gw.url + "/", auth=("john", "doe"))
            script = self.script({"Cookie": cookie})
            self.paired("oidc-session", "gateway, OpenID Connect session cookie (password grant login once)",
                        self.nginx_target(script), self.target("gateway", gw.url, gw.pid, script))
            self.results["memory"]["oidc-session_cookie_bytes"] = len(cookie)
            gw.stop()
        finally:
            self.procs.stop(demo)

    def scenario_admin_writers(self):
        gw = self.gateway("admin-writers", configs.key_auth_session(self.upstream_port, "cookie"))
        cookie = configs.login(gw.url + "/", headers={"apikey": configs.KEY})
        script = self.script({"Cookie": cookie})
        writers = configs.AdminWriters(gw.admin_port, WRITERS)
        os.sched_setaffinity(0, {int(LOAD_CPU)})
        started = {}

        def before():
            started["t"] = time.monotonic()
            writers.start()

        def after():
            writers.stop()
            elapsed = time.monotonic() - started["t"]
            return {"admin_writes": writers.writes, "admin_write_failures": writers.failures,
                    "admin_writes_per_second": writers.writes / elapsed}

        self.paired("admin-writers", f"gateway, key-auth + session (cookie), {WRITERS} Admin API writers vs idle",
                    self.target("idle", gw.url, gw.pid, script),
                    self.target(f"{WRITERS} writers", gw.url, gw.pid, script, before=before, after=after))
        gw.stop()

    def scenario_connections(self):
        gw = self.gateway("connections", configs.plain(self.upstream_port))
        script = self.script({})
        self.paired("connections", f"gateway, no plugins, {self.args.connections} vs {HIGH_CONNECTIONS} connections",
                    self.target(f"{self.args.connections} conns", gw.url, gw.pid, script),
                    self.target(f"{HIGH_CONNECTIONS} conns", gw.url, gw.pid, script, connections=HIGH_CONNECTIONS))
        gw.stop()

    def start_sizes(self, series, sizes, prefix, make_doc):
        """One gateway per size, smallest first; a size that does not start in time ends the series there (it is
        reported as not run, the smaller sizes are still measured)."""
        gateways = {}
        for n in sizes:
            try:
                gateways[n] = self.gateway(f"{prefix}-{n}", make_doc(n))
            except RuntimeError as e:
                self.results["not_run"][f"{series} {n:,}"] = f"the gateway did not start: {str(e).splitlines()[0]}"
                self.log(f"{series}: size {n:,} not run: {str(e).splitlines()[0]}")
                break
        if len(gateways) < 2:
            for gw in gateways.values():
                gw.stop()
            raise RuntimeError(f"{series}: fewer than two sizes started")
        return gateways

    def scenario_scale_routes(self):
        sizes = self.args.sizes["scale-routes"]
        scripts = {}
        gateways = self.start_sizes("scale-routes", sizes, "routes",
                                    lambda n: configs.many_routes(self.upstream_port, n))
        try:
            for n in gateways:
                variants = [(configs.route_path(i), {}) for i in configs.spread(n, 256)]
                self.check(gateways[n].url + variants[-1][0], {})
                scripts[n] = self.script({}, variants)
            extra = {n: {"start_seconds": gateways[n].start_seconds} for n in gateways}
            self.series("scale-routes", "routes (requests spread over 256 of them)", gateways, scripts, extra)
        finally:
            for gw in gateways.values():
                gw.stop()

    def scenario_scale_credentials(self):
        sizes = self.args.sizes["scale-credentials"]
        scripts = {}
        gateways = self.start_sizes("scale-credentials", sizes, "credentials",
                                    lambda n: configs.many_credentials(self.upstream_port, n))
        try:
            for n in gateways:
                variants = [("/", {"apikey": configs.credential_key(i)}) for i in configs.spread(n, 256)]
                self.check(gateways[n].url, variants[-1][1])
                scripts[n] = self.script({}, variants)
            extra = {n: {"start_seconds": gateways[n].start_seconds} for n in gateways}
            self.series("scale-credentials", "key-auth credentials (one consumer each; 256 keys in turn)",
                        gateways, scripts, extra)
        finally:
            for gw in gateways.values():
                gw.stop()

    def scenario_scale_sessions(self):
        sizes = self.args.sizes["scale-sessions"]
        # The size of one session's data: a cookie-storage cookie carries it, a kong-storage cookie does not.
        probe = self.gateway("session-size-probe", configs.key_auth_session(self.upstream_port, "cookie"))
        cookie_storage = configs.login(probe.url + "/", headers={"apikey": configs.KEY})
        probe.stop()
        gateways, scripts, extra = {}, {}, {}
        try:
            for n in sizes:
                gw = self.gateway(f"sessions-{n}", configs.key_auth_session(self.upstream_port, "kong"))
                gateways[n] = gw
                cookies = [configs.login(gw.url + "/", headers={"apikey": configs.KEY}) for _ in range(64)]
                rss_before = gw.rss_kib()
                made, seconds = self.create_sessions(gw, n - len(cookies))
                rss_after = gw.rss_kib()
                data = len(cookie_storage) - len(cookies[0]) + 43 + 4  # payload + row key + ["…"]
                extra[n] = {"start_seconds": gw.start_seconds, "created": made + len(cookies),
                            "create_seconds": seconds, "rss_before_kib": rss_before, "rss_after_kib": rss_after,
                            "bytes_per_session": (rss_after - rss_before) * 1024 / max(made, 1),
                            "data_bytes_per_session": data}
                self.log(f"sessions-{n}: {made:,} sessions in {seconds:.0f} s, "
                         f"{extra[n]['bytes_per_session']:.0f} bytes each (data ≈ {data})")
                scripts[n] = self.script({}, [("/", {"Cookie": c}) for c in cookies])
            self.series("scale-sessions", "stored sessions (storage: kong; 64 session cookies in turn)",
                        gateways, scripts, extra)
        finally:
            for gw in gateways.values():
                gw.stop()

    def create_sessions(self, gw, count):
        """`count` logins through the proxy (wrk, one new stored session each); returns (count, seconds)."""
        if count <= 0:
            return 0, 0.0
        script = self.script({}, [("/", {"apikey": configs.KEY})], limit=count)
        started = time.monotonic()
        out = subprocess.run(["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{self.args.connections}", "-d86400s",
                              "-s", script, gw.url], capture_output=True, text=True, timeout=86400)
        if "LIMIT_REACHED bad=0" not in out.stdout:
            raise RuntimeError(f"creating sessions failed (non-200 logins or an early stop):\n{out.stdout}{out.stderr}")
        return count, time.monotonic() - started

    def check(self, url, headers):
        status, _ = configs.get(url, headers=headers)
        if status != 200:
            raise RuntimeError(f"{url} answered {status}, expected 200")


def main(argv):
    args = parse_args(argv)
    if not os.access(args.gateway_bin, os.X_OK):
        sys.exit(f"no gateway binary at {args.gateway_bin}: cargo build --release -p gateway")
    system.raise_nofile()
    # The driver itself stays off the server's CPU.
    os.sched_setaffinity(0, {int(LOAD_CPU)})
    os.makedirs(args.out, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    work = tempfile.mkdtemp(prefix="load-bench-")
    bench = Bench(args, work)
    failed = {}
    try:
        for name in args.scenarios:
            bench.log(f"scenario {name}")
            try:
                if name.startswith("session-"):
                    bench.scenario_session(name.split("-", 1)[1])
                else:
                    getattr(bench, "scenario_" + name.replace("-", "_"))()
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                bench.log(f"{name} failed: {e}")
                failed[name] = str(e)
                bench.results["not_run"][name] = f"failed: {e}"
    finally:
        bench.results["memory"]["nginx_peak_rss_kib"] = system.status_kib(bench.nginx_pid, "VmHWM")
        bench.procs.stop_all()
        if failed:
            bench.log(f"process logs and configs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    meta = {
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "machine": system.machine(),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "command": " ".join([os.environ.get("BENCH_ENTRY", "python3 benches/load/bench.py"),
                             *(shlex.quote(a) for a in argv)]),
        "rounds": args.rounds,
        "seconds": args.seconds,
        "connections": args.connections,
        "quick": args.quick,
        "full_scale": args.full_scale,
        "sizes": args.sizes,
        "scenarios": args.scenarios,
        "steal_limit": STEAL_LIMIT,
        "gateway_bin": shown_path(args.gateway_bin),
    }
    bench.results["meta"] = meta
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(bench.results, f, indent=1)
    summary = report.write(bench.results, args.out)
    if args.publish:
        report.write(bench.results, os.path.join(ROOT, "benches"), "RESULTS.md", "RESULTS.svg")
    print(summary)
    print(f"results: {os.path.join(args.out, 'results.md')}, {os.path.join(args.out, 'plot.svg')}")
    return 1 if failed else 0


def shown_path(path):
    """A path relative to the repository when it is inside it."""
    path = os.path.abspath(path)
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path


def git(*argv):
    out = subprocess.run(["git", "-C", ROOT, *argv], capture_output=True, text=True)
    return out.stdout.strip()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
