# -*- test-case-name: beepy.test.test_chaos_beep -*-
"""
BEEP sessions through the chaos proxy, over real loopback TCP: the server
and the clients are beepy, in this process, and the proxy misbehaves
between them.  Nothing here sleeps or times anything; each test waits on
what the sessions report.
"""

import random

from twisted.internet import defer, endpoints, error, reactor, task
from twisted.trial.unittest import TestCase

from beepy import (
    BEEPClientFactory,
    BEEPProtocol,
    BEEPServerFactory,
    Profile,
    ProfileFactory,
    ProtocolError,
    RemoteProtocolError,
    SessionTimeout,
    connectBEEP,
)
from beepy.chaos import ChaosProxy, configure, parseMix

RECORDING_ECHO_URI = "urn:beepy:test:recording-echo"


class RecordingEcho(Profile):
    """
    Echoes every message, noting its body in the order it arrived.
    """

    def messageReceived(self, message):
        self.factory.received.append(message.body)
        return message


class RecordingEchoFactory(ProfileFactory):
    uri = RECORDING_ECHO_URI
    profile = RecordingEcho

    def __init__(self):
        self.received = []


class RecordingSession(BEEPProtocol):
    def connectionMade(self):
        super().connectionMade()
        self.factory._connected(self)


class RecordingServerFactory(BEEPServerFactory):
    """
    Keeps every session it builds, to see how each one ended.
    """

    protocol = RecordingSession

    def __init__(self, *arguments, **keywords):
        super().__init__(*arguments, **keywords)
        self.sessions = []
        self._waiters = []

    def whenConnected(self, count):
        """
        :return: a ``Deferred`` firing with the ``count``-th session once it
            is connected.
        """
        if len(self.sessions) >= count:
            return defer.succeed(self.sessions[count - 1])
        waiter = defer.Deferred()
        self._waiters.append((count, waiter))
        return waiter

    def _connected(self, session):
        self.sessions.append(session)
        for count, waiter in list(self._waiters):
            if count == len(self.sessions):
                self._waiters.remove((count, waiter))
                waiter.callback(session)


class ChaosTestCase(TestCase):
    """
    A recording echo server on loopback, and proxies in front of it.
    """

    timeout = 120

    #: The server's time limits, on :attr:`serverClock`.
    serverTimeouts = {"greetingTimeout": 10.0, "idleTimeout": 60.0}

    @defer.inlineCallbacks
    def setUp(self):
        self.echo = RecordingEchoFactory()
        self.serverClock = task.Clock()
        self.server = RecordingServerFactory([self.echo], clock=self.serverClock, **self.serverTimeouts)
        endpoint = endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
        self.port = yield endpoint.listen(self.server)
        self.addCleanup(self.port.stopListening)

    @defer.inlineCallbacks
    def proxy(self, mix, seed=0):
        """
        :return: a ``Deferred`` firing with a listening :class:`ChaosProxy`
            to the server, closed at cleanup.
        """
        backend = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", self.port.getHost().port)
        proxy = ChaosProxy(backend, mix, random=random.Random(seed))
        yield proxy.listen(endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1"))
        self.addCleanup(proxy.close)
        return proxy

    def endpoint(self, proxy):
        """
        :return: a client endpoint to ``proxy``.
        """
        [port] = proxy._ports
        return endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port)

    def connect(self, proxy, **keywords):
        return connectBEEP(self.endpoint(proxy), **keywords)

    @defer.inlineCallbacks
    def exchange(self, session, label, channels, messages, depth):
        """
        Open ``channels`` echo channels on ``session`` and send each
        ``messages`` unique messages, ``depth`` in flight per channel.

        :return: a ``Deferred`` firing with ``{channel label: (bodies sent,
            replies in the order they came)}``, or failing with the first
            failure.
        """
        opened = yield defer.gatherResults(
            [session.openChannel([RECORDING_ECHO_URI]) for _ in range(channels)]
        )
        sent, replied, runs = {}, {}, []
        for index, channel in enumerate(opened):
            name = f"{label}/c{index}"
            sent[name] = [f"{name}/m{n}".encode() for n in range(messages)]
            replied[name] = []

            def send(body, channel=channel, name=name):
                reply = channel.sendMessage(body)
                return reply.addCallback(lambda message: replied[name].append(message.body))

            # The semaphore admits waiters in order: the messages leave in order.
            inFlight = defer.DeferredSemaphore(depth)
            runs.extend(inFlight.run(send, body) for body in sent[name])
        yield defer.gatherResults(runs, consumeErrors=True)
        return {name: (sent[name], replied[name]) for name in sent}

    def assertNothingLost(self, exchanges):
        """
        Every message of every channel reached the server once, in order,
        and its reply came back once, in order.
        """
        received = {}
        for body in self.echo.received:
            received.setdefault(body.rsplit(b"/", 1)[0].decode(), []).append(body)
        for name, (sent, replied) in exchanges.items():
            self.assertEqual(replied, sent, f"replies on {name}")
            self.assertEqual(received.get(name), sent, f"what the server got on {name}")

    @defer.inlineCallbacks
    def assertServes(self):
        """
        A session started now, through a proxy that passes everything,
        exchanges messages.
        """
        proxy = yield self.proxy(parseMix(["dummy"]))
        session = yield self.connect(proxy)
        exchanges = yield self.exchange(session, "after", channels=2, messages=50, depth=5)
        self.assertNothingLost(exchanges)
        yield session.close()


