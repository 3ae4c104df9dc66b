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

try:
    from common import CONFIGS, GiB, KiB, MiB
except ImportError:  # imported as benchmarks.run, from the repository's root
    from benchmarks.common import CONFIGS, GiB, KiB, MiB

HERE = os.path.dirname(os.path.abspath(__file__))

#: Bench 5's slow reader: the reply's size, the window it advertises, and
#: its pauses (it stops reading for ``pause_for`` seconds every
#: ``pause_every`` octets).
_SLOW_READ = {"window": 256 * KiB, "pause_every": 1 * MiB, "pause_for": 0.02}

#: The workload sizes, full and ``--quick``.
SIZES = {
    "full": {
        "bulk": {"size": 100 * MiB, "reps": 3, "chunk": 64 * KiB},
        "small": {"body": 100, "messages": 10000, "depth": 100, "reps": 5},
        "latency": {"body": 100, "messages": 2000, "reps": 5},
        "channels": {"channels": 100, "messages": 1000, "depth": 10, "body": 100},
        "sessions": {"sessions": 1000, "messages": 10, "body": 100, "reps": 3},
        "idle": {"sessions": 1000, "settle": 0.5},
        "slowread": {"size": 1 * GiB, **_SLOW_READ, "settle": 0.5},
        "slowans": {"size": 1 * GiB, **_SLOW_READ, "settle": 0.5},
    },
    "quick": {
        "bulk": {"size": 10 * MiB, "reps": 3, "chunk": 64 * KiB},
        "small": {"body": 100, "messages": 3000, "depth": 100, "reps": 3},
        "latency": {"body": 100, "messages": 1000, "reps": 3},
        "channels": {"channels": 100, "messages": 20, "depth": 10, "body": 100, "reps": 3},
        "sessions": {"sessions": 100, "messages": 10, "body": 100, "reps": 3},
        "idle": {"sessions": 100, "settle": 0.3},
        "slowread": {"size": 64 * MiB, **_SLOW_READ, "settle": 0.3},
        "slowans": {"size": 64 * MiB, **_SLOW_READ, "settle": 0.3},
    },
}

#: Seconds each group may take, servers' start included.  The quick run also
#: has an overall budget, so that it ends within a minute whatever hangs.
TIMEOUTS = {
    "full": {"bulk": 120, "small": 60, "latency": 60, "channels": 180, "sessions": 120, "idle": 60,
             "slowread": 300, "slowans": 300},
    "quick": {"bulk": 10, "small": 10, "latency": 10, "channels": 15, "sessions": 10, "idle": 10,
              "slowread": 10, "slowans": 10},
}
BUDGET = {"full": 1800, "quick": 55}


#: group -> the server kinds it runs: beepy first, then its baseline.
GROUPS = {
    "bulk": ("beep", "raw"),
    "small": ("beep", "amp"),
    "latency": ("beep", "amp"),
    "channels": ("beep", "amp"),
    "sessions": ("beep", "amp"),
    "idle": ("beep", "amp"),
    "slowread": ("beep",),
    "slowans": ("beep",),
}


class Figure:
    """
    One printed figure, computed from its group's results.

    :ivar valueOf: ``result -> number``, applied to the beepy side's result
        and to the baseline's.
    :ivar baselineOf: for a group with no baseline server, ``result ->
        number`` applied to the beepy side's result instead.
    :ivar target: ``(text, (value, baseline, ratio) -> bool)``, or ``None``.
    """

    def __init__(self, name, group, unit, valueOf, target=None, baselineOf=None):
        self.name = name
        self.group = group
        self.unit = unit
        self.valueOf = valueOf
        self.target = target
        self.baselineOf = baselineOf


def _rate(result):
    return result["messages"] / result["seconds"]


def _mbps(result):
    return result["bytes"] / result["seconds"] / 1e6


def _mib(key):
    return lambda result: result[key] / MiB


