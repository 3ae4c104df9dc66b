# -*- test-case-name: beepy.test.test_session -*-
"""
Tests for :mod:`beepy.core.session`: two sans-I/O sessions talking to each
other in memory, and one session fed hand-built frames by a scripted peer.
"""

from collections import deque
from dataclasses import replace

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)
from twisted.trial.unittest import SynchronousTestCase

from beepy.core.codec import FrameDecoder, encodeFrame
from beepy.core.codes import ReplyCode
from beepy.core.errors import BEEPError, LocalProtocolError
from beepy.core.events import (
    AnswerReceived,
    AnswersCompleted,
    ChannelClosed,
    ChannelCloseFailed,
    ChannelCloseRequested,
    ChannelStarted,
    ChannelStartFailed,
    ChannelStartRequested,
    ErrorReceived,
    GreetingReceived,
    MessageDiscarded,
    MessageReceived,
    ProtocolViolated,
    ReplyReceived,
    SessionRefused,
    SessionReleased,
)
from beepy.core.frames import MAX_MSGNO, SEQNO_MODULUS, DataFrame, FrameType, SeqFrame
from beepy.core.management import (
    BEEP_XML,
    Close,
    Greeting,
    Ok,
    ProfileElement,
    Start,
    encodeManagement,
    parseManagement,
)
from beepy.core.mime import Message
from beepy.core.session import Role, Session, SessionConfig

MSG, RPY, ERR, ANS, NUL = FrameType.MSG, FrameType.RPY, FrameType.ERR, FrameType.ANS, FrameType.NUL
INITIATOR, LISTENER = Role.INITIATOR, Role.LISTENER

#: RFC 3081's initial window, and frames no larger: most tests here count
#: frames and SEQs against the windows of the RFC rather than beepy's defaults.
RFC_WINDOWS = SessionConfig(receiveWindow=4096, maxFrameSize=4096)

URI = "urn:beepy:test:one"
OTHER = "urn:beepy:test:two"
THIRD = "urn:beepy:test:three"


def managementPayload(element):
    """
    The payload of a channel-0 message carrying ``element``.
    """
    return Message(encodeManagement(element), contentType=BEEP_XML).toPayload()


def decodeFrames(data):
    """
    Every frame in ``data``, which must hold only whole frames.
    """
    decoder = FrameDecoder(2**31 - 1)
    decoder.receiveData(data)
    frames = []
    while (frame := decoder.nextFrame()) is not None:
        frames.append(frame)
    assert decoder.bufferedBytes == 0, "a partial frame was left over"
    return frames


def dataFramesOn(frames, channel):
    return [f for f in frames if isinstance(f, DataFrame) and f.channel == channel]


def seqFramesOn(frames, channel):
    return [f for f in frames if isinstance(f, SeqFrame) and f.channel == channel]


def ofType(events, eventType):
    return [event for event in events if isinstance(event, eventType)]


class Pumped:
    """
    The events each side of a :class:`SessionPair` reported during one
    :meth:`SessionPair.pump`.
    """

    def __init__(self, initiator, listener):
        self.initiator = initiator
        self.listener = listener


class SessionPair:
    """
    An initiating and a listening :class:`Session` wired together in memory.

    :ivar events: session -> every event it reported, in order.
    :ivar sent: session -> every octet it wrote, for inspection with
        :meth:`framesSentBy`.
    """

    def __init__(
        self,
        initiatorProfiles=(URI,),
        listenerProfiles=(URI,),
        initiatorConfig=RFC_WINDOWS,
        listenerConfig=RFC_WINDOWS,
        greet=True,
        **listenerGreeting,
    ):
        self.initiator = Session(INITIATOR, initiatorProfiles, initiatorConfig)
        self.listener = Session(LISTENER, listenerProfiles, listenerConfig, **listenerGreeting)
        self.events = {self.initiator: [], self.listener: []}
        self.sent = {self.initiator: bytearray(), self.listener: bytearray()}
        if greet:
            self.initiator.greet()
            self.listener.greet()
            self.pump()

    def peerOf(self, session):
        return self.listener if session is self.initiator else self.initiator

    def pump(self, chunker=None):
        """
        Move octets both ways until neither side has anything to send.

        :param chunker: cuts each write into the chunks delivered, to mimic
            the reads of a real transport; one chunk per write by default.
        :return: the :class:`Pumped` events of each side.
        """
        new = {self.initiator: [], self.listener: []}
        for _ in range(10000):
            moved = False
            for sender in (self.initiator, self.listener):
                data = sender.dataToSend()
                if not data:
                    continue
                moved = True
                self.sent[sender] += data
                receiver = self.peerOf(sender)
                for chunk in chunker(data) if chunker else [data]:
                    new[receiver] += receiver.receiveData(chunk)
            if not moved:
                break
        else:
            raise AssertionError("the sessions never went quiet")
        for session, events in new.items():
            self.events[session] += events
        return Pumped(new[self.initiator], new[self.listener])

    def framesSentBy(self, session):
        return decodeFrames(bytes(self.sent[session]))

    def openChannel(self, profile=URI, by=None, reply=None):
        """
        Start a channel from ``by`` (the initiator by default), accepted by
        the other side with ``reply`` (the same profile by default).

        :return: the channel number.
        """
        starter = by or self.initiator
        number = starter.startChannel([profile])
        requested = self.pump()
        acceptor = self.peerOf(starter)
        assert [type(e) for e in self._eventsOf(requested, acceptor)] == [ChannelStartRequested]
        acceptor.acceptStart(number, reply or profile)
        started = self.pump()
        assert [type(e) for e in self._eventsOf(started, starter)] == [ChannelStarted]
        return number

    def _eventsOf(self, pumped, session):
        return pumped.initiator if session is self.initiator else pumped.listener


class ScriptedPeer:
    """
    Plays the remote end of one :class:`Session` with hand-built frames, so
    that a test can send what no correct session would.

    :ivar session: the session under test, greeted by us.
    """

    def __init__(self, role=LISTENER, profiles=(URI,), config=RFC_WINDOWS, greet=True):
        self.session = Session(role, profiles, config)
        self.session.greet()
        self._seqnos = {}
        self._nextMsgno = 1
        self.frames = []
        if greet:
            events = self.deliver(self.management(RPY, 0, Greeting((URI,))))
            assert [type(e) for e in events] == [GreetingReceived], events
        self.read()

    def frame(self, frameType, channel, msgno, payload=b"", more=False, ansno=None, seqno=None):
        """
        A frame from us, with the next sequence number of ``channel`` unless
        ``seqno`` is given.
        """
        if seqno is None:
            seqno = self._seqnos.get(channel, 0)
        self._seqnos[channel] = (seqno + len(payload)) % SEQNO_MODULUS
        return encodeFrame(DataFrame(frameType, channel, msgno, more, seqno, payload, ansno))

    def management(self, frameType, msgno, element):
        """
        A channel-0 frame carrying ``element``.
        """
        return self.frame(frameType, 0, msgno, managementPayload(element))

    def request(self, element):
        """
        A channel-0 ``MSG`` carrying ``element``, with our next msgno.
        """
        msgno = self._nextMsgno
        self._nextMsgno += 1
        return self.management(MSG, msgno, element)

    def deliver(self, *frames):
        return self.session.receiveData(b"".join(frames))

    def read(self):
        """
        The frames the session has sent since the last read.
        """
        frames = decodeFrames(self.session.dataToSend())
        self.frames += frames
        return frames

    def openChannel(self, number=None):
        """
        Start a channel on the session (of the peer's parity), accepted.
        """
        if number is None:
            number = 1 if self.session.role is LISTENER else 2
        events = self.deliver(self.request(Start(number, (ProfileElement(URI),))))
        assert [type(e) for e in events] == [ChannelStartRequested], events
        self.session.acceptStart(number, URI)
        self.read()
        return number

    def channelZeroReplies(self):
        """
        The management elements in the session's channel-0 replies so far.
        """
        return [
            (frame.type, parseManagement(Message.fromPayload(frame.payload).body))
            for frame in self.frames
            if isinstance(frame, DataFrame)
            and frame.channel == 0
            and frame.type.isReply
            and frame.msgno != 0  # our greeting
        ]


class SessionTestCase(SynchronousTestCase):
    """
    Assertions shared by the session tests.
    """

    def assertEventTypes(self, events, *types):
        self.assertEqual([type(event) for event in events], list(types), events)

    def assertViolated(self, peer, events, fragment, before=()):
        """
        Assert that ``events`` are ``before`` then exactly one
        :class:`ProtocolViolated`, whose message contains ``fragment``, and
        that the session sends nothing and reports nothing afterwards.
        """
        self.assertEventTypes(events, *before, ProtocolViolated)
        self.assertIn(fragment, str(events[-1].error))
        self.assertEqual(peer.session.dataToSend(), b"")
        self.assertEqual(peer.deliver(peer.request(Close(0, 200))), [])
        self.assertEqual(peer.session.dataToSend(), b"")


class GreetingTests(SessionTestCase):
    """
    RFC 3080 section 2.4: both peers greet at once.
    """

    def test_greetingsExchanged(self):
        """
        Each side reports the other's greeting with its profiles.
        """
        pair = SessionPair(initiatorProfiles=(OTHER,), listenerProfiles=(URI, THIRD))
        self.assertEqual(pair.events[pair.initiator], [GreetingReceived(Greeting((URI, THIRD)))])
        self.assertEqual(pair.events[pair.listener], [GreetingReceived(Greeting((OTHER,)))])
        self.assertEqual(pair.initiator.peerGreeting, Greeting((URI, THIRD)))
        self.assertEqual(pair.initiator.channels, frozenset({0}))

    def test_featuresAndLocalize(self):
        """
        The ``features`` and ``localize`` attributes reach the peer.
        """
        pair = SessionPair(features="x-fast x-slow", localize="fr en-US")
        [event] = pair.events[pair.initiator]
        self.assertEqual(event.greeting.features, "x-fast x-slow")
        self.assertEqual(event.greeting.localize, "fr en-US")

    def test_greetingIsReplyZero(self):
        """
        The greeting is ``RPY 0 0`` with sequence number 0.
        """
        pair = SessionPair()
        [first] = pair.framesSentBy(pair.listener)
        self.assertEqual((first.type, first.channel, first.msgno, first.seqno), (RPY, 0, 0, 0))

    def test_greetingBeforeSeq(self):
        """
        With a larger ``receiveWindow`` the greeting is still the first frame
        a peer sends (RFC 3080 section 2.4: it signifies availability "by
        immediately sending" it); the ``SEQ`` advertising channel 0's window
        follows it, as a channel's ``SEQ`` follows its start reply.
        """
        pair = SessionPair(listenerConfig=replace(RFC_WINDOWS, receiveWindow=16384))
        frames = pair.framesSentBy(pair.listener)
        self.assertIsInstance(frames[0], DataFrame, f"the first frame is {frames[0]}")
        self.assertEqual((frames[0].type, frames[0].channel, frames[0].msgno), (RPY, 0, 0))
        self.assertEqual([seq.window for seq in seqFramesOn(frames, 0)][:1], [16384])

    def test_sessionRefused(self):
        """
        A listener that refuses the session sends ``<error>`` instead of a
        greeting, and the initiator reports it.
        """
        pair = SessionPair(greet=False)
        pair.initiator.greet()
        pair.listener.refuseSession(BEEPError(421, "busy"))
        pumped = pair.pump()
        self.assertEqual(pumped.initiator, [SessionRefused(BEEPError(421, "busy"))])

    def test_startBeforeGreeting(self):
        """
        Nothing can be started before the peer's greeting has arrived.
        """
        pair = SessionPair(greet=False)
        self.assertRaises(LocalProtocolError, pair.initiator.startChannel, [URI])


