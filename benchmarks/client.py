"""
The client side of a benchmark, run by ``run.py`` in a child process:

    python client.py WORKLOAD --port N --server-pid PID --params JSON [--profile PATH]

It runs one workload against the server on ``127.0.0.1:N``, times it, reads
the server's memory from ``/proc/PID/status`` where the workload needs it,
and prints one ``RESULT {json}`` line.  A workload the library cannot do
yet reports ``{"unsupported": reason}`` instead of crashing.
"""

import argparse
import cProfile
import json
import struct
import sys
import time

from common import (
    FD_SLACK,
    STREAM_URI,
    procStatus,
    raiseFileLimit,
    report,
    resetPeak,
    sessionConfig,
    setNoDelay,
)

WORKLOADS = {}


def workload(function):
    WORKLOADS[function.__name__.replace("_", "-")] = function
    return function


# -- Drivers shared by BEEP and AMP ------------------------------------------


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


def latencySummary(times):
    ordered = sorted(times)
    return {
        "median_us": ordered[len(ordered) // 2] * 1e6,
        "mean_us": sum(ordered) / len(ordered) * 1e6,
        "p99_us": ordered[int(len(ordered) * 0.99)] * 1e6,
    }


def serverMemory(pid):
    status = procStatus(pid)
    return {"server_rss": status["VmRSS"], "server_peak_rss": status["VmHWM"]}


# -- Connections --------------------------------------------------------------


def endpoint(reactor, port):
    from twisted.internet.endpoints import TCP4ClientEndpoint

    return TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=30)


async def beepSession(reactor, port, configName):
    from beepy import connectBEEP

    return await connectBEEP(endpoint(reactor, port), config=sessionConfig(configName))


async def beepChannel(reactor, port, configName, uri):
    session = await beepSession(reactor, port, configName)
    return session, await session.openChannel(uri)


async def ampConnection(reactor, port):
    from twisted.internet.protocol import Factory

    from ampecho import Echo, EchoClient

    connection = await endpoint(reactor, port).connect(Factory.forProtocol(EchoClient))

    def call(data):
        return connection.callRemote(Echo, data=data)

    return connection, call


async def gathered(coroutines):
    from twisted.internet import defer

    return await defer.gatherResults(
        [defer.ensureDeferred(c) for c in coroutines], consumeErrors=True
    )


# -- Workloads ------------------------------------------------------------------


@workload
async def bulk_beep(reactor, options, p):
    from beepy import Message
    from beepy.profiles.sink import SINK_URI

    session, channel = await beepChannel(reactor, options.port, p["config"], SINK_URI)
    await channel.sendMessage(b"warm-up")
    body = b"\x5a" * p["size"]
    best = min([await timed(channel.sendMessage, Message(body)) for _ in range(p["reps"])])
    return {"seconds": best, "bytes": p["size"], **serverMemory(options.server_pid)}


@workload
async def bulk_raw(reactor, options, p):
    from twisted.internet import defer
    from twisted.internet.protocol import Factory, Protocol
    from zope.interface import implementer
    from twisted.internet.interfaces import IPushProducer

    chunkSize = p["chunk"]

    @implementer(IPushProducer)
    class RawSender(Protocol):
        def connectionMade(self):
            setNoDelay(self)
            self.transport.registerProducer(self, True)
            self._paused = False
            self._remaining = 0
            self._body = None
            self._offset = 0

        def send(self, body):
            self.done = defer.Deferred()
            self._body, self._offset, self._remaining = body, 0, len(body)
            self.transport.write(struct.pack(">Q", len(body)))
            self.resumeProducing()
            return self.done

        def pauseProducing(self):
            self._paused = True

        def resumeProducing(self):
            self._paused = False
            while self._remaining and not self._paused:
                chunk = self._body[self._offset : self._offset + chunkSize]
                self.transport.write(chunk)
                self._remaining -= len(chunk)
                self._offset += len(chunk)

        def stopProducing(self):
            self._remaining = 0

        def dataReceived(self, data):
            self.done.callback(None)

    sender = await endpoint(reactor, options.port).connect(Factory.forProtocol(RawSender))
    await sender.send(b"warm-up")
    body = b"\x5a" * p["size"]
    best = min([await timed(sender.send, body) for _ in range(p["reps"])])
    return {"seconds": best, "bytes": p["size"], **serverMemory(options.server_pid)}


