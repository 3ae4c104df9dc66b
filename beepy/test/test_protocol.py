# -*- test-case-name: beepy.test.test_protocol -*-
"""
Tests for the Twisted layer: two sessions wired together in memory, driven
through the public API.
"""

from twisted.internet import defer, error
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from beepy import (
    Answers,
    BEEPError,
    IProfile,
    IProfileFactory,
    Message,
    Profile,
    ProfileElement,
    ProfileFactory,
    ReplyCode,
    SessionConfig,
)
from beepy.core.codec import FrameDecoder, encodeFrame
from beepy.core.management import encodeManagement
from beepy.core.frames import DataFrame, FrameType
from beepy.core.errors import RemoteProtocolError
from beepy.factory import BEEPServerFactory
from beepy.profiles.echo import ECHO_URI, EchoFactory
from beepy.profiles.sink import SINK_URI, SinkFactory
from beepy.testing.loopback import connectedSessions


class RecordingProfile(Profile):
    """
    Keeps every message and lets the test answer each through a Deferred.
    """

    def __init__(self):
        self.received = []
        self.closedWith = None
        self.closeAnswer = True

    def messageReceived(self, message):
        answer = defer.Deferred()
        self.received.append((message, answer))
        return answer

    def closeRequested(self, code, text):
        return self.closeAnswer

    def channelClosed(self, reason):
        self.closedWith = reason


class RecordingFactory(ProfileFactory):
    uri = "urn:test:recording"

    def __init__(self, refusal=None):
        self.built = []
        self.starts = []
        self.refusal = refusal
        self.pendingStart = None

    def buildProfile(self, channel, start):
        self.starts.append(start)
        if self.refusal is not None:
            raise self.refusal
        profile = RecordingProfile()
        profile.channel = channel
        self.built.append(profile)
        if self.pendingStart is not None:
            return self.pendingStart.addCallback(lambda _: profile)
        return profile


class SessionTestsMixin:
    def connect(self, serverProfiles=(), clientProfiles=(), **kwargs):
        self.client, self.server, self.pump = connectedSessions(
            serverProfiles, clientProfiles, **kwargs
        )
        self.pump.flush()

    def open(self, uris, session=None, **kwargs):
        opening = (session or self.client).openChannel(uris, **kwargs)
        self.pump.flush()
        return self.successResultOf(opening)

    def send(self, channel, message, **kwargs):
        sending = channel.sendMessage(message, **kwargs)
        self.pump.flush()
        return sending


class GreetingTests(SessionTestsMixin, SynchronousTestCase):
    def test_profilesOffered(self):
        """
        Each side's greeting lists the URIs of its profile factories.
        """
        self.connect([EchoFactory(), SinkFactory()])
        self.assertEqual(self.client.peerProfiles, (ECHO_URI, SINK_URI))
        self.assertEqual(self.server.peerProfiles, ())

    def test_whenGreeted(self):
        """
        whenGreeted fires with the session once the peer's greeting is in.
        """
        self.connect([EchoFactory()])
        self.assertIs(self.successResultOf(self.client.whenGreeted()), self.client)

    def test_featuresAndLocalize(self):
        """
        The greeting carries the factory's features and localize attributes.
        """
        self.connect(features="x-test", localize="fr en")
        self.assertEqual(self.client.peerGreeting.features, "x-test")
        self.assertEqual(self.client.peerGreeting.localize, "fr en")

    def test_tcpNoDelay(self):
        """
        The session turns Nagle's algorithm off on a TCP transport.
        """
        transport = StringTransport()
        transport.setTcpNoDelay = lambda enabled: setattr(transport, "noDelay", enabled)
        protocol = BEEPServerFactory([EchoFactory()], clock=Clock()).buildProtocol(None)
        protocol.makeConnection(transport)
        self.assertTrue(transport.noDelay)

    def test_greetingSentAtOnce(self):
        """
        The listener sends its greeting as soon as the connection is made,
        as RPY 0 0 with the application/beep+xml content type.
        """
        transport = StringTransport()
        BEEPServerFactory([EchoFactory()], clock=Clock()).buildProtocol(None).makeConnection(transport)
        decoder = FrameDecoder(4096)
        decoder.receiveData(transport.value())
        frame = decoder.nextFrame()
        self.assertEqual((frame.type, frame.channel, frame.msgno), (FrameType.RPY, 0, 0))
        self.assertIn(b"Content-Type: application/beep+xml", frame.payload)
        self.assertIn(ECHO_URI.encode(), frame.payload)

    def test_profileFactoriesVerified(self):
        """
        The shipped profiles provide the interfaces they claim.
        """
        for factory in (EchoFactory(), SinkFactory(), RecordingFactory()):
            verifyObject(IProfileFactory, factory)
            verifyObject(IProfile, factory.buildProfile(None, None))

    def test_notAProfileFactory(self):
        """
        A factory refuses profiles that do not provide IProfileFactory.
        """
        self.assertRaises(TypeError, BEEPServerFactory, [object()])