class NothingLostTests(ChaosTestCase):
    """
    With ``split``, ``delay`` and ``slow``, many channels on several
    sessions exchange thousands of messages with none lost, duplicated or
    reordered.
    """

    @defer.inlineCallbacks
    def manySessions(self, mix, sessions=4, channels=8, messages=100, depth=10):
        proxy = yield self.proxy(mix, seed=1)
        connected = yield defer.gatherResults([self.connect(proxy) for _ in range(sessions)])
        exchanges = yield defer.gatherResults(
            [
                self.exchange(session, f"s{index}", channels, messages, depth)
                for index, session in enumerate(connected)
            ]
        )
        merged = {name: run for exchange in exchanges for name, run in exchange.items()}
        self.assertEqual(sum(len(sent) for sent, _ in merged.values()), sessions * channels * messages)
        self.assertNothingLost(merged)
        yield defer.gatherResults([session.close() for session in connected])
        return proxy

    @defer.inlineCallbacks
    def test_split(self):
        """
        Pieces of 1 to 7 octets, cut inside frame headers and trailers,
        both ways.
        """
        proxy = yield self.manySessions([(1, configure("split", size=7))])
        self.assertEqual(proxy.chosen, {"split": 4})

    def test_delay(self):
        """
        Every chunk held for 5 ms, both ways.
        """
        return self.manySessions([(1, configure("delay", seconds=0.005))])

    def test_slow(self):
        """
        32 octets at a time at 256 KB/s, both ways.
        """
        return self.manySessions([(1, configure("slow", rate=256000.0, size=32))])

    @defer.inlineCallbacks
    def test_mixed(self):
        """
        A mix of them and pass-through, eight sessions at once.
        """
        mix = parseMix(
            ["2:split,1:delay,1:slow,1:dummy"],
            ["split:size=3", "delay:seconds=0.002", "slow:rate=512000", "slow:size=64"],
        )
        proxy = yield self.manySessions(mix, sessions=8, channels=4, messages=100)
        self.assertEqual(set(proxy.chosen), {"split", "delay", "slow", "dummy"})


