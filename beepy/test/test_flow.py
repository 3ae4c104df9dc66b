# -*- test-case-name: beepy.test.test_flow -*-
"""
Tests for flow control (RFC 3081 windows, backpressure, fairness) and for
streaming message bodies, in the core and through the Twisted layer.
"""

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import defer
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.iweb import IBodyProducer, UNKNOWN_LENGTH
from zope.interface import implementer

from beepy import BEEPError, Message, Profile, ProfileFactory, ReplyCode, SessionConfig
from beepy.core.codec import encodeFrame
from beepy.core.errors import LocalProtocolError
from beepy.core.events import (
    FrameReceived,
    MessageDiscarded,
    MessageReceived,
    ReplyReceived,
)
from beepy.core.frames import FrameType, SeqFrame
from beepy.core.management import Close
from beepy.core.session import Role
from beepy.interfaces import IFrameReceiver
from beepy.profiles.echo import ECHO_URI, EchoFactory
from beepy.stream import StreamingMessage
from beepy.test.test_session import (
    RFC_WINDOWS,
    URI,
    ScriptedPeer,
    SessionPair,
    dataFramesOn,
    decodeFrames,
    seqFramesOn,
)
from beepy.testing.loopback import connectedSessions

MSG, RPY, ERR, ANS, NUL = FrameType.MSG, FrameType.RPY, FrameType.ERR, FrameType.ANS, FrameType.NUL


def payloadOctets(frames, channel):
    return sum(len(frame.payload) for frame in dataFramesOn(frames, channel))


