# -*- test-case-name: beepy.test.test_integration -*-
"""
A few end-to-end tests over real loopback TCP sockets.
"""

from twisted.internet import defer, endpoints, reactor
from twisted.trial.unittest import TestCase

from beepy import BEEPError, BEEPServerFactory, Message, Profile, ProfileFactory, connectBEEP
from beepy.profiles.echo import ECHO_URI, EchoFactory
from beepy.profiles.sink import SINK_URI, SinkFactory


class CountdownProfile(Profile):
    def messageReceived(self, message):
        count = int(message.body)
        return [b"%d" % n for n in range(count, 0, -1)]


class CountdownFactory(ProfileFactory):
    uri = "urn:test:countdown"
    profile = CountdownProfile


class LoopbackTCPTests(TestCase):
    timeout = 30

    @defer.inlineCallbacks
    def setUp(self):
        factory = BEEPServerFactory([EchoFactory(), SinkFactory(), CountdownFactory()])
        endpoint = endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
        self.port = yield endpoint.listen(factory)
        self.addCleanup(self.port.stopListening)

    def connect(self):
        address = self.port.getHost()
        endpoint = endpoints.TCP4ClientEndpoint(reactor, address.host, address.port)
        return connectBEEP(endpoint)

    @defer.inlineCallbacks
    def test_echoSinkAndRelease(self):
        """
        A real client opens echo and sink channels, exchanges a message far
        larger than the default window, and releases the session; the
        connection then closes cleanly.
        """
        session = yield self.connect()
        self.assertEqual(session.peerProfiles, (ECHO_URI, SINK_URI, CountdownFactory.uri))
        echo = yield session.openChannel([ECHO_URI])
        sink = yield session.openChannel([SINK_URI])
        body = bytes(range(256)) * 4096  # 1 MiB
        replies = yield defer.gatherResults(
            [echo.sendMessage(Message(body, contentType="application/x-test")), sink.sendMessage(b"x")]
        )
        self.assertEqual(replies[0].body, body)
        self.assertEqual(replies[0].contentType, "application/x-test")
        self.assertEqual(replies[1].body, b"")
        closed = session.notifyClose()
        yield session.close()
        reason = yield closed
        self.assertEqual(type(reason).__name__, "ConnectionDone")

    @defer.inlineCallbacks
    def test_manyChannelsAndAnswers(self):
        """
        Twenty channels run concurrently on one session, each getting an
        ANS/NUL stream back.
        """
        session = yield self.connect()
        channels = yield defer.gatherResults(
            [session.openChannel([CountdownFactory.uri]) for _ in range(20)]
        )
        self.assertEqual(sorted(c.number for c in channels), list(range(1, 40, 2)))
        answers = yield defer.gatherResults([c.sendMessage(b"5") for c in channels])
        for stream in answers:
            self.assertEqual([a.body for a in stream], [b"5", b"4", b"3", b"2", b"1"])
        yield session.close()

    @defer.inlineCallbacks
    def test_refusedStart(self):
        """
        A start for a profile the server does not offer fails with 550 over
        the wire too, and the session goes on.
        """
        session = yield self.connect()
        with self.assertRaises(BEEPError) as caught:
            yield session.openChannel(["urn:not-offered"])
        self.assertEqual(caught.exception.code, 550)
        echo = yield session.openChannel([ECHO_URI])
        reply = yield echo.sendMessage(b"still here")
        self.assertEqual(reply.body, b"still here")
        yield session.close()
