"""Turns the load benchmark's raw rounds into figures, PASS/FAIL lines against DESIGN.md's targets, a Markdown
report and an SVG plot.

Runs at the end of `benches/load/bench.py` (and alone: `python3 -m loadlib.report results.json OUTDIR` from
`benches/load`, to redo the report of a saved run).
"""

import json
import os
import statistics
import sys

from . import plot

MIB = 1024.0


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values):
    """(median, min, max) of the values, or Nones."""
    values = [v for v in values if v is not None]
    if not values:
        return None, None, None
    return statistics.median(values), min(values), max(values)


def run_ok(run):
    return run["non_2xx"] == 0 and run["socket_errors"] == 0


def summarize_paired(result):
    """Medians of the kept pairs: the test's figures, the base's, and the paired ratios with their spread."""
    kept = [p for p in result["pairs"] if not p["dropped"]]
    all_runs = [p[k] for p in result["pairs"] for k in ("base", "test")]
    side = {}
    for key in ("base", "test"):
        runs = [p[key] for p in kept]
        side[key] = {
            "rps": median(r["rps"] for r in runs),
            "p50_us": median(r["p50_us"] for r in runs),
            "p99_us": median(r["p99_us"] for r in runs),
            "p999_us": median(r["p999_us"] for r in runs),
            "cpu_server": median(r["cpu_us_per_request"].get("server") for r in runs),
            "cpu_upstream": median(r["cpu_us_per_request"].get("upstream") for r in runs),
            "cpu_wrk": median(r["cpu_us_per_request"].get("wrk") for r in runs),
            "writes_per_second": median(r.get("admin_writes_per_second") for r in runs),
            "write_failures": sum(r.get("admin_write_failures", 0) for r in runs),
        }
    return {
        "kept": len(kept),
        "dropped": len(result["pairs"]) - len(kept),
        "non_2xx": sum(r["non_2xx"] for r in all_runs),
        "socket_errors": sum(r["socket_errors"] for r in all_runs),
        "clean": all(run_ok(r) for r in all_runs),
        "rps_ratio": spread(p["test"]["rps"] / p["base"]["rps"] for p in kept),
        "p99_ratio": spread(p["test"]["p99_us"] / max(p["base"]["p99_us"], 1) for p in kept),
        "cpu_ratio": spread(ratio(p["test"]["cpu_us_per_request"].get("server"),
                                  p["base"]["cpu_us_per_request"].get("server")) for p in kept),
        "base": side["base"],
        "test": side["test"],
        "base_label": result["base"],
    }


def ratio(a, b):
    return None if a is None or not b else a / b


def summarize_series(result):
    """Per size: median throughput, latency and server CPU per request; the largest/smallest cost ratio."""
    kept = [r for r in result["rounds"] if not r["dropped"]]
    all_runs = [run for r in result["rounds"] for run in r["runs"].values()]
    sizes = [str(n) for n in result["sizes"]]
    per_size = {}
    for n in sizes:
        runs = [r["runs"][n] for r in kept]
        per_size[n] = {
            "rps": median(r["rps"] for r in runs),
            "p99_us": median(r["p99_us"] for r in runs),
            "cpu_server": median(r["cpu_us_per_request"].get("server") for r in runs),
            **result["extra"].get(n, {}),
        }
    small, large = sizes[0], sizes[-1]
    return {
        "kept": len(kept),
        "dropped": len(result["rounds"]) - len(kept),
        "clean": all(run_ok(r) for r in all_runs),
        "non_2xx": sum(r["non_2xx"] for r in all_runs),
        "socket_errors": sum(r["socket_errors"] for r in all_runs),
        "sizes": sizes,
        "per_size": per_size,
        "cost_ratio": spread(ratio(r["runs"][large]["cpu_us_per_request"].get("server"),
                                   r["runs"][small]["cpu_us_per_request"].get("server")) for r in kept),
        "rps_ratio": spread(ratio(r["runs"][large]["rps"], r["runs"][small]["rps"]) for r in kept),
    }


# Target sizes of the scaling series (DESIGN.md / issue 9): smallest -> largest.
SERIES_TARGET_RANGE = {"scale-routes": (10, 10_000), "scale-credentials": (10, 1_000_000),
                       "scale-sessions": (10_000, 1_000_000)}


