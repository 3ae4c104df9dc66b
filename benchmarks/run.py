"""
Run beepy's benchmarks (issue 3, "Flow control at speed") and print one line
per figure: name, value, unit, baseline, ratio, target, verdict.

    python benchmarks/run.py [--quick] [--json PATH] [--only GROUP,...]
                             [--config NAME] [--profile DIR]

Each workload runs in two child processes, a server (``server.py``) and a
client (``client.py``), so that the server's memory can be read from
``/proc`` and the two sides get a core each.  Every baseline (raw Twisted
TCP, Twisted AMP) runs in the same invocation with the same process layout,
because absolute figures drift from run to run on these machines; the ratio
is what to compare across runs.

Importing this module has no side effects.
"""

import argparse
import json
import os
import platform
import select
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from common import CONFIGS, GiB, KiB, MiB  # noqa: E402

#: The workload sizes, full and ``--quick``.
SIZES = {
    "full": {
        "bulk": {"size": 100 * MiB, "reps": 3, "chunk": 64 * KiB},
        "small": {"body": 100, "messages": 20000, "depth": 100, "reps": 3},
        "latency": {"body": 100, "messages": 5000},
        "channels": {"channels": 100, "messages": 1000, "depth": 10, "body": 100},
        "sessions": {"sessions": 1000, "messages": 10, "body": 100},
        "idle": {"sessions": 1000, "settle": 0.5},
        "slowread": {
            "size": 1 * GiB,
            "window": 256 * KiB,
            "pause_every": 1 * MiB,
            "pause_for": 0.005,
            "settle": 0.5,
        },
    },
    "quick": {
        "bulk": {"size": 10 * MiB, "reps": 2, "chunk": 64 * KiB},
        "small": {"body": 100, "messages": 5000, "depth": 100, "reps": 1},
        "latency": {"body": 100, "messages": 1000},
        "channels": {"channels": 100, "messages": 100, "depth": 10, "body": 100},
        "sessions": {"sessions": 100, "messages": 10, "body": 100},
        "idle": {"sessions": 100, "settle": 0.3},
        "slowread": {
            "size": 64 * MiB,
            "window": 256 * KiB,
            "pause_every": 1 * MiB,
            "pause_for": 0.005,
            "settle": 0.3,
        },
    },
}

#: Seconds each job may take (server start included), full and quick.  The
#: quick run also has an overall budget, so it ends within a minute.
TIMEOUTS = {
    "full": {"bulk": 120, "small": 60, "latency": 60, "channels": 120, "sessions": 120, "idle": 60, "slowread": 300},
    "quick": {"bulk": 10, "small": 10, "latency": 10, "channels": 10, "sessions": 10, "idle": 10, "slowread": 15},
}
BUDGET = {"full": 1800, "quick": 55}

#: group -> [(job name, client workload, server kind)], beepy first.
JOBS = {
    "bulk": [("bulk-beep", "bulk-beep", "beep"), ("bulk-raw", "bulk-raw", "raw")],
    "small": [("small-beep", "small-beep", "beep"), ("small-amp", "small-amp", "amp")],
    "latency": [("latency-beep", "latency-beep", "beep"), ("latency-amp", "latency-amp", "amp")],
    "channels": [("channels-beep", "channels-beep", "beep"), ("channels-amp", "channels-amp", "amp")],
    "sessions": [("sessions-beep", "sessions-beep", "beep"), ("sessions-amp", "sessions-amp", "amp")],
    "idle": [("idle-beep", "idle-beep", "beep"), ("idle-amp", "idle-amp", "amp")],
    "slowread": [("slowread-beep", "slowread-beep", "beep")],
}


class Figure:
    """
    One printed figure: how to compute it from the jobs' results, and its
    target.

    :ivar value: ``result -> number`` for the beepy job.
    :ivar baseline: ``result -> number`` for the baseline job, or ``None``.
    :ivar target: ``(text, value, ratio) -> bool`` or ``None`` for none.
    """

    def __init__(self, name, group, unit, value, job, baselineJob=None, baseline=None, target=None):
        self.name = name
        self.group = group
        self.unit = unit
        self.valueOf = value
        self.job = job
        self.baselineJob = baselineJob
        self.baselineOf = baseline or value
        self.target = target


def _rate(result):
    return result["messages"] / result["seconds"]