class WindowTests(SynchronousTestCase):
    """
    The windows a session advertises and respects.
    """

    def test_windowGrownAtOpen(self):
        """
        A channel's window larger than RFC 3081's initial 4096 octets is
        advertised with a ``SEQ`` as soon as the channel opens, by both
        peers.
        """
        config = SessionConfig(receiveWindow=65536)
        pair = SessionPair(initiatorConfig=config, listenerConfig=config)
        number = pair.openChannel()
        for session in (pair.initiator, pair.listener):
            [seq] = seqFramesOn(pair.framesSentBy(session), number)
            self.assertEqual(seq, SeqFrame(number, 0, 65536))

    def test_defaultWindowNeedsNoSeq(self):
        """
        A channel with the RFC's 4096-octet window sends no ``SEQ`` until
        data has been consumed.
        """
        pair = SessionPair()
        number = pair.openChannel()
        self.assertEqual(seqFramesOn(pair.framesSentBy(pair.listener), number), [])

    def test_seqPacedByHalfWindow(self):
        """
        ``SEQ`` frames go out once half the window is consumed, not on every
        frame (RFC 3081 section 3.1.4), and each one moves the right edge
        back to a full window past what was consumed.
        """
        config = SessionConfig(receiveWindow=16384, maxFrameSize=1000)
        pair = SessionPair(initiatorConfig=config, listenerConfig=config)
        number = pair.openChannel()
        before = len(seqFramesOn(pair.framesSentBy(pair.listener), number))
        for _ in range(8):  # 8 * 1000 octets < 8192: no SEQ yet
            pair.initiator.sendMessage(number, b"x" * 1000)
            pair.pump()
        self.assertEqual(len(seqFramesOn(pair.framesSentBy(pair.listener), number)), before)
        pair.initiator.sendMessage(number, b"x" * 1000)
        pair.pump()
        seqs = seqFramesOn(pair.framesSentBy(pair.listener), number)
        self.assertEqual(seqs[before:], [SeqFrame(number, 9000, 16384)])

    def test_framesSizedToWindowAndFrameLimit(self):
        """
        Outgoing frames never exceed ``maxFrameSize`` nor the peer's window:
        with the default 4096-octet window and no ``SEQ`` back, only 4096
        octets leave.
        """
        peer = ScriptedPeer(role=Role.INITIATOR, config=SessionConfig(maxFrameSize=1000))
        number = peer.openChannel()
        peer.session.sendMessage(number, b"y" * 10000)
        frames = peer.read()
        sizes = [len(frame.payload) for frame in dataFramesOn(frames, number)]
        self.assertEqual(sizes, [1000, 1000, 1000, 1000, 96])
        peer.deliver(encodeSeq(number, 4096, 4096))
        more = peer.read()
        self.assertEqual(payloadOctets(more, number), 4096)

    def test_largerWindowAtRuntime(self):
        """
        ``setReceiveWindow`` with a larger size is advertised at once.
        """
        pair = SessionPair()
        number = pair.openChannel()
        pair.listener.setReceiveWindow(number, 100000)
        pair.pump()
        self.assertEqual(
            seqFramesOn(pair.framesSentBy(pair.listener), number), [SeqFrame(number, 0, 100000)]
        )

    def test_smallerWindowNeverMovesEdgeLeft(self):
        """
        A smaller window does not take back what was granted (RFC 1122 via
        RFC 3081 section 3.1.4): the peer may still fill the old window, and
        later ``SEQ`` frames advertise the new size.
        """
        config = SessionConfig(receiveWindow=65536, maxFrameSize=65536)
        pair = SessionPair(initiatorConfig=config, listenerConfig=config)
        number = pair.openChannel()
        pair.listener.setReceiveWindow(number, 8192)
        pair.initiator.sendMessage(number, b"z" * 60000)
        pumped = pair.pump()
        self.assertEqual(len(pumped.listener), 1)
        seqs = seqFramesOn(pair.framesSentBy(pair.listener), number)
        self.assertEqual(seqs[-1].window, 8192)
        for seq in seqs:
            self.assertGreaterEqual(seq.ackno + seq.window, 65536)

    def test_windowBelowMinimumAtStart(self):
        """
        A channel cannot start with less than RFC 3081's 4096 octets.
        """
        pair = SessionPair()
        self.assertRaises(LocalProtocolError, pair.initiator.startChannel, [URI], None, 4095)

    def test_windowOptionAtStart(self):
        """
        A window chosen at start is advertised when the channel opens.
        """
        pair = SessionPair()
        number = pair.initiator.startChannel([URI], receiveWindow=32768)
        pair.pump()
        pair.listener.acceptStart(number, URI)
        pair.pump()
        [seq] = seqFramesOn(pair.framesSentBy(pair.initiator), number)
        self.assertEqual(seq, SeqFrame(number, 0, 32768))

    def test_overrunTerminates(self):
        """
        A peer that sends past the window it was granted is terminated.
        """
        peer = ScriptedPeer()
        number = peer.openChannel()
        events = peer.deliver(
            peer.frame(MSG, number, 0, b"a" * 4000, more=True), peer.frame(MSG, number, 0, b"a" * 97)
        )
        self.assertIn("overruns the window: 97 octets with room for 96", str(events[-1].error))


def encodeSeq(channel, ackno, window):
    return encodeFrame(SeqFrame(channel, ackno, window))


