# -*- test-case-name: beepy.test.test_limits -*-
"""
Tests for the limits that bound what a peer can make us hold: each at its
limit (nothing happens) and just past it (a clean refusal, or termination
with a log line), in the core and through the Twisted layer.
"""

import tracemalloc
from dataclasses import replace

from twisted.internet import defer, endpoints, reactor, task
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock, StringTransport
from twisted.logger import globalLogPublisher
from twisted.python.usage import UsageError
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import implementer

from beepy import (
    Answers,
    BEEPError,
    IFrameReceiver,
    Message,
    Profile,
    ProfileFactory,
    RemoteProtocolError,
    ReplyCode,
    SessionConfig,
    connectBEEP,
)
from beepy.certificates import selfSignedCertificate
from beepy.core.events import (
    ChannelStartRequested,
    FrameReceived,
    MessageDiscarded,
    MessageReceived,
)
from beepy.core.frames import FrameType, SeqFrame
from beepy.core.management import Greeting, ProfileElement, Start, errorFromMessage
from beepy.core.sasl import digestmd5, otp, scram
from beepy.core.sasl.base import SASLError
from beepy.core.sasl.digestmd5 import DigestMD5Server
from beepy.core.sasl.otp import OTPClient, OTPServer
from beepy.core.sasl.scram import SCRAMServer
from beepy.core.session import HELD_EVENT_COST, REFUSAL_BACKLOG
from beepy.factory import BEEPClientFactory, BEEPServerFactory
from beepy.tap import makeService
from beepy.test.test_session import (
    RFC_WINDOWS,
    URI,
    ScriptedPeer,
    SessionTestCase,
    dataFramesOn,
    managementPayload,
    seqFramesOn,
)
from beepy.test import rawpeer
from beepy.test.test_tap import parse
from beepy.testing.loopback import connectedSessions

MSG, RPY, ERR, ANS = FrameType.MSG, FrameType.RPY, FrameType.ERR, FrameType.ANS


def replies(frames, channel):
    """
    ``(type, msgno)`` of each reply frame sent on ``channel``.
    """
    return [(f.type, f.msgno) for f in dataFramesOn(frames, channel) if f.type is not MSG]


