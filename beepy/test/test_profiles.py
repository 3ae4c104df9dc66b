# -*- test-case-name: beepy.test.test_profiles -*-
"""
Tests for the profiles beepy ships, with the options the registry gives
them: the echo profile's delay and the sink profile's window.
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from beepy.core.errors import BEEPError, LocalProtocolError
from beepy.core.mime import Message
from beepy.profile import ProfileFactory
from beepy.profiles.echo import ECHO_URI, EchoFactory
from beepy.profiles.sink import SINK_URI, SinkFactory
from beepy.testing.loopback import connectedSessions


class EchoTests(SynchronousTestCase):
    def test_immediate(self):
        client, server, pump = connectedSessions([EchoFactory()])
        opening = client.openChannel([ECHO_URI])
        pump.flush()
        replying = self.successResultOf(opening).sendMessage(Message(b"hi"))
        pump.flush()
        self.assertEqual(self.successResultOf(replying).body, b"hi")

    def test_delay(self):
        """
        With a delay, the reply leaves only once that much time has passed.
        """
        clock = Clock()
        client, server, pump = connectedSessions([EchoFactory(delay=2.0, clock=clock)])
        opening = client.openChannel([ECHO_URI])
        pump.flush()
        replying = self.successResultOf(opening).sendMessage(Message(b"hi"))
        pump.flush()
        clock.advance(1.9)
        pump.flush()
        self.assertNoResult(replying)
        clock.advance(0.1)
        pump.flush()
        self.assertEqual(self.successResultOf(replying).body, b"hi")

    def test_delayOnTheSessionsClock(self):
        """
        Without a clock of its own, the delay is kept by the session's, so
        a service run on a given reactor keeps time on it.
        """
        clock = Clock()
        client, server, pump = connectedSessions([EchoFactory(delay=1.0)], clock=clock)
        opening = client.openChannel([ECHO_URI])
        pump.flush()
        replying = self.successResultOf(opening).sendMessage(Message(b"hi"))
        pump.flush()
        self.assertNoResult(replying)
        clock.advance(1)
        pump.flush()
        self.assertEqual(self.successResultOf(replying).body, b"hi")

    def test_negativeDelay(self):
        self.assertRaises(ValueError, EchoFactory, delay=-1)


class SinkTests(SynchronousTestCase):
    def test_window(self):
        """
        A sink with its own window advertises it on each channel it runs.
        """
        client, server, pump = connectedSessions([SinkFactory(receiveWindow=8192)])
        seen = []
        receive = client._session.receiveData

        def spy(data):
            events = receive(data)
            seen.extend(data.split(b"\r\n"))
            return events

        client._session.receiveData = spy
        opening = client.openChannel([SINK_URI])
        pump.flush()
        replying = self.successResultOf(opening).sendMessage(Message(b"x" * 100))
        pump.flush()
        self.successResultOf(replying)
        self.assertIn(b"SEQ 1 0 8192", seen)

    def test_badWindow(self):
        """
        A window BEEP cannot advertise is refused when the factory is made,
        so ``--profile-option sink:window=...`` fails at start-up.
        """
        for window in (0, 4095, 2**31):
            self.assertRaises(ValueError, SinkFactory, receiveWindow=window)
        SinkFactory(receiveWindow=4096)


class StartAnsweredTests(SynchronousTestCase):
    def test_windowRefusedBySession(self):
        """
        A profile that asks for a window the session cannot open with still
        gets the peer's start answered: refused with 451, no channel kept.
        """

        class Greedy(ProfileFactory):
            uri = "urn:test:greedy"

            def buildProfile(self, channel, start):
                channel.setReceiveWindow(0)
                return super().buildProfile(channel, start)

        client, server, pump = connectedSessions([Greedy()])
        opening = client.openChannel([Greedy.uri])
        pump.flush()
        self.assertEqual(self.failureResultOf(opening, BEEPError).value.code, 451)
        self.assertEqual(list(server.channels), [])
        self.flushLoggedErrors(LocalProtocolError)