class ConsumptionTests(SynchronousTestCase):
    """
    Credit follows what the application consumes.
    """

    def test_pausedChannelStopsPeer(self):
        """
        While the receiving application has paused the channel, the peer
        can send no more than the window; on resume it gets credit and the
        message completes.
        """
        pair = SessionPair()
        number = pair.openChannel()
        pair.listener.pauseChannel(number)
        msgno = pair.initiator.sendMessage(number, Message(b"m" * 50000))
        self.assertEqual(pair.pump().listener, [])
        received = payloadOctets(pair.framesSentBy(pair.initiator), number)
        self.assertEqual(received, 4096)
        pair.listener.resumeChannel(number)
        [event] = pair.pump().listener
        self.assertEqual(event, MessageReceived(number, msgno, Message(b"m" * 50000)))

    def test_replyBacklogHoldsCredit(self):
        """
        A peer that pipelines requests but does not take our replies gets
        no more credit once our unsent replies exceed the window: what it can
        make us hold is bounded.
        """
        peer = ScriptedPeer()
        number = peer.openChannel()
        granted = sent = msgno = 0
        granted = 4096
        while sent + 1000 <= granted:
            self.assertLess(msgno, 100, "the peer was never held back")
            for event in peer.deliver(peer.frame(MSG, number, msgno, b"\r\n" + b"q" * 998)):
                peer.session.sendReply(number, event.msgno, Message(b"r" * 3000))
            for frame in peer.read():
                if isinstance(frame, SeqFrame) and frame.channel == number:
                    granted = frame.ackno + frame.window
            sent += 1000
            msgno += 1
        # Our replies beyond the peer's 4096-octet window wait; with more
        # than a window of them waiting, no more credit came.
        self.assertLessEqual(sent, 3 * 4096)
        self.assertGreater(peer.session._channels[number].replyBacklog, 4096)

    def test_noHoldWhileAwaitingReplies(self):
        """
        With a ``MSG`` of our own awaiting its reply on the channel, a reply
        backlog does not hold credit: the peer's reply needs the room, and
        two peers holding each other's credit would never move again.
        """
        peer = ScriptedPeer(role=Role.INITIATOR)
        number = peer.openChannel()
        peer.session.sendMessage(number, b"ours")
        backlog = peer.session._channels[number]
        backlog.replyBacklog = 10**6
        peer.read()
        peer.deliver(peer.frame(MSG, number, 0, b"x" * 3000))
        seqs = [f for f in peer.read() if isinstance(f, SeqFrame) and f.channel == number]
        self.assertEqual(seqs, [SeqFrame(number, 3000, 4096)])


class FairnessTests(SynchronousTestCase):
    """
    Channels share the transport in turns.
    """

    def test_smallMessageOvertakesBulk(self):
        """
        A small message queued behind a large one on another channel leaves
        within the first budget of octets, not after the large one.
        """
        config = SessionConfig(receiveWindow=1 << 20, maxFrameSize=16384)
        pair = SessionPair(initiatorConfig=config, listenerConfig=config)
        bulk = pair.openChannel()
        small = pair.openChannel()
        pair.initiator.sendMessage(bulk, b"b" * 500000)
        pair.initiator.sendMessage(small, b"hello")
        first = decodeFrames(pair.initiator.dataToSend(65536))
        self.assertEqual(len(dataFramesOn(first, small)), 1)
        self.assertLessEqual(payloadOctets(first, bulk), 65536)

    def test_budgetLeavesRestQueued(self):
        """
        ``dataToSend`` with a budget frames about that much; the rest
        follows in later calls, in order.
        """
        config = SessionConfig(receiveWindow=1 << 20, maxFrameSize=16384)
        pair = SessionPair(initiatorConfig=config, listenerConfig=config)
        number = pair.openChannel()
        pair.initiator.sendMessage(number, b"c" * 100000)
        chunks = []
        while True:
            data = pair.initiator.dataToSend(32768)
            if not data:
                break
            chunks.append(data)
        self.assertGreater(len(chunks), 2)
        self.assertEqual(
            b"".join(f.payload for f in dataFramesOn(decodeFrames(b"".join(chunks)), number)),
            b"c" * 100000,
        )