class OutstandingMessagesTests(SessionTestCase):
    """
    ``maxOutstandingMessages``: the peer may pipeline that many ``MSG``\\ s
    per channel; the next ones are refused with ``ERR`` 421 in their turn,
    and a peer that reads none of the refusals is terminated.
    """

    config = replace(RFC_WINDOWS, maxOutstandingMessages=3)

    def pipeline(self, count, frames=False):
        """
        Open a channel (whose application takes frames, if ``frames``) and
        send ``count`` ``MSG``\\ s on it at once.

        :return: the events they caused.
        """
        self.peer = ScriptedPeer(config=self.config)
        if frames:
            self.peer.deliver(self.peer.request(Start(1, (ProfileElement(URI),))))
            self.peer.session.acceptStart(1, URI, frames=True)
            self.peer.read()
            self.number = 1
        else:
            self.number = self.peer.openChannel()
        number = self.number
        return self.peer.deliver(
            *[self.peer.frame(MSG, number, msgno, b"\r\nm%d" % msgno) for msgno in range(count)]
        )

    def test_atTheLimit(self):
        """
        As many ``MSG``\\ s as the limit all reach the application.
        """
        events = self.pipeline(3)
        self.assertEventTypes(events, MessageReceived, MessageReceived, MessageReceived)
        self.assertEqual(replies(self.peer.read(), self.number), [])

    def test_pastTheLimitRefusedInTurn(self):
        """
        A ``MSG`` past the limit does not reach the application; its ``ERR``
        421 leaves after the replies to the earlier ones, whatever order
        the application answers them in (RFC 3080 section 2.6.1).
        """
        events = self.pipeline(4)
        self.assertEqual([e.msgno for e in events], [0, 1, 2])
        session = self.peer.session
        session.sendReply(self.number, 2, Message(b"two"))
        session.sendReply(self.number, 1, Message(b"one"))
        self.assertEqual(replies(self.peer.read(), self.number), [])
        session.sendReply(self.number, 0, Message(b"zero"))
        frames = self.peer.read()
        self.assertEqual(
            replies(frames, self.number), [(RPY, 0), (RPY, 1), (RPY, 2), (ERR, 3)]
        )
        error = errorFromMessage(Message.fromPayload(dataFramesOn(frames, self.number)[-1].payload))
        self.assertEqual(error.code, ReplyCode.SERVICE_NOT_AVAILABLE)
        self.assertIn("more than 3 messages", error.text)
        # Answered, they make room again.
        events = self.peer.deliver(self.peer.frame(MSG, self.number, 4, b"\r\nagain"))
        self.assertEventTypes(events, MessageReceived)

    def test_refusedMessageIgnoredWhole(self):
        """
        Every frame of a refused ``MSG`` is ignored, not only the first.
        """
        self.pipeline(3)
        events = self.peer.deliver(
            self.peer.frame(MSG, self.number, 3, b"\r\nfirst", more=True),
            self.peer.frame(MSG, self.number, 3, b"last"),
            self.peer.frame(MSG, self.number, 4, b"\r\nanother"),
        )
        self.assertEqual(events, [])

    def test_unreadRefusalsTerminate(self):
        """
        A peer that leaves ``REFUSAL_BACKLOG`` times the limit of refusals
        waiting, all channels together, and sends another ``MSG`` past the
        limit pipelines without end: the session is terminated.
        """
        backlog = 3 * REFUSAL_BACKLOG
        events = self.pipeline(3 + backlog - 1)
        self.assertEventTypes(events, MessageReceived, MessageReceived, MessageReceived)
        other = self.peer.openChannel(3)
        events = self.peer.deliver(
            *[self.peer.frame(MSG, other, msgno, b"\r\n") for msgno in range(4)]
        )
        self.assertEventTypes(events, MessageReceived, MessageReceived, MessageReceived)
        events = self.peer.deliver(self.peer.frame(MSG, other, 4, b"\r\n"))
        self.assertViolated(
            self.peer, events, f"{backlog} refusals of MSGs past the limit of 3 wait"
        )

    def test_refusalsBehindSlowReplies(self):
        """
        Refusals that wait behind replies the application still owes are
        not the peer's fault: a client that pipelines a few past the limit
        while the application is slow is refused, not terminated.
        """
        events = self.pipeline(3 + 5)
        self.assertEventTypes(events, MessageReceived, MessageReceived, MessageReceived)
        self.assertTrue(self.peer.session.isOpen(self.number))
        for event in events:
            self.peer.session.sendReply(self.number, event.msgno, Message(b"late"))
        frames = self.peer.read()
        self.assertEqual(
            replies(frames, self.number),
            [(RPY, 0), (RPY, 1), (RPY, 2)] + [(ERR, msgno) for msgno in range(3, 8)],
        )

    def test_sentRefusalsLeaveTheCount(self):
        """
        Refusals that have left no longer count: a peer that reads them
        may go on pipelining past the limit.
        """
        events = self.pipeline(6)  # three refusals wait: the session's limit
        for first in (6, 12, 18):
            for event in events:
                self.peer.session.sendReply(self.number, event.msgno, Message(b"ok"))
            self.assertEqual(len(replies(self.peer.read(), self.number)), 6)
            events = self.peer.deliver(
                *[self.peer.frame(MSG, self.number, m, b"\r\n") for m in range(first, first + 6)]
            )
            self.assertEventTypes(events, MessageReceived, MessageReceived, MessageReceived)

    def test_frameLevelChannel(self):
        """
        On a channel whose application takes frames, a refused ``MSG``'s
        frames are not delivered either.
        """
        events = self.pipeline(3, frames=True)
        self.assertEventTypes(events, FrameReceived, FrameReceived, FrameReceived)
        events = self.peer.deliver(
            self.peer.frame(MSG, 1, 3, b"\r\nx", more=True),
            self.peer.frame(MSG, 1, 3, b"y"),
        )
        self.assertEqual(events, [])
        for msgno in range(3):
            self.peer.session.sendReply(1, msgno, Message(b"ok"))
        self.assertEqual(
            replies(self.peer.read(), 1), [(RPY, 0), (RPY, 1), (RPY, 2), (ERR, 3)]
        )

    def test_channelZero(self):
        """
        Channel starts count on channel 0 like any ``MSG``: past the limit
        the peer's ``<start>`` is refused with 421 in its turn.
        """
        self.peer = ScriptedPeer(config=self.config)
        events = self.peer.deliver(
            *[self.peer.request(Start(n, (ProfileElement(URI),))) for n in (1, 3, 5, 7)]
        )
        self.assertEventTypes(events, *[ChannelStartRequested] * 3)
        for number in (1, 3, 5):
            self.peer.session.acceptStart(number, URI)
        self.peer.read()
        elements = self.peer.channelZeroReplies()
        self.assertEqual([kind for kind, _ in elements], [RPY, RPY, RPY, ERR])
        self.assertEqual(elements[-1][1].code, ReplyCode.SERVICE_NOT_AVAILABLE)

    def test_unfinishedAnswers(self):
        """
        The limit also bounds the ``ANS`` replies to one of our ``MSG``\\ s
        begun and not finished, empty ones included, which cost no window:
        one more terminates the peer.
        """
        for frames in (False, True):
            with self.subTest(frames=frames):
                self.pipeline(0, frames=frames)
                msgno = self.peer.session.sendMessage(self.number, b"\r\nlist")
                self.peer.read()
                answers = [
                    self.peer.frame(ANS, self.number, msgno, b"", more=True, ansno=ansno)
                    for ansno in range(4)
                ]
                self.peer.deliver(*answers[:3])
                events = self.peer.deliver(answers[3])
                self.assertViolated(self.peer, events, "over 3 unfinished ANS replies to MSG")

    def test_configuration(self):
        """
        The limit is 256 by default, and must be positive.
        """
        self.assertEqual(SessionConfig().maxOutstandingMessages, 256)
        self.assertRaises(ValueError, SessionConfig, maxOutstandingMessages=0)