class ChannelStartTests(SessionTestCase):
    """
    RFC 3080 section 2.3.1.2: starting channels.
    """

    def test_accepted(self):
        """
        An accepted start opens the channel on both sides, with the chosen
        profile.
        """
        pair = SessionPair()
        number = pair.initiator.startChannel([URI], serverName="example.com")
        self.assertEqual(number, 1)
        pumped = pair.pump()
        self.assertEqual(
            pumped.listener, [ChannelStartRequested(1, (ProfileElement(URI),), "example.com")]
        )
        pair.listener.acceptStart(1, URI)
        pumped = pair.pump()
        self.assertEqual(pumped.initiator, [ChannelStarted(1, ProfileElement(URI))])
        self.assertEqual(pair.initiator.channels, frozenset({0, 1}))
        self.assertEqual(pair.listener.channels, frozenset({0, 1}))
        self.assertEqual(pair.initiator.channelProfile(1), URI)
        self.assertEqual(pair.listener.channelProfile(1), URI)

    def test_channelNumbersByRole(self):
        """
        The initiator numbers its channels odd, the listener even.
        """
        pair = SessionPair(initiatorProfiles=(URI,))
        self.assertEqual(pair.openChannel(), 1)
        self.assertEqual(pair.openChannel(), 3)
        self.assertEqual(pair.openChannel(by=pair.listener), 2)
        self.assertEqual(pair.openChannel(by=pair.listener), 4)

    def test_refusedNoneAcceptable(self):
        """
        A start naming only profiles the listener does not offer is refused
        with 550 without bothering the application.
        """
        pair = SessionPair()
        number = pair.initiator.startChannel(["urn:nobody"])
        pumped = pair.pump()
        self.assertEqual(pumped.listener, [])
        self.assertEventTypes(pumped.initiator, ChannelStartFailed)
        self.assertEqual(pumped.initiator[0].number, number)
        self.assertEqual(pumped.initiator[0].error.code, ReplyCode.REQUESTED_ACTION_NOT_TAKEN)
        self.assertEqual(pair.initiator.channels, frozenset({0}))

    def test_refusedByApplication(self):
        """
        The application may refuse a start with any error.
        """
        pair = SessionPair()
        number = pair.initiator.startChannel([URI])
        pair.pump()
        pair.listener.refuseStart(number, BEEPError(554, "policy"))
        pumped = pair.pump()
        self.assertEqual(pumped.initiator, [ChannelStartFailed(number, BEEPError(554, "policy"))])
        self.assertEqual(pair.listener.channels, frozenset({0}))

    def test_refusedWrongParity(self):
        """
        An initiator starting an even channel is refused with 501, as in the
        example of RFC 3080 section 2.3.1.2; so is channel 0.
        """
        peer = ScriptedPeer(LISTENER)
        for number in (2, 0):
            self.assertEqual(peer.deliver(peer.request(Start(number, (ProfileElement(URI),)))), [])
            peer.read()
            kind, error = peer.channelZeroReplies()[-1]
            self.assertEqual((kind, error.code), (ERR, ReplyCode.PARAMETER_SYNTAX_ERROR))
        self.assertEqual(peer.session.channels, frozenset({0}))

    def test_refusedWrongParityFromListener(self):
        """
        A listener starting an odd channel is refused with 501.
        """
        peer = ScriptedPeer(INITIATOR)
        self.assertEqual(peer.deliver(peer.request(Start(3, (ProfileElement(URI),)))), [])
        peer.read()
        kind, error = peer.channelZeroReplies()[-1]
        self.assertEqual((kind, error.code), (ERR, ReplyCode.PARAMETER_SYNTAX_ERROR))

    def test_refusedInUse(self):
        """
        Starting a channel that is open, or whose start is pending, is
        refused with 553.
        """
        peer = ScriptedPeer(LISTENER)
        start = Start(5, (ProfileElement(URI),))
        self.assertEventTypes(peer.deliver(peer.request(start)), ChannelStartRequested)
        self.assertEqual(peer.deliver(peer.request(start)), [])
        self.assertEqual(peer.read(), [], "the refusal waits for the first reply")
        peer.session.acceptStart(5, URI)
        peer.read()
        self.assertEqual(peer.channelZeroReplies()[0], (RPY, ProfileElement(URI)))
        kind, error = peer.channelZeroReplies()[1]
        self.assertEqual((kind, error.code), (ERR, ReplyCode.PARAMETER_INVALID))
        self.assertEqual(peer.deliver(peer.request(start)), [])
        peer.read()
        kind, error = peer.channelZeroReplies()[2]
        self.assertEqual((kind, error.code), (ERR, ReplyCode.PARAMETER_INVALID))

    def test_refusedOverMaxChannels(self):
        """
        A start beyond the listener's ``maxChannels`` is refused with 421.
        """
        pair = SessionPair(listenerConfig=replace(RFC_WINDOWS, maxChannels=2))
        pair.openChannel()
        number = pair.initiator.startChannel([URI])
        pumped = pair.pump()
        self.assertEqual(pumped.listener, [])
        [failed] = pumped.initiator
        self.assertEqual((failed.number, failed.error.code), (number, 421))

    def test_localMaxChannels(self):
        """
        Starting more channels than our own ``maxChannels`` is refused
        locally.
        """
        pair = SessionPair(initiatorConfig=replace(RFC_WINDOWS, maxChannels=2))
        pair.initiator.startChannel([URI])
        self.assertRaises(LocalProtocolError, pair.initiator.startChannel, [URI])

    def test_candidatesInPeerOrder(self):
        """
        The candidates reach the application in the starter's order of
        preference, with those not offered filtered out.
        """
        pair = SessionPair(listenerProfiles=(URI, OTHER))
        number = pair.initiator.startChannel([OTHER, "urn:unknown", URI])
        pumped = pair.pump()
        self.assertEqual(
            pumped.listener,
            [ChannelStartRequested(number, (ProfileElement(OTHER), ProfileElement(URI)))],
        )
        pair.listener.acceptStart(number, URI)
        self.assertEqual(pair.pump().initiator, [ChannelStarted(number, ProfileElement(URI))])

    def test_acceptOnlyProposed(self):
        """
        Accepting a start with a profile that was not proposed is refused
        locally, and the start can still be accepted properly.
        """
        pair = SessionPair(listenerProfiles=(URI, OTHER))
        number = pair.initiator.startChannel([URI])
        pair.pump()
        self.assertRaises(LocalProtocolError, pair.listener.acceptStart, number, OTHER)
        pair.listener.acceptStart(number, URI)
        self.assertEventTypes(pair.pump().initiator, ChannelStarted)

    def test_piggybackBothWays(self):
        """
        Piggybacked content goes with the start and comes back in the reply,
        text or binary.
        """
        pair = SessionPair()
        binary = bytes(range(256)) * 16
        number = pair.initiator.startChannel([ProfileElement(URI, b"<ready />")])
        [requested] = pair.pump().listener
        self.assertEqual(requested.profiles, (ProfileElement(URI, b"<ready />"),))
        pair.listener.acceptStart(number, ProfileElement(URI, binary))
        [started] = pair.pump().initiator
        self.assertEqual(started.profile, ProfileElement(URI, binary))

    def test_messageRightAfterAccept(self):
        """
        The acceptor may send a ``MSG`` on the new channel as soon as it has
        accepted: its frames must not overtake a start reply that spans
        several frames, or the starter sees a channel it does not know.
        """
        config = replace(RFC_WINDOWS, maxFrameSize=10)
        pair = SessionPair(initiatorConfig=config, listenerConfig=config)
        number = pair.initiator.startChannel([URI])
        pair.pump()
        pair.listener.acceptStart(number, URI)
        msgno = pair.listener.sendMessage(number, Message(b"hello"))
        self.assertEqual(
            pair.pump().initiator,
            [
                ChannelStarted(number, ProfileElement(URI)),
                MessageReceived(number, msgno, Message(b"hello")),
            ],
        )

    def test_messageRightAfterAcceptWithLargePiggyback(self):
        """
        With the default frame size, a start reply carrying a 4096-octet
        piggyback also arrives before the acceptor's first ``MSG`` on the
        channel.
        """
        pair = SessionPair()
        number = pair.initiator.startChannel([URI])
        pair.pump()
        pair.listener.acceptStart(number, ProfileElement(URI, b"p" * 4096))
        msgno = pair.listener.sendMessage(number, Message(b"hello"))
        self.assertEqual(
            pair.pump().initiator,
            [
                ChannelStarted(number, ProfileElement(URI, b"p" * 4096)),
                MessageReceived(number, msgno, Message(b"hello")),
            ],
        )

    def test_startWithoutProfiles(self):
        """
        A start with no candidate is refused locally.
        """
        pair = SessionPair()
        self.assertRaises(LocalProtocolError, pair.initiator.startChannel, [])

    def test_answerUnknownStart(self):
        """
        Accepting or refusing a start nobody asked for is refused locally.
        """
        pair = SessionPair()
        self.assertRaises(LocalProtocolError, pair.listener.acceptStart, 1, URI)
        self.assertRaises(LocalProtocolError, pair.listener.refuseStart, 1, BEEPError(550))


