"""
The client side of one benchmark group, run by ``run.py`` in a child process:

    python client.py GROUP --server KIND:PORT:PID [--server KIND:PORT:PID]
                     --params JSON [--profile PATH]

Each ``--server`` is a side: the beepy server first, then its baseline (raw
TCP or AMP), each in a child process of its own.  The client sets both sides
up, then measures them in turn, ``reps`` times, so that a drift of the
machine's speed hits both alike; it keeps each side's best repetition, and
notes the CPU time the server and the client spent on each.  It reads each
server's memory from ``/proc/PID/status`` and prints one
``RESULT {json}`` line: ``{"beep": {...}, "baseline": {...}}``.  A workload
the library cannot do yet reports ``{"unsupported": reason}`` for its side
instead of crashing.
"""

import argparse
import cProfile
import json
import struct
import time

from common import (
    FD_SLACK,
    STREAM_ANS_URI,
    STREAM_URI,
    cpuSeconds,
    procStatus,
    raiseFileLimit,
    report,
    resetPeak,
    sessionConfig,
    setNoDelay,
)


class Side:
    """
    One server under test: ``kind`` is ``beep``, ``amp`` or ``raw``.
    """

    def __init__(self, spec):
        kind, port, pid = spec.split(":")
        self.kind, self.port, self.pid = kind, int(port), int(pid)

    def memory(self):
        status = procStatus(self.pid)
        return {"server_rss": status["VmRSS"], "server_peak_rss": status["VmHWM"]}


class Unsupported(Exception):
    """
    The library cannot do this workload yet.
    """


# -- Drivers shared by BEEP and the baselines -----------------------------------


def pipeline(send, total, depth):
    """
    Send ``total`` requests with ``send()`` (which returns a ``Deferred`` of
    the response), keeping ``depth`` of them in flight.

    :return: a ``Deferred`` firing once every response has arrived.
    """
    from twisted.internet import defer

    finished = defer.Deferred()
    state = {"sent": 0, "done": 0}

    def one():
        state["sent"] += 1
        send().addCallbacks(answered, failed)

    def answered(_):
        state["done"] += 1
        if state["sent"] < total:
            one()
        elif state["done"] == total and not finished.called:
            finished.callback(None)

    def failed(failure):
        if not finished.called:
            finished.errback(failure)

    for _ in range(min(depth, total)):
        one()
    return finished


async def timed(function, *args):
    start = time.perf_counter()
    await function(*args)
    return time.perf_counter() - start


async def roundTrips(send, count):
    """
    ``count`` requests one after another.

    :return: the round-trip times in seconds.
    """
    times = []
    for _ in range(count):
        start = time.perf_counter()
        await send()
        times.append(time.perf_counter() - start)
    return times


async def concurrently(senders, messages, depth):
    """
    Every sender sends ``messages`` requests with ``depth`` in flight, all
    at the same time.

    :return: the seconds it took.
    """
    from twisted.internet import defer

    start = time.perf_counter()
    await defer.gatherResults(
        [pipeline(send, messages, depth) for send in senders], consumeErrors=True
    )
    return time.perf_counter() - start


async def gathered(coroutines):
    from twisted.internet import defer

    return await defer.gatherResults(
        [defer.ensureDeferred(c) for c in coroutines], consumeErrors=True
    )


async def pause(reactor, seconds):
    from twisted.internet import task

    await task.deferLater(reactor, seconds, lambda: None)


# -- Connections --------------------------------------------------------------


def endpoint(reactor, side):
    from twisted.internet.endpoints import TCP4ClientEndpoint

    return TCP4ClientEndpoint(reactor, "127.0.0.1", side.port, timeout=30)


async def beepSession(reactor, side, p):
    from beepy import connectBEEP

    return await connectBEEP(endpoint(reactor, side), config=sessionConfig(p["config"]))


async def echoSender(reactor, side, p, session=None):
    """
    Connect (or use ``session``) and return ``send()``: one echo request of
    a ``p["body"]``-octet body, returning a ``Deferred`` of its reply.

    :return: ``(connection, send)``.
    """
    payload = b"m" * p.get("body", 100)
    if side.kind == "beep":
        from beepy import Message
        from beepy.profiles.echo import ECHO_URI

        session = session or await beepSession(reactor, side, p)
        channel = await session.openChannel(ECHO_URI)
        return session, lambda: channel.sendMessage(Message(payload))
    from twisted.internet.protocol import Factory

    from ampecho import Echo, EchoClient

    connection = await endpoint(reactor, side).connect(Factory.forProtocol(EchoClient))
    return connection, lambda: connection.callRemote(Echo, data=payload)