FIGURES = [
    Figure("bulk", "bulk", "MB/s", _mbps, ("ratio >= 0.5", lambda v, b, r: r >= 0.5)),
    Figure("small-messages", "small", "msg/s", _rate, ("ratio >= 1.5", lambda v, b, r: r >= 1.5)),
    Figure("latency-median", "latency", "us", lambda r: r["median_us"],
           ("ratio <= 1.0", lambda v, b, r: r <= 1.0)),
    Figure("many-channels", "channels", "msg/s", _rate),
    Figure("many-channels-server-peak", "channels", "MiB", _mib("server_peak_rss")),
    Figure("many-sessions", "sessions", "msg/s", _rate),
    Figure("many-sessions-setup", "sessions", "sess/s", lambda r: r["sessions"] / r["setup_seconds"]),
    Figure("many-sessions-server-peak", "sessions", "MiB", _mib("server_peak_rss")),
    Figure("idle-session-cost", "idle", "KiB", lambda r: r["per_session"] / KiB,
           ("< 16 KiB", lambda v, b, r: v < 16)),
    # Bench 5: the server's peak RSS while it streams, beside its idle RSS
    # just before; bounded means it grew by less than a few windows' worth.
    Figure("slow-read-peak-rss", "slowread", "MiB", _mib("peak_rss"),
           ("peak-idle < 32 MiB", lambda v, b, r: v - b < 32), baselineOf=_mib("idle_rss")),
    Figure("slow-read-ans-peak-rss", "slowans", "MiB", _mib("peak_rss"),
           ("peak-idle < 32 MiB", lambda v, b, r: v - b < 32), baselineOf=_mib("idle_rss")),
]


class JobFailed(Exception):
    """
    A group gave no figure; its message is what to print instead
    ("timeout", "n/a (...)").
    """


def _startServer(kind, configName, files, profile):
    command = [sys.executable, os.path.join(HERE, "server.py"), kind, "--config", configName,
               "--files", str(files)]
    if profile:
        command += ["--profile", profile]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _port(server, deadline):
    """
    Wait for a server's ``PORT`` line.
    """
    line = b""
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([server.stdout], [], [], max(0, deadline - time.monotonic()))
        if not ready:
            raise JobFailed("timeout")
        chunk = os.read(server.stdout.fileno(), 100)
        if not chunk:
            server.wait()
            raise JobFailed(f"n/a (server did not start: {_lastLine(server.stderr.read())})")
        line += chunk
    return int(line.split()[1])


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