def targets(results, paired, series):
    """(target, verdict, measured) rows; verdict is PASS, FAIL or NOT RUN (with why)."""
    rows = []

    def add(label, ok, measured, why_not=None):
        if why_not:
            rows.append((label, "NOT RUN", why_not))
        else:
            rows.append((label, "PASS" if ok else "FAIL", measured))

    def missing(name):
        if name in paired and paired[name]["kept"] == 0:
            return "every pair dropped for CPU steal"
        if name in paired or name in series:
            return None
        return results["not_run"].get(name, "not selected")

    def dirty(name):
        s = paired.get(name) or series.get(name)
        return "" if s["clean"] else f"; {s['non_2xx']} non-2xx, {s['socket_errors']} socket errors"

    for storage in ("cookie", "kong"):
        name = f"session-{storage}"
        why = missing(name)
        if why:
            add(f"session ({storage}) ≥ 0.90 × nginx RPS, p99 ≤ 1.25 × nginx p99", False, "", why)
            continue
        s = paired[name]
        ok = s["clean"] and s["rps_ratio"][0] >= 0.90 and s["p99_ratio"][0] <= 1.25
        add(f"session ({storage}) ≥ 0.90 × nginx RPS, p99 ≤ 1.25 × nginx p99", ok,
            f"{fmt_spread(s['rps_ratio'])} RPS, {fmt_spread(s['p99_ratio'])} p99" + dirty(name))
    why = missing("plain")
    if why:
        add("no plugins ≥ 1.0 × nginx RPS", False, "", why)
    else:
        s = paired["plain"]
        add("no plugins ≥ 1.0 × nginx RPS", s["clean"] and s["rps_ratio"][0] >= 1.0,
            f"{fmt_spread(s['rps_ratio'])}" + dirty("plain"))
    why = missing("floor")
    label = "(bound) bare hyper + tokio proxy ≥ 1.0 × nginx RPS: the no-plugins target is reachable on hyper"
    if why:
        add(label, False, "", why)
    else:
        s = paired["floor"]
        measured = f"{fmt_spread(s['rps_ratio'])}" + dirty("floor")
        if "plain" in paired:
            measured += (f"; gateway no plugins / floor {paired['plain']['rps_ratio'][0] / s['rps_ratio'][0]:.3f}, "
                         f"CPU µs/req {fmt(paired['plain']['test']['cpu_server'], 1)} vs "
                         f"{fmt(s['test']['cpu_server'], 1)} (nginx {fmt(s['base']['cpu_server'], 1)})")
        add(label, s["clean"] and s["rps_ratio"][0] >= 1.0, measured)
    why = missing("oidc-session") or missing("session-cookie")
    label = "OpenID Connect session ≥ 0.95 × key-auth session (cookie) RPS"
    if why:
        add(label, False, "", why)
    else:
        o, k = paired["oidc-session"]["rps_ratio"][0], paired["session-cookie"]["rps_ratio"][0]
        add(label, paired["oidc-session"]["clean"] and o / k >= 0.95,
            f"{o / k:.3f} ({o:.3f} vs {k:.3f} of nginx)" + dirty("oidc-session"))
    why = missing("admin-writers")
    label = "4 Admin API writers: ≥ 0.8 × idle RPS, p99 ≤ 2 × idle"
    if why:
        add(label, False, "", why)
    else:
        s = paired["admin-writers"]
        writes = s["test"]["writes_per_second"]
        add(label, s["clean"] and s["rps_ratio"][0] >= 0.8 and s["p99_ratio"][0] <= 2.0,
            f"{fmt_spread(s['rps_ratio'])} RPS, {fmt_spread(s['p99_ratio'])} p99, "
            f"{writes or 0:.0f} writes/s ({s['test']['write_failures']} failed)" + dirty("admin-writers"))
    for name, (lo, hi) in SERIES_TARGET_RANGE.items():
        label = f"{name}: cost ≤ 1.5 × from {lo:,} to {hi:,}"
        why = missing(name)
        if why:
            add(label, False, "", why)
            continue
        s = series[name]
        if s["kept"] == 0:
            add(label, False, "", "every round dropped for CPU steal")
            continue
        sizes = [int(n) for n in s["sizes"]]
        partial = "" if sizes[0] <= lo and sizes[-1] >= hi else \
            f" (PARTIAL: sizes {sizes[0]:,} to {sizes[-1]:,} run, not the target range)"
        ok = s["clean"] and s["cost_ratio"][0] <= 1.5
        rows.append((label, ("PASS" if ok else "FAIL") + (" (partial)" if partial else ""),
                     f"{fmt_spread(s['cost_ratio'])}{partial}" + dirty(name)))
    label = "memory ≤ 300 bytes per stored session beyond its data"
    if "scale-sessions" in series:
        per = series["scale-sessions"]["per_size"]
        big = per[series["scale-sessions"]["sizes"][-1]]
        beyond = big["bytes_per_session"] - big["data_bytes_per_session"]
        add(label, beyond <= 300, f"{beyond:.0f} bytes beyond ≈ {big['data_bytes_per_session']} data "
            f"({big['bytes_per_session']:.0f} gross, {int(series['scale-sessions']['sizes'][-1]):,} sessions)")
    else:
        add(label, False, "", missing("scale-sessions"))
    label = "idle RSS ≤ 30 MiB (no plugins, after start)"
    idle = results["memory"].get("idle_rss_kib")
    if idle is None:
        add(label, False, "", missing("plain") or "not measured")
    else:
        add(label, idle <= 30 * 1024, f"{idle / MIB:.1f} MiB")
    why = missing("connections")
    label = "32 → 1,024 connections: RPS within 10 %, no errors"
    if why:
        add(label, False, "", why)
    else:
        s = paired["connections"]
        add(label, s["clean"] and abs(s["rps_ratio"][0] - 1) <= 0.10,
            f"{fmt_spread(s['rps_ratio'])}" + dirty("connections"))
    return rows


