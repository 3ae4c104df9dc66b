"""
What the benchmark scripts share: the settings, the AMP echo command, the
streamed-reply profile, and reading a process's memory from ``/proc``.

Importing this module has no side effects: the benchmark processes set
themselves up in their ``main()``.
"""

import json
import os
import resource
import sys

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

#: The profile URIs of bench 5's streamed replies: one ``RPY`` from an
#: ``IBodyProducer``, and (for comparison) ``ANS`` frames from an
#: asynchronous iterable, the streaming beepy already has.
STREAM_URI = "http://beepy.invalid/profiles/benchmark/STREAM"
STREAM_ANS_URI = "http://beepy.invalid/profiles/benchmark/STREAM-ANS"

#: The session settings every BEEP benchmark uses, on both ends, by name.
#: ``maxMessageSize`` is raised so the bulk message is accepted whole.
CONFIGS = {
    # beepy's own defaults since the flow-control work; spelled out so the header
    # says what ran whatever the defaults become.
    "tuned": {"receiveWindow": 1 * MiB, "maxFrameSize": 64 * KiB, "maxMessageSize": 128 * MiB},
    "default": {"maxMessageSize": 128 * MiB},
    "wide": {"receiveWindow": 16 * MiB, "maxFrameSize": 1 * MiB, "maxMessageSize": 128 * MiB},
}

#: The file descriptors a process needs beyond its sessions' sockets.
FD_SLACK = 64


def sessionConfig(name):
    """
    The :class:`beepy.SessionConfig` called ``name`` in :data:`CONFIGS`.
    """
    from beepy import SessionConfig

    return SessionConfig(**CONFIGS[name])


def raiseFileLimit(needed):
    """
    Raise this process's soft ``RLIMIT_NOFILE`` to at least ``needed``.

    :raises SystemExit: with one readable line if the hard limit is lower.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise SystemExit(
            f"need {needed} file descriptors but RLIMIT_NOFILE's hard limit is {hard}: "
            f"raise it (ulimit -Hn) or run with fewer sessions"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def procStatus(pid):
    """
    The memory lines of ``/proc/PID/status``, in bytes.

    :return: a dict with ``VmRSS`` (resident now) and ``VmHWM`` (peak
        resident since start, or since :func:`resetPeak`).
    """
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) * KiB
    return values


def cpuSeconds(pid):
    """
    The CPU time (user and system) ``pid`` has used, from
    ``/proc/PID/stat``: steadier than wall-clock time when other work shares
    the machine, though only to the kernel's tick (usually 10 ms).
    """
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15
    return ticks / os.sysconf("SC_CLK_TCK")


def resetPeak(pid):
    """
    Reset ``VmHWM`` of ``pid`` to its current RSS (Linux ``clear_refs``
    value 5), so the next peak reading covers only what follows.

    :return: whether the kernel accepted it.
    """
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def report(result):
    """
    Hand a child process's result to ``run.py``: one ``RESULT`` line of JSON.
    """
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


def setNoDelay(protocol):
    """
    Disable Nagle on a baseline connection, as :class:`beepy.BEEPProtocol`
    does on its own, so request/response figures compare like with like.
    """
    setter = getattr(protocol.transport, "setTcpNoDelay", None)
    if setter is not None:
        setter(True)