class StreamTests(SynchronousTestCase):
    """
    Payloads written piece by piece.
    """

    def test_framesLeaveAsWritten(self):
        """
        A streamed message's frames leave as its payload arrives; the final
        frame only once it is finished; the peer gets the whole message.
        """
        pair = SessionPair()
        number = pair.openChannel()
        stream = pair.initiator.streamMessage(number, Message(b"").toPayload())
        stream.write(b"part one, ")
        self.assertEqual(pair.pump().listener, [])
        frames = dataFramesOn(pair.framesSentBy(pair.initiator), number)
        self.assertTrue(all(frame.more for frame in frames))
        stream.write(b"part two")
        stream.finish()
        [event] = pair.pump().listener
        self.assertEqual(event, MessageReceived(number, stream.msgno, Message(b"part one, part two")))

    def test_stalledStreamDoesNotBlockOtherChannels(self):
        """
        A stream waiting for more payload holds only its own channel.
        """
        pair = SessionPair()
        streaming = pair.openChannel()
        other = pair.openChannel()
        stream = pair.initiator.streamMessage(streaming, b"\r\nbeginning")
        msgno = pair.initiator.sendMessage(other, b"\r\nquick")
        self.assertEqual(pair.pump().listener, [MessageReceived(other, msgno, Message(b"quick"))])
        self.assertEqual(stream.buffered, 0)

    def test_streamedReply(self):
        """
        A reply can be streamed too, and later replies wait for it.
        """
        pair = SessionPair()
        number = pair.openChannel()
        first = pair.initiator.sendMessage(number, b"\r\none")
        second = pair.initiator.sendMessage(number, b"\r\ntwo")
        pair.pump()
        stream = pair.listener.streamReply(number, first, b"\r\n")
        pair.listener.sendReply(number, second, b"\r\nsecond")
        stream.write(b"first")
        self.assertEqual(pair.pump().initiator, [])
        stream.finish()
        self.assertEqual(
            pair.pump().initiator,
            [
                ReplyReceived(number, first, Message(b"first")),
                ReplyReceived(number, second, Message(b"second")),
            ],
        )

    def test_preemptiveReplyEndsStream(self):
        """
        When the peer answers before our streamed ``MSG`` is complete, the
        message ends with an empty final frame and later writes are dropped
        (RFC 3080 section 2.6.3).
        """
        peer = ScriptedPeer(role=Role.INITIATOR)
        number = peer.openChannel()
        stream = peer.session.streamMessage(number, b"\r\nstart")
        peer.read()
        events = peer.deliver(peer.frame(RPY, number, stream.msgno, b"\r\nenough"))
        self.assertEqual(events, [ReplyReceived(number, stream.msgno, Message(b"enough"))])
        self.assertFalse(stream.wanted)
        stream.write(b"more")
        [final] = dataFramesOn(peer.read(), number)
        self.assertEqual((final.more, final.payload), (False, b""))


class FrameDeliveryTests(SynchronousTestCase):
    """
    Channels started with ``frames=True`` report frames, not messages.
    """

    def test_messageAsFrames(self):
        """
        A ``MSG`` larger than ``maxMessageSize`` arrives frame by frame,
        none discarded, and can be answered.
        """
        config = SessionConfig(maxMessageSize=5000, maxFrameSize=2000)
        pair = SessionPair(initiatorConfig=config, listenerConfig=config)
        number = pair.initiator.startChannel([URI])
        pair.pump()
        pair.listener.acceptStart(number, URI, frames=True)
        pair.pump()
        msgno = pair.initiator.sendMessage(number, b"f" * 20000)
        events = pair.pump().listener
        self.assertTrue(all(isinstance(event, FrameReceived) for event in events))
        self.assertEqual(b"".join(e.frame.payload for e in events), b"f" * 20000)
        self.assertEqual([e.frame.more for e in events][-1], False)
        pair.listener.sendReply(number, msgno, b"\r\ndone")
        self.assertEqual(
            pair.pump().initiator, [ReplyReceived(number, msgno, Message(b"done"))]
        )
        self.assertFalse(any(isinstance(e, MessageDiscarded) for e in pair.events[pair.listener]))

    def test_repliesAsFrames(self):
        """
        Replies to our ``MSG`` on a frame channel arrive as frames too, and
        the final one settles the ``MSG``.
        """
        pair = SessionPair()
        number = pair.initiator.startChannel([URI], frames=True)
        pair.pump()
        pair.listener.acceptStart(number, URI)
        pair.pump()
        msgno = pair.initiator.sendMessage(number, b"\r\nq")
        pair.pump()
        pair.listener.sendAnswer(number, msgno, b"\r\na")
        pair.listener.sendNul(number, msgno)
        events = pair.pump().initiator
        self.assertEqual([e.frame.type for e in events], [ANS, NUL])
        self.assertFalse(pair.initiator.isBusy(number))