class MessageTests(SessionTestCase):
    """
    RFC 3080 section 2.1.1: the three exchange styles, and reply ordering.
    """

    def setUp(self):
        self.pair = SessionPair()
        self.channel = self.pair.openChannel()

    def test_messageAndReply(self):
        """
        A ``MSG`` reaches the peer and its ``RPY`` comes back.
        """
        msgno = self.pair.initiator.sendMessage(self.channel, Message(b"ping", "text/plain"))
        pumped = self.pair.pump()
        self.assertEqual(
            pumped.listener,
            [MessageReceived(self.channel, msgno, Message(b"ping", "text/plain"))],
        )
        self.pair.listener.sendReply(self.channel, msgno, Message(b"pong"))
        self.assertEqual(
            self.pair.pump().initiator, [ReplyReceived(self.channel, msgno, Message(b"pong"))]
        )
        self.assertFalse(self.pair.initiator.isBusy(self.channel))
        self.assertFalse(self.pair.listener.isBusy(self.channel))

    def test_bytesPayload(self):
        """
        A ``bytes`` message is a ready payload, parsed by the receiver.
        """
        msgno = self.pair.initiator.sendMessage(self.channel, b"Content-Type: a/b\r\n\r\nx")
        [received] = self.pair.pump().listener
        self.assertEqual(received.message, Message(b"x", "a/b"))
        self.assertEqual(received.msgno, msgno)

    def test_messageAndError(self):
        """
        A ``MSG`` answered with ``ERR`` gives :class:`ErrorReceived`; a
        :class:`BEEPError` is sent as an ``<error>`` element.
        """
        first = self.pair.initiator.sendMessage(self.channel, Message(b"a"))
        second = self.pair.initiator.sendMessage(self.channel, Message(b"b"))
        self.pair.pump()
        self.pair.listener.sendError(self.channel, first, BEEPError(550, "no"))
        self.pair.listener.sendError(self.channel, second, Message(b"plain"))
        [error, plain] = self.pair.pump().initiator
        self.assertEqual((type(error), error.msgno), (ErrorReceived, first))
        self.assertEqual(error.message.contentType, BEEP_XML)
        self.assertEqual(parseManagement(error.message.body), BEEPError(550, "no"))
        self.assertEqual(plain, ErrorReceived(self.channel, second, Message(b"plain")))

    def test_answers(self):
        """
        A one-to-many exchange: numbered ``ANS`` messages then ``NUL``.
        """
        msgno = self.pair.initiator.sendMessage(self.channel, Message(b"list"))
        self.pair.pump()
        ansnos = [
            self.pair.listener.sendAnswer(self.channel, msgno, Message(b"item %d" % i))
            for i in range(3)
        ]
        self.assertEqual(ansnos, [0, 1, 2])
        self.pair.listener.sendNul(self.channel, msgno)
        self.assertEqual(
            self.pair.pump().initiator,
            [
                AnswerReceived(self.channel, msgno, 0, Message(b"item 0")),
                AnswerReceived(self.channel, msgno, 1, Message(b"item 1")),
                AnswerReceived(self.channel, msgno, 2, Message(b"item 2")),
                AnswersCompleted(self.channel, msgno),
            ],
        )
        frames = dataFramesOn(self.pair.framesSentBy(self.pair.listener), self.channel)
        self.assertEqual([f.type for f in frames], [ANS, ANS, ANS, NUL])
        self.assertEqual(frames[-1].payload, b"")

    def test_answersArriveBeforeNul(self):
        """
        Each ``ANS`` is delivered as it arrives, before the ``NUL``.
        """
        msgno = self.pair.initiator.sendMessage(self.channel, Message(b"list"))
        self.pair.pump()
        self.pair.listener.sendAnswer(self.channel, msgno, Message(b"one"))
        self.assertEqual(
            self.pair.pump().initiator, [AnswerReceived(self.channel, msgno, 0, Message(b"one"))]
        )
        self.pair.listener.sendNul(self.channel, msgno)
        self.assertEqual(self.pair.pump().initiator, [AnswersCompleted(self.channel, msgno)])

    def test_zeroAnswers(self):
        """
        A ``NUL`` alone is a complete one-to-many reply with no answers.
        """
        msgno = self.pair.initiator.sendMessage(self.channel, Message(b"list"))
        self.pair.pump()
        self.pair.listener.sendNul(self.channel, msgno)
        self.assertEqual(self.pair.pump().initiator, [AnswersCompleted(self.channel, msgno)])

    def test_repliesInMessageOrder(self):
        """
        Replies leave in the order the ``MSG``\\ s arrived, whatever the order
        of the ``sendReply`` calls (RFC 3080 section 2.6.1).
        """
        msgnos = [
            self.pair.initiator.sendMessage(self.channel, Message(b"%d" % i)) for i in range(3)
        ]
        self.pair.pump()
        self.pair.listener.sendReply(self.channel, msgnos[2], Message(b"r2"))
        self.pair.listener.sendError(self.channel, msgnos[1], Message(b"r1"))
        self.assertEqual(self.pair.pump().initiator, [])
        self.pair.listener.sendReply(self.channel, msgnos[0], Message(b"r0"))
        self.assertEqual(
            self.pair.pump().initiator,
            [
                ReplyReceived(self.channel, msgnos[0], Message(b"r0")),
                ErrorReceived(self.channel, msgnos[1], Message(b"r1")),
                ReplyReceived(self.channel, msgnos[2], Message(b"r2")),
            ],
        )

    def test_answersBlockLaterReplies(self):
        """
        An ``RPY`` to a later ``MSG`` waits until the ``NUL`` of an earlier
        one-to-many reply has been sent.
        """
        first = self.pair.initiator.sendMessage(self.channel, Message(b"list"))
        second = self.pair.initiator.sendMessage(self.channel, Message(b"get"))
        self.pair.pump()
        self.pair.listener.sendReply(self.channel, second, Message(b"got"))
        self.pair.listener.sendAnswer(self.channel, first, Message(b"item"))
        self.assertEqual(
            self.pair.pump().initiator, [AnswerReceived(self.channel, first, 0, Message(b"item"))]
        )
        self.pair.listener.sendNul(self.channel, first)
        self.assertEqual(
            self.pair.pump().initiator,
            [
                AnswersCompleted(self.channel, first),
                ReplyReceived(self.channel, second, Message(b"got")),
            ],
        )

    def test_multiFrameBothWays(self):
        """
        With a small ``maxFrameSize`` messages and replies are cut into
        frames and reassembled whole.
        """
        config = replace(RFC_WINDOWS, maxFrameSize=100)
        pair = SessionPair(initiatorConfig=config, listenerConfig=config)
        channel = pair.openChannel()
        body = bytes(range(256)) * 4
        msgno = pair.initiator.sendMessage(channel, Message(body))
        self.assertEqual(pair.pump().listener, [MessageReceived(channel, msgno, Message(body))])
        pair.listener.sendReply(channel, msgno, Message(body[::-1]))
        self.assertEqual(
            pair.pump().initiator, [ReplyReceived(channel, msgno, Message(body[::-1]))]
        )
        for session, frameType in [(pair.initiator, MSG), (pair.listener, RPY)]:
            frames = [f for f in dataFramesOn(pair.framesSentBy(session), channel)]
            self.assertEqual({f.type for f in frames}, {frameType})
            self.assertEqual(len(frames), 11)  # 1026 octets of payload
            self.assertTrue(all(f.size <= 100 for f in frames))
            self.assertEqual([f.more for f in frames], [True] * 10 + [False])

    def test_multiFrameAnswers(self):
        """
        Large answers are cut into frames and reassembled by answer number.
        """
        config = replace(RFC_WINDOWS, maxFrameSize=64)
        pair = SessionPair(initiatorConfig=config, listenerConfig=config)
        channel = pair.openChannel()
        msgno = pair.initiator.sendMessage(channel, Message(b"list"))
        pair.pump()
        pair.listener.sendAnswer(channel, msgno, Message(b"a" * 300))
        pair.listener.sendAnswer(channel, msgno, Message(b"b" * 300))
        pair.listener.sendNul(channel, msgno)
        self.assertEqual(
            pair.pump().initiator,
            [
                AnswerReceived(channel, msgno, 0, Message(b"a" * 300)),
                AnswerReceived(channel, msgno, 1, Message(b"b" * 300)),
                AnswersCompleted(channel, msgno),
            ],
        )

    def test_listenerSendsMessages(self):
        """
        Either side may send ``MSG``; message numbers are per direction.
        """
        mine = self.pair.initiator.sendMessage(self.channel, Message(b"i"))
        theirs = self.pair.listener.sendMessage(self.channel, Message(b"l"))
        self.assertEqual((mine, theirs), (0, 0))
        pumped = self.pair.pump()
        self.assertEqual(pumped.initiator, [MessageReceived(self.channel, 0, Message(b"l"))])
        self.assertEqual(pumped.listener, [MessageReceived(self.channel, 0, Message(b"i"))])
        self.pair.initiator.sendReply(self.channel, 0, Message(b"to l"))
        self.pair.listener.sendReply(self.channel, 0, Message(b"to i"))
        pumped = self.pair.pump()
        self.assertEqual(pumped.initiator, [ReplyReceived(self.channel, 0, Message(b"to i"))])
        self.assertEqual(pumped.listener, [ReplyReceived(self.channel, 0, Message(b"to l"))])

    def test_channelsIndependent(self):
        """
        A reply owed on one channel does not hold back replies on another
        (RFC 3080 section 2.6.2).
        """
        other = self.pair.openChannel()
        first = self.pair.initiator.sendMessage(self.channel, Message(b"slow"))
        second = self.pair.initiator.sendMessage(other, Message(b"fast"))
        self.pair.pump()
        self.pair.listener.sendReply(other, second, Message(b"done"))
        self.assertEqual(
            self.pair.pump().initiator, [ReplyReceived(other, second, Message(b"done"))]
        )
        self.pair.listener.sendReply(self.channel, first, Message(b"done"))
        self.assertEventTypes(self.pair.pump().initiator, ReplyReceived)

    def test_msgnoNotReusedWhileOutstanding(self):
        """
        Message numbers wrap at 2147483647 and skip those still awaiting a
        reply; a number is reused once its reply is complete.
        """
        self.pair.initiator._channels[self.channel].nextMsgno = MAX_MSGNO
        first = self.pair.initiator.sendMessage(self.channel, Message(b"a"))
        second = self.pair.initiator.sendMessage(self.channel, Message(b"b"))
        self.assertEqual((first, second), (MAX_MSGNO, 0))
        self.pair.pump()
        self.pair.listener.sendReply(self.channel, first, Message(b"r"))
        self.pair.pump()
        self.pair.initiator._channels[self.channel].nextMsgno = MAX_MSGNO
        third = self.pair.initiator.sendMessage(self.channel, Message(b"c"))
        fourth = self.pair.initiator.sendMessage(self.channel, Message(b"d"))
        self.assertEqual((third, fourth), (MAX_MSGNO, 1), "0 is still awaiting its reply")
        self.assertEqual(
            self.pair.pump().listener,
            [
                MessageReceived(self.channel, MAX_MSGNO, Message(b"c")),
                MessageReceived(self.channel, 1, Message(b"d")),
            ],
        )

    def test_msgnoReusedByPeerAfterReply(self):
        """
        The peer may reuse a message number once our reply to it is
        complete.
        """
        peer = ScriptedPeer(LISTENER)
        channel = peer.openChannel()
        self.assertEventTypes(
            peer.deliver(peer.frame(MSG, channel, 7, Message(b"a").toPayload())), MessageReceived
        )
        peer.session.sendReply(channel, 7, Message(b"r"))
        peer.read()
        self.assertEqual(
            peer.deliver(peer.frame(MSG, channel, 7, Message(b"b").toPayload())),
            [MessageReceived(channel, 7, Message(b"b"))],
        )

    def test_preemptiveErrorEndsMessage(self):
        """
        An ``ERR`` that arrives while our ``MSG`` is still being sent ends
        it with an empty final frame (RFC 3080 section 2.6.3), and the peer
        does not report the abandoned message.
        """
        msgno = self.pair.initiator.sendMessage(self.channel, Message(b"x" * 20000))
        first = decodeFrames(self.pair.initiator.dataToSend())
        self.assertTrue(dataFramesOn(first, self.channel)[-1].more)
        self.assertEqual(self.pair.listener.receiveData(b"".join(map(encodeFrame, first))), [])
        self.pair.listener.sendError(self.channel, msgno, BEEPError(554, "too big"))
        pumped = self.pair.pump()
        self.assertEqual(
            [type(e) for e in pumped.initiator], [ErrorReceived], "the ERR reaches the sender"
        )
        frames = dataFramesOn(first + self.pair.framesSentBy(self.pair.initiator), self.channel)
        self.assertEqual(sum(f.size for f in frames), 4096)
        last = frames[-1]
        self.assertEqual((last.type, last.msgno, last.more, last.size), (MSG, msgno, False, 0))
        self.assertEqual(
            [type(event).__name__ for event in pumped.listener],
            [],
            "the peer ignores the frames after its pre-emptive reply",
        )

    def test_preemptiveErrorThenMoreMessages(self):
        """
        After a pre-emptive ``ERR`` the channel carries further messages.
        """
        msgno = self.pair.initiator.sendMessage(self.channel, Message(b"x" * 20000))
        self.pair.listener.receiveData(self.pair.initiator.dataToSend())
        self.pair.listener.sendError(self.channel, msgno, BEEPError(554, "too big"))
        self.pair.pump()
        again = self.pair.initiator.sendMessage(self.channel, Message(b"small"))
        pumped = self.pair.pump()
        self.assertIn(MessageReceived(self.channel, again, Message(b"small")), pumped.listener)
        self.assertEqual(ofType(pumped.listener, ProtocolViolated), [])