class BufferedOctetsTests(SessionTestCase):
    """
    ``maxBufferedOctets``: what the session holds for the application, all
    channels together.  At it the session grants no more credit; only a
    peer that overruns the windows it was granted is terminated.
    """

    # Two 4000-octet halves of messages fit; the credit for a third does not.
    config = replace(RFC_WINDOWS, maxMessageSize=8192, maxBufferedOctets=8192)

    def openChannels(self, count):
        self.peer = ScriptedPeer(config=self.config)
        return [self.peer.openChannel(number) for number in range(1, 2 * count, 2)]

    def fillCredit(self, frameType=MSG):
        """
        Begin a 4000-octet message (or answer) on each of two channels: the
        first gets its ``SEQ``, the second, which would take the session
        past the limit, does not.

        :return: the channel numbers, and the frames the session sent.
        """
        first, second = self.openChannels(2)
        msgnos, ansno = (0, 0), None
        if frameType is ANS:
            msgnos = [self.peer.session.sendMessage(n, b"\r\nq") for n in (first, second)]
            self.peer.read()
            ansno = 0
        events = self.peer.deliver(
            self.peer.frame(frameType, first, msgnos[0], b"a" * 4000, more=True, ansno=ansno)
        )
        self.assertEqual(events, [])
        self.assertEqual(seqFramesOn(self.peer.read(), first), [SeqFrame(first, 4000, 4096)])
        events = self.peer.deliver(
            self.peer.frame(frameType, second, msgnos[1], b"b" * 4000, more=True, ansno=ansno)
        )
        self.assertEqual(events, [])
        frames = self.peer.read()
        self.assertEqual(seqFramesOn(frames, second), [])
        return first, second

    def test_creditHeldBackAtTheLimit(self):
        """
        Messages being assembled on several channels, each within its
        window and ``maxMessageSize``, are not a violation: the channel
        whose credit would take the session past the limit gets no ``SEQ``.
        """
        self.fillCredit()

    def test_unfinishedAnswers(self):
        """
        Unfinished ``ANS`` replies to our ``MSG``\\ s count too.
        """
        self.fillCredit(ANS)

    def test_overrunOfHeldBackCreditTerminates(self):
        """
        A peer that sends past the window it was granted, on a channel
        whose credit was held back, is terminated.
        """
        first, second = self.fillCredit()
        events = self.peer.deliver(self.peer.frame(MSG, second, 0, b"b" * 97, more=True, seqno=4000))
        self.assertViolated(self.peer, events, "overruns the window: 97 octets with room for 96")

    def test_heldBackCreditFollowsACompletedMessage(self):
        """
        A message that completes is the application's: the credit held
        back on another channel is granted.
        """
        first, second = self.fillCredit()
        events = self.peer.deliver(self.peer.frame(MSG, first, 0, b"", seqno=4000))
        self.assertEventTypes(events, MessageReceived)
        self.assertEqual(seqFramesOn(self.peer.read(), second), [SeqFrame(second, 4000, 4096)])

    def test_heldBackCreditFollowsTheApplication(self):
        """
        What a paused channel holds keeps credit back on the others until
        the application resumes it, having consumed it.
        """
        first, second = self.openChannels(2)
        self.peer.session.pauseChannel(first)
        events = self.peer.deliver(
            self.peer.frame(MSG, first, 0, b"\r\n" + b"a" * 3998),
            self.peer.frame(MSG, second, 0, b"b" * 4000, more=True),
        )
        self.assertEventTypes(events, MessageReceived)
        self.assertEqual(seqFramesOn(self.peer.read(), second), [])
        self.peer.session.resumeChannel(first)
        self.assertEqual(seqFramesOn(self.peer.read(), second), [SeqFrame(second, 4000, 4096)])

    def test_stalledPeerGetsAWindowPastTheLimit(self):
        """
        If the peer has no room left on any channel where it has begun a
        message, none of them could ever complete: the largest gets one
        window past the limit, so that it can.
        """
        first, second = self.fillCredit()
        self.peer.deliver(
            self.peer.frame(MSG, first, 0, b"a" * 4096, more=True, seqno=4000),
            self.peer.frame(MSG, second, 0, b"b" * 96, more=True, seqno=4000),
        )
        frames = self.peer.read()
        self.assertEqual(seqFramesOn(frames, first), [SeqFrame(first, 8096, 4096)])
        self.assertEqual(seqFramesOn(frames, second), [])
        events = self.peer.deliver(
            self.peer.frame(MSG, first, 0, b"a" * 96, seqno=8096),
            self.peer.frame(MSG, second, 0, b"", seqno=4096),
        )
        self.assertEventTypes(events, MessageReceived, MessageReceived)

    def test_finishedAnswersLeaveTheCount(self):
        """
        An answer that is complete is the application's: it no longer
        counts.
        """
        [number] = self.openChannels(1)
        msgno = self.peer.session.sendMessage(number, b"\r\nq")
        self.peer.read()
        for ansno in range(4):
            events = self.peer.deliver(
                self.peer.frame(ANS, number, msgno, b"x" * 3000, more=True, ansno=ansno),
                self.peer.frame(ANS, number, msgno, b"", ansno=ansno),
            )
            self.assertEqual(len(events), 1)
            self.peer.read()

    def test_default(self):
        """
        By default the limit is four of the largest thing a channel holds:
        a message, or a window.
        """
        self.assertEqual(SessionConfig().bufferedOctetsLimit, 64 * 1024 * 1024)
        self.assertEqual(
            SessionConfig(maxMessageSize=100 * 2**20).bufferedOctetsLimit, 400 * 2**20
        )
        self.assertEqual(
            SessionConfig(maxMessageSize=4096, receiveWindow=8192).bufferedOctetsLimit, 32768
        )
        self.assertEqual(SessionConfig(maxBufferedOctets=2**30).bufferedOctetsLimit, 2**30)

    def test_tooSmall(self):
        """
        A limit that one message or one window could exceed is refused.
        """
        self.assertRaises(ValueError, SessionConfig, maxMessageSize=5000, maxBufferedOctets=4999)
        self.assertRaises(
            ValueError, SessionConfig, receiveWindow=8192, maxMessageSize=10, maxBufferedOctets=8000
        )