# -- The Twisted layer ------------------------------------------------------


class HoldingProfile(Profile):
    def __init__(self):
        self.received = []

    def messageReceived(self, message):
        self.received.append(message.body)
        return Message(b"ok:" + message.body)


class HoldingFactory(ProfileFactory):
    uri = "urn:test:holding"

    def __init__(self, window=None):
        self.profiles = []
        self.window = window

    def buildProfile(self, channel, start):
        profile = HoldingProfile()
        profile.channel = channel
        if self.window is not None:
            channel.setReceiveWindow(self.window)
        self.profiles.append(profile)
        return profile


@implementer(IBodyProducer)
class ControlledProducer:
    """
    A body producer the test drives: it writes only when told, and records
    whether it was paused.
    """

    length = UNKNOWN_LENGTH

    def __init__(self):
        self.consumer = None
        self.paused = False
        self.stopped = False
        self.finished = defer.Deferred()

    def startProducing(self, consumer):
        self.consumer = consumer
        return self.finished

    def pauseProducing(self):
        self.paused = True

    def resumeProducing(self):
        self.paused = False

    def stopProducing(self):
        self.stopped = True


@implementer(IFrameReceiver)
class FrameProfile(Profile):
    def __init__(self):
        self.frames = []

    def frameReceived(self, frame):
        self.frames.append(frame)
        if frame.type is MSG and not frame.more:
            self.channel.sendReply(frame.msgno, b"got %d frames" % len(self.frames))


class FrameFactory(ProfileFactory):
    uri = "urn:test:frames"

    def __init__(self):
        self.profiles = []

    def buildProfile(self, channel, start):
        profile = FrameProfile()
        profile.channel = channel
        self.profiles.append(profile)
        return profile