class WindowTests(SessionTestCase):
    """
    RFC 3081 flow control: ``SEQ`` frames and windows.
    """

    def test_largeMessageWaitsForSeq(self):
        """
        A 20000-octet message to a peer with the default 4096-octet window
        stops at the window edge and goes on only after a ``SEQ``.
        """
        pair = SessionPair()
        channel = pair.openChannel()
        msgno = pair.initiator.sendMessage(channel, Message(b"x" * 20000))
        data = pair.initiator.dataToSend()
        frames = dataFramesOn(decodeFrames(data), channel)
        self.assertEqual(sum(f.size for f in frames), 4096)
        self.assertTrue(frames[-1].more)
        self.assertEqual(pair.initiator.dataToSend(), b"", "nothing past the window")
        self.assertEqual(pair.listener.receiveData(data), [])
        seqs = decodeFrames(pair.listener.dataToSend())
        self.assertEqual(seqs, [SeqFrame(channel, 4096, 4096)])
        self.assertEqual(pair.initiator.receiveData(encodeFrame(seqs[0])), [])
        more = dataFramesOn(decodeFrames(pair.initiator.dataToSend()), channel)
        self.assertEqual([(f.seqno, f.size) for f in more], [(4096, 4096)])
        self.assertEqual(pair.listener.receiveData(b"".join(map(encodeFrame, more))), [])
        self.assertEqual(
            pair.pump().listener, [MessageReceived(channel, msgno, Message(b"x" * 20000))]
        )
        self.assertNoWindowOverrun(
            pair.framesSentBy(pair.initiator), pair.framesSentBy(pair.listener), channel
        )

    def assertNoWindowOverrun(self, sent, acknowledgements, channel, window=4096):
        """
        Assert that no frame in ``sent`` went past the last ``SEQ`` of
        ``acknowledgements``; only the final totals are comparable, so check
        that the octets sent never exceed the last window edge.
        """
        edge = window
        for seq in seqFramesOn(acknowledgements, channel):
            edge = seq.ackno + seq.window
        total = sum(f.size for f in dataFramesOn(sent, channel))
        self.assertLessEqual(total, edge)

    def test_seqAfterHalfWindow(self):
        """
        The receiver sends ``SEQ`` once half the window is consumed, not
        after every frame.
        """
        pair = SessionPair(initiatorConfig=replace(RFC_WINDOWS, maxFrameSize=512))
        channel = pair.openChannel()
        pair.initiator.sendMessage(channel, Message(b"y" * 4094))  # 4096 octets of payload
        frames = decodeFrames(pair.initiator.dataToSend())
        self.assertEqual(len(frames), 8)
        seqs = []
        for frame in frames:
            pair.listener.receiveData(encodeFrame(frame))
            seqs.append(decodeFrames(pair.listener.dataToSend()))
        self.assertEqual(
            seqs,
            [
                [],
                [],
                [],
                [SeqFrame(channel, 2048, 4096)],
                [],
                [],
                [],
                [SeqFrame(channel, 4096, 4096)],
            ],
        )

    def test_largerWindowAdvertisedAfterStartReply(self):
        """
        A listener with a larger ``receiveWindow`` advertises it with a
        ``SEQ`` right after the reply that starts the channel, never before.
        """
        pair = SessionPair(listenerConfig=replace(RFC_WINDOWS, receiveWindow=16384))
        pair.initiator.startChannel([URI])
        pair.pump()
        self.assertEqual(seqFramesOn(pair.framesSentBy(pair.listener), 1), [])
        self.assertEqual(pair.listener.dataToSend(), b"")
        pair.listener.acceptStart(1, URI)
        frames = decodeFrames(pair.listener.dataToSend())
        self.assertEqual([(type(f), f.channel) for f in frames], [(DataFrame, 0), (SeqFrame, 1)])
        self.assertEqual(frames[1], SeqFrame(1, 0, 16384))
        self.assertEventTypes(
            pair.initiator.receiveData(b"".join(map(encodeFrame, frames))), ChannelStarted
        )
        pair.initiator.sendMessage(1, Message(b"z" * 16000))
        sent = dataFramesOn(decodeFrames(pair.initiator.dataToSend()), 1)
        self.assertEqual(sum(f.size for f in sent), 16002, "the whole window is used at once")

    def test_largerWindowAdvertisedByStarter(self):
        """
        The side that started a channel advertises its larger window once
        the channel is started.
        """
        pair = SessionPair(initiatorConfig=replace(RFC_WINDOWS, receiveWindow=10000))
        pair.initiator.startChannel([URI])
        pair.pump()
        self.assertEqual(seqFramesOn(pair.framesSentBy(pair.initiator), 1), [])
        pair.listener.acceptStart(1, URI)
        pair.pump()
        self.assertEqual(seqFramesOn(pair.framesSentBy(pair.initiator), 1), [SeqFrame(1, 0, 10000)])

    def test_largerWindowAllowsLargerFrames(self):
        """
        A frame as large as the advertised window is accepted.
        """
        config = replace(RFC_WINDOWS, receiveWindow=20000, maxFrameSize=20000)
        pair = SessionPair(initiatorConfig=config, listenerConfig=config)
        channel = pair.openChannel()
        msgno = pair.initiator.sendMessage(channel, Message(b"w" * 19000))
        self.assertEqual(
            pair.pump().listener, [MessageReceived(channel, msgno, Message(b"w" * 19000))]
        )
        self.assertEqual(len(dataFramesOn(pair.framesSentBy(pair.initiator), channel)), 1)

    def test_seqnoWrap(self):
        """
        Sequence numbers wrap modulo 2**32 in both directions: frames cross
        the wrap, ``SEQ`` acknowledgements past it are accepted, and the next
        frames start from the wrapped value.
        """
        config = replace(RFC_WINDOWS, maxFrameSize=100)
        pair = SessionPair(initiatorConfig=config, listenerConfig=config)
        channel = pair.openChannel()
        start = SEQNO_MODULUS - 200
        for sender in (pair.initiator, pair.listener):
            outgoing = sender._channels[channel]
            outgoing.sendSeqno = outgoing.peerAckno = start
            outgoing.peerWindowEdge = (start + 4096) % SEQNO_MODULUS
            incoming = pair.peerOf(sender)._channels[channel]
            incoming.receiveSeqno = start
            incoming.receiveEdge = (start + 4096) % SEQNO_MODULUS
        msgno = pair.initiator.sendMessage(channel, Message(b"q" * 2998))  # 3000 octets
        pumped = pair.pump()
        self.assertEqual(pumped.listener, [MessageReceived(channel, msgno, Message(b"q" * 2998))])
        pair.listener.sendReply(channel, msgno, Message(b"r" * 2998))
        pumped = pair.pump()
        self.assertEqual(pumped.initiator, [ReplyReceived(channel, msgno, Message(b"r" * 2998))])
        again = pair.initiator.sendMessage(channel, Message(b"s" * 4000))
        pair.pump()
        pair.listener.sendReply(channel, again, Message(b"t" * 4000))
        pumped = pair.pump()
        self.assertEqual(pumped.initiator, [ReplyReceived(channel, again, Message(b"t" * 4000))])
        for sender in (pair.initiator, pair.listener):
            frames = dataFramesOn(pair.framesSentBy(sender), channel)
            seqnos = [f.seqno for f in frames]
            self.assertEqual(seqnos[:3], [start, start + 100, 0])
            expected = start
            for frame in frames:
                self.assertEqual(frame.seqno, expected)
                expected = (expected + frame.size) % SEQNO_MODULUS
            self.assertEqual(expected, (start + 3000 + 4002) % SEQNO_MODULUS)
            acks = [
                seq.ackno for seq in seqFramesOn(pair.framesSentBy(pair.peerOf(sender)), channel)
            ]
            self.assertTrue(
                any(ack < start for ack in acks), f"no acknowledgement past the wrap: {acks}"
            )
        self.assertEqual(
            ofType(pair.events[pair.initiator] + pair.events[pair.listener], ProtocolViolated), []
        )