def _mbps(result):
    return result["bytes"] / result["seconds"] / 1e6


def _mib(key):
    return lambda result: result[key] / MiB


FIGURES = [
    Figure("bulk", "bulk", "MB/s", _mbps, "bulk-beep", "bulk-raw",
           target=("ratio >= 0.5", lambda v, r: r >= 0.5)),
    Figure("small-messages", "small", "msg/s", _rate, "small-beep", "small-amp",
           target=("ratio >= 1.5", lambda v, r: r >= 1.5)),
    Figure("latency-median", "latency", "us", lambda r: r["median_us"], "latency-beep", "latency-amp",
           target=("ratio <= 1.0", lambda v, r: r <= 1.0)),
    Figure("many-channels", "channels", "msg/s", _rate, "channels-beep", "channels-amp"),
    Figure("many-channels-server-peak", "channels", "MiB", _mib("server_peak_rss"),
           "channels-beep", "channels-amp"),
    Figure("many-sessions", "sessions", "msg/s", _rate, "sessions-beep", "sessions-amp"),
    Figure("many-sessions-setup", "sessions", "sess/s",
           lambda r: r["sessions"] / r["setup_seconds"],
           "sessions-beep", "sessions-amp"),
    Figure("many-sessions-server-peak", "sessions", "MiB", _mib("server_peak_rss"),
           "sessions-beep", "sessions-amp"),
    Figure("idle-session-cost", "idle", "KiB", lambda r: r["per_session"] / KiB, "idle-beep", "idle-amp",
           target=("< 16 KiB", lambda v, r: v < 16)),
    Figure("slow-read-peak-growth", "slowread", "MiB", _mib("growth"), "slowread-beep",
           target=("< 32 MiB", lambda v, r: v < 32)),
]


class JobFailed(Exception):
    """
    A job gave no figure; its message is what to print instead ("timeout",
    "n/a (...)").
    """


def _startServer(kind, configName, files, profile, deadline):
    """
    Start ``server.py`` and wait for its ``PORT`` line.

    :return: ``(process, port)``.
    """
    command = [sys.executable, os.path.join(HERE, "server.py"), kind, "--config", configName,
               "--files", str(files)]
    if profile:
        command += ["--profile", profile]
    server = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        ready, _, _ = select.select([server.stdout], [], [], max(0, left))
        if not ready:
            _stop(server)
            raise JobFailed("timeout")
        chunk = os.read(server.stdout.fileno(), 100)
        if not chunk:
            error = _lastLine(server.stderr.read())
            _stop(server)
            raise JobFailed(f"n/a (server did not start: {error})")
        line += chunk
    return server, int(line.split()[1])


