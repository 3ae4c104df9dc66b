"""
Soak beepy through the chaos proxy: many concurrent sessions for a few
minutes, then check that nothing was lost and that the server is back to
its idle footprint.

    python benchmarks/soak.py [--seconds 180] [--sessions 20] [--channels 4]
                              [--depth 5] [--messages N] [--seed N]
                              [--behavior 20:split,... --behavior-option NAME:OPTION=VALUE]

Loopback only.  The server is ``server.py beep`` in a child process (so its
memory and file descriptors can be read from ``/proc``); the chaos proxy and
the clients run here.  Each session opens echo channels and keeps
``--depth`` unique messages in flight on each, until ``--per-session``
messages were sent (counted over all sessions since it started), then is
released; it, or a session that the chaos ends (reset, corrupted, timed
out), is replaced by a new one, so that
``--sessions`` run at once until ``--seconds`` have passed or ``--messages``
were sent.  Then every session is released, and the script waits for what
is still in flight, up to ``--drain`` seconds.

It prints what was sent, answered, failed (the session it was on ended
first: the application is told, so it is not lost), lost (no outcome at
all), duplicated or reordered (per channel), how the sessions ended, and
the server's RSS and open file descriptors at idle before the run, their
peak during it, and at the end.  It exits with status 1 if anything was
lost, duplicated, reordered or answered wrongly, or if the server's file
descriptors do not return to the idle count (or its RSS to within
``--rss-slack`` MiB of idle) within ``--settle`` seconds.
"""

import argparse
import collections
import json
import os
import random
import subprocess
import sys
import time

try:
    from common import MiB, procStatus, raiseFileLimit, resetPeak
except ImportError:  # imported as benchmarks.soak, from the repository's root
    from benchmarks.common import MiB, procStatus, raiseFileLimit, resetPeak

HERE = os.path.dirname(os.path.abspath(__file__))

#: The default mix: mostly re-chunked, delayed and trickled streams that
#: must lose nothing, and a few sessions that the proxy breaks.
DEFAULT_BEHAVIORS = ["20:split,10:delay,10:slow,10:dummy,3:blackout,2:reset,2:corrupt,1:hang"]
DEFAULT_OPTIONS = [
    "split:size=16",
    "delay:seconds=0.01",
    "slow:rate=200000",
    "slow:size=64",
    "blackout:after=0.5",
    "blackout:seconds=1",
    "blackout:every=4",
    "reset:after=2000",
    "reset:spread=50000",
    "corrupt:target=header",
    "corrupt:after=1000",
    "corrupt:gap=20000",
    "hang:after=0",
    "hang:spread=20000",
]

#: The clients' time limits: long enough for a blackout, short enough for
#: a hung session to be noticed within the drain.
CLIENT_TIMEOUTS = {"greetingTimeout": 5.0, "idleTimeout": 5.0}


def parseArguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="how long to run")
    parser.add_argument("--sessions", type=int, default=20, help="sessions at once")
    parser.add_argument("--channels", type=int, default=4, help="echo channels per session")
    parser.add_argument("--depth", type=int, default=5, help="messages in flight per channel")
    parser.add_argument("--messages", type=int, default=2_000_000, help="stop after sending these")
    parser.add_argument("--per-session", type=int, default=1000,
                        help="release a session after sending these, and start another")
    parser.add_argument("--seed", type=int, default=1, help="seed of the proxy's choices")
    parser.add_argument("--behavior", action="append", help="[WEIGHT:]NAME[,...] (repeatable)")
    parser.add_argument("--behavior-option", action="append", help="NAME:OPTION=VALUE")
    parser.add_argument("--drain", type=float, default=30.0, help="seconds to wait for stragglers")
    parser.add_argument("--settle", type=float, default=10.0,
                        help="seconds for the server to return to idle")
    parser.add_argument("--rss-slack", type=float, default=32.0,
                        help="MiB the server's RSS may stay above idle")
    parser.add_argument("--json", help="also write the figures here")
    options = parser.parse_args(argv)
    if options.behavior is None:
        options.behavior = DEFAULT_BEHAVIORS
        if options.behavior_option is None:
            options.behavior_option = DEFAULT_OPTIONS
    options.behavior_option = options.behavior_option or []
    return options