class CloseTests(SessionTestCase):
    """
    RFC 3080 section 2.3.1.3 and 2.4: closing channels, releasing sessions.
    """

    def setUp(self):
        self.pair = SessionPair()
        self.channel = self.pair.openChannel()

    def test_accepted(self):
        """
        An accepted close removes the channel on both sides.
        """
        self.pair.initiator.closeChannel(self.channel, text="bye")
        self.assertEqual(
            self.pair.pump().listener, [ChannelCloseRequested(self.channel, 200, "bye")]
        )
        self.pair.listener.acceptClose(self.channel)
        self.assertEqual(self.pair.pump().initiator, [ChannelClosed(self.channel)])
        self.assertEqual(self.pair.initiator.channels, frozenset({0}))
        self.assertEqual(self.pair.listener.channels, frozenset({0}))
        self.assertRaises(
            LocalProtocolError, self.pair.initiator.sendMessage, self.channel, Message()
        )

    def test_refused(self):
        """
        A refused close leaves the channel open and usable.
        """
        self.pair.initiator.closeChannel(self.channel)
        self.pair.pump()
        self.pair.listener.refuseClose(self.channel, BEEPError(550, "still working"))
        self.assertEqual(
            self.pair.pump().initiator,
            [ChannelCloseFailed(self.channel, BEEPError(550, "still working"))],
        )
        msgno = self.pair.initiator.sendMessage(self.channel, Message(b"again"))
        self.assertEqual(
            self.pair.pump().listener, [MessageReceived(self.channel, msgno, Message(b"again"))]
        )

    def test_noMessagesWhileClosing(self):
        """
        After asking to close, no ``MSG`` may be sent on the channel, nor a
        second close.
        """
        self.pair.initiator.closeChannel(self.channel)
        self.assertRaises(
            LocalProtocolError, self.pair.initiator.sendMessage, self.channel, Message()
        )
        self.assertRaises(LocalProtocolError, self.pair.initiator.closeChannel, self.channel)

    def test_okWaitsForOwedReply(self):
        """
        A close accepted while we still owe a reply is answered with
        ``<ok />`` only after the reply is complete (RFC 3080 section
        2.3.1.3); meanwhile we send no new ``MSG``.
        """
        msgno = self.pair.initiator.sendMessage(self.channel, Message(b"list"))
        self.pair.pump()
        self.pair.listener.sendAnswer(self.channel, msgno, Message(b"first"))
        self.pair.pump()  # the first answer acknowledges the MSG
        self.pair.initiator.closeChannel(self.channel)
        self.assertEventTypes(self.pair.pump().listener, ChannelCloseRequested)
        self.pair.listener.acceptClose(self.channel)
        self.assertEqual(self.pair.pump().initiator, [])
        self.assertIn(self.channel, self.pair.listener.channels)
        self.assertRaises(
            LocalProtocolError, self.pair.listener.sendMessage, self.channel, Message()
        )
        self.pair.listener.sendAnswer(self.channel, msgno, Message(b"second"))
        self.pair.listener.sendNul(self.channel, msgno)
        self.assertEqual(
            self.pair.pump().initiator,
            [
                AnswerReceived(self.channel, msgno, 1, Message(b"second")),
                AnswersCompleted(self.channel, msgno),
                ChannelClosed(self.channel),
            ],
        )
        self.assertEqual(self.pair.listener.channels, frozenset({0}))

    def test_okWaitsForOwnMessages(self):
        """
        A close accepted while our own ``MSG`` awaits its reply is answered
        only once that reply is in.
        """
        mine = self.pair.listener.sendMessage(self.channel, Message(b"q"))
        self.pair.pump()
        self.pair.initiator.closeChannel(self.channel)
        self.pair.pump()
        self.pair.listener.acceptClose(self.channel)
        self.assertEqual(self.pair.pump().initiator, [])
        self.pair.initiator.sendReply(self.channel, mine, Message(b"a"))
        pumped = self.pair.pump()
        self.assertEqual(pumped.listener, [ReplyReceived(self.channel, mine, Message(b"a"))])
        self.assertEqual(pumped.initiator, [ChannelClosed(self.channel)])

    def test_closeRightAfterAccept(self):
        """
        A channel may be closed as soon as its start is accepted: the
        ``<close>`` must not reach the peer before the start reply, even when
        that reply waits behind an earlier one on channel 0 (RFC 3080 section
        2.6.1), or the peer refuses to close a channel it does not know.
        """
        msgno = self.pair.listener.sendMessage(self.channel, Message(b"q"))
        self.pair.pump()
        self.pair.initiator.closeChannel(self.channel)
        self.pair.pump()
        self.pair.listener.acceptClose(self.channel)  # <ok /> waits for the reply to q
        second = self.pair.initiator.startChannel([URI])
        self.pair.pump()
        self.pair.listener.acceptStart(second, URI)  # this reply waits behind <ok />
        self.pair.listener.closeChannel(second)
        early = self.pair.pump()
        self.pair.initiator.sendReply(self.channel, msgno, Message(b"a"))
        late = self.pair.pump()
        self.assertEqual(ofType(early.listener + late.listener, ChannelCloseFailed), [])
        self.assertEqual(
            early.initiator + late.initiator,
            [
                ChannelClosed(self.channel),
                ChannelStarted(second, ProfileElement(URI)),
                ChannelCloseRequested(second, 200),
            ],
        )

    def test_closeWithUnacknowledgedMessage(self):
        """
        Closing a channel with a ``MSG`` whose reply has not started is
        refused locally.
        """
        self.pair.initiator.sendMessage(self.channel, Message(b"q"))
        self.assertRaises(LocalProtocolError, self.pair.initiator.closeChannel, self.channel)
        self.pair.pump()
        self.assertRaises(LocalProtocolError, self.pair.initiator.closeChannel, self.channel)

    def test_crossedCloses(self):
        """
        When both sides ask to close at once, both accept and both see the
        channel closed.
        """
        self.pair.initiator.closeChannel(self.channel)
        self.pair.listener.closeChannel(self.channel)
        pumped = self.pair.pump()
        self.assertEqual(pumped.initiator, [ChannelCloseRequested(self.channel, 200)])
        self.assertEqual(pumped.listener, [ChannelCloseRequested(self.channel, 200)])
        self.pair.initiator.acceptClose(self.channel)
        self.pair.listener.acceptClose(self.channel)
        pumped = self.pair.pump()
        self.assertEqual(pumped.initiator, [ChannelClosed(self.channel)])
        self.assertEqual(pumped.listener, [ChannelClosed(self.channel)])
        self.assertEqual(self.pair.initiator.channels, frozenset({0}))
        self.assertEqual(self.pair.listener.channels, frozenset({0}))

    def test_crossedClosesWhileBusy(self):
        """
        If the peer's close, which we accepted, waits on a reply of ours
        when the peer's ``<ok />`` to our own close arrives, the channel is
        gone and our ``<ok />`` goes at once: the peer must not wait forever.
        """
        peer = ScriptedPeer(LISTENER)
        number = peer.openChannel()
        peer.deliver(peer.frame(MSG, number, 0, b"\r\nunanswered"))
        peer.session.closeChannel(number)
        peer.read()
        events = peer.deliver(peer.request(Close(number, 200)))
        self.assertEqual(events, [ChannelCloseRequested(number, 200)])
        peer.session.acceptClose(number)
        peer.read()
        self.assertNotIn((RPY, Ok()), peer.channelZeroReplies())
        events = peer.deliver(peer.management(RPY, 1, Ok()))
        self.assertEqual(events, [ChannelClosed(number)])
        peer.read()
        self.assertEqual(peer.channelZeroReplies()[-1], (RPY, Ok()))

    def test_closeUnknownChannel(self):
        """
        Closing a channel that is not open is refused locally.
        """
        self.assertRaises(LocalProtocolError, self.pair.initiator.closeChannel, 99)

    def test_peerClosesUnknownChannel(self):
        """
        A peer's close of a channel that is not open gets an error reply.
        """
        peer = ScriptedPeer(LISTENER)
        self.assertEqual(peer.deliver(peer.request(Close(9, 200))), [])
        peer.read()
        kind, error = peer.channelZeroReplies()[-1]
        self.assertEqual(kind, ERR)
        self.assertEqual(error.code, ReplyCode.PARAMETER_INVALID)

    def test_release(self):
        """
        ``close`` of channel 0 accepted with ``<ok />`` releases the session
        on both sides.
        """
        self.pair.initiator.closeChannel(self.channel)
        self.pair.pump()
        self.pair.listener.acceptClose(self.channel)
        self.pair.pump()
        self.pair.initiator.closeChannel(0)
        self.assertEqual(self.pair.pump().listener, [ChannelCloseRequested(0, 200)])
        self.assertFalse(self.pair.listener.released)
        self.pair.listener.acceptClose(0)
        self.assertEqual(self.pair.pump().initiator, [SessionReleased()])
        self.assertTrue(self.pair.initiator.released)
        self.assertTrue(self.pair.listener.released)
        self.assertRaises(LocalProtocolError, self.pair.initiator.startChannel, [URI])

    def test_releaseBareClose(self):
        """
        A ``<close code='200'/>`` without a number, as RFC 3080 section 2.4
        shows it, asks to release the session.
        """
        peer = ScriptedPeer(LISTENER)
        payload = Message(b"<close code='200' />", contentType=BEEP_XML).toPayload()
        self.assertEqual(
            peer.deliver(peer.frame(MSG, 0, 1, payload)), [ChannelCloseRequested(0, 200)]
        )
        peer.session.acceptClose(0)
        peer.read()
        self.assertEqual(peer.channelZeroReplies()[-1], (RPY, Ok()))
        self.assertTrue(peer.session.released)

    def test_releaseRefusedWhileBusy(self):
        """
        A release asked while a message is in flight is refused with 550,
        and the session goes on.
        """
        peer = ScriptedPeer(LISTENER)
        channel = peer.openChannel()
        self.assertEventTypes(
            peer.deliver(peer.frame(MSG, channel, 0, Message(b"x").toPayload())), MessageReceived
        )
        self.assertEqual(peer.deliver(peer.request(Close(0, 200))), [])
        peer.read()
        kind, error = peer.channelZeroReplies()[-1]
        self.assertEqual((kind, error.code), (ERR, ReplyCode.REQUESTED_ACTION_NOT_TAKEN))
        self.assertFalse(peer.session.released)
        peer.session.sendReply(channel, 0, Message(b"y"))
        self.assertEqual(len(dataFramesOn(peer.read(), channel)), 1)

    def test_releaseWithIdleChannelsOpen(self):
        """
        A release asked while channels are open but idle may be accepted, as
        beepcore-java expects (it releases with its SASL channel open):
        RFC 3080 does not ask for the channels to be closed first.
        """
        peer = ScriptedPeer(LISTENER)
        peer.openChannel()
        self.assertEqual(
            peer.deliver(peer.request(Close(0, 200))), [ChannelCloseRequested(0, 200)]
        )
        peer.session.acceptClose(0)
        peer.read()
        self.assertEqual(peer.channelZeroReplies()[-1], (RPY, Ok()))
        self.assertTrue(peer.session.released)

    def test_localReleaseWhileChannelsOpen(self):
        """
        Releasing the session while channels are open is refused locally.
        """
        self.assertRaises(LocalProtocolError, self.pair.initiator.closeChannel, 0)

    def test_releaseRefusedByApplication(self):
        """
        The application may refuse a release; the session continues.
        """
        pair = SessionPair()
        pair.initiator.closeChannel(0)
        pair.pump()
        pair.listener.refuseClose(0, BEEPError(550, "still working"))
        self.assertEqual(
            pair.pump().initiator, [ChannelCloseFailed(0, BEEPError(550, "still working"))]
        )
        self.assertFalse(pair.initiator.released)
        self.assertEqual(pair.openChannel(), 1)

    def test_noStartDuringRelease(self):
        """
        A start that arrives while our release is pending is refused with
        550.
        """
        pair = SessionPair()
        pair.listener.closeChannel(0)
        number = pair.initiator.startChannel([URI])
        pumped = pair.pump()
        self.assertIn(ChannelCloseRequested(0, 200), pumped.initiator)
        [failed] = ofType(pumped.initiator, ChannelStartFailed)
        self.assertEqual((failed.number, failed.error.code), (number, 550))
        self.assertEqual(pumped.listener, [])