class ChannelStartTests(SessionTestsMixin, SynchronousTestCase):
    def test_openChannel(self):
        """
        openChannel fires with a channel running the profile the peer chose.
        """
        self.connect([EchoFactory()])
        channel = self.open([ECHO_URI])
        self.assertEqual((channel.number, channel.profileURI), (1, ECHO_URI))
        self.assertEqual(list(self.server.channels), [1])

    def test_preferenceOrder(self):
        """
        The listener takes the first candidate it offers, in the initiator's
        order of preference.
        """
        self.connect([EchoFactory(), SinkFactory()])
        channel = self.open(["urn:unknown", SINK_URI, ECHO_URI])
        self.assertEqual(channel.profileURI, SINK_URI)

    def test_unsupported(self):
        """
        A start naming no offered profile fails with 550.
        """
        self.connect([EchoFactory()])
        opening = self.client.openChannel(["urn:unknown"])
        self.pump.flush()
        self.assertEqual(self.failureResultOf(opening, BEEPError).value.code, 550)

    def test_refusedByFactory(self):
        """
        A BEEPError raised by buildProfile refuses the start with its code.
        """
        self.connect([RecordingFactory(BEEPError(ReplyCode.SERVICE_NOT_AVAILABLE, "busy"))])
        opening = self.client.openChannel([RecordingFactory.uri])
        self.pump.flush()
        refusal = self.failureResultOf(opening, BEEPError).value
        self.assertEqual((refusal.code, refusal.text), (421, "busy"))

    def test_factoryCrash(self):
        """
        Any other exception from buildProfile refuses with 451 and is logged.
        """
        self.connect([RecordingFactory(ZeroDivisionError())])
        opening = self.client.openChannel([RecordingFactory.uri])
        self.pump.flush()
        self.assertEqual(self.failureResultOf(opening, BEEPError).value.code, 451)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_asynchronousStart(self):
        """
        buildProfile may return a Deferred; the start is answered when it fires.
        """
        factory = RecordingFactory()
        factory.pendingStart = defer.Deferred()
        self.connect([factory])
        opening = self.client.openChannel([RecordingFactory.uri])
        self.pump.flush()
        self.assertNoResult(opening)
        factory.pendingStart.callback(None)
        self.pump.flush()
        self.assertEqual(self.successResultOf(opening).profileURI, RecordingFactory.uri)

    def test_piggyback(self):
        """
        Content piggybacked on the start reaches the factory; content it
        sets on replyContent reaches the opener.
        """

        class Greeter(ProfileFactory):
            uri = "urn:test:greeter"

            def buildProfile(self, channel, start):
                start.replyContent = b"hello " + start.content
                return Profile()

        self.connect([Greeter()])
        channel = self.open([ProfileElement(Greeter.uri, b"\x00binary\xff")])
        self.assertEqual(channel.startContent, b"hello \x00binary\xff")

    def test_serverName(self):
        """
        The serverName of the start reaches the factory.
        """
        factory = RecordingFactory()
        self.connect([factory])
        self.open([RecordingFactory.uri], serverName="beep.example")
        self.assertEqual(factory.starts[0].serverName, "beep.example")

    def test_listenerStartsChannel(self):
        """
        The listener can start channels too; they get even numbers.
        """
        factory = RecordingFactory()
        self.connect(clientProfiles=[factory])
        channel = self.open([RecordingFactory.uri], session=self.server)
        self.assertEqual(channel.number, 2)