def fmt_spread(s, digits=3):
    if s[0] is None:
        return "n/a"
    return f"{s[0]:.{digits}f} [{s[1]:.{digits}f}–{s[2]:.{digits}f}]"


def fmt(v, digits=0, unit=""):
    return "–" if v is None else f"{v:,.{digits}f}{unit}"


def markdown(results, paired, series, rows, svg_name):
    meta = results["meta"]
    m = meta["machine"]
    out = [
        "# Load benchmark results",
        "",
        f"Run {meta['started']} at commit `{meta['commit']}`" + (" (with local changes)" if meta["dirty"] else "")
        + f", `{meta['gateway_bin']}`.",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['kernel']}, virtualisation: "
        f"{m['virtualisation']}.",
        "",
        f"Command: `{meta['command']}`",
        "",
        f"Method: the server under test alone on CPU 1 (`taskset -c 1`); wrk `-t1 -c{meta['connections']}`, the "
        f"upstream nginx (`return 200`), the identity provider and the Admin API writers on CPU 0. "
        f"{meta['rounds']} rounds × {meta['seconds']} s per scenario, order reversed every other round; each "
        f"ratio pairs two neighbouring runs. Pairs with more than {meta['steal_limit']:.0f} % CPU steal "
        "(/proc/stat) are dropped. Ratios are given as median [min–max] over the kept pairs. Latency in µs "
        "(wrk's `done()` hook); CPU µs per request from /proc/PID/stat utime+stime over the run.",
        "",
    ]
    if meta["quick"]:
        out += ["**Quick run** (`--quick`): short rounds and small scaling sizes; a smoke test, not a "
                "measurement.", ""]
    out += ["## Targets", "", "| target | verdict | measured |", "|---|---|---|"]
    out += [f"| {t} | {v} | {m} |" for t, v, m in rows]
    out += ["", "## Paired scenarios", "",
            "| scenario | baseline | RPS | baseline RPS | RPS ratio | p50 / p99 / p99.9 µs | baseline p50 / p99 / "
            "p99.9 µs | p99 ratio | CPU µs/req (server, upstream, wrk) | baseline CPU µs/req | pairs kept / "
            "dropped | non-2xx |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in paired.items():
        r = results["paired"][name]
        b, t = s["base"], s["test"]
        out.append(
            f"| {name}: {r['title']} | {r['base']} | {fmt(t['rps'])} | {fmt(b['rps'])} | "
            f"{fmt_spread(s['rps_ratio'])} | {fmt(t['p50_us'])} / {fmt(t['p99_us'])} / {fmt(t['p999_us'])} | "
            f"{fmt(b['p50_us'])} / {fmt(b['p99_us'])} / {fmt(b['p999_us'])} | {fmt_spread(s['p99_ratio'])} | "
            f"{fmt(t['cpu_server'], 1)}, {fmt(t['cpu_upstream'], 1)}, {fmt(t['cpu_wrk'], 1)} | "
            f"{fmt(b['cpu_server'], 1)}, {fmt(b['cpu_upstream'], 1)}, {fmt(b['cpu_wrk'], 1)} | "
            f"{s['kept']} / {s['dropped']} | {s['non_2xx'] + s['socket_errors']} |")
    for name, s in series.items():
        r = results["series"][name]
        out += ["", f"## Scaling: {name}, {r['title']}", "",
                f"Server CPU per request, largest / smallest size: {fmt_spread(s['cost_ratio'])}; RPS "
                f"{fmt_spread(s['rps_ratio'])}. Rounds kept / dropped: {s['kept']} / {s['dropped']}; non-2xx and "
                f"socket errors: {s['non_2xx'] + s['socket_errors']}.", "",
                "| size | RPS | p99 µs | server CPU µs/req | start s | RSS MiB | peak RSS MiB | bytes / stored "
                "session (≈ data) |", "|---|---|---|---|---|---|---|---|"]
        for n in s["sizes"]:
            p = s["per_size"][n]
            per_session = "–" if "bytes_per_session" not in p else \
                f"{p['bytes_per_session']:.0f} (≈ {p['data_bytes_per_session']})"
            out.append(f"| {int(n):,} | {fmt(p['rps'])} | {fmt(p['p99_us'])} | {fmt(p['cpu_server'], 1)} | "
                       f"{fmt(p.get('start_seconds'), 1)} | {fmt(kib(p.get('rss_kib')), 1)} | "
                       f"{fmt(kib(p.get('peak_rss_kib')), 1)} | {per_session} |")
    mem = results["memory"]
    out += ["", "## Memory", "",
            f"- gateway with no plugins: idle RSS {fmt(kib(mem.get('idle_rss_kib')), 1)} MiB, peak "
            f"{fmt(kib(mem.get('plain_peak_rss_kib')), 1)} MiB",
            f"- nginx proxy worker: peak RSS {fmt(kib(mem.get('nginx_peak_rss_kib')), 1)} MiB"]
    if mem.get("floor_peak_rss_kib") is not None:
        out.append(f"- bare hyper + tokio proxy (floor): peak RSS {fmt(kib(mem['floor_peak_rss_kib']), 1)} MiB")
    if "scale-sessions" in series:
        out.append("- bytes per stored session: RSS growth over the sessions created by logins through the "
                   "proxy; its data ≈ the cookie-storage payload + the row key (43) + 4, estimated from the "
                   "cookie sizes")
    if results["not_run"]:
        out += ["", "## Not run", ""]
        out += [f"- {name}: {why}" for name, why in results["not_run"].items()]
    out += ["", f"![RPS ratio to baseline per scenario; CPU per request against size]({svg_name})", "",
            f"Plot: `{svg_name}` (RPS ratio to the baseline per scenario; server CPU per request against size for "
            "the scaling series). Raw rounds: `results.json` of the run's output directory.", ""]
    return "\n".join(out)


def kib(v):
    return None if v is None else v / MIB


def write(results, out_dir, md_name="results.md", svg_name="plot.svg"):
    """Writes the Markdown report and the plot into `out_dir`; returns the PASS/FAIL lines as text."""
    paired = {n: summarize_paired(r) for n, r in results["paired"].items()}
    series = {n: summarize_series(r) for n, r in results["series"].items()}
    rows = targets(results, paired, series)
    with open(os.path.join(out_dir, md_name), "w") as f:
        f.write(markdown(results, paired, series, rows, svg_name))
    with open(os.path.join(out_dir, svg_name), "w") as f:
        f.write(plot.svg(paired, series))
    width = max(len(t) for t, _, _ in rows)
    return "\n".join(f"{v:14} {t:{width}}  {m}" for t, v, m in rows)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        saved = json.load(f)
    print(write(saved, sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(sys.argv[1])))