class Server:
    """
    ``server.py beep`` in a child process, and what ``/proc`` says of it.
    """

    def __init__(self, sessions):
        command = [sys.executable, os.path.join(HERE, "server.py"), "beep", "--files",
                   str(2 * sessions)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=HERE
        )
        line = self.process.stdout.readline().decode()
        if not line.startswith("PORT "):
            self.process.kill()
            raise SystemExit(f"the server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.pid = self.process.pid

    def footprint(self):
        """
        :return: ``{"rss", "peak_rss", "fds"}``: resident and peak resident
            octets, and open file descriptors.
        """
        status = procStatus(self.pid)
        fds = len(os.listdir(f"/proc/{self.pid}/fd"))
        return {"rss": status["VmRSS"], "peak_rss": status["VmHWM"], "fds": fds}

    def stop(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)


class Tally:
    """
    What happened to every message and session.
    """

    def __init__(self):
        self.sent = 0
        self.answered = 0
        self.failed = 0
        self.wrong = 0  # answered with another body
        self.duplicated = 0
        self.reordered = 0
        self.sessions = 0
        self.ended = collections.Counter()  # why sessions ended, by exception name
        self.failures = collections.Counter()  # why messages failed, by exception name

    @property
    def inFlight(self):
        return self.sent - self.answered - self.failed


class ChannelDriver:
    """
    Keeps ``depth`` unique messages in flight on one echo channel until
    told to stop, checking each reply against what it answers.
    """

    def __init__(self, channel, label, depth, tally, keepSending):
        from twisted.internet import defer

        self.channel = channel
        self.label = label
        self.depth = depth
        self.tally = tally
        self.keepSending = keepSending
        self.next = 0
        self.expected = 0  # the index whose reply should come next
        self.seen = set()
        self.inFlight = 0
        self.dead = False
        self.done = defer.Deferred()

    def pump(self):
        while not self.dead and self.inFlight < self.depth and self.keepSending():
            index, self.next = self.next, self.next + 1
            body = f"{self.label}/m{index}".encode()
            self.inFlight += 1
            self.tally.sent += 1
            self.channel.sendMessage(body).addCallbacks(
                self.answered, self.failed, callbackArgs=(index, body)
            )
        if self.inFlight == 0 and not self.done.called:
            self.done.callback(None)

    def answered(self, reply, index, body):
        self.inFlight -= 1
        self.tally.answered += 1
        if reply.body in self.seen:
            self.tally.duplicated += 1
        self.seen.add(reply.body)
        if reply.body != body:
            self.tally.wrong += 1
        if index != self.expected:
            self.tally.reordered += 1
        self.expected = index + 1
        self.pump()

    def failed(self, failure):
        self.inFlight -= 1
        self.tally.failed += 1
        self.tally.failures[type(failure.value).__name__] += 1
        self.dead = True
        self.pump()


async def runSession(endpoint, index, options, tally, keepSending):
    """
    One session: connect, open the channels, exchange until told to stop
    or until the session ends, release it.
    """
    from twisted.internet import defer

    from beepy import connectBEEP
    from beepy.profiles.echo import ECHO_URI

    tally.sessions += 1
    try:
        session = await connectBEEP(endpoint, **CLIENT_TIMEOUTS)
    except Exception as e:
        tally.ended[type(e).__name__] += 1
        return
    closed = session.notifyClose()
    drivers = []
    try:
        channels = await defer.gatherResults(
            [session.openChannel([ECHO_URI]) for _ in range(options.channels)], consumeErrors=True
        )
        budget = tally.sent + options.per_session

        def keepSendingHere():
            return keepSending() and tally.sent < budget

        for number, channel in enumerate(channels):
            drivers.append(
                ChannelDriver(channel, f"s{index}/c{number}", options.depth, tally, keepSendingHere)
            )
        for driver in drivers:
            driver.pump()
        await defer.gatherResults([driver.done for driver in drivers])
        await session.close()
    except Exception:
        session.disconnect()
    reason = await closed
    tally.ended[type(reason).__name__] += 1


async def soak(reactor, options):
    from twisted.internet import defer, endpoints, task

    from beepy import connectBEEP
    from beepy.chaos import ChaosProxy, parseMix
    from beepy.profiles.echo import ECHO_URI

    mix = parseMix(options.behavior, options.behavior_option)
    server = Server(options.sessions)
    try:
        backend = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", server.port)
        # Warm up: the idle reading then includes what a session loads.
        session = await connectBEEP(backend)
        channel = await session.openChannel([ECHO_URI])
        await channel.sendMessage(b"warm-up")
        await session.close()
        await task.deferLater(reactor, 0.5, lambda: None)
        idle = server.footprint()
        resetPeak(server.pid)

        proxy = ChaosProxy(backend, mix, reactor=reactor, random=random.Random(options.seed))
        port = await proxy.listen(
            endpoints.TCP4ServerEndpoint(reactor, 0, backlog=1024, interface="127.0.0.1")
        )
        through = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port)
        tally = Tally()
        started = time.monotonic()
        deadline = started + options.seconds

        def keepSending():
            return time.monotonic() < deadline and tally.sent < options.messages

        counter = iter(range(10**9))

        async def slot():
            while keepSending():
                await runSession(through, next(counter), options, tally, keepSending)

        progress = task.LoopingCall(
            lambda: print(
                f"  {time.monotonic() - started:6.0f} s  sent {tally.sent}  answered "
                f"{tally.answered}  failed {tally.failed}  sessions {tally.sessions}",
                flush=True,
            )
        )
        progress.clock = reactor
        progress.start(10, now=False)
        slots = defer.gatherResults(
            [defer.Deferred.fromCoroutine(slot()) for _ in range(options.sessions)]
        )
        await slots.addTimeout(options.seconds + options.drain, reactor)
        progress.stop()
        elapsed = time.monotonic() - started
        await proxy.close()
        peak = server.footprint()["peak_rss"]

        settleBy = time.monotonic() + options.settle
        while True:
            await task.deferLater(reactor, 0.5, lambda: None)
            end = server.footprint()
            if end["fds"] <= idle["fds"] or time.monotonic() > settleBy:
                break
        return figures(options, mix, proxy, tally, idle, peak, end, elapsed)
    finally:
        server.stop()