class MessageTests(SessionTestsMixin, SynchronousTestCase):
    def setUp(self):
        self.factory = RecordingFactory()
        self.connect([EchoFactory(), SinkFactory(), self.factory])

    def test_echo(self):
        """
        The echo profile answers with the message it received, headers
        included.
        """
        channel = self.open([ECHO_URI])
        message = Message(b"hello", contentType="text/plain")
        self.assertEqual(self.successResultOf(self.send(channel, message)), message)

    def test_sink(self):
        """
        The sink profile answers every message with an empty reply.
        """
        channel = self.open([SINK_URI])
        self.assertEqual(self.successResultOf(self.send(channel, b"data")), Message())

    def test_largeMessage(self):
        """
        A message far larger than the 4096-octet window gets through both
        ways.
        """
        channel = self.open([ECHO_URI])
        body = bytes(range(256)) * 1000
        self.assertEqual(self.successResultOf(self.send(channel, body)).body, body)

    def test_errorReply(self):
        """
        A BEEPError raised by the profile fails the sender's Deferred with the
        same code and text.
        """
        channel = self.open([RecordingFactory.uri])
        sending = self.send(channel, b"x")
        self.factory.built[0].received[0][1].errback(BEEPError(550, "no such thing"))
        self.pump.flush()
        refusal = self.failureResultOf(sending, BEEPError).value
        self.assertEqual((refusal.code, refusal.text), (550, "no such thing"))

    def test_crashReply(self):
        """
        Any other exception is logged and answered with ERR 451.
        """
        channel = self.open([RecordingFactory.uri])
        sending = self.send(channel, b"x")
        self.factory.built[0].received[0][1].errback(ZeroDivisionError())
        self.pump.flush()
        self.assertEqual(self.failureResultOf(sending, BEEPError).value.code, 451)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_repliesInOrder(self):
        """
        Replies reach the sender in the order of the messages, even when the
        profile answers the later one first (RFC 3080 section 2.6.1).
        """
        channel = self.open([RecordingFactory.uri])
        first, second = self.send(channel, b"1"), self.send(channel, b"2")
        received = self.factory.built[0].received
        order = []
        first.addCallback(lambda reply: order.append(reply.body))
        second.addCallback(lambda reply: order.append(reply.body))
        received[1][1].callback(Message(b"second"))
        self.pump.flush()
        self.assertEqual(order, [])
        received[0][1].callback(Message(b"first"))
        self.pump.flush()
        self.assertEqual(order, [b"first", b"second"])

    def test_answersAsList(self):
        """
        An iterable reply becomes ANS messages then NUL; without a callback
        the sender gets the list of answers.
        """
        channel = self.open([RecordingFactory.uri])
        sending = self.send(channel, b"x")
        self.factory.built[0].received[0][1].callback([Message(b"a"), b"b"])
        self.pump.flush()
        self.assertEqual(
            [answer.body for answer in self.successResultOf(sending)], [b"a", b"b"]
        )

    def test_answersPushed(self):
        """
        An Answers object streams answers as the profile sends them; the
        sender's callback sees each one as it arrives.
        """
        channel = self.open([RecordingFactory.uri])
        seen = []
        sending = self.send(channel, b"x", answerReceived=lambda m: seen.append(m.body))
        answers = Answers()
        answers.send(b"early")
        self.factory.built[0].received[0][1].callback(answers)
        self.pump.flush()
        self.assertEqual(seen, [b"early"])
        answers.send(b"late")
        self.pump.flush()
        self.assertEqual(seen, [b"early", b"late"])
        self.assertNoResult(sending)
        answers.finish()
        self.pump.flush()
        self.assertEqual(self.successResultOf(sending), [])

    def test_answersAsynchronous(self):
        """
        An asynchronous iterable reply is streamed as ANS messages too.
        """
        gate = defer.Deferred()

        async def produce():
            yield b"one"
            await gate
            yield b"two"

        channel = self.open([RecordingFactory.uri])
        sending = self.send(channel, b"x")
        self.factory.built[0].received[0][1].callback(produce())
        self.pump.flush()
        self.assertNoResult(sending)
        gate.callback(None)
        self.pump.flush()
        self.assertEqual([a.body for a in self.successResultOf(sending)], [b"one", b"two"])

    def test_zeroAnswers(self):
        """
        An empty iterable is a NUL alone.
        """
        channel = self.open([RecordingFactory.uri])
        sending = self.send(channel, b"x")
        self.factory.built[0].received[0][1].callback([])
        self.pump.flush()
        self.assertEqual(self.successResultOf(sending), [])

    def test_listenerSendsMessage(self):
        """
        Either side may send MSGs on any channel: the listener's MSG on a
        channel the initiator started is answered by the initiator's profile
        (as RFC 3195 syslog RAW requires).
        """

        class Device(Profile):
            def messageReceived(self, message):
                return [b"line 1", b"line 2"]

        factory = RecordingFactory()
        self.connect([factory])
        self.open([RecordingFactory.uri], profile=Device())
        serverChannel = self.server.channels[1]
        sending = self.send(serverChannel, b"start")
        self.assertEqual(
            [a.body for a in self.successResultOf(sending)], [b"line 1", b"line 2"]
        )

    def test_noProfileForMessages(self):
        """
        A MSG on a channel whose opener gave no profile is refused with 504.
        """
        channel = self.open([ECHO_URI])
        sending = self.send(self.server.channels[channel.number], b"x")
        self.assertEqual(self.failureResultOf(sending, BEEPError).value.code, 504)

    def test_messageTooLarge(self):
        """
        A message over maxMessageSize is answered with ERR 554 and the
        session carries on.
        """
        self.connect([EchoFactory()], config=SessionConfig(maxMessageSize=1000))
        channel = self.open([ECHO_URI])
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        sending = self.send(channel, b"x" * 2000)
        self.assertEqual(self.failureResultOf(sending, BEEPError).value.code, 554)
        self.assertEqual(self.successResultOf(self.send(channel, b"small")).body, b"small")
        self.assertTrue(any("over the limit" in e["log_format"] for e in observer))