class LimitTests(SessionTestCase):
    """
    What a peer can make a session hold is bounded.
    """

    def test_messageTooLarge(self):
        """
        A ``MSG`` larger than ``maxMessageSize`` is discarded, answered with
        ``ERR`` 554, and the session continues.
        """
        pair = SessionPair(listenerConfig=replace(RFC_WINDOWS, maxMessageSize=1000))
        channel = pair.openChannel()
        big = pair.initiator.sendMessage(channel, Message(b"b" * 5000))
        pumped = pair.pump()
        self.assertEqual(pumped.listener, [MessageDiscarded(channel, big, False, 5002)])
        [error] = pumped.initiator
        self.assertEqual((type(error), error.msgno), (ErrorReceived, big))
        self.assertEqual(parseManagement(error.message.body).code, ReplyCode.TRANSACTION_FAILED)
        small = pair.initiator.sendMessage(channel, Message(b"s" * 998))
        self.assertEqual(
            pair.pump().listener, [MessageReceived(channel, small, Message(b"s" * 998))]
        )

    def test_replyTooLarge(self):
        """
        A reply larger than ``maxMessageSize`` is reported as discarded.
        """
        pair = SessionPair(initiatorConfig=replace(RFC_WINDOWS, maxMessageSize=1000))
        channel = pair.openChannel()
        msgno = pair.initiator.sendMessage(channel, Message(b"q"))
        pair.pump()
        pair.listener.sendReply(channel, msgno, Message(b"r" * 5000))
        self.assertEqual(pair.pump().initiator, [MessageDiscarded(channel, msgno, True, 5002)])
        again = pair.initiator.sendMessage(channel, Message(b"q"))
        pair.pump()
        pair.listener.sendReply(channel, again, Message(b"ok"))
        self.assertEqual(pair.pump().initiator, [ReplyReceived(channel, again, Message(b"ok"))])

    def test_answerTooLarge(self):
        """
        An ``ANS`` larger than ``maxMessageSize`` is reported as discarded;
        the other answers and the ``NUL`` still arrive.
        """
        pair = SessionPair(initiatorConfig=replace(RFC_WINDOWS, maxMessageSize=1000))
        channel = pair.openChannel()
        msgno = pair.initiator.sendMessage(channel, Message(b"list"))
        pair.pump()
        pair.listener.sendAnswer(channel, msgno, Message(b"a" * 3000))
        pair.listener.sendAnswer(channel, msgno, Message(b"b"))
        pair.listener.sendNul(channel, msgno)
        self.assertEqual(
            pair.pump().initiator,
            [
                MessageDiscarded(channel, msgno, True, 3002),
                AnswerReceived(channel, msgno, 1, Message(b"b")),
                AnswersCompleted(channel, msgno),
            ],
        )

    def test_configRejectsSmallWindow(self):
        """
        A receive window under RFC 3081's 4096 octets cannot be configured.
        """
        self.assertRaises(ValueError, SessionConfig, receiveWindow=4095)
        self.assertRaises(ValueError, SessionConfig, maxFrameSize=0)
        self.assertRaises(ValueError, SessionConfig, streamBuffer=1)


class ManagementErrorTests(SessionTestCase):
    """
    RFC 3080 section 2.3.1.5: a poorly formed channel-0 ``MSG`` is answered
    with ``<error>`` and the session continues.
    """

    def assertErrorReply(self, payload, code):
        peer = ScriptedPeer(LISTENER)
        self.assertEqual(peer.deliver(peer.frame(MSG, 0, 1, payload)), [])
        peer.read()
        [(kind, error)] = peer.channelZeroReplies()
        self.assertEqual((kind, error.code), (ERR, code), error)
        self.assertEqual(peer.openChannel(), 1, "the session continues")

    def test_malformedXML(self):
        """
        XML that is not well formed gets 500.
        """
        self.assertErrorReply(Message(b"<start number='1'", contentType=BEEP_XML).toPayload(), 500)

    def test_okInMessage(self):
        """
        ``<ok />`` is a reply, not a request: 501.
        """
        self.assertErrorReply(managementPayload(Ok()), 501)

    def test_greetingInMessage(self):
        """
        ``<greeting>`` in a ``MSG`` is 501.
        """
        self.assertErrorReply(managementPayload(Greeting()), 501)

    def test_startWithoutProfile(self):
        """
        A start naming no profile is 501.
        """
        self.assertErrorReply(
            Message(b"<start number='1' />", contentType=BEEP_XML).toPayload(), 501
        )

    def test_entityDeclaration(self):
        """
        A document type declaration is 500, without expansion.
        """
        self.assertErrorReply(
            b'\r\n<!DOCTYPE x [<!ENTITY a "aaaa">]><close code="200">&a;</close>', 500
        )


class PoorlyFormedTests(SessionTestCase):
    """
    Every poorly formed frame of RFC 3080 section 2.2.1.1 and RFC 3081
    section 3.1.3 ends the session: exactly one :class:`ProtocolViolated`,
    as the last event, with no response and nothing after.
    """

    def setUp(self):
        self.peer = ScriptedPeer(LISTENER)
        self.channel = self.peer.openChannel()
        self.session = self.peer.session

    def ourMessage(self, body=b"q"):
        """
        Have the session send a ``MSG`` on the channel.

        :return: its msgno.
        """
        msgno = self.session.sendMessage(self.channel, Message(body))
        self.peer.read()
        return msgno

    def test_badFraming(self):
        """
        A syntax error in a frame header ends the session.
        """
        self.assertViolated(self.peer, self.peer.deliver(b"XYZ 1 0 . 0 0\r\nEND\r\n"), "keyword")

    def test_framesBeforeTheErrorAreProcessed(self):
        """
        Frames before a poorly formed one in the same read are reported
        first.
        """
        events = self.peer.deliver(
            self.peer.frame(MSG, self.channel, 0, b"\r\nfine"),
            self.peer.frame(MSG, 99, 0, b""),
            self.peer.frame(MSG, self.channel, 1, b"\r\nlost"),
        )
        self.assertViolated(self.peer, events, "99", before=[MessageReceived])

    def test_unknownChannel(self):
        """
        A frame on a channel that is not open ends the session.
        """
        self.assertViolated(self.peer, self.peer.deliver(self.peer.frame(MSG, 3, 0)), "channel 3")

    def test_wrongSeqno(self):
        """
        A sequence number other than the expected one ends the session.
        """
        self.peer.deliver(self.peer.frame(MSG, self.channel, 0, b"\r\nabc"))
        events = self.peer.deliver(self.peer.frame(MSG, self.channel, 1, b"\r\n", seqno=4))
        self.assertViolated(self.peer, events, "seqno")

    def test_msgnoInUse(self):
        """
        A ``MSG`` reusing a message number we have not yet answered ends the
        session.
        """
        self.assertEventTypes(
            self.peer.deliver(self.peer.frame(MSG, self.channel, 5, b"\r\na")), MessageReceived
        )
        events = self.peer.deliver(self.peer.frame(MSG, self.channel, 5, b"\r\nb"))
        self.assertViolated(self.peer, events, "5")

    def test_replyToUnsentMessage(self):
        """
        A reply to a message number we never sent ends the session.
        """
        events = self.peer.deliver(self.peer.frame(RPY, self.channel, 7, b"\r\n"))
        self.assertViolated(self.peer, events, "7")

    def test_replyToAnsweredMessage(self):
        """
        A second reply to a message already completely answered ends the
        session.
        """
        msgno = self.ourMessage()
        self.assertEventTypes(
            self.peer.deliver(self.peer.frame(RPY, self.channel, msgno, b"\r\nr")), ReplyReceived
        )
        events = self.peer.deliver(self.peer.frame(RPY, self.channel, msgno, b"\r\nr"))
        self.assertViolated(self.peer, events, str(msgno))

    def test_replyAfterNul(self):
        """
        A frame for a message whose ``NUL`` has arrived ends the session.
        """
        msgno = self.ourMessage()
        self.assertEventTypes(
            self.peer.deliver(self.peer.frame(NUL, self.channel, msgno)), AnswersCompleted
        )
        events = self.peer.deliver(self.peer.frame(ANS, self.channel, msgno, b"\r\n", ansno=0))
        self.assertViolated(self.peer, events, str(msgno))

    def test_replyBeforeMessageSent(self):
        """
        A reply to a ``MSG`` still queued (not one octet sent) ends the
        session.
        """
        msgno = self.session.sendMessage(self.channel, Message(b"q"))
        events = self.peer.deliver(self.peer.frame(RPY, self.channel, msgno, b"\r\n"))
        self.assertEventTypes(events, ProtocolViolated)

    def test_rpyAfterAns(self):
        """
        ``RPY`` after an ``ANS`` to the same ``MSG`` ends the session.
        """
        msgno = self.ourMessage()
        self.assertEventTypes(
            self.peer.deliver(self.peer.frame(ANS, self.channel, msgno, b"\r\na", ansno=0)),
            AnswerReceived,
        )
        events = self.peer.deliver(self.peer.frame(RPY, self.channel, msgno, b"\r\nr"))
        self.assertViolated(self.peer, events, "ANS")

    def test_errAfterAns(self):
        """
        ``ERR`` after an ``ANS`` to the same ``MSG`` ends the session.
        """
        msgno = self.ourMessage()
        self.peer.deliver(self.peer.frame(ANS, self.channel, msgno, b"\r\na", ansno=0))
        events = self.peer.deliver(self.peer.frame(ERR, self.channel, msgno, b"\r\nr"))
        self.assertViolated(self.peer, events, "ANS")

    def test_intermediateNul(self):
        """
        A ``NUL`` with the ``*`` indicator ends the session.
        """
        msgno = self.ourMessage()
        events = self.peer.deliver(self.peer.frame(NUL, self.channel, msgno, more=True))
        self.assertViolated(self.peer, events, "NUL")

    def test_nulWithPayload(self):
        """
        A ``NUL`` with a payload ends the session.
        """
        msgno = self.ourMessage()
        events = self.peer.deliver(self.peer.frame(NUL, self.channel, msgno, b"x"))
        self.assertViolated(self.peer, events, "payload")

    def test_nulWithEmptyEntityTolerated(self):
        """
        A ``NUL`` carrying just the empty MIME header block (CRLF), as Vortex
        sends it, is accepted: a documented tolerance.
        """
        msgno = self.ourMessage()
        self.assertEqual(
            self.peer.deliver(self.peer.frame(NUL, self.channel, msgno, b"\r\n")),
            [AnswersCompleted(self.channel, msgno)],
        )

    def test_nulWhileAnswerIncomplete(self):
        """
        A ``NUL`` while an ``ANS`` still lacks its final frame ends the
        session.
        """
        msgno = self.ourMessage()
        events = self.peer.deliver(
            self.peer.frame(ANS, self.channel, msgno, b"\r\npart", more=True, ansno=0),
            self.peer.frame(ANS, self.channel, msgno, b"\r\nwhole", ansno=1),
            self.peer.frame(NUL, self.channel, msgno),
        )
        self.assertViolated(self.peer, events, "incomplete", before=[AnswerReceived])

    def test_interleavedAnswersAllowed(self):
        """
        ``ANS`` frames of different answers to one ``MSG`` may interleave
        (RFC 3080 section 2.2.1.1).
        """
        msgno = self.ourMessage()
        events = self.peer.deliver(
            self.peer.frame(ANS, self.channel, msgno, b"\r\na1", more=True, ansno=0),
            self.peer.frame(ANS, self.channel, msgno, b"\r\nb1", more=True, ansno=1),
            self.peer.frame(ANS, self.channel, msgno, b"a2", ansno=0),
            self.peer.frame(ANS, self.channel, msgno, b"b2", ansno=1),
            self.peer.frame(NUL, self.channel, msgno),
        )
        self.assertEqual(
            events,
            [
                AnswerReceived(self.channel, msgno, 0, Message(b"a1a2")),
                AnswerReceived(self.channel, msgno, 1, Message(b"b1b2")),
                AnswersCompleted(self.channel, msgno),
            ],
        )

    def test_interleavedMessages(self):
        """
        A frame of another message after an intermediate (``*``) frame ends
        the session.
        """
        events = self.peer.deliver(
            self.peer.frame(MSG, self.channel, 0, b"\r\npart", more=True),
            self.peer.frame(MSG, self.channel, 1, b"\r\nother"),
        )
        self.assertViolated(self.peer, events, "interrupts")

    def test_interleavedReplyAndMessage(self):
        """
        The peer's ``MSG`` in the middle of its multi-frame reply on the same
        channel ends the session.
        """
        msgno = self.ourMessage()
        events = self.peer.deliver(
            self.peer.frame(RPY, self.channel, msgno, b"\r\npart", more=True),
            self.peer.frame(MSG, self.channel, 3, b"\r\nother"),
        )
        self.assertViolated(self.peer, events, "interrupts")

    def test_keywordChange(self):
        """
        A message whose frames change keyword (``RPY`` then ``ERR``) ends the
        session.
        """
        msgno = self.ourMessage()
        events = self.peer.deliver(
            self.peer.frame(RPY, self.channel, msgno, b"\r\npart", more=True),
            self.peer.frame(ERR, self.channel, msgno, b"rest"),
        )
        self.assertViolated(self.peer, events, "interrupts")

    def test_overWindow(self):
        """
        Octets past the window we advertised end the session.
        """
        events = self.peer.deliver(
            self.peer.frame(MSG, self.channel, 0, b"\r\n" + b"a" * 2998, more=True),
            self.peer.frame(MSG, self.channel, 0, b"b" * 2000),
        )
        self.assertViolated(self.peer, events, "window")

    def test_seqUnknownChannel(self):
        """
        A ``SEQ`` for a channel that is not open ends the session.
        """
        events = self.peer.deliver(encodeFrame(SeqFrame(9, 0, 4096)))
        self.assertViolated(self.peer, events, "9")

    def test_seqUnsentOctets(self):
        """
        A ``SEQ`` acknowledging octets we never sent ends the session.
        """
        self.ourMessage(b"abc")  # 5 octets
        self.assertEqual(self.peer.deliver(encodeFrame(SeqFrame(self.channel, 5, 4096))), [])
        events = self.peer.deliver(encodeFrame(SeqFrame(self.channel, 6, 4096)))
        self.assertViolated(self.peer, events, "never sent")

    def test_seqBackwards(self):
        """
        A ``SEQ`` whose acknowledgement goes back ends the session.
        """
        self.ourMessage(b"abc")
        self.peer.deliver(encodeFrame(SeqFrame(self.channel, 5, 4096)))
        events = self.peer.deliver(encodeFrame(SeqFrame(self.channel, 2, 4096)))
        self.assertViolated(self.peer, events, "never sent")

    def test_dataBeforeGreeting(self):
        """
        A frame before the peer's greeting ends the session.
        """
        peer = ScriptedPeer(LISTENER, greet=False)
        events = peer.deliver(peer.request(Start(1, (ProfileElement(URI),))))
        self.assertViolated(peer, events, "greeting")

    def test_greetingNotGreeting(self):
        """
        A first reply that is not ``<greeting>`` ends the session.
        """
        peer = ScriptedPeer(LISTENER, greet=False)
        events = peer.deliver(peer.management(RPY, 0, Ok()))
        self.assertViolated(peer, events, "greeting")

    def test_greetingUnparseable(self):
        """
        A greeting that is not XML ends the session.
        """
        peer = ScriptedPeer(LISTENER, greet=False)
        events = peer.deliver(peer.frame(RPY, 0, 0, b"\r\n<greeting"))
        self.assertViolated(peer, events, "unparseable")

    def test_secondGreeting(self):
        """
        A second greeting answers no message: the session ends.
        """
        events = self.peer.deliver(self.peer.management(RPY, 0, Greeting()))
        self.assertEventTypes(events, ProtocolViolated)

    def test_unparseableChannelZeroReply(self):
        """
        A channel-0 reply that is not XML ends the session.
        """
        self.session.startChannel([URI])
        [request] = self.peer.read()
        events = self.peer.deliver(self.peer.frame(RPY, 0, request.msgno, b"\r\n<profile"))
        self.assertViolated(self.peer, events, "unparseable")

    def test_wrongElementInStartReply(self):
        """
        A start answered with ``<ok />`` ends the session.
        """
        self.session.startChannel([URI])
        [request] = self.peer.read()
        events = self.peer.deliver(self.peer.management(RPY, request.msgno, Ok()))
        self.assertViolated(self.peer, events, "profile")

    def test_startReplyWithUnproposedProfile(self):
        """
        A start accepted with a profile we did not propose ends the session.
        """
        self.session.startChannel([URI])
        [request] = self.peer.read()
        events = self.peer.deliver(self.peer.management(RPY, request.msgno, ProfileElement(OTHER)))
        self.assertViolated(self.peer, events, OTHER)

    def test_errWithoutError(self):
        """
        A channel-0 ``ERR`` that does not carry ``<error>`` ends the session.
        """
        self.session.startChannel([URI])
        [request] = self.peer.read()
        events = self.peer.deliver(self.peer.management(ERR, request.msgno, Ok()))
        self.assertViolated(self.peer, events, "error")