class FailureTests(ChaosTestCase):
    """
    A reset or a corrupted stream ends only the session it hits: what
    waited on it fails with a reason, and the server goes on serving.
    """

    @defer.inlineCallbacks
    def pending(self, session, count):
        """
        Open a channel and send ``count`` messages at once.

        :return: a ``Deferred`` firing with their ``Deferred``\\ s.
        """
        channel = yield session.openChannel([RECORDING_ECHO_URI])
        return [channel.sendMessage(b"pending/m%d" % n) for n in range(count)]

    @defer.inlineCallbacks
    def settle(self, replies):
        """
        :return: a ``Deferred`` firing with ``(bodies of the replies that
            came, exceptions of the ones that failed)`` once all are done.
        """
        outcomes = yield defer.DeferredList(replies, consumeErrors=True)
        bodies = [result.body for ok, result in outcomes if ok]
        errors = [result.value for ok, result in outcomes if not ok]
        # Replies come in order: once one failed, none after it came.
        self.assertEqual([ok for ok, _ in outcomes], sorted((ok for ok, _ in outcomes), reverse=True))
        return bodies, errors

    @defer.inlineCallbacks
    def test_reset(self):
        """
        Reset after 2 to 3 KB: every message still waiting for its reply
        fails with ``ConnectionLost``, so does the session, the server
        closes its side, and a session started afterwards is served.
        """
        proxy = yield self.proxy(parseMix(["reset"], ["reset:after=2000", "reset:spread=1000"]))
        session = yield self.connect(proxy)
        closed = session.notifyClose()
        replies = yield self.pending(session, 200)
        bodies, errors = yield self.settle(replies)
        self.assertTrue(errors)
        for e in errors:
            self.assertIsInstance(e, error.ConnectionLost)
        self.assertEqual(bodies, [b"pending/m%d" % n for n in range(len(bodies))])
        self.assertIsInstance((yield closed), error.ConnectionLost)
        serverSession = yield self.server.whenConnected(1)
        serverReason = yield serverSession.notifyClose()
        self.assertIsInstance(serverReason, error.ConnectionLost)
        yield self.assertServes()

    @defer.inlineCallbacks
    def corrupted(self, direction):
        """
        Three sessions exchange messages at once, one through ``corrupt``
        aiming at frame headers going ``direction``, two through
        ``dummy``.

        :return: a ``Deferred`` firing with the corrupted session's
            ``(client session, its server session, exchange Failure)``.
        """
        corrupt = yield self.proxy(
            parseMix(["corrupt"], ["corrupt:target=header", "corrupt:after=1500",
                                   f"corrupt:direction={direction}"])
        )
        dummy = yield self.proxy(parseMix(["dummy"]))
        victim = yield self.connect(corrupt)
        victimServer = yield self.server.whenConnected(1)
        others = yield defer.gatherResults([self.connect(dummy), self.connect(dummy)])
        runs = [
            self.exchange(session, f"s{index}", channels=4, messages=100, depth=10)
            for index, session in enumerate([victim] + others)
        ]
        outcomes = yield defer.DeferredList(runs, consumeErrors=True)
        (victimOk, victimOutcome), *rest = outcomes
        self.assertFalse(victimOk, "the corrupted session went on")
        for ok, exchanges in rest:
            self.assertTrue(ok, exchanges)
            self.assertNothingLost(exchanges)
        for session in others:
            closed = session.notifyClose()
            yield session.close()
            self.assertIsInstance((yield closed), error.ConnectionDone)
        for session in self.server.sessions[1:]:
            self.assertIsInstance((yield session.notifyClose()), error.ConnectionDone)
        return victim, victimServer, victimOutcome

    @defer.inlineCallbacks
    def test_corruptToServer(self):
        """
        A malformed frame header from a client makes the server terminate
        that session without a response (RFC 3080 section 2.2.1.1); the
        client's waiting messages fail, and the other sessions go on.
        """
        victim, victimServer, outcome = yield self.corrupted("upstream")
        serverReason = yield victimServer.notifyClose()
        self.assertIsInstance(serverReason, RemoteProtocolError)
        self.assertIsInstance(outcome.value.subFailure.value, error.ConnectionClosed)
        self.assertIsInstance((yield victim.notifyClose()), error.ConnectionClosed)
        yield self.assertServes()

    @defer.inlineCallbacks
    def test_corruptToClient(self):
        """
        A malformed frame header from the server makes the client terminate
        the session, with the protocol error as its reason; the other
        sessions go on.
        """
        victim, victimServer, outcome = yield self.corrupted("downstream")
        reason = yield victim.notifyClose()
        self.assertIsInstance(reason, RemoteProtocolError)
        # What was waiting fails with the violation; a message the
        # application sends on after it, with "the session was terminated".
        self.assertIsInstance(outcome.value.subFailure.value, ProtocolError)
        self.assertIsInstance((yield victimServer.notifyClose()), error.ConnectionClosed)
        yield self.assertServes()