def figures(options, mix, proxy, tally, idle, peak, end, elapsed):
    lost = tally.inFlight
    return {
        "seconds": round(elapsed, 1),
        "sessions_at_once": options.sessions,
        "channels": options.channels,
        "depth": options.depth,
        "mix": [f"{weight}:{configured}" for weight, configured in mix],
        "connections_by_behavior": dict(sorted(proxy.chosen.items())),
        "sessions": tally.sessions,
        "sessions_ended": dict(tally.ended.most_common()),
        "sent": tally.sent,
        "answered": tally.answered,
        "failed": tally.failed,
        "failed_by": dict(tally.failures.most_common()),
        "lost": lost,
        "duplicated": tally.duplicated,
        "reordered": tally.reordered,
        "wrong": tally.wrong,
        "messages_per_second": round(tally.answered / elapsed) if elapsed else 0,
        "server_idle_rss_mib": round(idle["rss"] / MiB, 1),
        "server_peak_rss_mib": round(peak / MiB, 1),
        "server_end_rss_mib": round(end["rss"] / MiB, 1),
        "server_idle_fds": idle["fds"],
        "server_end_fds": end["fds"],
    }


def verdicts(result, options):
    """
    :return: the list of reasons the run failed (empty if it passed).
    """
    problems = [
        f"{result[name]} messages {name}"
        for name in ("lost", "duplicated", "reordered", "wrong")
        if result[name]
    ]
    if result["server_end_fds"] > result["server_idle_fds"]:
        problems.append(
            f"the server holds {result['server_end_fds']} file descriptors, "
            f"{result['server_idle_fds']} at idle"
        )
    growth = result["server_end_rss_mib"] - result["server_idle_rss_mib"]
    if growth > options.rss_slack:
        problems.append(f"the server's RSS stayed {growth:.1f} MiB above idle")
    return problems


def show(result, problems):
    width = max(map(len, result))
    for name, value in result.items():
        print(f"{name:<{width}}  {value}")
    for problem in problems:
        print(f"FAIL: {problem}")
    if not problems:
        print("PASS: nothing lost, duplicated or reordered; the server is back to idle")


def main(argv=None):
    options = parseArguments(argv)
    raiseFileLimit(4 * options.sessions + 64)
    from twisted.internet import defer, task

    async def run(reactor):
        result = await soak(reactor, options)
        problems = verdicts(result, options)
        show(result, problems)
        if options.json:
            with open(options.json, "w") as output:
                json.dump({"figures": result, "problems": problems}, output, indent=2)
        if problems:
            raise SystemExit(1)

    task.react(lambda reactor: defer.Deferred.fromCoroutine(run(reactor)))


if __name__ == "__main__":
    main()
