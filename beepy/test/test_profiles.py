# -*- test-case-name: beepy.test.test_profiles -*-
"""
Tests for the profiles beepy ships, with the options the registry gives
them: the echo profile's delay and the sink profile's window.
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from beepy.core.mime import Message
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