class LocalErrorTests(SessionTestCase):
    """
    Commands the protocol forbids raise :class:`LocalProtocolError` and send
    nothing.
    """

    def setUp(self):
        self.pair = SessionPair()
        self.channel = self.pair.openChannel()

    def test_sendOnUnknownChannel(self):
        """
        A message on a channel that is not open is refused.
        """
        self.assertRaises(LocalProtocolError, self.pair.initiator.sendMessage, 7, Message())
        self.assertEqual(self.pair.initiator.dataToSend(), b"")

    def test_sendOnChannelZero(self):
        """
        Channel 0 carries only channel management.
        """
        self.assertRaises(LocalProtocolError, self.pair.initiator.sendMessage, 0, Message())

    def test_replyTwice(self):
        """
        A second reply to one message is refused.
        """
        msgno = self.pair.initiator.sendMessage(self.channel, Message())
        self.pair.pump()
        self.pair.listener.sendReply(self.channel, msgno, Message())
        self.assertRaises(
            LocalProtocolError, self.pair.listener.sendReply, self.channel, msgno, Message()
        )
        self.assertRaises(
            LocalProtocolError, self.pair.listener.sendError, self.channel, msgno, Message()
        )
        self.assertRaises(LocalProtocolError, self.pair.listener.sendNul, self.channel, msgno)
        self.assertEqual(
            self.pair.pump().initiator, [ReplyReceived(self.channel, msgno, Message())]
        )

    def test_replyToUnknownMessage(self):
        """
        A reply to a message never received is refused.
        """
        self.assertRaises(
            LocalProtocolError, self.pair.listener.sendReply, self.channel, 3, Message()
        )
        self.assertRaises(
            LocalProtocolError, self.pair.listener.sendAnswer, self.channel, 3, Message()
        )

    def test_mixRpyAndAns(self):
        """
        ``RPY``/``ERR`` and ``ANS``/``NUL`` do not mix in one reply.
        """
        msgno = self.pair.initiator.sendMessage(self.channel, Message())
        self.pair.pump()
        self.pair.listener.sendAnswer(self.channel, msgno, Message(b"a"))
        self.assertRaises(
            LocalProtocolError, self.pair.listener.sendReply, self.channel, msgno, Message()
        )
        self.assertRaises(
            LocalProtocolError, self.pair.listener.sendError, self.channel, msgno, Message()
        )
        self.pair.listener.sendNul(self.channel, msgno)
        self.assertRaises(
            LocalProtocolError, self.pair.listener.sendAnswer, self.channel, msgno, Message()
        )
        self.assertEqual(
            self.pair.pump().initiator,
            [
                AnswerReceived(self.channel, msgno, 0, Message(b"a")),
                AnswersCompleted(self.channel, msgno),
            ],
        )

    def test_startBeforeGreeting(self):
        """
        Starting a channel before the peer's greeting is refused.
        """
        session = Session(INITIATOR, [URI])
        session.greet()
        self.assertRaises(LocalProtocolError, session.startChannel, [URI])
        self.assertRaises(LocalProtocolError, session.closeChannel, 0)

    def test_commandsAfterViolation(self):
        """
        After a protocol violation, commands are refused.
        """
        peer = ScriptedPeer(LISTENER)
        peer.deliver(b"garbage\r\n")
        self.assertRaises(LocalProtocolError, peer.session.startChannel, [URI])

    def test_notAMessage(self):
        """
        A message must be a :class:`Message` or ``bytes``.
        """
        self.assertRaises(TypeError, self.pair.initiator.sendMessage, self.channel, "text")


class _Chunker:
    """
    Cuts writes into chunks of the given sizes, cycling.
    """

    def __init__(self, sizes):
        self.sizes = sizes or [2**31]
        self.index = 0

    def __call__(self, data):
        chunks = []
        while data:
            size = self.sizes[self.index % len(self.sizes)]
            self.index += 1
            chunks.append(data[:size])
            data = data[size:]
        return chunks


