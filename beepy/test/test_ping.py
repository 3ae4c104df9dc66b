# -*- test-case-name: beepy.test.test_ping -*-
"""
Tests for the ping profile and keepalive: sessions in memory, time from a
``Clock``.
"""

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from beepy import BEEPError, SessionTimeout, TLSPolicy
from beepy.profiles.echo import EchoFactory
from beepy.profiles.ping import PING_URI, PingFactory, PingProfile, keepAlive
from beepy.test.test_tls import SERVER_CERTIFICATE, InMemory
from beepy.testing.loopback import connectedSessions


class HangingPingProfile(PingProfile):
    """
    Answers pings until its factory is told to hang: a peer whose
    application is stuck while its TCP stack still answers.
    """

    def messageReceived(self, message):
        self.factory.pings += 1
        if self.factory.hanging:
            return defer.Deferred()
        return super().messageReceived(message)


class HangingPingFactory(PingFactory):
    profile = HangingPingProfile

    def __init__(self):
        self.pings = 0
        self.hanging = False


class PingProfileTests(SynchronousTestCase):
    def test_emptyReply(self):
        """
        Every MSG on a ping channel is answered with an empty RPY, whatever
        it carries.
        """
        client, server, pump = connectedSessions([PingFactory()])
        pump.flush()
        opening = client.openChannel(PING_URI)
        pump.flush()
        channel = self.successResultOf(opening)
        replies = [channel.sendMessage(body) for body in (b"", b"are you there?")]
        pump.flush()
        self.assertEqual([self.successResultOf(reply).body for reply in replies], [b"", b""])


class KeepAliveTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.ping = HangingPingFactory()
        self.client, self.server, self.pump = connectedSessions(
            [self.ping, EchoFactory()], clock=self.clock
        )
        self.pump.flush()

    def advance(self, seconds):
        self.clock.advance(seconds)
        self.pump.flush()

    def test_pingsEveryInterval(self):
        """
        A ping goes every interval after the last reply, and answered pings
        keep the session.
        """
        checker = self.client.keepAlive(interval=5, timeout=2)
        self.pump.flush()
        self.assertEqual(self.ping.pings, 0)
        for expected in range(1, 5):
            self.advance(5)
            self.assertEqual(self.ping.pings, expected)
        self.assertNoResult(self.client.notifyClose())
        self.assertNoResult(checker.whenDone())

    def test_peerStopsAnswering(self):
        """
        A ping unanswered within the timeout closes the session with
        SessionTimeout, and whenDone fails with it.
        """
        checker = keepAlive(self.client, interval=30, timeout=10)
        self.pump.flush()
        self.advance(30)
        self.assertEqual(self.ping.pings, 1)
        self.ping.hanging = True
        self.advance(30)
        self.advance(9.9)
        self.assertNoResult(self.client.notifyClose())
        self.advance(0.1)
        reason = self.successResultOf(self.client.notifyClose())
        self.assertIsInstance(reason, SessionTimeout)
        self.assertEqual(str(reason), "keepalive: no reply within 10 s")
        self.assertIsInstance(self.failureResultOf(checker.whenDone()).value, SessionTimeout)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_pendingReplyFails(self):
        """
        A reply still awaited on another channel when keepalive closes the
        session fails with SessionTimeout.
        """
        slow = self._open(PING_URI)
        keepAlive(self.client, interval=30, timeout=10)
        self.pump.flush()
        self.ping.hanging = True
        reply = slow.sendMessage(b"")
        self.advance(30)
        self.advance(10)
        self.failureResultOf(reply, SessionTimeout)

    def test_stop(self):
        """
        stop() ends the pings, closes the ping channel and leaves no timer.
        """
        checker = keepAlive(self.client, interval=5, timeout=2)
        self.pump.flush()
        self.advance(5)
        self.assertEqual(len(self.client.channels), 1)
        checker.stop()
        self.pump.flush()
        self.assertIsNone(self.successResultOf(checker.whenDone()))
        self.assertEqual(self.client.channels, {})
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.advance(60)
        self.assertEqual(self.ping.pings, 1)

    def test_peerWithoutPing(self):
        """
        A peer that refuses the ping channel leaves the session unchecked
        but open: whenDone fails with its refusal.
        """
        client, server, pump = connectedSessions([EchoFactory()], clock=self.clock)
        pump.flush()
        checker = keepAlive(client, interval=5, timeout=2)
        pump.flush()
        self.failureResultOf(checker.whenDone(), BEEPError)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertNoResult(client.notifyClose())

    def test_deadBeforeChannel(self):
        """
        A peer that never answers the start of the ping channel is dead too.
        """
        checker = keepAlive(self.client, interval=5, timeout=2)
        self.clock.advance(2)  # the start is never delivered
        self.pump.flush()
        self.assertIsInstance(self.successResultOf(self.client.notifyClose()), SessionTimeout)
        self.failureResultOf(checker.whenDone(), SessionTimeout)

    def test_sessionEnds(self):
        """
        A session that ends otherwise ends the checks quietly.
        """
        checker = keepAlive(self.client, interval=5, timeout=2)
        self.pump.flush()
        self.advance(5)
        self.client.close()
        self.pump.flush()
        self.assertIsNone(self.successResultOf(checker.whenDone()))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_badArguments(self):
        """
        A zero interval or timeout is refused.
        """
        self.assertRaises(ValueError, keepAlive, self.client, 0, 10)
        self.assertRaises(ValueError, keepAlive, self.client, 10, 0)

    def _open(self, uri):
        opening = self.client.openChannel(uri)
        self.pump.flush()
        return self.successResultOf(opening)


class KeepAliveTLSTests(SynchronousTestCase):
    def test_afterTLS(self):
        """
        TLS discards every channel: the checks go on over a new ping
        channel on the secured session.
        """
        ping = HangingPingFactory()
        pair = InMemory(serverTLS=TLSPolicy(SERVER_CERTIFICATE), serverProfiles=[EchoFactory(), ping])
        checker = pair.client.keepAlive(interval=5, timeout=2)
        pair.pump.flush()
        pair.clock.advance(5)
        pair.pump.flush()
        self.assertEqual(ping.pings, 1)
        securing = pair.client.startTLS(serverName="beep.example")
        pair.pump.flush()
        self.assertEqual(pair.tlsRoles(), ("client", "server"))
        for session in (pair.client, pair.server):
            session.handshakeCompleted()
        pair.pump.flush()
        self.successResultOf(securing)
        for _ in range(2):
            pair.clock.advance(5)
            pair.pump.flush()
        self.assertEqual(ping.pings, 2)
        self.assertEqual([c.profileURI for c in pair.client.channels.values()], [PING_URI])
        self.assertNoResult(checker.whenDone())
        self.assertNoResult(pair.client.notifyClose())