class HangTests(ChaosTestCase):
    """
    A proxy that goes silent: the session timeouts of both ends fail what
    waits with :class:`beepy.SessionTimeout`, and the server goes on
    serving.  The clocks are ``task.Clock``\ s: the tests say when the
    time is up instead of waiting for it.
    """

    @defer.inlineCallbacks
    def test_hangBeforeGreeting(self):
        """
        No greeting comes through: the client gives up after its greeting
        timeout, the server drops the silent connection after its own.
        """
        proxy = yield self.proxy(parseMix(["hang"]))
        clientClock = task.Clock()
        factory = BEEPClientFactory(clock=clientClock, greetingTimeout=5.0)
        session = yield self.endpoint(proxy).connect(factory)
        greeted, closed = session.whenGreeted(), session.notifyClose()
        serverSession = yield self.server.whenConnected(1)
        serverClosed = serverSession.notifyClose()
        self.serverClock.advance(self.serverTimeouts["greetingTimeout"])
        self.assertEqual((yield serverClosed).timeout, "greeting")
        self.assertNoResult(greeted)
        clientClock.advance(5.0)
        timeout = yield self.assertFailure(greeted, SessionTimeout)
        self.assertEqual(timeout.timeout, "greeting")
        self.assertIsInstance((yield closed), SessionTimeout)
        yield self.assertServes()

    @defer.inlineCallbacks
    def octetsToOpenAChannel(self):
        """
        :return: a ``Deferred`` firing with how many octets, both ways
            together, a session exchanges up to an open channel, measured
            through ``dummy``.
        """
        proxy = yield self.proxy(parseMix(["dummy"]))
        session = yield self.connect(proxy)
        yield session.openChannel([RECORDING_ECHO_URI])
        [pipe] = proxy.pipes
        octets = pipe.upstream.delivered + pipe.downstream.delivered
        yield session.close()
        return octets

    @defer.inlineCallbacks
    def test_hangMidSession(self):
        """
        The proxy goes silent once a channel is open: every message sent
        then fails with the client's idle timeout, the server drops the
        session after its own, and serves a new one.
        """
        octets = yield self.octetsToOpenAChannel()
        proxy = yield self.proxy(parseMix(["hang"], [f"hang:after={octets}"]))
        clientClock = task.Clock()
        session = yield self.connect(proxy, clock=clientClock, idleTimeout=30.0)
        closed = session.notifyClose()
        channel = yield session.openChannel([RECORDING_ECHO_URI])
        replies = [channel.sendMessage(b"lost/m%d" % n) for n in range(50)]
        serverSession = yield self.server.whenConnected(2)
        serverClosed = serverSession.notifyClose()
        self.serverClock.advance(self.serverTimeouts["idleTimeout"])
        self.assertEqual((yield serverClosed).timeout, "idle")
        for reply in replies:
            self.assertNoResult(reply)
        clientClock.advance(30.0)
        outcomes = yield defer.DeferredList(replies, consumeErrors=True)
        for ok, failure in outcomes:
            self.assertFalse(ok)
            failure.trap(SessionTimeout)
            self.assertEqual(failure.value.timeout, "idle")
        self.assertIsInstance((yield closed), SessionTimeout)
        self.assertNotIn(b"lost/m0", self.echo.received)
        yield self.assertServes()