def rawSender(chunkSize):
    """
    The raw TCP baseline's sender: a plain ``Protocol`` writing 64 KiB
    chunks as fast as its transport takes them (a streaming producer).
    """
    from twisted.internet import defer
    from twisted.internet.interfaces import IPushProducer
    from twisted.internet.protocol import Protocol
    from zope.interface import implementer

    @implementer(IPushProducer)
    class RawSender(Protocol):
        def connectionMade(self):
            setNoDelay(self)
            self.transport.registerProducer(self, True)
            self._paused = False
            self._body = b""
            self._offset = 0

        def send(self, body):
            self.done = defer.Deferred()
            self._body, self._offset = body, 0
            self.transport.write(struct.pack(">Q", len(body)))
            self.resumeProducing()
            return self.done

        def pauseProducing(self):
            self._paused = True

        def resumeProducing(self):
            self._paused = False
            while self._offset < len(self._body) and not self._paused:
                chunk = self._body[self._offset : self._offset + chunkSize]
                self.transport.write(chunk)
                self._offset += len(chunk)

        def stopProducing(self):
            self._offset = len(self._body)

        def dataReceived(self, data):
            self.done.callback(None)

    return RawSender


# -- Groups: each sets one side up and returns its measure() ------------------------
#
# A group function takes (reactor, side, p) and returns an async function
# that runs one repetition and returns its result dict.

GROUPS = {}
#: group -> the key of a repetition's result to minimise when picking the best.
BEST_BY = {}


def group(bestBy):
    def register(function):
        GROUPS[function.__name__] = function
        BEST_BY[function.__name__] = bestBy
        return function

    return register


@group("seconds")
async def bulk(reactor, side, p):
    body = b"\x5a" * p["size"]
    if side.kind == "beep":
        from beepy import Message
        from beepy.profiles.sink import SINK_URI

        session = await beepSession(reactor, side, p)
        channel = await session.openChannel(SINK_URI)
        send = lambda: channel.sendMessage(Message(body))  # noqa: E731
        await channel.sendMessage(b"warm-up")
    else:
        from twisted.internet.protocol import Factory

        sender = await endpoint(reactor, side).connect(Factory.forProtocol(rawSender(p["chunk"])))
        send = lambda: sender.send(body)  # noqa: E731
        await sender.send(b"warm-up")

    async def measure():
        return {"seconds": await timed(send), "bytes": p["size"]}

    return measure


@group("seconds")
async def small(reactor, side, p):
    _, send = await echoSender(reactor, side, p)
    await pipeline(send, p["depth"], p["depth"])  # warm-up

    async def measure():
        seconds = await timed(pipeline, send, p["messages"], p["depth"])
        return {"seconds": seconds, "messages": p["messages"]}

    return measure