class TwistedFlowTests(SynchronousTestCase):
    def connect(self, serverProfiles, **kwargs):
        self.client, self.server, self.pump = connectedSessions(serverProfiles, **kwargs)
        self.pump.flush()

    def open(self, uri, **kwargs):
        opening = self.client.openChannel(uri, **kwargs)
        self.pump.flush()
        return self.successResultOf(opening)

    def test_registeredAsTransportProducer(self):
        """
        The session is its transport's streaming producer.
        """
        self.connect([EchoFactory()])
        self.assertIs(self.client.transport.producer, self.client)
        self.assertTrue(self.client.transport.streamingProducer)

    def test_transportBackpressure(self):
        """
        While its transport is paused a session writes nothing; on resume
        what waited goes out.
        """
        self.connect([EchoFactory()])
        channel = self.open(ECHO_URI)
        self.client.pauseProducing()
        reply = channel.sendMessage(b"waiting")
        self.pump.flush()
        self.assertNoResult(reply)
        self.client.resumeProducing()
        self.pump.flush()
        self.assertEqual(self.successResultOf(reply).body, b"waiting")

    def test_pausedChannelHoldsMessages(self):
        """
        Messages arriving on a paused channel wait, in order, until it
        resumes; the peer stops within one window meanwhile.
        """
        factory = HoldingFactory()
        self.connect([factory])
        channel = self.open(HoldingFactory.uri)
        [profile] = factory.profiles
        profile.channel.pauseProducing()
        replies = [channel.sendMessage(b"m%d" % i) for i in range(3)]
        big = channel.sendMessage(b"B" * 3000000)
        self.pump.flush()
        self.assertEqual(profile.received, [])
        core = self.server._session._channels[channel.number]
        self.assertLessEqual(core.receiveSeqno, core.receiveWindow)
        self.assertLess(core.receiveWindow, 3000000)
        profile.channel.resumeProducing()
        self.pump.flush()
        self.assertEqual(profile.received, [b"m0", b"m1", b"m2", b"B" * 3000000])
        self.assertEqual([self.successResultOf(r).body for r in replies], [b"ok:m0", b"ok:m1", b"ok:m2"])
        self.successResultOf(big)

    def test_windowChosenByFactory(self):
        """
        A profile factory can give its channel a larger window before it
        opens; the peer learns it at once.
        """
        factory = HoldingFactory(window=200000)
        self.connect([factory], config=SessionConfig(maxFrameSize=65536))
        channel = self.open(HoldingFactory.uri)
        core = self.client._session._channels[channel.number]
        self.assertEqual(core.sendWindow(), 200000)

    def test_streamedMessage(self):
        """
        A body producer's output is sent as one ``MSG``; the producer is
        paused while more than ``streamBuffer`` waits, resumed once it
        drains, and the reply arrives once it finishes.
        """
        factory = HoldingFactory()
        self.connect([factory], config=SessionConfig(streamBuffer=10000))
        channel = self.open(HoldingFactory.uri)
        producer = ControlledProducer()
        self.client.pauseProducing()
        reply = channel.sendMessage(StreamingMessage(producer, contentType="text/plain"))
        for _ in range(3):
            producer.consumer.write(b"s" * 4000)
        self.assertTrue(producer.paused)
        self.client.resumeProducing()
        self.pump.flush()
        self.assertFalse(producer.paused)
        producer.consumer.write(b"end")
        producer.finished.callback(None)
        self.pump.flush()
        [profile] = factory.profiles
        self.assertEqual(profile.received, [b"s" * 12000 + b"end"])
        self.assertEqual(self.successResultOf(reply).body, b"ok:" + b"s" * 12000 + b"end")

    def test_streamedReply(self):
        """
        A profile may answer with a body producer.
        """
        producer = ControlledProducer()

        class Streamer(Profile):
            def messageReceived(self, message):
                return producer

        class StreamerFactory(ProfileFactory):
            uri = "urn:test:streamer"

            def buildProfile(self, channel, start):
                return Streamer()

        self.connect([StreamerFactory()])
        channel = self.open(StreamerFactory.uri)
        reply = channel.sendMessage(b"give")
        self.pump.flush()
        producer.consumer.write(b"a" * 5000)
        producer.consumer.write(b"b" * 5000)
        self.pump.flush()
        self.assertNoResult(reply)
        producer.finished.callback(None)
        self.pump.flush()
        self.assertEqual(self.successResultOf(reply).body, b"a" * 5000 + b"b" * 5000)

    def test_failedProducerEndsSession(self):
        """
        A body producer that fails midway ends the session, with a log
        line: BEEP cannot abort a message, and a truncated body must not
        pass for a whole one.
        """
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.connect([EchoFactory()])
        channel = self.open(ECHO_URI)
        producer = ControlledProducer()
        reply = channel.sendMessage(producer)
        producer.consumer.write(b"partial")
        producer.finished.errback(IOError("disk gone"))
        self.pump.flush()
        self.failureResultOf(reply)
        self.assertTrue(any("cannot abort" in e.get("log_format", "") for e in observer))
        self.flushLoggedErrors(IOError)

    def test_sessionLossStopsProducer(self):
        """
        When the session ends, a body producer still running is stopped.
        """
        self.connect([EchoFactory()])
        channel = self.open(ECHO_URI)
        producer = ControlledProducer()
        reply = channel.sendMessage(producer)
        self.client.transport.loseConnection()
        self.pump.flush()
        self.assertTrue(producer.stopped)
        self.failureResultOf(reply)

    def test_frameReceiverServer(self):
        """
        A profile providing ``IFrameReceiver`` gets each frame and answers
        by itself.
        """
        factory = FrameFactory()
        self.connect([factory], config=SessionConfig(maxFrameSize=1000))
        channel = self.open(FrameFactory.uri)
        reply = channel.sendMessage(b"x" * 3500)
        self.pump.flush()
        [profile] = factory.profiles
        self.assertEqual([len(f.payload) for f in profile.frames], [1000, 1000, 1000, 502])
        self.assertEqual(self.successResultOf(reply).body, b"got 4 frames")

    def test_frameReceiverClient(self):
        """
        On our side, a frame receiver gets the reply's frames and the
        ``sendMessage`` Deferred fires with ``None`` after the last one.
        """
        self.connect([EchoFactory()], config=SessionConfig(maxFrameSize=1000))
        profile = FrameProfile()
        channel = self.open(ECHO_URI, profile=profile)
        profile.channel = channel
        reply = channel.sendMessage(b"e" * 2500)
        self.pump.flush()
        self.assertIsNone(self.successResultOf(reply))
        self.assertEqual([f.type for f in profile.frames], [RPY, RPY, RPY])
        self.assertEqual(
            b"".join(f.payload for f in profile.frames), Message(b"e" * 2500).toPayload()
        )

    def test_sendErrorNeedsBEEPError(self):
        """
        ``Channel.sendError`` takes a ``BEEPError`` and says so otherwise.
        """
        factory = FrameFactory()
        self.connect([factory])
        channel = self.open(FrameFactory.uri)
        self.assertRaises(TypeError, channel.sendError, 0, "oops")
        self.assertRaises(LocalProtocolError, channel.sendError, 7, BEEPError(ReplyCode.TRANSACTION_FAILED, "no"))


