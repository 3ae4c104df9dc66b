# -*- test-case-name: beepy.test.test_integration -*-
"""
A few end-to-end tests over real loopback TCP sockets.
"""

from twisted.internet import defer, endpoints, reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import FileBodyProducer

from beepy import (
    BEEPError,
    BEEPServerFactory,
    Message,
    Profile,
    ProfileFactory,
    SessionConfig,
    StreamingMessage,
    connectBEEP,
)
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


class CountingReader:
    """
    A file-like object producing ``size`` octets of a repeating pattern
    without holding them, counting how much was read.
    """

    def __init__(self, size):
        self.size = size
        self.position = 0

    def read(self, n):
        n = min(n, self.size - self.position)
        self.position += n
        return bytes(n)

    def seek(self, offset, whence=0):
        pass

    def tell(self):
        return self.position

    def close(self):
        pass


class PausingSinkFactory(SinkFactory):
    """
    A sink whose channel the test can pause, like an application that has
    stopped consuming.
    """

    uri = "urn:test:pausing-sink"

    def __init__(self):
        self.channels = []

    def buildProfile(self, channel, start):
        self.channels.append(channel)
        return super().buildProfile(channel, start)


class NotifyingProducer(FileBodyProducer):
    """
    Tells, through ``paused``, when beepy first holds it back.
    """

    readSize = 2**16

    def __init__(self, reader):
        super().__init__(reader, readSize=self.readSize)
        self.paused = defer.Deferred()

    def pauseProducing(self):
        super().pauseProducing()
        if not self.paused.called:
            self.paused.callback(None)


class StreamingTCPTests(TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def test_streamedUploadWithBackpressure(self):
        """
        A 32 MiB body streams from a file-like producer over real TCP into
        a sink that has stopped consuming: the sender reads no more than the
        peer's window plus its stream buffer and a read, and the transfer
        completes once the sink resumes.
        """
        sink = PausingSinkFactory()
        config = SessionConfig(streamBuffer=128 * 1024)
        endpoint = endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
        port = yield endpoint.listen(BEEPServerFactory([sink], config=config))
        self.addCleanup(port.stopListening)
        address = port.getHost()
        session = yield connectBEEP(
            endpoints.TCP4ClientEndpoint(reactor, address.host, address.port), config=config
        )
        channel = yield session.openChannel(sink.uri)
        [serverChannel] = sink.channels
        serverChannel.pauseProducing()
        reader = CountingReader(32 * 1024 * 1024)
        producer = NotifyingProducer(reader)
        reply = channel.sendMessage(StreamingMessage(producer))
        yield producer.paused
        held = reader.position
        bound = config.receiveWindow + config.streamBuffer + producer.readSize
        # Kernel socket buffers are not involved: the sink grants no credit.
        self.assertLessEqual(held, bound)
        serverChannel.resumeProducing()
        yield reply
        self.assertEqual(reader.position, 32 * 1024 * 1024)
        yield session.close()