class EmptyFrameTests(SessionTestCase):
    """
    Empty frames cost the peer no window, so they must cost us nothing
    either.
    """

    def test_emptyFramesKeepNothing(self):
        """
        A message sent as thousands of empty frames before its last is
        assembled right, and holding it cost next to nothing.
        """
        peer = ScriptedPeer()
        number = peer.openChannel()
        frames = [peer.frame(MSG, number, 0, b"", more=True) for _ in range(20000)]
        frames.append(peer.frame(MSG, number, 0, b"\r\nhello"))
        tracemalloc.start()
        try:
            events = peer.deliver(*frames[:-1])
            held, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        self.assertEqual(events, [])
        self.assertLess(held, 16 * 1024)
        [received] = peer.deliver(frames[-1])
        self.assertEqual(received.message.body, b"hello")


class XMLSizeTests(SessionTestCase):
    """
    ``maxXMLSize`` bounds each channel-0 message.
    """

    config = replace(RFC_WINDOWS, maxXMLSize=2000)

    def paddedStart(self, size):
        """
        A channel-0 ``MSG`` carrying a ``<start>`` padded with white space
        to ``size`` octets of payload.
        """
        self.peer = ScriptedPeer(config=self.config)
        payload = managementPayload(Start(1, (ProfileElement(URI),)))
        return self.peer.frame(MSG, 0, 1, payload + b" " * (size - len(payload)))

    def test_atTheLimit(self):
        """
        A channel-0 ``MSG`` of exactly ``maxXMLSize`` octets is parsed.
        """
        frame = self.paddedStart(2000)
        self.assertEventTypes(self.peer.deliver(frame), ChannelStartRequested)

    def test_pastTheLimitRefused(self):
        """
        A larger channel-0 ``MSG`` is discarded and refused with 554; the
        session goes on.
        """
        frame = self.paddedStart(2001)
        self.assertEventTypes(self.peer.deliver(frame), MessageDiscarded)
        self.peer.read()
        [(kind, error)] = self.peer.channelZeroReplies()
        self.assertEqual((kind, error.code), (ERR, ReplyCode.TRANSACTION_FAILED))
        self.assertIn("limit of 2000", error.text)
        again = self.peer.request(Start(3, (ProfileElement(URI),)))
        self.assertEventTypes(self.peer.deliver(again), ChannelStartRequested)

    def test_largeReplyTerminates(self):
        """
        A channel-0 reply over the limit (a greeting listing thousands of
        profiles) cannot be refused: the session is terminated.
        """
        peer = ScriptedPeer(config=self.config, greet=False)
        greeting = Greeting(tuple(f"urn:profile:{i}" for i in range(80)))
        events = peer.deliver(peer.management(RPY, 0, greeting))
        self.assertViolated(peer, events, "exceeds the XML size limit")


class HeaderLengthTests(SessionTestCase):
    """
    ``maxHeaderLength`` reaches the session's frame decoder.
    """

    def test_configured(self):
        config = replace(RFC_WINDOWS, maxHeaderLength=62)
        peer = ScriptedPeer(config=config)
        number = peer.openChannel()
        self.assertEventTypes(
            peer.deliver(b"MSG %d 1234567890 . 0 4\r\n\r\nhiEND\r\n" % number), MessageReceived
        )
        events = peer.deliver(b"MSG %d 1234567891 . 4 " % number + b"0" * 40 + b"10\r\n")
        self.assertViolated(peer, events, "longer than 62 octets")

    def test_floor(self):
        """
        A limit below the longest legal header is refused: it would end the
        sessions of peers that broke no rule.
        """
        self.assertRaises(ValueError, SessionConfig, maxHeaderLength=61)
        self.assertRaises(UsageError, parse, "--max-header-length", "40")
        SessionConfig(maxHeaderLength=62)


class SASLMessageSizeTests(SynchronousTestCase):
    """
    The SASL mechanisms that parse structured messages cap their size
    before parsing (the ``<blob>`` around them is capped at 16 KiB too).
    """

    cases = [
        ("DIGEST-MD5", digestmd5.MAX_MESSAGE, lambda: DigestMD5Server("realm")),
        ("OTP", otp.MAX_MESSAGE, OTPServer),
        ("SCRAM", scram.MAX_MESSAGE, SCRAMServer),
    ]

    def respond(self, server, size):
        if server.serverFirst:
            server.start(None)
        return self.assertRaises(SASLError, server.respond, b"x" * size)

    def test_otpSequence(self):
        """
        Our OTP client answers a sequence number up to its limit, and
        refuses one past it (each costs a hash) without hashing.
        """
        client = OTPClient("user", "pass phrase", maxSequence=100)
        client.initialResponse()
        self.assertTrue(client.challenge(b"otp-md5 100 ke1234 ext"))
        for sequence in (b"101", b"9" * 5000):
            client = OTPClient("user", "pass phrase", maxSequence=100)
            client.initialResponse()
            error = self.assertRaises(
                SASLError, client.challenge, b"otp-md5 %s ke1234 ext" % sequence
            )
            self.assertIn("over our limit of 100", error.text)
        client = OTPClient("user", "pass phrase")
        client.initialResponse()
        past = b"otp-md5 %d ke1234 ext" % (otp.MAX_SEQUENCE + 1)
        self.assertRaises(SASLError, client.challenge, past)

    def test_atAndPastTheLimit(self):
        for name, limit, server in self.cases:
            with self.subTest(mechanism=name):
                # At the limit the message is parsed (and is no valid one).
                self.assertNotIn("limited to", self.respond(server(), limit).text)
                error = self.respond(server(), limit + 1)
                self.assertEqual(error.code, ReplyCode.PARAMETER_SYNTAX_ERROR)
                self.assertIn(f"limited to {limit} octets", error.text)


# -- The Twisted layer -----------------------------------------------------------


