# -*- test-case-name: beepy.test.test_timeouts -*-
"""
Tests for the greeting, idle and frame timeouts: sessions in memory, time
from a ``Clock``.
"""

from twisted.internet import defer, error
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from beepy import BEEPClientFactory, BEEPServerFactory, ProfileFactory, SessionTimeout
from beepy.core.session import Role, Session
from beepy.profiles.echo import ECHO_URI, EchoFactory
from beepy.test.test_protocol import RecordingFactory
from beepy.testing.loopback import connectedSessions

class StallingFactory(ProfileFactory):
    """
    Never decides on a start.
    """

    uri = "urn:test:stalling"

    def buildProfile(self, channel, start):
        return defer.Deferred()


def peerGreeting():
    """
    :return: the octets of an initiator's greeting offering nothing.
    """
    peer = Session(Role.INITIATOR)
    peer.greet()
    return peer.dataToSend()


class DefaultsTests(SynchronousTestCase):
    def test_factoryDefaults(self):
        """
        Both factories give a greeting 30 s and a frame 60 s, and set no idle
        limit: the server's tool chooses that one.
        """
        for factoryClass in (BEEPServerFactory, BEEPClientFactory):
            session = factoryClass().buildProtocol(None)
            self.assertEqual(
                (session.greetingTimeout, session.idleTimeout, session.frameTimeout),
                (30.0, None, 60.0),
            )

    def test_factoryPassesTimeouts(self):
        """
        The factory's timeouts reach each session it builds.
        """
        factory = BEEPServerFactory(greetingTimeout=5, idleTimeout=300, frameTimeout=7)
        session = factory.buildProtocol(None)
        self.assertEqual(
            (session.greetingTimeout, session.idleTimeout, session.frameTimeout), (5, 300, 7)
        )

    def test_message(self):
        """
        A SessionTimeout says which limit ran out, and its length.
        """
        timeout = SessionTimeout("keepalive", 10, "no reply within")
        self.assertEqual(str(timeout), "keepalive: no reply within 10 s")
        self.assertEqual((timeout.timeout, timeout.seconds), ("keepalive", 10))


class ServerTimeoutsMixin:
    """
    A listening session on a ``StringTransport``: the test plays the peer
    octet by octet.
    """

    def listen(self, **timeouts):
        self.clock = Clock()
        factory = BEEPServerFactory([EchoFactory()], clock=self.clock, **timeouts)
        self.session = factory.buildProtocol(None)
        self.transport = StringTransport()
        self.session.makeConnection(self.transport)
        self.closed = self.session.notifyClose()

    def lose(self):
        """
        Deliver the end of the connection the session asked for.
        """
        self.assertTrue(self.transport.disconnecting)
        self.session.connectionLost(Failure(error.ConnectionAborted()))

    def assertTimedOut(self, message):
        """
        The session dropped the connection at once (no wait for the peer) and
        says why.
        """
        self.assertTrue(self.transport.disconnected, "the connection was not aborted")
        self.lose()
        reason = self.successResultOf(self.closed)
        self.assertIsInstance(reason, SessionTimeout)
        self.assertEqual(str(reason), message)


class GreetingTimeoutTests(ServerTimeoutsMixin, SynchronousTestCase):
    def test_noGreeting(self):
        """
        A peer that sends no greeting within greetingTimeout is dropped;
        whenGreeted fails with SessionTimeout, a warning names the peer and
        the timeout.
        """
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.listen(greetingTimeout=30)
        greeted = self.session.whenGreeted()
        self.clock.advance(29.9)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(0.1)
        self.assertTimedOut("greeting: no greeting within 30 s")
        self.failureResultOf(greeted, SessionTimeout)
        [event] = [e for e in observer if e.get("timeout") == "greeting"]
        self.assertEqual(event["peer"], self.transport.getPeer())
        self.assertEqual(event["log_level"].name, "warn")

    def test_greetedInTime(self):
        """
        Once the peer has greeted, the greeting timeout is cancelled.
        """
        self.listen(greetingTimeout=30, frameTimeout=None)
        self.session.dataReceived(peerGreeting())
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(3600)
        self.assertFalse(self.transport.disconnecting)

    def test_noTimeout(self):
        """
        greetingTimeout=None waits for ever.
        """
        self.listen(greetingTimeout=None)
        self.clock.advance(3600)
        self.assertFalse(self.transport.disconnecting)

    def test_lostFirst(self):
        """
        A connection lost for another reason cancels every timer, and the
        reason stays its own.
        """
        self.listen(greetingTimeout=30, idleTimeout=10)
        self.session.connectionLost(Failure(error.ConnectionLost()))
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertIsInstance(self.successResultOf(self.closed), error.ConnectionLost)