class SessionMachine(RuleBasedStateMachine):
    """
    Random exchanges between two sessions with small windows and frames,
    over re-chunked byte streams.  Invariants: no :class:`ProtocolViolated`
    ever, every ``MSG`` is delivered intact, and every ``MSG`` gets exactly
    its own reply, in order on each channel.

    Each side sends on a channel as soon as it knows the channel is open:
    the acceptor right after :meth:`~Session.acceptStart`, the starter on
    :class:`ChannelStarted`.  A channel is closed only once both sides know
    it.
    """

    @initialize(
        frameSizes=st.tuples(st.integers(1, 700), st.integers(1, 700)),
        windows=st.tuples(st.integers(4096, 9000), st.integers(4096, 9000)),
    )
    def setUp(self, frameSizes, windows):
        configs = [
            SessionConfig(receiveWindow=window, maxFrameSize=frameSize)
            for frameSize, window in zip(frameSizes, windows)
        ]
        self.pair = SessionPair(
            initiatorProfiles=(URI,),
            listenerProfiles=(URI,),
            initiatorConfig=configs[0],
            listenerConfig=configs[1],
            greet=False,
        )
        self.sessions = (self.pair.initiator, self.pair.listener)
        self.open = {session: [] for session in self.sessions}  # channels each side knows
        self.closeRequested = {session: set() for session in self.sessions}
        self.closeAccepted = {session: set() for session in self.sessions}
        # sender -> channel -> deque of [msgno, body, reply-so-far]
        self.outstanding = {session: {} for session in self.sessions}
        # receiver -> list of (channel, msgno) awaiting our reply
        self.toAnswer = {session: [] for session in self.sessions}
        # (replier, channel, msgno) -> (kind, bodies)
        self.replies = {}
        self.counter = 0
        self.pair.initiator.greet()
        self.pair.listener.greet()
        self.pump(_Chunker([]))
        self.openChannel(0, [])

    def pump(self, chunker):
        pumped = self.pair.pump(chunker)
        self.handle(self.pair.initiator, pumped.initiator)
        self.handle(self.pair.listener, pumped.listener)
        return pumped

    def handle(self, session, events):
        peer = self.pair.peerOf(session)
        for event in events:
            assert not isinstance(event, ProtocolViolated), event
            if isinstance(event, ChannelStartRequested):
                session.acceptStart(event.number, URI)
                self.open[session].append(event.number)
            elif isinstance(event, ChannelStarted):
                self.open[session].append(event.number)
            elif isinstance(event, ChannelCloseRequested):
                session.acceptClose(event.number)
                self.closeAccepted[session].add(event.number)
            elif isinstance(event, ChannelClosed):
                for known in self.open.values():
                    if event.number in known:
                        known.remove(event.number)
            elif isinstance(event, MessageReceived):
                queue = self.outstanding[peer].get(event.channel, ())
                expected = [entry[1] for entry in queue if entry[0] == event.msgno]
                assert expected == [event.message.body], (event, expected)
                self.toAnswer[session].append((event.channel, event.msgno))
            elif isinstance(
                event, (ReplyReceived, ErrorReceived, AnswerReceived, AnswersCompleted)
            ):
                queue = self.outstanding[session][event.channel]
                entry = queue[0]
                assert entry[0] == event.msgno, (event, list(queue))
                kind, bodies = self.replies[(peer, event.channel, event.msgno)]
                if isinstance(event, AnswerReceived):
                    assert kind == "ANS", event
                    assert event.ansno == len(entry[2]), event
                    entry[2].append(event.message.body)
                    continue
                if isinstance(event, AnswersCompleted):
                    assert (kind, entry[2]) == ("ANS", bodies), (event, entry)
                else:
                    expectedKind = "RPY" if isinstance(event, ReplyReceived) else "ERR"
                    assert (kind, [event.message.body]) == (expectedKind, bodies), event
                queue.popleft()
            elif isinstance(event, GreetingReceived):
                pass
            else:
                raise AssertionError(f"unexpected event {event!r}")

    def body(self, size):
        self.counter += 1
        tag = b"<%d>" % (self.counter,)
        return (tag * (size // len(tag) + 1))[:size] or tag

    def usable(self, session):
        return [
            channel
            for channel in self.open[session]
            if channel not in self.closeRequested[session]
            and channel not in self.closeAccepted[session]
        ]

    def senders(self):
        return [session for session in self.sessions if self.usable(session)]

    def closable(self, session):
        # Including channels whose start reply has not left yet: the core
        # holds their <close> until it has.
        return [
            channel for channel in self.usable(session) if not self.outstanding[session].get(channel)
        ]

    @precondition(lambda self: len(self.pair.initiator.channels) < 4)
    @rule(side=st.integers(0, 1))
    def startChannel(self, side):
        """
        Start a channel and leave the exchange in flight.
        """
        self.sessions[side].startChannel([URI])

    @precondition(lambda self: len(self.pair.initiator.channels) < 4)
    @rule(side=st.integers(0, 1), sizes=st.lists(st.integers(1, 300), max_size=5))
    def openChannel(self, side, sizes):
        """
        Start a channel and pump until it is open.
        """
        self.sessions[side].startChannel([URI])
        self.pump(_Chunker(sizes))
        self.pump(_Chunker(sizes))

    @precondition(lambda self: self.senders())
    @rule(side=st.integers(0, 1), pick=st.integers(0, 10), size=st.integers(0, 300))
    def sendSmallMessage(self, side, pick, size):
        self.sendMessage(side, pick, size)

    @precondition(lambda self: self.senders())
    @rule(side=st.integers(0, 1), pick=st.integers(0, 10), size=st.integers(0, 9000))
    def sendMessage(self, side, pick, size):
        senders = self.senders()
        session = senders[side % len(senders)]
        channels = self.usable(session)
        channel = channels[pick % len(channels)]
        body = self.body(size)
        msgno = session.sendMessage(channel, Message(body))
        self.outstanding[session].setdefault(channel, deque()).append([msgno, body, []])

    @precondition(lambda self: any(self.toAnswer.values()))
    @rule(
        side=st.integers(0, 1),
        pick=st.integers(0, 50),
        kind=st.sampled_from(["RPY", "ERR", "ANS"]),
        sizes=st.lists(st.integers(0, 3000), max_size=3),
    )
    def reply(self, side, pick, kind, sizes):
        repliers = [session for session in self.sessions if self.toAnswer[session]]
        session = repliers[side % len(repliers)]
        pending = self.toAnswer[session]
        channel, msgno = pending.pop(pick % len(pending))
        self.answer(session, channel, msgno, kind, sizes)

    def answer(self, session, channel, msgno, kind, sizes):
        if kind == "ANS":
            bodies = [self.body(size) for size in sizes]
            for body in bodies:
                session.sendAnswer(channel, msgno, Message(body))
            session.sendNul(channel, msgno)
        else:
            bodies = [self.body(sizes[0] if sizes else 10)]
            send = session.sendReply if kind == "RPY" else session.sendError
            send(channel, msgno, Message(bodies[0]))
        self.replies[(session, channel, msgno)] = (kind, bodies)

    @precondition(lambda self: any(self.closable(session) for session in self.sessions))
    @rule(side=st.integers(0, 1), pick=st.integers(0, 10))
    def closeChannel(self, side, pick):
        closers = [session for session in self.sessions if self.closable(session)]
        session = closers[side % len(closers)]
        channels = self.closable(session)
        channel = channels[pick % len(channels)]
        session.closeChannel(channel)
        self.closeRequested[session].add(channel)

    @rule(sizes=st.lists(st.integers(1, 300), max_size=5))
    def pumpBytes(self, sizes):
        self.pump(_Chunker(sizes))

    def teardown(self):
        if not hasattr(self, "pair"):
            return
        for _ in range(100):
            self.pump(_Chunker([7, 1, 300]))
            pending = [(s, c, m) for s in self.sessions for c, m in self.toAnswer[s]]
            if not pending:
                break
            for session, channel, msgno in pending:
                self.answer(session, channel, msgno, "RPY", [5])
                self.toAnswer[session].remove((channel, msgno))
        for session in self.sessions:
            left = {c: list(q) for c, q in self.outstanding[session].items() if q}
            assert not left, f"MSGs without their reply: {left}"


class SessionMachineTests(SynchronousTestCase):
    """
    Property tests over random exchanges.
    """

    def test_randomExchanges(self):
        """
        Random exchanges between two sessions never violate the protocol and
        every ``MSG`` gets exactly its reply, in order per channel.
        """
        run_state_machine_as_test(
            SessionMachine,
            settings=settings(max_examples=80, stateful_step_count=35, deadline=None),
        )


class ReviewRegressionTests(SessionTestCase):
    """
    Cases a review of the core found mishandled.
    """

    def test_answerOnChannelZeroIsPoorlyFormed(self):
        """
        Channel 0 answers only with RPY or ERR: an ANS there is poorly
        formed (RFC 3080 section 2.2.2.1).
        """
        peer = ScriptedPeer(LISTENER)
        peer.session.startChannel([URI])
        peer.read()
        events = peer.deliver(peer.frame(ANS, 0, 1, managementPayload(ProfileElement(URI)), ansno=0))
        self.assertViolated(peer, events, "channel 0")

    def test_seqAfterCloseIsIgnored(self):
        """
        A SEQ for a channel whose close we have just accepted is a harmless
        race (the peer read our last frames before our <ok />), not a
        violation.
        """
        pair = SessionPair()
        number = pair.openChannel()
        pair.initiator.closeChannel(number)
        pair.pump()
        pair.listener.acceptClose(number)
        pair.pump()
        self.assertNotIn(number, pair.listener.channels)
        late = encodeFrame(SeqFrame(number, 0, 4096))
        self.assertEqual(pair.listener.receiveData(late), [])

    def test_seqForNeverOpenedChannelIsPoorlyFormed(self):
        """
        A SEQ for a channel that was never open still ends the session.
        """
        peer = ScriptedPeer(LISTENER)
        self.assertViolated(peer, peer.deliver(encodeFrame(SeqFrame(9, 0, 4096))), "SEQ")

    def test_releaseRefusedWhileStartUnanswered(self):
        """
        A release that arrives while we have not answered a start is
        refused with 550: our start reply would otherwise follow our <ok />.
        """
        peer = ScriptedPeer(LISTENER)
        peer.deliver(peer.request(Start(1, (ProfileElement(URI),))))
        peer.deliver(peer.request(Close(0, 200)))
        peer.read()
        peer.session.acceptStart(1, URI)
        peer.read()
        [(startType, _), (closeType, refusal)] = peer.channelZeroReplies()
        self.assertEqual((startType, closeType, refusal.code), (RPY, ERR, 550))
        self.assertFalse(peer.session.released)

    def test_noStartWhileReleasing(self):
        """
        Once our release is in flight no new channel may be started.
        """
        pair = SessionPair()
        pair.initiator.closeChannel(0)
        self.assertRaises(LocalProtocolError, pair.initiator.startChannel, [URI])

    def test_refusalTextWithControlCharacters(self):
        """
        Refusal text with characters XML cannot carry still makes a readable
        <error>, and the channel-0 MSG is answered.
        """
        pair = SessionPair()
        number = pair.initiator.startChannel([URI])
        pair.pump()
        pair.listener.refuseStart(number, BEEPError(550, "tape\x0cjammed"))
        [failed] = ofType(pair.pump().initiator, ChannelStartFailed)
        self.assertEqual(failed.error.text, "tape\ufffdjammed")

    def test_failedRefusalLeavesRequestPending(self):
        """
        A refusal that cannot be encoded leaves the start awaiting an answer
        instead of silently dropping it.
        """
        pair = SessionPair()
        number = pair.initiator.startChannel([URI])
        pair.pump()
        self.assertRaises(TypeError, pair.listener.refuseStart, number, object())
        pair.listener.refuseStart(number, BEEPError(421, "later"))
        [failed] = ofType(pair.pump().initiator, ChannelStartFailed)
        self.assertEqual(failed.error.code, 421)