class DeferringProfile(Profile):
    """
    Answers each message only when the test fires its ``Deferred``.
    """

    def __init__(self):
        self.pending = []

    def messageReceived(self, message):
        reply = defer.Deferred()
        self.pending.append((message.body, reply))
        return reply


class DeferringFactory(ProfileFactory):
    uri = "urn:test:deferring"

    def __init__(self, pause=False):
        self.profiles = []
        self.pause = pause

    def buildProfile(self, channel, start):
        profile = DeferringProfile()
        profile.channel = channel
        if self.pause:
            channel.pauseProducing()
        self.profiles.append(profile)
        return profile


class SizeProfile(Profile):
    """
    Answers each message with the size of its body.
    """

    def messageReceived(self, message):
        return Message(b"%d" % len(message.body))


class SizeFactory(ProfileFactory):
    uri = "urn:test:size"

    def buildProfile(self, channel, start):
        return SizeProfile()


class TwistedLimitTests(SynchronousTestCase):
    def connect(self, factory, **kwargs):
        self.client, self.server, self.pump = connectedSessions([factory], **kwargs)
        self.pump.flush()
        opening = self.client.openChannel(factory.uri)
        self.pump.flush()
        return self.successResultOf(opening)

    def test_pipelinedPastTheLimit(self):
        """
        A client pipelining more requests than the server's limit gets
        ``BEEPError`` 421 for the extra one, after the replies to the
        others, and the session goes on.
        """
        factory = DeferringFactory()
        channel = self.connect(factory, config=SessionConfig(maxOutstandingMessages=2))
        results = [channel.sendMessage(b"m%d" % i) for i in range(3)]
        self.pump.flush()
        [profile] = factory.profiles
        self.assertEqual([body for body, _ in profile.pending], [b"m0", b"m1"])
        self.assertNoResult(results[2])
        for body, reply in profile.pending:
            reply.callback(Message(b"ok:" + body))
        self.pump.flush()
        self.assertEqual([self.successResultOf(r).body for r in results[:2]], [b"ok:m0", b"ok:m1"])
        self.assertEqual(self.failureResultOf(results[2], BEEPError).value.code, 421)
        again = channel.sendMessage(b"again")
        self.pump.flush()
        profile.pending[-1][1].callback(Message(b"done"))
        self.pump.flush()
        self.assertEqual(self.successResultOf(again).body, b"done")

    def sendOnChannels(self, factory, config, bodies):
        """
        Connect, open a channel of ``factory``'s profile for each body and
        send it on it, all at once.

        :return: the ``Deferred`` replies.
        """
        self.client, self.server, self.pump = connectedSessions([factory], config=config)
        self.pump.flush()
        openings = [self.client.openChannel(factory.uri) for _ in bodies]
        self.pump.flush()
        results = [self.successResultOf(o).sendMessage(b) for o, b in zip(openings, bodies)]
        self.pump.flush()
        return results

    def test_bufferedOctetsHoldThePeerBack(self):
        """
        Paused channels holding more than ``maxBufferedOctets`` within the
        first windows (which cannot be withheld) end no session: the
        requests are answered once the profiles resume.
        """
        factory = DeferringFactory(pause=True)
        config = SessionConfig(
            receiveWindow=4096, maxFrameSize=4096, maxMessageSize=4096, maxBufferedOctets=8192
        )
        sent = self.sendOnChannels(factory, config, [b"x" * 3500] * 3)
        for profile in factory.profiles:
            self.assertEqual(profile.pending, [])
            profile.channel.resumeProducing()
        self.pump.flush()
        for profile in factory.profiles:
            [(body, reply)] = profile.pending
            reply.callback(Message(b"%d" % len(body)))
        self.pump.flush()
        self.assertEqual([self.successResultOf(r).body for r in sent], [b"3500"] * 3)

    def test_maxSizeMessagesOnManyChannels(self):
        """
        Messages of ``maxMessageSize`` on eight channels at once, every
        frame within its window, together past the default
        ``maxBufferedOctets`` (four such messages): the server holds
        credit back until messages complete, and all are answered.
        (The defaults' proportions, 16 MiB messages on 1 MiB windows,
        scaled down.)
        """
        factory = SizeFactory()
        config = SessionConfig(receiveWindow=4096, maxFrameSize=4096, maxMessageSize=16384)
        self.assertEqual(config.bufferedOctetsLimit, 65536)
        results = self.sendOnChannels(factory, config, [b"x" * 16000] * 8)
        self.assertEqual([self.successResultOf(r).body for r in results], [b"16000"] * 8)

    def test_pauseInBuildProfile(self):
        """
        A profile factory can pause its channel before it opens: nothing
        reaches the profile, and the peer is held to one window, until the
        profile resumes it.
        """
        factory = DeferringFactory(pause=True)
        channel = self.connect(factory, config=replace(RFC_WINDOWS, maxMessageSize=100000))
        [profile] = factory.profiles
        sent = [channel.sendMessage(b"small"), channel.sendMessage(b"B" * 20000)]
        self.pump.flush()
        self.assertEqual(profile.pending, [])
        core = self.server._session._channels[channel.number]
        self.assertLessEqual(core.receiveSeqno, RFC_WINDOWS.receiveWindow)
        profile.channel.resumeProducing()
        self.pump.flush()
        self.assertEqual([len(body) for body, _ in profile.pending], [5, 20000])
        for _, reply in profile.pending:
            reply.callback(Message(b"ok"))
        self.pump.flush()
        for reply in sent:
            self.assertEqual(self.successResultOf(reply).body, b"ok")