class BoundedBufferingTests(SynchronousTestCase):
    """
    Whatever a peer sends, a paused channel holds no more than its window.
    """

    @settings(max_examples=60, deadline=None)
    @given(
        st.lists(
            st.tuples(st.integers(min_value=1, max_value=3000), st.booleans()),
            min_size=1,
            max_size=40,
        )
    )
    def test_pausedChannelHoldsAtMostItsWindow(self, sends):
        """
        A peer sends frames of arbitrary sizes on a paused channel, taking
        or ignoring the credit we give: either the session holds at most the
        window, or it terminates the peer for overrunning it.
        """
        peer = ScriptedPeer()
        number = peer.openChannel()
        peer.session.pauseChannel(number)
        msgno = 0
        held = 0
        channel = peer.session._channels[number]
        for size, resume in sends:
            room = channel.receiveRoom()
            events = peer.deliver(peer.frame(MSG, number, msgno, b"p" * size, more=True))
            if events:
                self.assertIn("overruns the window", str(events[-1].error))
                self.assertGreater(size, room)
                return
            held += size
            self.assertLessEqual(held, RFC_WINDOWS.receiveWindow)
            if resume:
                # The application took what it held, then paused again.
                peer.session.resumeChannel(number)
                peer.session.pauseChannel(number)
                held = 0
                peer.read()