def runGroup(group, params, timeout, profileDir=None):
    """
    Run one group: a fresh server per side, one client measuring them in
    turn.

    :return: ``{"beep": result, "baseline": result}``; a side that failed
        has a ``str`` saying why in place of its result.
    :raises JobFailed: if the whole group failed or ran out of time.
    """
    deadline = time.monotonic() + timeout
    files = params.get("sessions", 0) + params.get("channels", 0)

    def profile(role):
        return os.path.join(profileDir, f"{group}-{role}.prof") if profileDir else None

    servers = []
    try:
        for kind in GROUPS[group]:
            servers.append(_startServer(kind, params["config"], files, profile(kind)))
        specs = [f"{kind}:{_port(server, deadline)}:{server.pid}"
                 for kind, server in zip(GROUPS[group], servers)]
        command = [sys.executable, os.path.join(HERE, "client.py"), group, "--params", json.dumps(params)]
        for spec in specs:
            command += ["--server", spec]
        if profileDir:
            command += ["--profile", profile("client")]
        client = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = client.communicate(timeout=max(0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            client.kill()
            client.communicate()
            raise JobFailed("timeout")
    finally:
        for server in servers:
            _stop(server)
    for line in out.decode().splitlines():
        if line.startswith("RESULT "):
            results = json.loads(line[len("RESULT "):])
            break
    else:
        raise JobFailed(f"n/a (client failed: {_lastLine(err)})")
    if "error" in results and len(results) == 1:
        raise JobFailed(f"n/a ({results['error']})")
    for label, result in results.items():
        if "unsupported" in result:
            results[label] = f"n/a ({result['unsupported']})"
        elif "error" in result:
            results[label] = f"n/a ({result['error']})"
    return results


# -- Output ---------------------------------------------------------------------

COLUMNS = ("name", "value", "unit", "baseline", "ratio", "target", "verdict")


def evaluate(figure, results):
    """
    :return: the figure as a dict: value, baseline, ratio (value/baseline),
        target and verdict.  A failed side's text ("timeout", "n/a (...)")
        stands in for its number.
    """
    row = {"name": figure.name, "unit": figure.unit, "value": None, "baseline": None,
           "ratio": None, "target": figure.target[0] if figure.target else "-", "verdict": "-"}
    group = results.get(figure.group)
    if group is None:
        return row
    if isinstance(group, str):
        group = {"beep": group, "baseline": group if len(GROUPS[figure.group]) > 1 else None}
    beep = group.get("beep")
    row["value"] = figure.valueOf(beep) if isinstance(beep, dict) else beep
    if figure.baselineOf:
        row["baseline"] = figure.baselineOf(beep) if isinstance(beep, dict) else None
    else:
        baseline = group.get("baseline")
        row["baseline"] = figure.valueOf(baseline) if isinstance(baseline, dict) else baseline
    value, baseline = row["value"], row["baseline"]
    numbers = isinstance(value, (int, float)) and isinstance(baseline, (int, float))
    if numbers and baseline:
        row["ratio"] = value / baseline
    if figure.target and isinstance(value, (int, float)):
        if numbers or not figure.target[0].startswith(("ratio", "peak")):
            met = figure.target[1](value, baseline, row["ratio"])
            row["verdict"] = "met" if met else "MISSED"
    return row


def formatRows(rows):
    """
    The table, aligned; a failure's reason goes to a numbered note below it
    so that the columns stay narrow.
    """
    notes = []

    def cell(value):
        if isinstance(value, str) and value.startswith("n/a ("):
            if value not in notes:
                notes.append(value)
            return f"n/a [{notes.index(value) + 1}]"
        if value is None:
            return "-"
        if isinstance(value, str):
            return value
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"

    cells = [COLUMNS] + [
        (r["name"], cell(r["value"]), r["unit"], cell(r["baseline"]), cell(r["ratio"]),
         r["target"], r["verdict"])
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(c.rjust(w) if i in (1, 3, 4) else c.ljust(w)
                  for i, (c, w) in enumerate(zip(row, widths))).rstrip()
        for row in cells
    ]
    lines += [f"[{n}] {note[len('n/a ('):-1]}" for n, note in enumerate(notes, 1)]
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
    parser.add_argument("--only", metavar="GROUPS", help=f"comma-separated, of: {','.join(GROUPS)}")
    parser.add_argument("--config", default="tuned", choices=sorted(CONFIGS),
                        help="the named SessionConfig both ends use")
    parser.add_argument("--profile", metavar="DIR", help="write cProfile statistics of each process here")
    options = parser.parse_args(argv)
    mode = "quick" if options.quick else "full"
    groups = options.only.split(",") if options.only else list(GROUPS)
    unknown = set(groups) - set(GROUPS)
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
    elapsed = {}
    for group in groups:
        params = dict(sizes[group], config=options.config)
        timeout = min(TIMEOUTS[mode][group], BUDGET[mode] - (time.monotonic() - started))
        began = time.monotonic()
        try:
            if timeout <= 0:
                raise JobFailed("timeout")
            results[group] = runGroup(group, params, timeout, options.profile)
        except JobFailed as e:
            results[group] = str(e)
        elapsed[group] = time.monotonic() - began
    rows = [evaluate(figure, results) for figure in FIGURES if figure.group in groups]
    for line in formatRows(rows):
        print(line)
    print(f"\n{time.monotonic() - started:.1f} s")
    if options.json:
        with open(options.json, "w") as out:
            json.dump({"mode": mode, "config": {options.config: CONFIGS[options.config]},
                       "header": header(mode, options.config, sizes), "figures": rows,
                       "results": results, "seconds": elapsed}, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