class MaxConnectionsTests(SynchronousTestCase):
    """
    ``BEEPServerFactory(maxConnections=...)``: past it, a connection gets
    ``<error code='421'>`` in place of a greeting and is closed.
    """

    def setUp(self):
        self.observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        # Clocks of their own: no timer of theirs is left on the reactor.
        self.serverFactory = BEEPServerFactory(
            [DeferringFactory()], maxConnections=2, clock=task.Clock()
        )
        self.clientFactory = BEEPClientFactory(clock=task.Clock())

    def connect(self):
        """
        One more connection to the same server factory.

        :return: ``(client, server, pump)``.
        """
        return iosim.connectedServerAndClient(
            lambda: self.serverFactory.buildProtocol(None),
            lambda: self.clientFactory.buildProtocol(None),
        )

    def test_pastTheLimit(self):
        """
        The connection past the limit is refused with 421 and closed; the
        others are served.
        """
        served = [self.connect() for _ in range(2)]
        client, server, pump = self.connect()
        error = self.failureResultOf(client.whenGreeted(), BEEPError).value
        self.assertEqual(error.code, ReplyCode.SERVICE_NOT_AVAILABLE)
        self.assertIn("limit of 2 sessions", error.text)
        self.assertTrue(server.transport.disconnecting)
        for client, _, _ in served:
            self.successResultOf(client.whenGreeted())
        self.assertEqual(self.serverFactory.connections, 2)
        logged = [e for e in self.observer if "Refusing" in e.get("log_format", "")]
        self.assertEqual(len(logged), 1)

    def test_refusedSessionTakesNoInput(self):
        """
        Whatever the refused peer sends after the ``<error>`` is ignored:
        there is no session.
        """
        [self.connect() for _ in range(2)]
        client, server, pump = self.connect()
        self.assertEqual(server._session.receiveData(b"garbage that is no frame\r\n"), [])

    def test_endedSessionsMakeRoom(self):
        """
        Once a session ends, the next connection is served.
        """
        first, _ = [self.connect() for _ in range(2)]
        client, server, pump = first
        client.transport.loseConnection()
        pump.flush()
        self.assertEqual(self.serverFactory.connections, 1)
        client, _, _ = self.connect()
        self.successResultOf(client.whenGreeted())
        self.assertEqual(self.serverFactory.connections, 2)

    def test_noLimit(self):
        """
        By default there is no limit; the factory still counts.
        """
        self.serverFactory = BEEPServerFactory([DeferringFactory()], clock=task.Clock())
        for _ in range(5):
            client, _, _ = self.connect()
            self.successResultOf(client.whenGreeted())
        self.assertEqual(self.serverFactory.connections, 5)
        self.assertRaises(ValueError, BEEPServerFactory, maxConnections=0)
        self.assertRaises(ValueError, BEEPClientFactory, maxConnections=1)


class MaxConnectionsTCPTests(TestCase):
    """
    ``maxConnections`` over real loopback TCP, through ``connectBEEP``.
    """

    timeout = 30

    @defer.inlineCallbacks
    def setUp(self):
        self.factory = BEEPServerFactory([DeferringFactory()], maxConnections=1)
        self.served = []
        build = self.factory.buildProtocol

        def buildProtocol(addr):
            protocol = build(addr)
            self.served.append(protocol)
            return protocol

        self.factory.buildProtocol = buildProtocol
        endpoint = endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
        self.port = yield endpoint.listen(self.factory)
        self.addCleanup(self.port.stopListening)

    def connect(self):
        address = self.port.getHost()
        return connectBEEP(endpoints.TCP4ClientEndpoint(reactor, address.host, address.port))

    @defer.inlineCallbacks
    def test_refusedThenServed(self):
        """
        A second client is refused with 421 while the first is served; once
        the first has released its session, a third is served.
        """
        first = yield self.connect()
        error = yield self.assertFailure(self.connect(), BEEPError)
        self.assertEqual(error.code, ReplyCode.SERVICE_NOT_AVAILABLE)
        yield self.served[1].notifyClose()
        self.assertEqual(self.factory.connections, 1)
        yield first.close()
        yield self.served[0].notifyClose()
        self.assertEqual(self.factory.connections, 0)
        third = yield self.connect()
        self.assertEqual(self.factory.connections, 1)
        yield third.close()
        yield self.served[2].notifyClose()


class OptionTests(SynchronousTestCase):
    """
    The new limits as ``twistd beep`` options.
    """

    def test_reachTheirTargets(self):
        options = parse(
            "--max-outstanding-messages", "7",
            "--max-buffered-octets", "128M",
            "--max-connections", "2",
        )  # fmt: skip
        factory = makeService(options, MemoryReactorClock()).services[0].factory
        self.assertEqual(factory.config.maxOutstandingMessages, 7)
        self.assertEqual(factory.config.bufferedOctetsLimit, 128 * 2**20)
        self.assertEqual(factory.maxConnections, 2)

    def test_defaults(self):
        factory = makeService(parse(), MemoryReactorClock()).services[0].factory
        self.assertEqual(factory.config.maxOutstandingMessages, 256)
        self.assertIsNone(factory.config.maxBufferedOctets)
        self.assertIsNone(factory.maxConnections)

    def test_refused(self):
        """
        A buffer smaller than one message, or no connection at all, is a
        usage error.
        """
        self.assertRaises(UsageError, parse, "--max-buffered-octets", "1M")
        self.assertRaises(UsageError, parse, "--max-connections", "0")
        self.assertRaises(UsageError, parse, "--max-outstanding-messages", "0")


SMALL = SessionConfig(
    receiveWindow=4096,
    maxFrameSize=4096,
    maxMessageSize=4096,
    maxBufferedOctets=8192,
    maxHeldEvents=32,
)