class AnswerStreamTests(SynchronousTestCase):
    def serve(self, respond, config=SessionConfig()):
        """
        Connect to a server whose profile answers every message with
        ``respond(message)``, and open a channel on it.

        :return: ``(server, pump, channel)``.
        """

        class Responder(Profile):
            def messageReceived(self, message):
                return respond(message)

        class ResponderFactory(ProfileFactory):
            uri = "urn:test:responder"
            profile = Responder

        client, server, pump = connectedSessions([ResponderFactory()], config=config)
        pump.flush()
        opening = client.openChannel(ResponderFactory.uri)
        pump.flush()
        return server, pump, self.successResultOf(opening)

    def test_answersPulledAsTheyLeave(self):
        """
        A profile answering with a long iterable has it read only as its
        answers leave: while our transport is paused, no more than about
        ``streamBuffer`` of answers is taken from it.
        """
        pulled = []

        def answers(message):
            for i in range(200):
                pulled.append(i)
                yield b"a" * 10000

        server, pump, channel = self.serve(answers, SessionConfig(streamBuffer=50000))
        server.pauseProducing()
        reply = channel.sendMessage(b"go")
        pump.flush()
        self.assertLessEqual(len(pulled), 50000 // 10000 + 2)
        server.resumeProducing()
        pump.flush()
        self.assertEqual(len(self.successResultOf(reply)), 200)

    def test_answersStopWhenChannelEnds(self):
        """
        When the channel an answer stream belongs to ends (the connection is
        lost, or a tuning reset closes every channel), the stream is not read
        further and nothing more is sent for it.
        """
        gate = defer.Deferred()
        pulled = []

        async def answers(message):
            pulled.append(1)
            yield b"first"
            await gate
            pulled.append(2)
            yield b"second"
            pulled.append(3)
            yield b"third"

        server, pump, channel = self.serve(answers)
        reply = channel.sendMessage(b"go")
        pump.flush()
        server.transport.loseConnection()
        pump.flush()
        gate.callback(None)
        self.assertEqual(pulled, [1, 2])
        self.failureResultOf(reply)
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_answersThenLargeReplyBehindThem(self):
        """
        A stream of answers to one ``MSG`` and a large ``RPY`` to the next,
        which must wait for the stream's ``NUL``: the stream does not wait on
        that reply, and both arrive.
        """

        def manyOrBig(message):
            if message.body == b"many":
                return (b"a" * 10000 for _ in range(100))
            return b"b" * 300000

        server, pump, channel = self.serve(manyOrBig)
        many = channel.sendMessage(b"many")
        big = channel.sendMessage(b"big")
        pump.flush()
        self.assertEqual(len(self.successResultOf(many)), 100)
        self.assertEqual(len(self.successResultOf(big).body), 300000)


class PausedChannelCloseTests(SynchronousTestCase):
    """
    What a paused channel holds survives the peer's close or release.
    """

    def setUp(self):
        self.client, self.server, self.pump = connectedSessions([EchoFactory()])
        self.pump.flush()
        opening = self.client.openChannel(ECHO_URI)
        self.pump.flush()
        self.channel = self.successResultOf(opening)
        self.channel.pauseProducing()
        self.reply = self.channel.sendMessage(b"hello")
        self.pump.flush()  # the RPY arrives and is held
        self.assertNoResult(self.reply)

    def test_peerCloseWaitsForHeldReply(self):
        """
        The peer's close of a paused channel waits behind the reply the
        channel holds; on resume both are delivered, in order.
        """
        closing = self.server.channels[self.channel.number].close()
        self.pump.flush()
        self.assertNoResult(closing)
        self.channel.resumeProducing()
        self.pump.flush()
        self.assertEqual(self.successResultOf(self.reply).body, b"hello")
        self.successResultOf(closing)

    def test_releaseRefusedWhileHeld(self):
        """
        A release asked with channels open (as beepcore-java does) is
        refused while a paused channel holds a reply, rather than lose it.
        """
        # Play a peer that releases with its channels open: our own API
        # closes them first, so go through the core.
        self.server._session._sendManagement(Close(0, 200, "", None), ("close", 0))
        self.server._session._channels[0].closing = True
        self.server._flush()
        self.pump.flush()
        self.assertFalse(self.client.transport.disconnecting)
        self.channel.resumeProducing()
        self.pump.flush()
        self.assertEqual(self.successResultOf(self.reply).body, b"hello")


class PartialAnswerTests(SynchronousTestCase):
    def test_manyUnfinishedAnswersTerminate(self):
        """
        A peer that opens ever more answers to one ``MSG`` and finishes none
        cannot make us hold more than ``maxMessageSize`` for them: past it,
        the session is terminated.
        """
        config = SessionConfig(receiveWindow=4096, maxFrameSize=4096, maxMessageSize=8192)
        peer = ScriptedPeer(config=config)
        number = peer.openChannel()
        msgno = peer.session.sendMessage(number, b"\r\nquery")
        peer.read()
        for ansno in range(500):
            events = peer.deliver(
                peer.frame(ANS, number, msgno, b"x" * 4000, more=True, ansno=ansno)
            )
            if events:
                break
            peer.read()
        self.assertIn("unfinished ANS replies", str(events[-1].error))
        self.assertEqual(ansno, 2)