async def _rate(send, p):
    await pipeline(send, p["depth"], p["depth"])  # warm-up
    best = min([await timed(pipeline, send, p["messages"], p["depth"]) for _ in range(p["reps"])])
    return {"seconds": best, "messages": p["messages"]}


@workload
async def small_beep(reactor, options, p):
    from beepy import Message
    from beepy.profiles.echo import ECHO_URI

    session, channel = await beepChannel(reactor, options.port, p["config"], ECHO_URI)
    payload = b"m" * p["body"]
    return await _rate(lambda: channel.sendMessage(Message(payload)), p)


@workload
async def small_amp(reactor, options, p):
    connection, call = await ampConnection(reactor, options.port)
    payload = b"m" * p["body"]
    return await _rate(lambda: call(payload), p)


async def _latency(send, p):
    await roundTrips(send, min(100, p["messages"]))  # warm-up
    return latencySummary(await roundTrips(send, p["messages"]))


@workload
async def latency_beep(reactor, options, p):
    from beepy import Message
    from beepy.profiles.echo import ECHO_URI

    session, channel = await beepChannel(reactor, options.port, p["config"], ECHO_URI)
    payload = b"m" * p["body"]
    return await _latency(lambda: channel.sendMessage(Message(payload)), p)


@workload
async def latency_amp(reactor, options, p):
    connection, call = await ampConnection(reactor, options.port)
    payload = b"m" * p["body"]
    return await _latency(lambda: call(payload), p)


async def _concurrently(senders, p):
    """
    Every sender in ``senders`` sends ``p["messages"]`` requests with
    ``p["depth"]`` in flight, all at the same time.
    """
    from twisted.internet import defer

    start = time.perf_counter()
    await defer.gatherResults(
        [pipeline(send, p["messages"], p["depth"]) for send in senders], consumeErrors=True
    )
    return time.perf_counter() - start


@workload
async def channels_beep(reactor, options, p):
    from beepy import Message
    from beepy.profiles.echo import ECHO_URI

    session = await beepSession(reactor, options.port, p["config"])
    channels = await gathered(session.openChannel(ECHO_URI) for _ in range(p["channels"]))
    payload = b"m" * p["body"]
    senders = [(lambda c=c: c.sendMessage(Message(payload))) for c in channels]
    seconds = await _concurrently(senders, p)
    return {"seconds": seconds, "messages": p["messages"] * p["channels"], **serverMemory(options.server_pid)}


@workload
async def channels_amp(reactor, options, p):
    """
    The baseline for many channels: as many AMP connections.
    """
    connections = await gathered(ampConnection(reactor, options.port) for _ in range(p["channels"]))
    payload = b"m" * p["body"]
    senders = [(lambda call=call: call(payload)) for _, call in connections]
    seconds = await _concurrently(senders, p)
    return {"seconds": seconds, "messages": p["messages"] * p["channels"], **serverMemory(options.server_pid)}


async def _opened(reactor, options, p):
    from beepy.profiles.echo import ECHO_URI

    return await beepChannel(reactor, options.port, p["config"], ECHO_URI)


@workload
async def sessions_beep(reactor, options, p):
    from beepy import Message

    start = time.perf_counter()
    opened = await gathered(_opened(reactor, options, p) for _ in range(p["sessions"]))
    setup = time.perf_counter() - start
    payload = b"m" * p["body"]
    senders = [(lambda c=c: c.sendMessage(Message(payload))) for _, c in opened]
    seconds = await _concurrently(senders, {"messages": p["messages"], "depth": 1})
    return {
        "seconds": seconds,
        "setup_seconds": setup,
        "sessions": p["sessions"],
        "messages": p["messages"] * p["sessions"],
        **serverMemory(options.server_pid),
    }