class FrameTimeoutTests(ServerTimeoutsMixin, SynchronousTestCase):
    def setUp(self):
        self.listen(idleTimeout=300, frameTimeout=60)
        self.session.dataReceived(peerGreeting())

    def test_slowloris(self):
        """
        A peer that trickles a frame, each octet well within the idle
        timeout, is dropped once the frame has taken frameTimeout.
        """
        header = b"MSG 0 1 . 0 100\r\n"
        for octet in header:
            self.session.dataReceived(bytes([octet]))
            self.clock.advance(3)
        # 17 octets, 51 s: still within the limit.
        self.assertFalse(self.transport.disconnecting)
        self.session.dataReceived(b"<")
        self.clock.advance(9)
        self.assertTimedOut("frame: a frame took longer than 60 s")

    def test_eachFrameItsOwnTime(self):
        """
        The count restarts with each frame: a peer whose frames each take
        less than frameTimeout stays, even if one always stands unfinished.
        """
        seq = b"SEQ 0 0 4096\r\n"
        self.session.dataReceived(seq[:5])
        for _ in range(5):
            self.clock.advance(40)
            self.session.dataReceived(seq[5:] + seq[:5])
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(60)
        self.assertTimedOut("frame: a frame took longer than 60 s")

    def test_completeFramesStopIt(self):
        """
        Once no frame is unfinished, no frame timer runs.
        """
        self.session.dataReceived(b"SEQ 0 0 ")
        self.session.dataReceived(b"4096\r\n")
        self.clock.advance(200)
        self.assertFalse(self.transport.disconnecting)


class IdleTimeoutTests(SynchronousTestCase):
    def connect(self, serverIdle=None, clientIdle=None):
        self.clock = Clock()
        self.slow = RecordingFactory()
        self.client, self.server, self.pump = connectedSessions(
            [EchoFactory(), self.slow, StallingFactory()],
            clock=self.clock,
            serverArguments={"idleTimeout": serverIdle},
            clientArguments={"idleTimeout": clientIdle},
        )
        self.pump.flush()

    def open(self, uri):
        opening = self.client.openChannel(uri)
        self.pump.flush()
        return self.successResultOf(opening)

    def sendUnanswered(self, **idleTimeouts):
        """
        Connect, and send a message the listener does not answer yet.

        :return: the channel and the reply's ``Deferred``.
        """
        self.connect(**idleTimeouts)
        channel = self.open(RecordingFactory.uri)
        reply = channel.sendMessage(b"take your time")
        self.pump.flush()
        return channel, reply

    def test_idleSessionClosed(self):
        """
        A session with no octet in or out for idleTimeout is closed; traffic
        restarts the count.
        """
        self.connect(serverIdle=10)
        closed = self.client.notifyClose()
        channel = self.open(ECHO_URI)
        self.clock.advance(9)
        echoed = channel.sendMessage(b"still here")
        self.pump.flush()
        self.successResultOf(echoed)
        self.clock.advance(9)
        self.pump.flush()
        self.assertNoResult(closed)
        self.clock.advance(1)
        self.pump.flush()
        serverReason = self.successResultOf(self.server.notifyClose())
        self.assertEqual(str(serverReason), "idle: no octet in or out for 10 s")
        self.assertIsInstance(self.successResultOf(closed), error.ConnectionLost)

    def test_awaitedReplyDoesNotStopIt(self):
        """
        A session awaiting the peer's reply, hearing nothing, is idle: the
        reply's Deferred fails with SessionTimeout.
        """
        channel, reply = self.sendUnanswered(clientIdle=10)
        self.clock.advance(10)
        self.pump.flush()
        failure = self.failureResultOf(reply, SessionTimeout)
        self.assertEqual(failure.value.timeout, "idle")
        [(_, answer)] = self.slow.built[0].received
        self.assertFalse(answer.called)

    def test_owedReplyStopsIt(self):
        """
        While we owe the peer a reply, our silence is our own: the count
        waits, and starts again once the reply has gone.
        """
        channel, reply = self.sendUnanswered(serverIdle=10)
        self.clock.advance(100)
        self.pump.flush()
        self.assertNoResult(reply)
        [(_, answer)] = self.slow.built[0].received
        answer.callback(b"done")
        self.pump.flush()
        self.successResultOf(reply)
        self.clock.advance(9.5)
        self.pump.flush()
        self.assertTrue(channel.isOpen)
        self.clock.advance(0.5)
        self.pump.flush()
        self.assertIsInstance(self.successResultOf(self.server.notifyClose()), SessionTimeout)

    def test_openChannelFails(self):
        """
        A channel start still pending when the session times out fails with
        SessionTimeout.
        """
        self.connect(clientIdle=10)
        opening = self.client.openChannel(StallingFactory.uri)
        self.pump.flush()
        self.clock.advance(10)
        self.pump.flush()
        self.failureResultOf(opening, SessionTimeout)