class CloseTests(SessionTestsMixin, SynchronousTestCase):
    def setUp(self):
        self.factory = RecordingFactory()
        self.connect([EchoFactory(), self.factory])

    def test_closeChannel(self):
        """
        Closing a channel fires its Deferred and tells the peer's profile.
        """
        channel = self.open([RecordingFactory.uri])
        closing = channel.close()
        self.pump.flush()
        self.assertIsNone(self.successResultOf(closing))
        self.assertEqual(self.client.channels, {})
        self.assertEqual(self.server.channels, {})
        self.assertIsNotNone(self.factory.built[0].closedWith)

    def test_closeRefused(self):
        """
        A profile refusing the close fails the close Deferred with 550 and
        the channel stays usable.
        """
        channel = self.open([RecordingFactory.uri])
        self.factory.built[0].closeAnswer = False
        closing = channel.close()
        self.pump.flush()
        self.assertEqual(self.failureResultOf(closing, BEEPError).value.code, 550)
        self.assertTrue(channel.isOpen)

    def test_closeWaitsForReplies(self):
        """
        close() waits for the replies the channel still awaits, then closes.
        """
        channel = self.open([RecordingFactory.uri])
        sending = self.send(channel, b"x")
        closing = channel.close()
        self.pump.flush()
        self.assertNoResult(closing)
        self.factory.built[0].received[0][1].callback(b"done")
        self.pump.flush()
        self.assertEqual(self.successResultOf(sending).body, b"done")
        self.assertIsNone(self.successResultOf(closing))

    def test_sendAfterClose(self):
        """
        Sending on a closed channel fails at once.
        """
        channel = self.open([ECHO_URI])
        channel.close()
        self.pump.flush()
        self.failureResultOf(channel.sendMessage(b"x"), error.ConnectionDone)

    def test_releaseSession(self):
        """
        close() on the session closes its channels, releases channel 0 and
        both sides drop the connection.
        """
        self.open([ECHO_URI])
        closed = self.server.notifyClose()
        releasing = self.client.close()
        self.pump.flush()
        self.assertIsNone(self.successResultOf(releasing))
        self.assertTrue(self.client.transport.disconnecting)
        self.assertTrue(self.server.transport.disconnecting)
        self.pump.flush()
        self.assertIsInstance(self.successResultOf(closed), error.ConnectionDone)

    def test_connectionLostFailsPending(self):
        """
        A dropped connection fails every pending Deferred with the reason.
        """
        channel = self.open([RecordingFactory.uri])
        sending = self.send(channel, b"x")
        opening = self.client.openChannel([ECHO_URI])
        closed = self.client.notifyClose()
        self.client.connectionLost(error.ConnectionLost("cable cut"))
        self.failureResultOf(sending, error.ConnectionLost)
        self.failureResultOf(opening, error.ConnectionLost)
        self.assertIsInstance(self.successResultOf(closed), error.ConnectionLost)
        self.failureResultOf(channel.sendMessage(b"y"), error.ConnectionLost)
        self.failureResultOf(self.client.openChannel([ECHO_URI]))