@group("median_us")
async def latency(reactor, side, p):
    _, send = await echoSender(reactor, side, p)
    await roundTrips(send, 50)  # warm-up

    async def measure():
        ordered = sorted(await roundTrips(send, p["messages"]))
        return {
            "median_us": ordered[len(ordered) // 2] * 1e6,
            "mean_us": sum(ordered) / len(ordered) * 1e6,
            "p99_us": ordered[int(len(ordered) * 0.99)] * 1e6,
            "messages": len(ordered),
        }

    return measure


@group("seconds")
async def channels(reactor, side, p):
    """
    BEEP: ``channels`` echo channels on one session.  The baseline: as many
    AMP connections.
    """
    if side.kind == "beep":
        session = await beepSession(reactor, side, p)
        opened = await gathered(echoSender(reactor, side, p, session) for _ in range(p["channels"]))
    else:
        opened = await gathered(echoSender(reactor, side, p) for _ in range(p["channels"]))
    senders = [send for _, send in opened]
    await concurrently(senders, p["depth"], p["depth"])  # warm-up

    async def measure():
        seconds = await concurrently(senders, p["messages"], p["depth"])
        return {"seconds": seconds, "messages": p["messages"] * p["channels"]}

    return measure


@group("seconds")
async def sessions(reactor, side, p):
    """
    ``sessions`` new sessions (or AMP connections), each doing ``messages``
    round trips, all at once.  Each repetition opens its own and drops them.
    """

    async def measure():
        start = time.perf_counter()
        opened = await gathered(echoSender(reactor, side, p) for _ in range(p["sessions"]))
        setup = time.perf_counter() - start
        seconds = await concurrently([send for _, send in opened], p["messages"], 1)
        for connection, _ in opened:
            connection.transport.loseConnection()
        return {
            "seconds": seconds,
            "setup_seconds": setup,
            "sessions": p["sessions"],
            "messages": p["messages"] * p["sessions"],
        }

    return measure


@group(None)
async def idle(reactor, side, p):
    """
    Open one session (so the server has loaded all it needs), read the
    server's RSS, open ``sessions`` more and let them sit, read it again.
    """
    if side.kind == "beep":
        connect = lambda: beepSession(reactor, side, p)  # noqa: E731
    else:

        async def connect():
            connection, send = await echoSender(reactor, side, p)
            await send()  # so that the server has surely accepted it
            return connection

    kept = [await connect()]

    async def measure():
        await pause(reactor, p["settle"])
        before = procStatus(side.pid)["VmRSS"]
        kept.extend(await gathered(connect() for _ in range(p["sessions"])))
        await pause(reactor, p["settle"])
        after = procStatus(side.pid)["VmRSS"]
        return {
            "rss_before": before,
            "rss_after": after,
            "sessions": p["sessions"],
            "per_session": (after - before) / p["sessions"],
        }

    return measure


@group(None)
async def slowread(reactor, side, p):
    """
    Bench 5's slow reader against the ``IBodyProducer`` profile; the figure
    is the server's peak RSS during the transfer over its idle RSS before it.
    """
    return await _slowRead(reactor, side, p, STREAM_URI)


@group(None)
async def slowans(reactor, side, p):
    """
    The same against the ``ANS`` stream profile.
    """
    return await _slowRead(reactor, side, p, STREAM_ANS_URI)


async def _slowRead(reactor, side, p, uri):
    from twisted.internet import task
    from twisted.internet.protocol import Factory

    from slowreader import SlowReader, StreamRefused

    def build():
        return SlowReader(reactor, uri, p["size"], p["window"], p["pause_every"], p["pause_for"])

    async def measure():
        await pause(reactor, p["settle"])
        idleRSS = procStatus(side.pid)["VmRSS"]
        peakReset = resetPeak(side.pid)
        sampled = [idleRSS]
        sampler = task.LoopingCall(lambda: sampled.append(procStatus(side.pid)["VmRSS"]))
        sampler.clock = reactor
        sampler.start(0.02)
        try:
            reader = await endpoint(reactor, side).connect(Factory.forProtocol(build))
            received, seconds = await reader.done
        except StreamRefused as e:
            raise Unsupported(f"server answered ERR: {_errorText(str(e))}") from None
        finally:
            sampler.stop()
        peak = max(max(sampled), procStatus(side.pid)["VmHWM"] if peakReset else 0)
        return {
            "idle_rss": idleRSS,
            "peak_rss": peak,
            "growth": peak - idleRSS,
            "received": received,
            "seconds": seconds,
            "peak_source": "VmHWM after clear_refs, and VmRSS sampled every 20 ms"
            if peakReset
            else "VmRSS sampled every 20 ms",
        }

    return measure


def _errorText(payload):
    """
    The interesting part of an ``<error>`` payload.
    """
    start = payload.find("<error")
    return payload[start:] if start >= 0 else payload


# -- Running a group ------------------------------------------------------------


async def runGroup(reactor, name, sides, p):
    """
    Set every side up, measure them in turn ``reps`` times, and keep each
    side's best repetition (all of them are in ``reps``).
    """
    measures = {}
    results = {}
    for label, side in sides.items():
        try:
            measures[label] = await GROUPS[name](reactor, side, p)
        except Unsupported as e:
            results[label] = {"unsupported": str(e)}
        except Exception as e:
            results[label] = {"error": f"{type(e).__name__}: {e}"}
    runs = {label: [] for label in measures}
    for _ in range(p.get("reps", 1)):
        for label, measure in list(measures.items()):
            try:
                cpu, ownCPU = cpuSeconds(sides[label].pid), time.process_time()
                result = await measure()
                result["server_cpu_seconds"] = cpuSeconds(sides[label].pid) - cpu
                result["client_cpu_seconds"] = time.process_time() - ownCPU
                runs[label].append(result)
            except Unsupported as e:
                results[label] = {"unsupported": str(e)}
                del measures[label]
            except Exception as e:
                results[label] = {"error": f"{type(e).__name__}: {e}"}
                del measures[label]
    for label, reps in runs.items():
        if label in results:
            continue
        key = BEST_BY[name]
        best = min(reps, key=lambda r: r[key]) if key else reps[0]
        results[label] = {**best, **sides[label].memory(), "reps": reps}
    return results


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("group", choices=sorted(GROUPS))
    parser.add_argument("--server", action="append", required=True, help="KIND:PORT:PID")
    parser.add_argument("--params", default="{}")
    parser.add_argument("--profile", help="write cProfile statistics here")
    options = parser.parse_args(argv)
    p = json.loads(options.params)
    labels = ["beep", "baseline"]
    sides = {label: Side(spec) for label, spec in zip(labels, options.server)}
    perSide = p.get("sessions", 0) + p.get("channels", 0)
    raiseFileLimit(len(sides) * perSide + FD_SLACK)

    from twisted.internet import defer, task

    outcome = {}

    async def run(reactor):
        outcome["result"] = await runGroup(reactor, options.group, sides, p)

    def react():
        task.react(lambda reactor: defer.ensureDeferred(run(reactor)))

    profiler = cProfile.Profile() if options.profile else None
    try:
        if profiler:
            profiler.runcall(react)
        else:
            react()
    except SystemExit:
        pass
    if profiler:
        profiler.dump_stats(options.profile)
    report(outcome.get("result", {"error": "the client ended without a result"}))


if __name__ == "__main__":
    main()