def _stop(server):
    """
    End a server: close its standard input (it stops by itself, writing its
    profile if any), then kill it if it lingers.
    """
    try:
        server.stdin.close()
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _lastLine(output):
    lines = [line for line in output.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


def runJob(workload, serverKind, params, timeout, profileDir=None):
    """
    Run one workload against a fresh server.

    :return: the client's result dict.
    :raises JobFailed: on a timeout, a crash, or what the library cannot do.
    """
    deadline = time.monotonic() + timeout
    files = params.get("sessions", 0) + params.get("channels", 0)
    profile = os.path.join(profileDir, f"{workload}-%s.prof") if profileDir else None
    server, port = _startServer(serverKind, params["config"], files,
                                profile % "server" if profile else None, deadline)
    command = [sys.executable, os.path.join(HERE, "client.py"), workload, "--port", str(port),
               "--server-pid", str(server.pid), "--params", json.dumps(params)]
    if profile:
        command += ["--profile", profile % "client"]
    client = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = client.communicate(timeout=max(0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        client.kill()
        client.communicate()
        raise JobFailed("timeout")
    finally:
        _stop(server)
    for line in out.decode().splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            break
    else:
        raise JobFailed(f"n/a (client failed: {_lastLine(err)})")
    if "unsupported" in result:
        raise JobFailed(f"n/a ({result['unsupported']})")
    if "error" in result:
        raise JobFailed(f"n/a ({result['error']})")
    return result


# -- Output ---------------------------------------------------------------------

COLUMNS = ("name", "value", "unit", "baseline", "ratio", "target", "verdict")


def _number(value):
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def evaluate(figure, results):
    """
    :return: the figure as a dict: value, baseline, ratio (value/baseline),
        target and verdict; a failed job's text stands in for its number.
    """
    row = {"name": figure.name, "unit": figure.unit, "value": None, "baseline": None,
           "ratio": None, "target": figure.target[0] if figure.target else "-", "verdict": "-"}
    value = results.get(figure.job)
    row["value"] = figure.valueOf(value) if isinstance(value, dict) else value
    if figure.baselineJob:
        baseline = results.get(figure.baselineJob)
        row["baseline"] = figure.baselineOf(baseline) if isinstance(baseline, dict) else baseline
    numbers = isinstance(row["value"], float) or isinstance(row["value"], int)
    if numbers and isinstance(row["baseline"], (int, float)) and row["baseline"]:
        row["ratio"] = row["value"] / row["baseline"]
    if figure.target and numbers:
        needsRatio = figure.target[0].startswith("ratio")
        if not needsRatio or row["ratio"] is not None:
            row["verdict"] = "met" if figure.target[1](row["value"], row["ratio"]) else "MISSED"
    return row


def formatRows(rows):
    cells = [COLUMNS] + [
        (r["name"], _number(r["value"]), r["unit"], _number(r["baseline"]),
         _number(r["ratio"]) if r["ratio"] is not None else "-", r["target"], r["verdict"])
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells if i < len(row) - 1 or len(row[i]) < 40)
              for i in range(len(COLUMNS))]
    lines = []
    for row in cells:
        parts = []
        for i, cell in enumerate(row):
            parts.append(cell.rjust(widths[i]) if i in (1, 3, 4) else cell.ljust(widths[i]))
        lines.append("  ".join(parts).rstrip())
    return lines


def header(mode, configName, sizes):
    import twisted
    from twisted.internet import reactor

    import beepy

    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    config = " ".join(f"{k}={v}" for k, v in CONFIGS[configName].items())
    lines = [
        f"beepy benchmarks ({mode})",
        f"python {platform.python_version()}, twisted {twisted.__version__}, "
        f"beepy {beepy.__version__} ({os.path.dirname(beepy.__file__)})",
        f"reactor: {type(reactor).__module__}.{type(reactor).__name__} (the default), "
        f"machine: {os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}",
        f"session config {configName!r} on both ends: {config}",
        "layout: server and client in two child processes; baselines the same; "
        "TCP_NODELAY on every connection; RSS from /proc/<server pid>/status (VmRSS, VmHWM)",
    ]
    lines += [f"  {group}: {json.dumps(values)}" for group, values in sizes.items()]
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short version, under a minute")
    parser.add_argument("--json", metavar="PATH", help="also write the figures here")
    parser.add_argument("--only", metavar="GROUPS", help=f"comma-separated, of: {','.join(JOBS)}")
    parser.add_argument("--config", default="tuned", choices=sorted(CONFIGS),
                        help="the named SessionConfig both ends use")
    parser.add_argument("--profile", metavar="DIR", help="write cProfile statistics of each process here")
    options = parser.parse_args(argv)
    mode = "quick" if options.quick else "full"
    groups = options.only.split(",") if options.only else list(JOBS)
    unknown = set(groups) - set(JOBS)
    if unknown:
        parser.error(f"unknown groups: {', '.join(sorted(unknown))}")
    if options.profile:
        os.makedirs(options.profile, exist_ok=True)
    sizes = {group: SIZES[mode][group] for group in groups}
    for line in header(mode, options.config, sizes):
        print(line)
    print()
    started = time.monotonic()
    results = {}
    for group in groups:
        for name, workload, kind in JOBS[group]:
            params = dict(sizes[group], config=options.config)
            left = BUDGET[mode] - (time.monotonic() - started)
            timeout = min(TIMEOUTS[mode][group], left)
            try:
                if timeout <= 0:
                    raise JobFailed("timeout")
                results[name] = runJob(workload, kind, params, timeout, options.profile)
            except JobFailed as e:
                results[name] = str(e)
    rows = [evaluate(figure, results) for figure in FIGURES if figure.group in groups]
    for line in formatRows(rows):
        print(line)
    print(f"\n{time.monotonic() - started:.1f} s")
    if options.json:
        with open(options.json, "w") as out:
            json.dump({"mode": mode, "config": {options.config: CONFIGS[options.config]},
                       "header": header(mode, options.config, sizes), "figures": rows,
                       "jobs": results}, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