@workload
async def sessions_amp(reactor, options, p):
    start = time.perf_counter()
    connections = await gathered(ampConnection(reactor, options.port) for _ in range(p["sessions"]))
    setup = time.perf_counter() - start
    payload = b"m" * p["body"]
    senders = [(lambda call=call: call(payload)) for _, call in connections]
    seconds = await _concurrently(senders, {"messages": p["messages"], "depth": 1})
    return {
        "seconds": seconds,
        "setup_seconds": setup,
        "sessions": p["sessions"],
        "messages": p["messages"] * p["sessions"],
        **serverMemory(options.server_pid),
    }


async def _idle(reactor, options, p, connect):
    """
    Open one connection (so the server has loaded all it needs), read the
    server's RSS, open ``p["sessions"]`` more and let them sit, read it again.
    """
    from twisted.internet import task

    kept = [await connect()]
    await task.deferLater(reactor, p["settle"], lambda: None)
    before = procStatus(options.server_pid)["VmRSS"]
    kept += await gathered(connect() for _ in range(p["sessions"]))
    await task.deferLater(reactor, p["settle"], lambda: None)
    after = procStatus(options.server_pid)["VmRSS"]
    return {
        "rss_before": before,
        "rss_after": after,
        "sessions": p["sessions"],
        "per_session": (after - before) / p["sessions"],
    }


@workload
async def idle_beep(reactor, options, p):
    return await _idle(reactor, options, p, lambda: beepSession(reactor, options.port, p["config"]))


@workload
async def idle_amp(reactor, options, p):
    async def connect():
        connection, call = await ampConnection(reactor, options.port)
        await call(b"")  # so that the server has surely accepted it
        return connection

    return await _idle(reactor, options, p, connect)


@workload
async def slowread_beep(reactor, options, p):
    from twisted.internet import task
    from twisted.internet.protocol import Factory

    from slowreader import SlowReader, StreamRefused

    def build():
        return SlowReader(reactor, STREAM_URI, p["size"], p["window"], p["pause_every"], p["pause_for"])

    # Let the freshly started server settle before reading its idle RSS.
    await task.deferLater(reactor, p["settle"], lambda: None)
    idle = procStatus(options.server_pid)["VmRSS"]
    peakReset = resetPeak(options.server_pid)
    sampled = [idle]
    sampler = task.LoopingCall(lambda: sampled.append(procStatus(options.server_pid)["VmRSS"]))
    sampler.clock = reactor
    sampler.start(0.02)
    reader = await endpoint(reactor, options.port).connect(Factory.forProtocol(build))
    try:
        received, seconds = await reader.done
    except StreamRefused as e:
        return {"unsupported": f"server answered ERR: {_errorText(str(e))}"}
    finally:
        sampler.stop()
    status = procStatus(options.server_pid)
    peak = max(max(sampled), status["VmHWM"] if peakReset else 0)
    return {
        "idle_rss": idle,
        "peak_rss": peak,
        "growth": peak - idle,
        "received": received,
        "seconds": seconds,
        "peak_source": "VmHWM after clear_refs, and VmRSS sampled every 20 ms"
        if peakReset
        else "VmRSS sampled every 20 ms",
    }


def _errorText(payload):
    """
    The interesting part of an ``<error>`` payload.
    """
    start = payload.find("<error")
    return payload[start:] if start >= 0 else payload


# -- Main -----------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--params", default="{}")
    parser.add_argument("--profile", help="write cProfile statistics here")
    options = parser.parse_args(argv)
    p = json.loads(options.params)
    raiseFileLimit(p.get("sessions", 0) + p.get("channels", 0) + FD_SLACK)

    from twisted.internet import defer, task

    outcome = {}

    async def run(reactor):
        try:
            outcome["result"] = await WORKLOADS[options.workload](reactor, options, p)
        except Exception as e:
            outcome["result"] = {"error": f"{type(e).__name__}: {e}"}

    def react():
        task.react(lambda reactor: defer.ensureDeferred(run(reactor)))

    try:
        if options.profile:
            profiler = cProfile.Profile()
            profiler.runcall(react)
        else:
            react()
    except SystemExit:
        pass
    if options.profile:
        profiler.dump_stats(options.profile)
    report(outcome.get("result", {"error": "no result"}))


if __name__ == "__main__":
    main()