class ViolationTests(SessionTestsMixin, SynchronousTestCase):
    def test_poorlyFormedFrameTerminates(self):
        """
        A poorly formed frame terminates the session with one log line, and
        pending Deferreds fail with the violation.
        """
        self.connect([EchoFactory()])
        channel = self.open([ECHO_URI])
        pending = channel.sendMessage(b"x")
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        # A reply for a message number the server never sent.
        bogus = DataFrame(FrameType.RPY, 1, 99, False, 0, b"\r\nx")
        self.server.dataReceived(encodeFrame(bogus))
        self.assertTrue(self.server.transport.disconnecting)
        self.assertEqual(len(observer), 1)
        self.assertIn("Terminating", observer[0]["log_format"])
        self.server.connectionLost(error.ConnectionDone())
        self.client.connectionLost(error.ConnectionLost())
        self.failureResultOf(pending)

    def test_garbageTerminates(self):
        """
        Bytes that are not a frame terminate the session; nothing is sent
        in response.
        """
        transport = StringTransport()
        protocol = BEEPServerFactory([EchoFactory()], clock=Clock()).buildProtocol(None)
        protocol.makeConnection(transport)
        transport.clear()
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        protocol.dataReceived(b"GET / HTTP/1.1\r\n")
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value(), b"")
        self.assertIsInstance(observer[0]["error"], RemoteProtocolError)
        waiting = protocol.whenGreeted()
        protocol.connectionLost(error.ConnectionDone())
        self.failureResultOf(waiting, RemoteProtocolError)

    def test_messagesBeforeViolationInOneRead(self):
        """
        Messages that arrive in the same read as a malformed frame still
        reach the profile, but no reply is attempted on the terminated
        session, which would raise: the only log line is the termination
        (found by the chaos proxy's ``corrupt`` behaviour).
        """
        self.connect([EchoFactory()])
        self.open([ECHO_URI])
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        message = DataFrame(FrameType.MSG, 1, 5, False, 0, b"\r\nx")
        self.server.dataReceived(encodeFrame(message) + b"MSG \xb1 6 . 3 3\r\n")
        self.assertTrue(self.server.transport.disconnecting)
        self.assertEqual([event["log_format"][:11] for event in observer], ["Terminating"])