@implementer(IFrameReceiver)
class FrameTaker(Profile):
    def frameReceived(self, frame):
        pass


class PausingFrameFactory(ProfileFactory):
    uri = "urn:test:frames"

    def buildProfile(self, channel, start):
        self.channel = channel
        channel.pauseProducing()
        return FrameTaker()


class HeldEventTests(SynchronousTestCase):
    """
    Events paused channels hold cost memory whatever their size, and empty
    ones cost the peer no window: ``maxHeldEvents`` bounds their number, so
    a peer sending empty frames to a paused channel is terminated, not held
    without end.
    """

    def test_emptyAnswers(self):
        protocol, peer, channel = rawpeer.clientWithOpenChannel(config=SMALL)
        channel.sendMessage(b"question")
        channel.pauseProducing()
        for ansno in range(32):
            peer.send(peer.frame(rawpeer.ANS, 1, 0, b"", ansno=ansno))
        self.assertFalse(peer.transport.disconnecting)
        peer.send(peer.frame(rawpeer.ANS, 1, 0, b"", ansno=32))
        self.assertTrue(peer.transport.disconnecting)
        self.assertIn("33 messages or frames, over the limit of 32", str(protocol._violation))

    def test_slowSubscriber(self):
        """
        A subscriber that pauses its channel while the peer sends many
        short notifications within its window is not terminated at the
        defaults: they wait for it.
        """

        class Publisher(Profile):
            def messageReceived(self, message):
                self.factory.answers = Answers()
                return self.factory.answers

        class PublisherFactory(ProfileFactory):
            uri = "urn:test:publisher"
            profile = Publisher

        factory = PublisherFactory()
        config = SessionConfig(receiveWindow=4096, maxFrameSize=4096, maxMessageSize=16384)
        client, server, pump = connectedSessions([factory], config=config)
        opening = client.openChannel([factory.uri])
        pump.flush()
        channel = self.successResultOf(opening)
        received = []
        channel.sendMessage(b"subscribe", answerReceived=received.append)
        pump.flush()
        channel.pauseProducing()
        for i in range(300):
            factory.answers.send(Message(b"event %04d" % i))
        pump.flush()
        self.assertEqual(received, [])
        channel.resumeProducing()
        pump.flush()
        self.assertEqual(len(received), 300)
        self.assertFalse(client.transport.disconnecting)

    def test_emptyFrames(self):
        factory = PausingFrameFactory()
        protocol, peer = rawpeer.serverWithStartedChannel(factory, config=SMALL)
        peer.send(*[peer.frame(rawpeer.MSG, 1, 0, b"", more=True) for _ in range(40)])
        self.assertTrue(peer.transport.disconnecting)
        self.assertIsInstance(protocol._violation, RemoteProtocolError)

    def test_resumeFrees(self):
        """
        Events delivered on resume no longer count.
        """
        protocol, peer, channel = rawpeer.clientWithOpenChannel(config=SMALL)
        channel.sendMessage(b"question", answerReceived=lambda message: None)
        for round in range(4):
            channel.pauseProducing()
            for i in range(20):
                peer.send(peer.frame(rawpeer.ANS, 1, 0, b"", ansno=round * 20 + i))
            channel.resumeProducing()
        self.assertFalse(peer.transport.disconnecting)


class CollectedAnswersTests(SynchronousTestCase):
    def test_overMaxMessageSize(self):
        """
        Answers collected for ``sendMessage``'s ``Deferred`` are bounded by
        ``maxMessageSize`` together: past it the ``Deferred`` fails with 554
        (saying to use ``answerReceived``) and later answers are dropped.
        """
        protocol, peer, channel = rawpeer.clientWithOpenChannel(config=SMALL)
        replying = channel.sendMessage(b"question")
        body = b"\r\n" + b"A" * 1000
        for ansno in range(5):
            peer.send(peer.frame(rawpeer.ANS, 1, 0, body, ansno=ansno))
        refusal = self.failureResultOf(replying, BEEPError).value
        self.assertEqual(refusal.code, 554)
        self.assertIn("answerReceived", refusal.text)
        peer.send(peer.frame(rawpeer.ANS, 1, 0, body, ansno=5), peer.frame(rawpeer.NUL, 1, 0))
        self.assertFalse(peer.transport.disconnecting)

    def test_underMaxMessageSize(self):
        """
        Answers whose bodies fit ``maxMessageSize`` together are all
        collected.
        """
        protocol, peer, channel = rawpeer.clientWithOpenChannel(config=SMALL)
        replying = channel.sendMessage(b"question")
        body = b"\r\n" + b"A" * 1000
        for ansno in range(4):
            peer.send(peer.frame(rawpeer.ANS, 1, 0, body, ansno=ansno))
        peer.send(peer.frame(rawpeer.NUL, 1, 0))
        self.assertEqual(len(self.successResultOf(replying)), 4)

    def test_emptyAnswers(self):
        """
        Empty answers cost no window, but each counts: they cannot grow the
        collection without bound.
        """
        protocol, peer, channel = rawpeer.clientWithOpenChannel(config=SMALL)
        replying = channel.sendMessage(b"question")
        bound = SMALL.bufferedOctetsLimit // HELD_EVENT_COST
        for ansno in range(bound):
            peer.send(peer.frame(rawpeer.ANS, 1, 0, b"", ansno=ansno))
        self.assertNoResult(replying)
        peer.send(peer.frame(rawpeer.ANS, 1, 0, b"", ansno=bound))
        refusal = self.failureResultOf(replying, BEEPError).value
        self.assertEqual(refusal.code, 554)
        self.assertIn(f"more than {bound} answers", refusal.text)


