"""The machine side of the load benchmark: /proc readings, pinned processes, nginx, the gateway and wrk.

Runs inside `benches/load/bench.py`. Nothing here knows about scenarios or targets; it starts processes on a
given CPU (`taskset -c`), reads their CPU time and memory from /proc, and runs one wrk measurement.
"""

import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")

# Where the server under test runs, and where everything else (wrk, upstream nginx, identity provider, writers).
SUT_CPU = "1"
LOAD_CPU = "0"


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_nofile():
    """Soft open-files limit up to the hard limit, for 1,024 connections (inherited by every child)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpu_seconds(pid):
    """utime + stime of a process (all its threads, live and exited), in seconds; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kib(pid, key):
    """A `kB` line of /proc/PID/status (`VmRSS`, `VmHWM`), in KiB; None when missing."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def children(pid):
    """Direct children of a process (from /proc/PID/task/*/children)."""
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return found


def proc_stat():
    """The per-CPU lines of /proc/stat: name -> list of jiffy counters."""
    cpus = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu"):
                parts = line.split()
                cpus[parts[0]] = [int(x) for x in parts[1:]]
    return cpus


def steal_percent(before, after, cpus=("cpu0", "cpu1")):
    """Highest share of stolen time (the 8th /proc/stat column) over the given CPUs between two readings."""
    worst = 0.0
    for cpu in cpus:
        if cpu not in before or cpu not in after:
            continue
        delta = [a - b for a, b in zip(after[cpu], before[cpu])]
        total = sum(delta[:8])  # user..steal; guest is already counted in user
        if total > 0 and len(delta) > 7:
            worst = max(worst, 100.0 * delta[7] / total)
    return worst


def machine():
    """A one-paragraph description of the machine: CPU model, cores, memory, kernel, virtualisation."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kib = status_like("/proc/meminfo", "MemTotal")
    virt = ""
    if shutil.which("systemd-detect-virt"):
        virt = subprocess.run(["systemd-detect-virt"], capture_output=True, text=True).stdout.strip()
    uname = os.uname()
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round((mem_kib or 0) / 1048576, 1),
        "kernel": f"{uname.sysname} {uname.release}",
        "virtualisation": virt or "not detected",
    }


def status_like(path, key):
    """A `Key: N kB` line of a /proc file, in KiB."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def wait_http(url, timeout=60.0, headers=None, proc=None):
    """Waits until `url` answers (any status); raises when it does not within `timeout` seconds, or when `proc`
    (the process that should answer) has exited."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process exited with status {proc.returncode}")
        try:
            request = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(request, timeout=2) as response:
                return response.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError as e:
            last = e
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s ({last})")


class Processes:
    """Every process the benchmark started, stopped by pid (never by name) when the run ends."""

    def __init__(self, work):
        self.work = work
        self.started = []

    def spawn(self, name, argv, cpu, env=None):
        """Starts `argv` pinned to `cpu` with `taskset -c`; its output goes to WORK/NAME.log."""
        log = open(os.path.join(self.work, name + ".log"), "wb")
        proc = subprocess.Popen(
            ["taskset", "-c", cpu, *argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        self.started.append((name, proc))
        return proc

    def stop(self, proc):
        """Stops one process this benchmark started (SIGTERM, then SIGKILL after 10 s)."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.started = [(n, p) for n, p in self.started if p is not proc]

    def stop_all(self):
        """Stops every process still running, newest first."""
        for _, proc in reversed(list(self.started)):
            self.stop(proc)

    def log_tail(self, name, lines=20):
        """The end of a process's log, for error messages."""
        try:
            with open(os.path.join(self.work, name + ".log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


NGINX_UPSTREAM = """
worker_processes 1;
pid {work}/{name}.pid;
error_log {work}/{name}.error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {work}/{name}-body;
    proxy_temp_path {work}/{name}-proxy;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        keepalive_requests 1000000;
        location / {{ default_type application/json; return 200 '{{"ok":true}}'; }}
    }}
}}
"""

NGINX_PROXY = """
worker_processes 1;
pid {work}/{name}.pid;
error_log {work}/{name}.error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {work}/{name}-body;
    proxy_temp_path {work}/{name}-proxy;
    upstream backend {{ server 127.0.0.1:{upstream}; keepalive 64; keepalive_requests 1000000; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        keepalive_requests 1000000;
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def nginx_binary():
    """The nginx executable (Debian puts it in /usr/sbin)."""
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(found):
        raise RuntimeError("nginx not found: install nginx-light (benches/load/run.sh does)")
    return found


def start_nginx(procs, name, template, cpu, **fields):
    """Starts one nginx (master + 1 worker, foreground) on `cpu`; returns (master process, worker pid)."""
    conf = os.path.join(procs.work, name + ".conf")
    with open(conf, "w") as f:
        f.write(template.format(work=procs.work, name=name, **fields))
    proc = procs.spawn(
        name,
        [nginx_binary(), "-e", os.path.join(procs.work, name + ".error.log"), "-p", procs.work, "-c", conf,
         "-g", "daemon off;"],
        cpu,
    )
    try:
        wait_http(f"http://127.0.0.1:{fields['port']}/", timeout=20, proc=proc)
    except RuntimeError as e:
        raise RuntimeError(f"{name} did not start: {e}\n{procs.log_tail(name)}") from e
    for _ in range(50):
        workers = children(proc.pid)
        if workers:
            return proc, workers[0]
        time.sleep(0.1)
    raise RuntimeError(f"{name}: no nginx worker process found\n{procs.log_tail(name)}")


class Gateway:
    """One pinned reference gateway process with its proxy and Admin API ports."""

    def __init__(self, procs, binary, name, config_path, cpu=SUT_CPU, timeout=600.0):
        self.name = name
        self.port = free_port()
        self.admin_port = free_port()
        argv = [binary, "--proxy-listen", f"127.0.0.1:{self.port}", "--admin-listen",
                f"127.0.0.1:{self.admin_port}"]
        if config_path:
            argv += ["--declarative-config", config_path]
        self.procs = procs
        # As the nginx it is compared with: no access log. No status listener (its fixed port), and a private prefix.
        env = {"RUST_LOG": "warn", "KONG_PROXY_ACCESS_LOG": "off", "KONG_STATUS_LISTEN": "off",
               "KONG_PREFIX": os.path.join(procs.work, name + ".prefix")}
        self.proc = procs.spawn(name, argv, cpu, env=env)
        started = time.monotonic()
        try:
            wait_http(self.admin_url + "/status", timeout=timeout, proc=self.proc)
        except RuntimeError as e:
            procs.stop(self.proc)
            raise RuntimeError(f"{name} did not start: {e}\n{procs.log_tail(name)}") from e
        self.start_seconds = time.monotonic() - started

    @property
    def pid(self):
        """The gateway's process id (taskset execs, so it is the gateway itself)."""
        return self.proc.pid

    @property
    def url(self):
        """The proxy's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self):
        """The Admin API's base URL."""
        return f"http://127.0.0.1:{self.admin_port}"

    def rss_kib(self):
        """Resident memory now."""
        return status_kib(self.pid, "VmRSS")

    def peak_kib(self):
        """Peak resident memory so far (VmHWM)."""
        return status_kib(self.pid, "VmHWM")

    def stop(self):
        """Stops the gateway."""
        self.procs.stop(self.proc)


# wrk's Lua hooks. `done()` prints the summary as one JSON line (latency in µs).
DONE_LUA = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d,"p50":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean))
end
"""

# A list of requests, prepared once per thread and sent in turn.
VARIANTS_LUA = """
local variants = %(variants)s
local base = %(base)s
local prepared = {}
local n = 0
function init(args)
  for i, v in ipairs(variants) do
    local headers = {}
    for k, val in pairs(base) do headers[k] = val end
    for k, val in pairs(v[2]) do headers[k] = val end
    prepared[i] = wrk.format("GET", v[1], headers)
  end
end
function request()
  n = n + 1
  return prepared[(n %% #prepared) + 1]
end
"""

# Stops the thread after `limit` responses (used to create an exact number of stored sessions).
LIMIT_LUA = """
local limit = %(limit)d
local seen = 0
local bad = 0
function response(status, headers, body)
  seen = seen + 1
  if status ~= 200 then bad = bad + 1 end
  if seen >= limit then
    io.write("LIMIT_REACHED bad=" .. bad .. "\\n")
    io.flush()
    os.exit(0)
  end
end
"""


def lua_string(s):
    """A Lua string literal."""
    return json.dumps(s)


def lua_headers(headers):
    """A Lua table literal of header name -> value."""
    return "{" + ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()) + "}"


def wrk_script(path, headers, variants=None, limit=None):
    """Writes a wrk script: every request has `headers`; `variants` is a list of (path, extra headers) sent in
    turn; `limit` stops after that many responses. One variant and no limit keep wrk's pre-built request."""
    variants = variants or [("/", {})]
    if len(variants) == 1 and limit is None:
        body = "".join(f"wrk.headers[{lua_string(k)}] = {lua_string(v)}\n" for k, v in headers.items())
        body += f"wrk.path = {lua_string(variants[0][0])}\n"
    else:
        table = "{" + ", ".join(f"{{{lua_string(p)}, {lua_headers(h)}}}" for p, h in variants) + "}"
        body = VARIANTS_LUA % {"variants": table, "base": lua_headers(headers)}
        if limit is not None:
            body += LIMIT_LUA % {"limit": limit}
    with open(path, "w") as f:
        f.write(body + DONE_LUA)
    return path


def run_wrk(url, script, seconds, connections, measured, timeout_s=10):
    """One wrk run (`wrk -t1 -cN -dS`, pinned to the load CPU). `measured` maps a label to a pid whose CPU time
    is read before and after. Returns the run's figures."""
    before_cpu = {label: cpu_seconds(pid) for label, pid in measured.items()}
    before_stat = proc_stat()
    started = time.monotonic()
    proc = subprocess.Popen(
        ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout",
         f"{timeout_s}s", "-s", script, url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    after_stat = proc_stat()
    after_cpu = {label: cpu_seconds(pid) for label, pid in measured.items()}
    summary = None
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            summary = json.loads(line[len("BENCH_JSON "):])
    if summary is None:
        raise RuntimeError(f"wrk printed no summary (exit {proc.returncode}):\n{out}")
    requests = max(summary["requests"], 1)
    cpu_us = {}
    for label in measured:
        b, a = before_cpu[label], after_cpu[label]
        cpu_us[label] = None if a is None or b is None else (a - b) * 1e6 / requests
    cpu_us["wrk"] = (usage.ru_utime + usage.ru_stime) * 1e6 / requests
    errors = {k: summary[k] for k in ("connect", "read", "write", "timeout")}
    return {
        "requests": summary["requests"],
        "rps": summary["requests"] / (summary["duration_us"] / 1e6),
        "non_2xx": summary["status"],
        "socket_errors": sum(errors.values()),
        "errors": errors,
        "p50_us": summary["p50"],
        "p99_us": summary["p99"],
        "p999_us": summary["p999"],
        "max_us": summary["max"],
        "cpu_us_per_request": cpu_us,
        "steal_percent": steal_percent(before_stat, after_stat),
        "wall_seconds": wall,
        "connections": connections,
        "output": out,
    }