class ReviewRegressionTests(SessionTestsMixin, SynchronousTestCase):
    """
    Cases a review of the Twisted layer found mishandled.
    """

    def setUp(self):
        self.factory = RecordingFactory()
        self.connect([EchoFactory(), self.factory])

    def answer(self, result):
        channel = self.open([RecordingFactory.uri])
        sending = self.send(channel, b"x")
        self.factory.built[0].received[0][1].callback(result)
        self.pump.flush()
        return sending

    def test_releaseRefused(self):
        """
        When the peer declines the release, close() fails with its error and
        the session goes on.
        """
        self.server.releaseRequested = lambda code, text: defer.fail(
            BEEPError(550, "still working")
        )
        releasing = self.client.close()
        self.pump.flush()
        self.assertEqual(self.failureResultOf(releasing, BEEPError).value.text, "still working")
        self.assertFalse(self.client.transport.disconnecting)
        self.assertEqual(self.successResultOf(self.send(self.open([ECHO_URI]), b"on")).body, b"on")

    def test_releaseAccepted(self):
        """
        releaseRequested returning True (the default) lets the session go.
        """
        asked = []
        self.server.releaseRequested = lambda code, text: asked.append((code, text)) or True
        releasing = self.client.close(text="bye")
        self.pump.flush()
        self.assertIsNone(self.successResultOf(releasing))
        self.assertEqual(asked, [(200, "bye")])

    def test_errorBeforeFirstAnswer(self):
        """
        A generator that raises BEEPError before its first answer is an ERR,
        not an empty success.
        """

        def failing():
            raise BEEPError(554, "no answers today")
            yield b"never"

        self.assertEqual(self.failureResultOf(self.answer(failing()), BEEPError).value.code, 554)

    def test_asyncErrorBeforeFirstAnswer(self):
        """
        The same holds for an asynchronous iterable.
        """

        async def failing():
            raise BEEPError(554, "no answers today")
            yield b"never"

        self.assertEqual(self.failureResultOf(self.answer(failing()), BEEPError).value.code, 554)

    def test_stringReplyRefused(self):
        """
        A str is not an iterable of answers: it is answered with ERR 451.
        """
        self.assertEqual(self.failureResultOf(self.answer("text"), BEEPError).value.code, 451)
        self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)

    def test_bytesReplyIsABody(self):
        """
        bytes returned by a profile are the body of the reply, whatever they
        look like, as they are when sent.
        """
        body = b"note: remember\r\n\r\nthe milk"
        self.assertEqual(self.successResultOf(self.answer(body)), Message(body))

    def test_whenGreetedAfterRefusal(self):
        """
        whenGreeted after a refused session fails with the refusal, not with
        the connection's end.
        """
        transport = StringTransport()
        protocol = BEEPServerFactory(clock=Clock()).buildProtocol(None)
        protocol.makeConnection(transport)
        refusal = BEEPError(421, "busy")
        payload = Message(encodeManagement(refusal), contentType="application/beep+xml")
        protocol.dataReceived(
            encodeFrame(DataFrame(FrameType.ERR, 0, 0, False, 0, payload.toPayload()))
        )
        protocol.connectionLost(error.ConnectionDone())
        self.assertEqual(self.failureResultOf(protocol.whenGreeted(), BEEPError).value, refusal)

    def test_reentrantChannelClosed(self):
        """
        A profile whose channelClosed closes another channel does not break
        the session.
        """
        channels = [self.open([RecordingFactory.uri]) for _ in range(2)]

        class Closer(Profile):
            def channelClosed(self, reason):
                channels[1].close()

        channels[0].profile = Closer()
        self.server.close()
        self.pump.flush()
        self.assertEqual(self.client.channels, {})