class OversizedAnswerTests(SynchronousTestCase):
    def test_discardedNotTerminated(self):
        """
        One ``ANS`` larger than ``maxMessageSize`` is discarded as an
        ``RPY`` would be: the ``Deferred`` fails with 554 and the session
        goes on.
        """
        protocol, peer, channel = rawpeer.clientWithOpenChannel(config=SMALL)
        replying = channel.sendMessage(b"question", answerReceived=lambda message: None)
        for more in (True, True, False):
            peer.send(peer.frame(rawpeer.ANS, 1, 0, b"x" * 3000, more=more, ansno=0))
        self.assertFalse(peer.transport.disconnecting)
        self.assertEqual(self.failureResultOf(replying, BEEPError).value.code, 554)


class IdleWindowsTests(SynchronousTestCase):
    """
    Windows granted and not used are the peer's right, not memory held:
    however many channels sit idle with full windows, a busy one still gets
    credit.
    """

    def test_manyIdleChannels(self):
        """
        Default limits, 64 channels open (64 MiB of windows granted, the
        whole ``maxBufferedOctets``): requests one at a time on the last
        one, past its first 4096 octets, are all answered.
        """
        factory = SizeFactory()
        client, server, pump = connectedSessions([factory], config=SessionConfig())
        openings = [client.openChannel(factory.uri) for _ in range(64)]
        pump.flush()
        channel = self.successResultOf(openings[-1])
        for _ in range(6):
            replying = channel.sendMessage(b"y" * 1022)
            pump.flush()
            self.assertEqual(self.successResultOf(replying).body, b"1022")


class RefusedTLSConnectionTests(SynchronousTestCase):
    def test_silentPeerDropped(self):
        """
        Past ``maxConnections`` on a TLS-from-the-first-byte listener, the
        refusal waits for a handshake the peer may never do: the greeting
        timeout drops such a connection, as it does a served one.
        """
        clock = task.Clock()
        factory = BEEPServerFactory([], maxConnections=1, clock=clock, greetingTimeout=30)
        tlsFactory = TLSMemoryBIOFactory(
            selfSignedCertificate(["localhost"]).options(), False, factory, clock
        )
        transports = []
        for _ in range(3):
            transport = StringTransport()
            tlsFactory.buildProtocol(None).makeConnection(transport)
            transports.append(transport)
        clock.advance(0)
        self.assertEqual([t.disconnecting for t in transports], [False, False, False])
        clock.advance(30)
        self.assertEqual([t.disconnecting for t in transports], [True, True, True])


class CreditTests(SynchronousTestCase):
    """
    Credit held back at ``maxBufferedOctets`` is granted again: transfers
    between two beepy peers complete.
    """

    config = SessionConfig(
        receiveWindow=4096, maxFrameSize=4096, maxMessageSize=16384, maxBufferedOctets=16384
    )

    def setUp(self):
        self.factory = RecordingSizeFactory()
        self.client, self.server, self.pump = connectedSessions([self.factory], config=self.config)

    def open(self, **kwargs):
        opening = self.client.openChannel([self.factory.uri], profile=SizeProfile(), **kwargs)
        self.pump.flush()
        channel = self.successResultOf(opening)
        return channel, self.factory.channels[channel.number]

    def test_windowLargerThanTheLimit(self):
        """
        A channel whose window is larger than the limit is granted what fits,
        rather than nothing for ever.
        """
        mine, theirs = self.open(receiveWindow=65536)
        sent = [theirs.sendMessage(b"m" * 1022) for _ in range(8)]
        self.pump.flush()
        self.assertEqual([self.successResultOf(d).body for d in sent], [b"1022"] * 8)

    def test_reliefEndsBelowTheLimit(self):
        """
        A relief window given to a channel where we await a reply (a
        subscription the peer extends now and then) does not block the
        next relief once what is held has dropped below the limit: later
        uploads at the limit complete.
        """
        paused = [self.open() for _ in range(4)]
        subscription, publisher = self.open()
        uploads = [self.open() for _ in range(4)]
        for mine, _ in paused:
            mine.pauseProducing()
        filled = [theirs.sendMessage(b"p" * 3800) for _, theirs in paused]
        self.pump.flush()
        self.factory.profiles[publisher.number].subscribe = True
        events = []
        subscription.sendMessage(b"subscribe", answerReceived=events.append)
        self.pump.flush()
        self.assertEqual(len(events), 1)
        for mine, _ in paused:
            mine.resumeProducing()
        self.pump.flush()
        for d in filled:
            self.successResultOf(d)
        sent = [theirs.sendMessage(b"u" * 16000) for _, theirs in uploads]
        self.pump.flush()
        self.assertEqual([self.successResultOf(d).body for d in sent], [b"16000"] * 4)


class SubscribingSizeProfile(SizeProfile):
    """
    A size profile that, once told to, answers ``subscribe`` with one
    ``ANS`` and keeps the series open.
    """

    subscribe = False

    def messageReceived(self, message):
        if self.subscribe and message.body == b"subscribe":
            self.answers = Answers()
            self.answers.send(Message(b"e" * 3900))
            return self.answers
        return super().messageReceived(message)


class RecordingSizeFactory(ProfileFactory):
    uri = "urn:test:size"

    def __init__(self):
        self.channels = {}
        self.profiles = {}

    def buildProfile(self, channel, start):
        profile = SubscribingSizeProfile()
        self.channels[channel.number] = channel
        self.profiles[channel.number] = profile
        return profile
