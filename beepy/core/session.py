# -*- test-case-name: beepy.test.test_session -*-
"""
A BEEP session with no I/O: bytes in, events out, bytes queued.

:class:`Session` applies every rule of RFC 3080 (framing, message numbers,
reply ordering, channel management, session release) and of RFC 3081 (SEQ
windows).  It never blocks, calls back, logs or reads a clock; the Twisted
layer in :mod:`beepy.protocol` feeds it with :meth:`Session.receiveData`,
acts on the events it returns, calls its commands, and writes what
:meth:`Session.dataToSend` gives.
"""

import collections
import enum
from dataclasses import dataclass, replace
from typing import Optional

from beepy.core import events
from beepy.core.channel import (
    DEFAULT_WINDOW,
    Channel,
    OutgoingMessage,
    Outstanding,
    PartialMessage,
    seqnoDistance,
)
from beepy.core.codec import (
    DEFAULT_MAX_HEADER_LENGTH,
    LONGEST_HEADER,
    TRAILER,
    FrameDecoder,
    encodeFrame,
    encodeHeader,
)
from beepy.core.codes import ReplyCode
from beepy.core.errors import BEEPError, LocalProtocolError, RemoteProtocolError
from beepy.core.frames import (
    MAX_ANSNO,
    MAX_CHANNEL,
    MAX_SIZE,
    SEQNO_MODULUS,
    FrameType,
    SeqFrame,
)
from beepy.core.management import (
    BEEP_XML,
    DEFAULT_MAX_XML_SIZE,
    TLS_URI,
    Close,
    Greeting,
    Ok,
    Proceed,
    ProfileElement,
    Ready,
    Start,
    encodeManagement,
    errorFromMessage,
    parseManagement,
)
from beepy.core.mime import Message

__all__ = ["PayloadStream", "Role", "Session", "SessionConfig"]

MSG, RPY, ERR, ANS, NUL = FrameType.MSG, FrameType.RPY, FrameType.ERR, FrameType.ANS, FrameType.NUL

#: The frame types that end our reply to a ``MSG``.
_FINAL_REPLIES = frozenset((RPY, ERR, NUL))

#: The empty MIME header block some peers (Vortex) put in a NUL frame.
_EMPTY_ENTITY = b"\r\n"


class Role(enum.Enum):
    """
    Which end of the TCP connection we are: the initiator numbers its
    channels odd, the listener even (RFC 3080 section 2.3.1.2).
    """

    INITIATOR = 1
    LISTENER = 0


REFUSAL_BACKLOG = 16
"""
How many times ``maxOutstandingMessages`` refusals (``ERR`` 421) may wait
for their turn in a session before a peer that keeps pipelining is
terminated.
"""

HELD_EVENT_COST = 256
"""
Octets a held event (a message or frame waiting for a paused channel's
application) is counted as against ``maxBufferedOctets``, whatever its
payload: about what its objects take.
"""


@dataclass(frozen=True)
class SessionConfig:
    """
    The limits and tunables of one session.  Each one bounds what a peer can
    make us hold.

    :ivar receiveWindow: the window we advertise on every channel (RFC 3081),
        unless a channel is given its own; also the largest frame payload we
        accept.  What a paused channel holds is bounded by it (messages
        being assembled, by ``maxMessageSize``).  RFC 3081's 4096 octets cost a round trip per 4 KiB; 1 MiB
        keeps a loopback or LAN transfer from waiting on ``SEQ`` frames.
    :ivar maxFrameSize: the largest frame payload we send (also bounded by
        the peer's window).  Channels take turns a frame at a time, so this
        is how long a large message can hold up a small one on another
        channel.
    :ivar maxMessageSize: the largest message we assemble; larger ones are
        discarded (a ``MSG`` is answered with ``ERR`` 554).  It also bounds
        the unfinished ``ANS`` replies to one ``MSG`` together; a peer that
        goes past that is terminated.
    :ivar maxChannels: channels open at once, channel 0 included.
    :ivar maxHeaderLength: the longest frame header line we accept.
    :ivar maxXMLSize: the largest channel-0 message we parse.
    :ivar streamBuffer: octets of a streamed payload held here before its
        writer should wait (see :attr:`PayloadStream.buffered`).
    :ivar maxOutstandingMessages: ``MSG``\\ s per channel (channel 0
        included) the peer may have awaiting our reply.  A peer may pipeline
        ``MSG``\\ s, so one past the limit is not a broken frame: it is
        answered with ``ERR`` 421, in its turn (RFC 3080 section 2.6.1),
        without reaching the application.  Those refusals wait for their
        turn too, so they count; a peer with more than
        ``REFUSAL_BACKLOG`` times the limit of them waiting, all channels
        together, pipelines without end and is terminated.  It also bounds the
        unfinished ``ANS`` replies to one of our ``MSG``\\ s: past it, the
        peer is terminated.
    :ivar maxBufferedOctets: octets of the peer's that the session holds
        for the application at once, all channels together: messages and
        answers being assembled, and what paused channels have not yet
        consumed.  Each channel is bounded by its window and
        ``maxMessageSize``; this bounds their sum, which ``maxChannels``
        would otherwise multiply.  At it, credit is held back: no ``SEQ``
        goes that would take what is held past it, so a peer is slowed by
        its windows, never terminated for using them.  What is held is
        then bounded by the limit plus the windows still open when it was
        reached, plus one window at a time past it when no begun message
        could complete otherwise.  Held events count ``HELD_EVENT_COST``
        octets each here.
    :ivar maxHeldEvents: messages (or, for frame-level profiles, frames)
        paused channels hold for the application at once, all channels
        together.  Each costs its objects whatever its octets, and an empty
        one costs the peer no window, so credit cannot bound their number;
        a peer that goes past it is terminated.
        ``None`` (the default) stands for four times the larger of
        ``maxMessageSize`` and ``receiveWindow`` (64 MiB by default), so
        that raising either keeps a few of them admissible.
        (What we send is the application's to bound: ``streamBuffer`` paces
        streamed bodies, and ``maxOutstandingMessages`` the requests a peer
        can make us answer.)
    """

    receiveWindow: int = 1024 * 1024
    maxFrameSize: int = 64 * 1024
    maxMessageSize: int = 16 * 1024 * 1024
    maxChannels: int = 256
    maxHeaderLength: int = DEFAULT_MAX_HEADER_LENGTH
    maxXMLSize: int = DEFAULT_MAX_XML_SIZE
    streamBuffer: int = 256 * 1024
    maxOutstandingMessages: int = 256
    maxBufferedOctets: Optional[int] = None
    maxHeldEvents: int = 65536

    def __post_init__(self):
        if self.receiveWindow < DEFAULT_WINDOW:
            raise ValueError(
                f"receiveWindow must be at least {DEFAULT_WINDOW} octets (RFC 3081 section 3.1.1)"
            )
        if self.maxFrameSize < 1 or self.maxChannels < 1:
            raise ValueError("maxFrameSize and maxChannels must be positive")
        if self.streamBuffer < 2:
            # A writer resumes below half of it: 0 or 1 would never resume.
            raise ValueError("streamBuffer must be at least 2 octets")
        if self.maxOutstandingMessages < 1 or self.maxHeldEvents < 1:
            raise ValueError("maxOutstandingMessages and maxHeldEvents must be positive")
        if self.maxHeaderLength < LONGEST_HEADER:
            # Else a peer whose headers are all legal could be terminated.
            raise ValueError(
                f"maxHeaderLength must be at least {LONGEST_HEADER} octets, the longest legal header"
            )
        if self.maxBufferedOctets is not None and self.maxBufferedOctets < max(
            self.maxMessageSize, self.receiveWindow
        ):
            # Else a single message, or one paused channel's window, would
            # terminate a peer that broke no rule.
            raise ValueError("maxBufferedOctets must be at least maxMessageSize and receiveWindow")

    @property
    def bufferedOctetsLimit(self):
        """
        The ``maxBufferedOctets`` in force, the default resolved.
        """
        if self.maxBufferedOctets is not None:
            return self.maxBufferedOctets
        return 4 * max(self.maxMessageSize, self.receiveWindow)


class _TLSNegotiation:
    """
    Where a session stands in a TLS negotiation (RFC 3080 section 3.1).

    :ivar requested: our ``<ready />`` awaits its answer.
    :ivar peerRequest: ``(channel, msgno)`` of the peer's ``<ready />``
        until we answer it.
    :ivar peerSilent: the peer's ``<ready />`` awaits our answer's
        departure, so the peer may send nothing.
    :ivar proceeding: ``<proceed />`` was sent or received; only a reset
        follows.
    :ivar held: our ``<ready />`` or ``<proceed />`` is serialized: nothing
        more is sent.
    """

    __slots__ = ("requested", "peerRequest", "peerSilent", "proceeding", "held")

    def __init__(self):
        self.requested = False
        self.peerRequest = None
        self.peerSilent = False
        self.proceeding = False
        self.held = False


class PayloadStream:
    """
    The writable end of a streamed message's payload (see
    :meth:`Session.streamMessage`).  Octets written after the peer answered
    pre-emptively (RFC 3080 section 2.6.3) are dropped, as that section says.
    """

    def __init__(self, session, channel, message):
        self._session = session
        self._channel = channel
        self._message = message

    @property
    def msgno(self):
        return self._message.msgno

    @property
    def buffered(self):
        """
        Octets written and not yet framed: a writer should wait while this
        is above the session's ``streamBuffer``.
        """
        return self._message.buffered

    @property
    def wanted(self):
        """
        Whether more of the payload can still be sent: not after
        :meth:`finish`, nor once the peer answered pre-emptively.
        """
        return not self._message.complete

    def write(self, data):
        self._session._checkNotTerminated()
        before = self._message.buffered
        self._message.append(bytes(data))
        if self._message.type is not MSG:
            self._channel.replyBacklog += self._message.buffered - before

    def finish(self):
        """
        End the payload: its final frame can go.
        """
        self._session._checkNotTerminated()
        self._message.complete = True


def _managementPayload(element):
    return Message(encodeManagement(element), contentType=BEEP_XML).toPayload()


class Session:
    """
    One BEEP session, from greeting to release.

    :param role: :attr:`Role.INITIATOR` if we opened the connection.
    :param profiles: the profile URIs we offer in our greeting and accept in a
        peer's ``<start>``.
    """

    def __init__(self, role, profiles=(), config=SessionConfig(), features=None, localize=None):
        self.role = role
        self.config = config
        self.greeting = Greeting(tuple(profiles), features, localize)
        self._acceptable = frozenset(self.greeting.profiles)
        self.peerGreeting = None
        self.released = False
        self._terminated = False
        self._decoder = FrameDecoder(config.receiveWindow, config.maxHeaderLength)
        self._out = []
        self._outSize = 0  # payload octets framed by this dataToSend
        self._events = []
        zero = Channel(0, None, config.receiveWindow)
        # The peer's greeting answers an implicit MSG 0 (RFC 3080 section 2.4).
        zero.outstanding[0] = Outstanding(None, ("greeting",))
        self._channels = {0: zero}
        self._pendingStarts = {}  # number -> (channel-0 msgno, candidates)
        self._pendingCloses = {}  # number -> channel-0 msgno, for the peer's closes
        self._acceptedCloses = set()  # numbers of channels whose close we accepted
        self._closed = []  # numbers of channels closed, for takeClosed
        # Channels whose window may be due a SEQ: only what they receive, a
        # change of window, a resume or a shrinking reply backlog can make
        # one due, so the others need no look.
        self._windowChanges = set()
        # Channels due a SEQ while what we hold is at maxBufferedOctets:
        # looked at again on each dataToSend.
        self._starved = set()
        # The channel last granted a window past that limit, lest the peer
        # stall (see _relieveStarvation): one such window at a time.
        self._relieved = None
        self._ownStarts = {}  # number -> channel options, for our starts awaiting an answer
        self._announcements = False  # a start reply left during this dataToSend
        # Channels closed lately, whose SEQs may still be on the way.
        self._recentlyClosed = collections.OrderedDict()
        self._nextChannel = 1 if role is Role.INITIATOR else 2
        self._tls = _TLSNegotiation()
        self._answerOctets = 0  # in unfinished ANS replies, all channels together
        self._refusals = 0  # ERR 421 replies to MSGs past the limit, not yet sent
        self._heldLimit = config.bufferedOctetsLimit

    # -- Inspection ------------------------------------------------------

    @property
    def channels(self):
        """
        The numbers of the open channels, channel 0 included.
        """
        return frozenset(self._channels)

    def channelProfile(self, number):
        return self._channel(number).profile

    def isOpen(self, number):
        """
        Whether channel ``number`` is open (cheaper than :attr:`channels`).
        None is once the session is terminated: the messages that arrived
        in the same read as the violation are still reported, but they can
        no longer be answered.
        """
        return not self._terminated and number in self._channels

    def releasedReplyOctets(self, number):
        """
        Octets of our replies on channel ``number`` that may be framed now
        and are not yet: a source of many answers should wait while this is
        large.  Replies held behind an earlier, unfinished one do not count:
        they wait for that source, and waiting on them would stall both.
        """
        channel = self._channels.get(number)
        if channel is None:
            return 0
        return sum(m.buffered for m in channel.outgoing if m.type is not MSG)

    @property
    def unfinishedFrame(self):
        """
        The ordinal of the frame the peer has begun and not finished, or
        ``None`` (see :attr:`beepy.core.codec.FrameDecoder.unfinishedFrame`).
        """
        return self._decoder.unfinishedFrame

    @property
    def windowWithheld(self):
        """
        Whether a channel we paused holds octets the peer sent that we have
        not credited back, or credit is held back at ``maxBufferedOctets``:
        the peer may be stalled on the window we keep shut, so its silence
        is our doing.
        """
        if self._starved:
            return True
        return any(channel.paused and channel.unconsumed for channel in self._channels.values())

    def takeClosed(self):
        """
        :return: the numbers of the channels closed since the last call, so
            that the caller can settle what it keeps for them.
        """
        closed, self._closed = self._closed, []
        return closed

    def isBusy(self, number):
        """
        Whether any message is in flight on channel ``number``.
        """
        return self._channel(number).busy

    # -- Session establishment and release -------------------------------

    def greet(self):
        """
        Queue our greeting (RFC 3080 section 2.4: both peers send one at once).
        """
        self._queueReply(
            self._channels[0], 0, RPY, _managementPayload(self.greeting), self._announcer(0)
        )

    def withhold(self, uris):
        """
        Leave ``uris`` out of the greeting (call before :meth:`greet`), yet
        still pass a peer's start of one up as :class:`ChannelStartRequested`,
        so the application can refuse it with a precise reason (a SASL
        mechanism that needs an encrypted session: 538) rather than 550.
        """
        uris = frozenset(uris)
        profiles = tuple(uri for uri in self.greeting.profiles if uri not in uris)
        self.greeting = replace(self.greeting, profiles=profiles)

    def refuseSession(self, error):
        """
        Queue an ``<error>`` in place of our greeting (a listener turning a
        connection away, e.g. with 421); the caller then drops the connection.
        Once the ``<error>`` has left, the session takes no more input: there
        is no session to act on it.
        """
        self._queueReply(self._channels[0], 0, ERR, _managementPayload(error), self._terminate)

    # -- Channel management: our side -----------------------------------

    def startChannel(self, profiles, serverName=None, receiveWindow=None, frames=False):
        """
        Ask the peer to start a channel with one of ``profiles`` (preferred
        first: some peers read only the first).

        :param profiles: :class:`ProfileElement` values or plain URIs.
        :param receiveWindow: the channel's window, if not the session's.
        :param frames: report the channel's data frames one by one as
            :class:`~beepy.core.events.FrameReceived` instead of assembling
            messages (Vortex's frame-received handler), for an application
            that streams large messages.  No message size limit applies:
            the application holds what it keeps.
        :return: the new channel's number, to match :class:`ChannelStarted`
            or :class:`ChannelStartFailed`.
        """
        self._checkActive()
        candidates = tuple(
            p if isinstance(p, ProfileElement) else ProfileElement(p) for p in profiles
        )
        if not candidates:
            raise LocalProtocolError("a channel start needs at least one profile")
        if self._channelCount() >= self.config.maxChannels:
            raise LocalProtocolError(f"already {self.config.maxChannels} channels on this session")
        options = self._channelOptions(receiveWindow, frames)
        number = self._allocateChannel()
        self._ownStarts[number] = options
        start = Start(number, candidates, serverName)
        self._sendManagement(start, ("start", number, candidates))
        return number

    def closeChannel(self, number, code=ReplyCode.SUCCESS, text="", lang=None):
        """
        Ask the peer to close ``number``; channel 0 releases the session.  The
        answer is :class:`ChannelClosed` / :class:`SessionReleased` or
        :class:`ChannelCloseFailed`.
        """
        self._checkActive()
        channel = self._channel(number)
        if channel.closing:
            raise LocalProtocolError(f"channel {number} is already closing")
        if number == 0 and len(self._channels) > 1:
            raise LocalProtocolError("close the other channels before releasing the session")
        # RFC 3080 section 2.3.1.3: only once every MSG we sent is acknowledged.
        if not all(outstanding.acknowledged for outstanding in channel.outstanding.values()):
            raise LocalProtocolError(f"channel {number} has MSGs awaiting their replies")
        channel.closing = True
        close = Close(number, code, text, lang)
        if channel.announced:
            self._sendManagement(close, ("close", number))
        else:
            channel.heldClose = close

    # -- Channel management: the peer's side ----------------------------

    def acceptStart(self, number, profile, receiveWindow=None, frames=False):
        """
        Accept the peer's start of ``number`` with ``profile`` (a URI, or a
        :class:`ProfileElement` carrying piggybacked content).  The options
        are those of :meth:`startChannel`.
        """
        options = self._channelOptions(receiveWindow, frames)
        msgno, candidates = self._takePendingStart(number)
        if not isinstance(profile, ProfileElement):
            profile = ProfileElement(profile)
        if profile.uri not in {candidate.uri for candidate in candidates}:
            self._pendingStarts[number] = (msgno, candidates)
            raise LocalProtocolError(f"the peer did not propose {profile.uri}")
        self._openChannel(number, profile.uri, options)
        self._queueReply(
            self._channels[0], msgno, RPY, _managementPayload(profile), self._announcer(number)
        )

    def refuseStart(self, number, error):
        payload = _managementPayload(error)
        msgno, _ = self._takePendingStart(number)
        self._queueReply(self._channels[0], msgno, ERR, payload)

    def acceptClose(self, number):
        """
        Accept the peer's close of ``number``.  ``<ok />`` goes once every
        message in flight on the channel, either way, is complete (RFC 3080
        section 2.3.1.3); meanwhile no new ``MSG`` may be sent on it.

        For channel 0 the session is released once ``<ok />`` is sent:
        :attr:`released` turns true and the connection should be closed.
        """
        msgno = self._takePendingClose(number)
        if number == 0:
            self._queueReply(
                self._channels[0], msgno, RPY, _managementPayload(Ok()), self._release
            )
        elif number in self._channels:
            self._channels[number].acceptedClose = msgno
            self._acceptedCloses.add(number)
            self._finishAcceptedCloses()
        else:  # our own close of it crossed the peer's and won
            self._queueReply(self._channels[0], msgno, RPY, _managementPayload(Ok()))

    def refuseClose(self, number, error):
        payload = _managementPayload(error)
        msgno = self._takePendingClose(number)
        self._queueReply(self._channels[0], msgno, ERR, payload)

    # -- Flow control ----------------------------------------------------

    def setReceiveWindow(self, number, size):
        """
        Change the window we advertise on ``number`` (Vortex's
        ``vortex_channel_set_window_size``).  A larger one is advertised at
        once; a smaller one takes effect as the peer uses up what it was
        already granted (RFC 3081: the right edge never moves left).
        """
        if not 1 <= size <= MAX_SIZE:
            raise LocalProtocolError(f"a window is 1 to {MAX_SIZE} octets, not {size}")
        channel = self._channel(number)
        channel.receiveWindow = size
        channel.windowChanged = True
        self._windowChanges.add(number)

    def pauseChannel(self, number):
        """
        The application takes nothing more on ``number`` for now: octets
        that arrive are not credited back to the peer, which stops once it
        has used up its window.
        """
        self._channel(number).paused = True

    def resumeChannel(self, number):
        """
        The application has consumed everything it held: credit it.
        """
        channel = self._channel(number)
        channel.paused = False
        channel.unconsumed = channel.heldEvents = 0
        self._windowChanges.add(number)

    # -- Messages --------------------------------------------------------

    def sendMessage(self, number, message):
        """
        Queue a ``MSG`` on channel ``number``.

        :param message: a :class:`Message` or a ready payload (``bytes``).
        :return: its message number, which its reply events carry.
        """
        return self._queueMessage(number, self._payload(message), True).msgno

    def streamMessage(self, number, head=b""):
        """
        Queue a ``MSG`` whose payload is still to come, for a body too large
        to hold (Vortex's feeder).  Frames leave as the payload arrives.

        :param head: the start of the payload, normally its MIME headers
            (a :class:`Message` with an empty body gives them).
        :return: a :class:`PayloadStream`; its ``msgno`` is the one the
            reply events carry.
        """
        request = self._queueMessage(number, self._payload(head), False)
        return PayloadStream(self, self._channels[number], request)

    def streamReply(self, number, msgno, head=b""):
        """
        Answer ``MSG`` ``msgno`` with an ``RPY`` whose payload is still to
        come (see :meth:`streamMessage`).

        :return: a :class:`PayloadStream`.
        """
        channel = self._dataChannel(number)
        message = self._reply(channel, msgno, RPY, self._payload(head), complete=False)
        return PayloadStream(self, channel, message)

    def _queueMessage(self, number, payload, complete):
        self._checkActive()
        channel = self._dataChannel(number)
        if channel.closing or channel.acceptedClose is not None:
            raise LocalProtocolError(f"channel {number} is closing")
        msgno = channel.allocateMsgno()
        request = OutgoingMessage(MSG, msgno, payload, complete=complete)
        channel.outstanding[msgno] = Outstanding(request)
        channel.outgoing.append(request)
        return request

    def sendReply(self, number, msgno, message):
        """
        Answer ``MSG`` ``msgno`` with ``RPY``.  Replies leave in the order the
        ``MSG``\\ s arrived, whatever the order of these calls.
        """
        self._reply(self._dataChannel(number), msgno, RPY, self._payload(message))

    def sendError(self, number, msgno, message):
        """
        Answer ``MSG`` ``msgno`` with ``ERR``; ``message`` may be a
        :class:`BEEPError`, sent as an ``<error>`` element.
        """
        if isinstance(message, BEEPError):
            message = _managementPayload(message)
        self._reply(self._dataChannel(number), msgno, ERR, self._payload(message))

    def sendAnswer(self, number, msgno, message):
        """
        Queue one ``ANS`` to ``MSG`` ``msgno``.

        :return: its answer number.
        """
        self._checkNotTerminated()
        payload = self._payload(message)
        channel = self._dataChannel(number)
        reply = self._openReply(channel, msgno, "ANS")
        ansno = reply.nextAnsno
        if ansno > MAX_ANSNO:
            raise LocalProtocolError(f"MSG {msgno} already has {MAX_ANSNO + 1} answers")
        reply.nextAnsno += 1
        answer = OutgoingMessage(ANS, msgno, payload, ansno)
        reply.queued.append(answer)
        channel.replyBacklog += answer.buffered
        self._releaseReplies(channel)
        return ansno

    def sendNul(self, number, msgno):
        """
        End the answers to ``MSG`` ``msgno`` (zero answers is allowed).
        """
        self._reply(self._dataChannel(number), msgno, NUL, b"")

    # -- TLS and the tuning reset (RFC 3080 sections 3 and 3.1) -----------
    #
    # The peer that sends <ready /> becomes the TLS client.  From the moment
    # its <ready /> leaves, it sends nothing until the answer arrives; the
    # other peer sends nothing after its <proceed />.  Neither may receive a
    # plaintext octet after the <ready /> (receiver) or the <proceed />
    # (requester).  Once the transport has negotiated TLS, reset() starts
    # the session over.

    @property
    def tlsProceeding(self):
        """
        Whether ``<proceed />`` has been sent or received: the transport must
        negotiate TLS now (as the TLS client if we sent ``<ready />``), then
        call :meth:`reset`.  Nothing is sent or accepted meanwhile.  Never
        true once the session is terminated.
        """
        return self._tls.proceeding and not self._terminated

    @property
    def repliesOwed(self):
        """
        How many of the peer's ``MSG``\\ s (channel starts and closes
        included) still await our reply, the peer's ``<ready />`` aside: RFC
        3080 section 3.1.3.1 has them answered before ``<proceed />``.
        """
        return sum(
            1
            for channel in self._channels.values()
            for msgno, reply in channel.replies.items()
            if not reply.complete and (channel.number, msgno) != self._tls.peerRequest
        )

    def requestTLS(self, serverName=None, number=None):
        """
        Ask the peer to negotiate TLS: ``<ready />`` piggybacked on a
        ``<start>`` of the TLS profile (what Vortex and beepcore do), or,
        given ``number``, a channel running the TLS profile, as a ``MSG`` on
        it.

        Once ``<ready />`` is serialized, :meth:`dataToSend` holds back
        everything else (RFC 3080 section 3.1.3.1) until the answer:
        :class:`TLSAccepted` (negotiate TLS as the client, then
        :meth:`reset`) or :class:`TLSRefused` (what was held leaves).

        :param serverName: the ``serverName`` of the ``<start>``.
        :return: the number of the channel that carries the request.
        """
        self._checkActive()
        if self._tls.requested or self._tls.proceeding:
            raise LocalProtocolError("a TLS negotiation is already under way")
        if self._tls.peerRequest is not None:
            raise LocalProtocolError("the peer's request for TLS awaits our answer")
        ready = encodeManagement(Ready())
        if number is None:
            number = self.startChannel([ProfileElement(TLS_URI, ready)], serverName)
            # startChannel queued the <start> last; route its reply here.
            channel = self._channels[0]
            msgno = next(reversed(channel.outstanding))
        else:
            channel = self._dataChannel(number)
            if channel.profile != TLS_URI:
                raise LocalProtocolError(f"channel {number} does not run the TLS profile")
            msgno = self.sendMessage(number, Message(ready, contentType=BEEP_XML))
        outstanding = channel.outstanding[msgno]
        outstanding.purpose = ("tls", number)
        outstanding.request.onSent = self._holdOutput
        self._tls.requested = True
        return number

    def acceptTLS(self):
        """
        Answer the peer's ``<ready />`` (:class:`TLSRequested`) with
        ``<proceed />``.  Once it is serialized, :attr:`tlsProceeding` turns
        true: negotiate TLS as the server, then :meth:`reset`.

        Replies sent before this leave before the ``<proceed />`` (RFC 3080
        section 3.1.3.1); anything still queued when it leaves (frames the
        silent peer's windows hold back, later replies) never does: the
        reset discards it.
        """
        number, msgno = self._takePeerRequest()

        def proceedSent():
            self._tls.peerSilent = False
            self._tls.proceeding = True
            self._holdOutput()

        proceed = encodeManagement(Proceed())
        if number == 0:
            payload = _managementPayload(ProfileElement(TLS_URI, proceed))
            self._queueReply(self._channels[0], msgno, RPY, payload, proceedSent)
        else:
            payload = Message(proceed, contentType=BEEP_XML).toPayload()
            self._answerReady(number, msgno, RPY, payload, proceedSent)

    def refuseTLS(self, error):
        """
        Answer the peer's ``<ready />`` with ``error``, a :class:`BEEPError`:
        an ``ERR``, whether it came piggybacked or on a TLS channel.
        """
        number, msgno = self._takePeerRequest()

        def refusalSent():
            self._tls.peerSilent = False

        payload = _managementPayload(error)
        if number == 0:
            self._queueReply(self._channels[0], msgno, ERR, payload, refusalSent)
        else:
            self._answerReady(number, msgno, ERR, payload, refusalSent)

    def reset(self, profiles=None):
        """
        The tuning reset, once the transport has negotiated TLS: discard
        every channel, message and sequence number, the unread octets and the
        peer's greeting (RFC 3080 section 9: "discard previously cached
        information").  Then :meth:`greet` again, as a new session does
        (after :meth:`offerProfiles` or :meth:`withhold` to change the offer).

        :param profiles: the profile URIs to offer and accept now; by
            default those offered so far, without the TLS profile.
        """
        if not self._tls.proceeding:
            raise LocalProtocolError("a reset follows only a <proceed />")
        if profiles is None:
            profiles = [uri for uri in self.greeting.profiles if uri != TLS_URI]
        # Running __init__ again is the point: a reset session is a new
        # session, whatever state is added to it later.
        self.__init__(
            self.role, profiles, self.config, self.greeting.features, self.greeting.localize
        )

    def offerProfiles(self, profiles):
        """
        Change the profiles our greeting offers, and those a peer may start,
        before :meth:`greet`: a listener that requires TLS offers only the
        TLS profile at first.  (:meth:`withhold` leaves profiles out of the
        greeting but still startable.)
        """
        zero = self._channels[0]
        if zero.announced or 0 in zero.replies:
            raise LocalProtocolError("the greeting has already been queued")
        self.greeting = replace(self.greeting, profiles=tuple(profiles))
        self._acceptable = frozenset(profiles)

    def _holdOutput(self):
        self._tls.held = True

    def _terminate(self):
        self._terminated = True

    def _takePeerRequest(self):
        request = self._tls.peerRequest
        if request is None:
            raise LocalProtocolError("no <ready /> from the peer awaits an answer")
        self._tls.peerRequest = None
        return request

    def _answerReady(self, number, msgno, frameType, payload, onSent):
        channel = self._channels[number]
        reply = self._openReply(channel, msgno, "RPY")
        self._completeReply(channel, msgno, reply, frameType, payload, onSent)

    def _checkPeerSilent(self):
        """
        Terminate the session on any octet the peer sent after its
        ``<ready />`` or our ``<proceed />`` (RFC 3080 section 3.1.3): a
        plaintext peer may not slip frames in around the TLS negotiation.
        """
        if self._decoder.bufferedBytes and (self._tls.peerSilent or self._tls.proceeding):
            after = "<proceed />" if self._tls.proceeding else "its <ready />"
            raise RemoteProtocolError(f"the peer sent octets in the clear after {after}")

    @staticmethod
    def _tlsElement(content):
        """
        The TLS profile element in ``content`` (``<ready />``,
        ``<proceed />`` or ``<error>``), or ``None`` if it holds none.
        """
        if not content:
            return None
        try:
            return parseManagement(content)
        except BEEPError:
            return None

    def _receivePeerReady(self, channel, msgno, number, serverName):
        """
        The peer's ``<ready />`` arrived in ``MSG`` ``msgno`` on ``channel``,
        for TLS channel ``number``.
        """
        self._tls.peerRequest = (channel, msgno)
        self._tls.peerSilent = True
        self._events.append(events.TLSRequested(number, serverName))

    def _receiveReadyStart(self, msgno, start, candidates):
        """
        A ``<start>`` we would accept: if it carries ``<ready />`` for the
        TLS profile, it is a TLS request rather than a channel start.

        :return: whether it was one.
        """
        for candidate in candidates:
            if candidate.uri == TLS_URI and isinstance(self._tlsElement(candidate.content), Ready):
                self._receivePeerReady(0, msgno, start.number, start.serverName)
                return True
        return False

    def _receiveReadyMessage(self, channel, msgno, payload):
        """
        A ``MSG`` on a data channel: on a TLS channel, ``<ready />`` is a
        TLS request.

        :return: whether it was one.
        """
        if channel.profile != TLS_URI:
            return False
        if not isinstance(self._tlsElement(Message.fromPayload(payload).body), Ready):
            return False
        self._receivePeerReady(channel.number, msgno, channel.number, None)
        return True

    def _receiveReadyReply(self, frameType, number, payload):
        """
        The answer to our ``<ready />``: ``<proceed />``, or an error in an
        ``ERR`` or, as Vortex sends it, piggybacked in a positive reply.
        """
        self._tls.requested = False
        piggybacked = number in self._ownStarts
        message = Message.fromPayload(payload)
        if piggybacked:
            try:
                element = parseManagement(message.body, self.config.maxXMLSize)
            except BEEPError as e:
                raise RemoteProtocolError(f"unparseable reply on channel 0: {e}") from None
            isProfile = isinstance(element, ProfileElement) and element.uri == TLS_URI
            if frameType is ERR and isinstance(element, BEEPError):
                answer = element
            elif frameType is RPY and isProfile:
                answer = self._tlsElement(element.content)
            else:
                raise RemoteProtocolError(
                    f"the answer to a TLS <start> is not a TLS <profile>: {element!r}"
                )
        elif frameType is ERR:
            answer = errorFromMessage(message)
        else:
            answer = self._tlsElement(message.body)
        if isinstance(answer, Proceed):
            self._tls.proceeding = True
            self._events.append(events.TLSAccepted())
            return
        if not isinstance(answer, BEEPError):
            answer = BEEPError(
                ReplyCode.GENERAL_SYNTAX_ERROR,
                "the answer to <ready /> is neither <proceed /> nor <error>",
            )
        self._tls.held = False
        self._events.append(events.TLSRefused(answer))
        if not piggybacked:
            return
        if frameType is ERR:
            self._ownStarts.pop(number)
        else:
            # The peer started the channel to refuse in it: it has no use.
            self._openStartedChannel(number, TLS_URI)
            if not (self.released or self._channels[0].closing):
                self.closeChannel(number)

    # -- Bytes in, bytes out ---------------------------------------------

    def receiveData(self, data):
        """
        Process octets from the peer.

        :return: the list of events they caused.  A :class:`ProtocolViolated`
            is always last, and after it the session ignores all input.
        """
        if self._terminated:
            return []
        self._decoder.receiveData(data)
        try:
            while not self._terminated:
                self._checkPeerSilent()
                frame = self._decoder.nextFrame()
                if frame is None:
                    break
                if isinstance(frame, SeqFrame):
                    self._receiveSeq(frame)
                else:
                    self._receiveDataFrame(frame)
            self._finishAcceptedCloses()
            self._checkHeldEvents()
        except RemoteProtocolError as e:
            self._terminated = True
            self._events.append(events.ProtocolViolated(e))
        result, self._events = self._events, []
        return result

    def dataToSend(self, limit=None):
        """
        Frame what the windows allow and return it as one ``bytes``: ``SEQ``
        frames first, then one frame per busy channel in turn, so that a long
        message on one channel does not starve the others.

        :param limit: stop once this many payload octets are framed (at most
            one frame per channel more), so that a caller writing to a
            transport with backpressure keeps the rest here, where a later
            request on another channel can still overtake it; ``None``
            frames everything the windows allow.
        """
        if self._terminated:
            return b""
        self._outSize = 0
        while True:
            self._announcements = False
            self._sendSeqs()
            active = [
                c for c in self._channels.values() if c.outgoing and (c.announced or c.number == 0)
            ]
            while active and (limit is None or self._outSize < limit):
                active = [channel for channel in active if self._sendFrame(channel)]
            # A start reply may have just left, opening its channel to frames;
            # the last reply on a channel whose close we accepted may have too.
            closed = self._finishAcceptedCloses()
            if not (closed or self._announcements):
                break
        # Frames just sent may have shrunk a reply backlog that held a window.
        self._sendSeqs()
        data = b"".join(self._out)
        self._out.clear()
        return data

    # -- Internals: sending ----------------------------------------------

    def _sendSeqs(self):
        """
        Grant the credit that is due, as far as ``maxBufferedOctets``
        allows: no new credit while what we hold for the application
        would pass it, so a peer is held back by its windows rather than
        terminated for using them.  The sum is a pass over the channels, so
        it is made only when a ``SEQ`` is due, at most once per half window
        per channel (and on each call while one starves).

        Credit already granted is not counted against the limit: an idle
        channel's window is the peer's right, and counting every open
        channel's would let a few dozen idle ones starve the rest.  So
        what we hold is bounded by the limit plus the windows outstanding
        when it was reached (at most the open channels times their
        windows), plus one window past it at a time (see
        :meth:`_relieveStarvation`).
        """
        if self._tls.held:
            return
        if not (self._windowChanges or self._starved):
            return
        # Starved channels first: they have waited longest.
        numbers = list(self._starved)
        numbers += [number for number in self._windowChanges if number not in self._starved]
        self._windowChanges, self._starved = set(), set()
        budget = None
        for number in numbers:
            channel = self._channels.get(number)
            window = channel.windowUpdate() if channel is not None else None
            if window is None:
                continue
            room = channel.receiveRoom()
            gain = window - room
            if budget is None:
                budget = self._heldLimit - self._heldOctets()
                if budget >= 0:
                    # Below the limit: a past relief is spent or the
                    # peer's to use, like any credit granted.
                    self._relieved = None
            # Channel 0 carries starts and closes, bounded by maxXMLSize:
            # withholding it could stall the session.
            if number != 0 and gain > budget:
                if budget < min(DEFAULT_WINDOW, window // 2):
                    self._starved.add(number)
                    continue
                # What fits, if worth a SEQ: else a window larger than the
                # limit would never be granted at all.
                window, gain = room + budget, budget
            budget -= gain
            self._grant(channel, window)
        if self._starved:
            self._relieveStarvation()

    def _relieveStarvation(self):
        """
        Starved channels wait for what we hold to drop, which only a
        message that completes (or an application that consumes) does.  If
        the peer has no room left on any channel where it has begun a
        message, none can complete: grant one window past the limit to a
        starved channel where the peer has begun a message, the one
        furthest along (it frees the most), or else where we await a reply,
        so that either side's messages get through.  Only one such window is
        outstanding at a time: past the limit, the peer completes its
        messages one by one.
        """
        channels = self._channels
        relieved = channels.get(self._relieved)
        if (
            relieved is not None
            and relieved.receiveRoom()
            and (relieved.lastIntermediate is not None or relieved.outstanding)
        ):
            return  # the last relief is still being used
        if any(c.lastIntermediate is not None and c.receiveRoom() for c in channels.values()):
            return
        candidates = [channels[number] for number in self._starved]
        candidates = [
            c for c in candidates if not c.paused and (c.lastIntermediate is not None or c.outstanding)
        ]
        if not candidates:
            return
        channel = max(
            candidates,
            key=lambda c: (c.lastIntermediate is not None, c.partial.size if c.partial else 0, -c.number),
        )
        self._starved.discard(channel.number)
        self._relieved = channel.number
        self._grant(channel, channel.windowUpdate())

    def _grant(self, channel, window):
        channel.advertised(window)
        if window > self._decoder.maxPayload:
            self._decoder.maxPayload = window
        self._out.append(encodeFrame(SeqFrame(channel.number, channel.receiveSeqno, window)))

    def _sendFrame(self, channel):
        """
        Serialize the next frame of ``channel``'s current message.

        :return: whether the channel has more to send right now.
        """
        if self._tls.held:
            return False
        message = channel.outgoing[0]
        if message.stalled:
            return False
        size = min(message.buffered, channel.sendWindow(), self.config.maxFrameSize)
        if size == 0 and message.buffered:
            return False
        pieces = message.take(size)
        more = not message.complete or message.buffered > 0
        message.started = True
        out = self._out
        out.append(
            encodeHeader(
                message.type, channel.number, message.msgno, more, channel.sendSeqno, size, message.ansno
            )
        )
        out += pieces
        out.append(TRAILER)
        self._outSize += size
        channel.sendSeqno = (channel.sendSeqno + size) % SEQNO_MODULUS
        if message.type is not MSG:
            if channel.replyBacklog > channel.receiveWindow:
                self._windowChanges.add(channel.number)
            channel.replyBacklog -= size
        if not more:
            channel.outgoing.popleft()
            if message.type in _FINAL_REPLIES:
                del channel.replies[message.msgno]
            if message.onSent is not None:
                message.onSent()
        return bool(channel.outgoing)

    def _sendManagement(self, element, purpose):
        zero = self._channels[0]
        msgno = zero.allocateMsgno()
        request = OutgoingMessage(MSG, msgno, _managementPayload(element))
        zero.outstanding[msgno] = Outstanding(request, purpose)
        zero.outgoing.append(request)

    def _announcer(self, number):
        """
        What to run once the reply that makes channel ``number`` known to the
        peer (our greeting for channel 0, a start reply otherwise) has left.
        """

        def announced():
            channel = self._channels.get(number)
            if channel is None:
                return
            channel.announced = True
            self._windowChanges.add(number)
            self._announcements = True
            if channel.heldClose is not None:
                self._sendManagement(channel.heldClose, ("close", number))
                channel.heldClose = None

        return announced

    def _finishAcceptedCloses(self):
        """
        Send ``<ok />`` for each accepted close whose channel has gone quiet.

        :return: whether any was queued.
        """
        if not self._acceptedCloses:
            return False
        quiet = [
            self._channels[number]
            for number in self._acceptedCloses
            if not self._channels[number].busy
        ]
        for channel in quiet:
            self._acceptedCloses.discard(channel.number)
            self._forget(channel.number)
            self._queueReply(
                self._channels[0], channel.acceptedClose, RPY, _managementPayload(Ok())
            )
        return bool(quiet)

    def _reply(self, channel, msgno, frameType, payload, complete=True):
        self._checkNotTerminated()
        reply = self._openReply(channel, msgno, "ANS" if frameType is NUL else "RPY")
        return self._completeReply(channel, msgno, reply, frameType, payload, complete=complete)

    def _queueReply(self, channel, msgno, frameType, payload, onSent=None):
        """
        Reply to a channel-0 ``MSG`` (or send the greeting, the reply to the
        implicit ``MSG`` 0).
        """
        reply = channel.replies.get(msgno)
        if reply is None:
            reply = channel.awaitReply(msgno)
        reply.style = "RPY"
        self._completeReply(channel, msgno, reply, frameType, payload, onSent)

    def _completeReply(self, channel, msgno, reply, frameType, payload, onSent=None, complete=True):
        """
        Queue the last reply to ``msgno``: no other may follow it, though a
        streamed one (not ``complete``) has more payload to come.  Once its
        final frame is out, the ``MSG`` is settled (see :meth:`_sendFrame`).
        """
        message = OutgoingMessage(frameType, msgno, payload, onSent=onSent, complete=complete)
        reply.queued.append(message)
        reply.complete = True
        channel.replyBacklog += message.buffered
        self._releaseReplies(channel)
        return message

    def _openReply(self, channel, msgno, style):
        reply = channel.replies.get(msgno)
        if reply is None or reply.complete:
            raise LocalProtocolError(
                f"no MSG {msgno} awaiting a reply on channel {channel.number}"
            )
        if reply.style not in (None, style):
            raise LocalProtocolError(
                f"MSG {msgno} on channel {channel.number} is already answered with "
                f"{reply.style}; RPY/ERR and ANS/NUL do not mix"
            )
        reply.style = style
        return reply

    def _releaseReplies(self, channel):
        """
        Move queued replies to the channel's outgoing queue in the order their
        ``MSG``\\ s arrived (RFC 3080 section 2.6.1): the oldest reply not yet
        wholly released goes first, and a later one only once it is complete.
        """
        unreleased = channel.unreleased
        while unreleased:
            reply = unreleased[0]
            while reply.queued:
                channel.outgoing.append(reply.queued.popleft())
            if not reply.complete:
                break
            unreleased.popleft()

    # -- Internals: receiving --------------------------------------------

    def _receiveSeq(self, frame):
        channel = self._channels.get(frame.channel)
        if channel is None:
            if frame.channel in self._recentlyClosed:
                # The peer read our last frames before our <ok /> or its
                # reply to our close: a harmless race, not a bad frame.
                return
            raise RemoteProtocolError(f"SEQ for channel {frame.channel}, which is not open")
        # RFC 3081 section 3.1.3: the ackno may not go back, nor past what we sent.
        acknowledged = seqnoDistance(channel.peerAckno, frame.ackno)
        if acknowledged > seqnoDistance(channel.peerAckno, channel.sendSeqno):
            raise RemoteProtocolError(
                f"SEQ on channel {frame.channel} acknowledges octet {frame.ackno}, "
                f"which was never sent"
            )
        channel.peerAckno = frame.ackno
        channel.peerWindowEdge = (frame.ackno + frame.window) % SEQNO_MODULUS

    def _receiveDataFrame(self, frame):
        channel = self._channels.get(frame.channel)
        if channel is None:
            raise RemoteProtocolError(f"{frame.type.name} on channel {frame.channel}, which is not open")
        if self.peerGreeting is None and not (
            frame.channel == 0 and frame.msgno == 0 and frame.type in (RPY, ERR)
        ):
            raise RemoteProtocolError(f"{frame.type.name} before the peer's greeting")
        if frame.seqno != channel.receiveSeqno:
            raise RemoteProtocolError(
                f"{frame.type.name} on channel {frame.channel} has seqno {frame.seqno}, "
                f"expected {channel.receiveSeqno}"
            )
        size = len(frame.payload)
        if size > channel.receiveRoom():
            raise RemoteProtocolError(
                f"{frame.type.name} on channel {frame.channel} overruns the window: "
                f"{size} octets with room for {channel.receiveRoom()}"
            )
        if channel.lastIntermediate is not None and channel.lastIntermediate != (
            frame.type,
            frame.msgno,
        ):
            kind, msgno = channel.lastIntermediate
            raise RemoteProtocolError(
                f"{frame.type.name} {frame.msgno} on channel {frame.channel} interrupts "
                f"{kind.name} {msgno}, whose final frame has not arrived"
            )
        channel.receiveSeqno = (channel.receiveSeqno + size) % SEQNO_MODULUS
        self._windowChanges.add(channel.number)
        if channel.paused:
            channel.unconsumed += size
            if channel.frameLevel or not frame.more:
                channel.heldEvents += 1
        continuation = channel.lastIntermediate is not None
        channel.lastIntermediate = (frame.type, frame.msgno) if frame.more else None
        if channel.frameLevel:
            self._receiveRawFrame(channel, frame, continuation)
        elif frame.type is MSG:
            self._receiveMsgFrame(channel, frame)
        else:
            self._receiveReplyFrame(channel, frame)

    def _receiveMsgFrame(self, channel, frame):
        if channel.partial is None:
            self._admitMessage(channel, frame)
            channel.partial = PartialMessage(self._messageLimit(channel))
        reply = channel.replies.get(frame.msgno)
        if reply is None or reply.complete:
            # Answered pre-emptively: RFC 3080 section 2.6.3 says to ignore
            # the rest of the message.
            channel.partial.ignore()
        payload = self._assemble(channel, frame)
        if payload is None:
            return
        if channel.number == 0:
            self._receiveManagementRequest(frame.msgno, payload)
        elif not self._receiveReadyMessage(channel, frame.msgno, payload):
            self._events.append(
                events.MessageReceived(channel.number, frame.msgno, Message.fromPayload(payload))
            )

    def _admitMessage(self, channel, frame):
        """
        Note the first frame of a ``MSG`` from the peer, which we now owe a
        reply; past ``maxOutstandingMessages`` answer it with ``ERR`` 421
        at once (it leaves in its turn).

        :return: whether the application is to see the ``MSG``.
        """
        if frame.msgno in channel.replies:
            raise RemoteProtocolError(
                f"MSG {frame.msgno} on channel {frame.channel} reuses a message "
                f"number still awaiting our reply"
            )
        channel.awaitReply(frame.msgno)
        limit = self.config.maxOutstandingMessages
        if len(channel.replies) <= limit:
            return True
        # Each refusal costs bookkeeping until it leaves, in its turn behind
        # the replies the application still owes (RFC 3080 section 2.6.1).
        # A peer may pipeline past the limit while those are slow, so the
        # refusals get room for REFUSAL_BACKLOG times the limit; past that
        # the peer pipelines without end.  Bounded for the session, not per
        # channel, lest maxChannels multiply it.
        if self._refusals >= limit * REFUSAL_BACKLOG:
            raise RemoteProtocolError(
                f"{self._refusals} refusals of MSGs past the limit of {limit} wait "
                f"behind earlier replies, and the peer sends more"
            )
        self._refusals += 1
        error = BEEPError(
            ReplyCode.SERVICE_NOT_AVAILABLE,
            f"more than {limit} messages await a reply on channel {frame.channel}",
        )
        self._queueReply(channel, frame.msgno, ERR, _managementPayload(error), self._refusalSent)
        return False

    def _refusalSent(self):
        self._refusals -= 1

    def _checkAnswerCount(self, outstanding, frame):
        """
        Before a new ``ANS`` reply to one of our ``MSG``\\ s is begun:
        terminate a peer with ``maxOutstandingMessages`` of them unfinished
        already.  Their octets are bounded by ``maxMessageSize``, but empty
        frames cost none, so their number needs a bound of its own.
        """
        limit = self.config.maxOutstandingMessages
        if len(outstanding.partialAnswers) >= limit:
            raise RemoteProtocolError(
                f"over {limit} unfinished ANS replies to MSG {frame.msgno} "
                f"on channel {frame.channel}"
            )

    def _heldOctets(self):
        """
        :return: what we hold of the peer's for the application: unfinished
            messages and answers, what paused channels have not consumed,
            and ``HELD_EVENT_COST`` for each event they hold.  What a paused
            channel received may still be in its unfinished message too:
            counted twice, the safe side for credit.
        """
        held = self._answerOctets
        for channel in self._channels.values():
            partial = channel.partial
            if partial is not None:
                held += partial.kept
            held += channel.unconsumed + channel.heldEvents * HELD_EVENT_COST
        return held

    def _checkHeldEvents(self):
        """
        Terminate a peer that made paused channels hold more than
        ``maxHeldEvents`` events: events need no window (an empty frame
        costs the peer nothing), so credit cannot hold them back.  Octets
        need none of this: :meth:`_sendSeqs` grants no credit past
        ``maxBufferedOctets``, and a peer that sends past its window is
        terminated for that.  Checked once per read, not per frame.
        """
        events = sum(channel.heldEvents for channel in self._channels.values())
        if events > self.config.maxHeldEvents:
            raise RemoteProtocolError(
                f"the peer made paused channels hold {events} messages or frames, "
                f"over the limit of {self.config.maxHeldEvents}"
            )

    def _assemble(self, channel, frame):
        """
        Add a ``MSG``, ``RPY`` or ``ERR`` frame to its message.

        :return: the whole payload once the final frame is in, else ``None``;
            also ``None`` for a message discarded for its size.
        """
        if channel.partial is None:
            channel.partial = PartialMessage(self._messageLimit(channel))
        partial = channel.partial
        partial.add(frame.payload)
        if frame.more:
            return None
        channel.partial = None
        if partial.overflowed:
            self._discard(channel, frame.type, frame.msgno, partial.size)
        return partial.octets

    def _messageLimit(self, channel):
        return self.config.maxXMLSize if channel.number == 0 else self.config.maxMessageSize

    def _discard(self, channel, frameType, msgno, size):
        isReply = frameType is not MSG
        if isReply and channel.number == 0:
            raise RemoteProtocolError(f"a channel 0 reply of {size} octets exceeds the XML size limit")
        self._events.append(events.MessageDiscarded(channel.number, msgno, isReply, size))
        if not isReply:
            error = BEEPError(
                ReplyCode.TRANSACTION_FAILED,
                f"message of {size} octets exceeds the limit of {self._messageLimit(channel)}",
            )
            self._queueReply(channel, msgno, ERR, _managementPayload(error))

    def _outstandingFor(self, channel, frame):
        """
        Check a reply frame against the ``MSG`` it answers.

        :return: that ``MSG``'s :class:`Outstanding`.
        """
        if channel.number == 0 and frame.type in (ANS, NUL):
            raise RemoteProtocolError(f"{frame.type.name} on channel 0, which answers only RPY or ERR")
        outstanding = channel.outstanding.get(frame.msgno)
        if outstanding is None or not (outstanding.request is None or outstanding.request.started):
            raise RemoteProtocolError(
                f"{frame.type.name} on channel {frame.channel} for msgno {frame.msgno}, "
                f"which awaits no reply"
            )
        if not outstanding.acknowledged:
            outstanding.acknowledged = True
            request = outstanding.request
            if request is not None and not (request.complete and request.buffered == 0):
                # A pre-emptive reply: end our MSG with an empty final frame.
                request.truncate()
        if frame.type is ANS:
            outstanding.answered = True
        elif outstanding.answered and frame.type is not NUL:
            raise RemoteProtocolError(
                f"{frame.type.name} {frame.msgno} on channel {frame.channel} "
                f"after ANS replies to the same MSG"
            )
        if frame.type is NUL:
            if frame.more:
                raise RemoteProtocolError(f"NUL {frame.msgno} on channel {frame.channel} is not final")
            # RFC 3080 wants an empty NUL; Vortex sends the empty MIME entity.
            if frame.payload not in (b"", _EMPTY_ENTITY):
                raise RemoteProtocolError(
                    f"NUL {frame.msgno} on channel {frame.channel} carries a payload"
                )
            if outstanding.partialAnswers:
                raise RemoteProtocolError(
                    f"NUL {frame.msgno} on channel {frame.channel} while an ANS is incomplete"
                )
        return outstanding

    def _receiveRawFrame(self, channel, frame, continuation):
        """
        A frame on a channel whose application takes frames, not messages
        (Vortex's frame-received handler): keep the bookkeeping, assemble
        nothing.
        """
        if frame.type is MSG:
            if not continuation and not self._admitMessage(channel, frame):
                # Refused: the application sees none of its frames.
                channel.partial = PartialMessage(0)
                channel.partial.ignore()
            if channel.partial is not None:
                if not frame.more:
                    channel.partial = None
                return
        else:
            outstanding = self._outstandingFor(channel, frame)
            if frame.type is ANS:
                if frame.more:
                    if frame.ansno not in outstanding.partialAnswers:
                        self._checkAnswerCount(outstanding, frame)
                    outstanding.partialAnswers[frame.ansno] = None
                else:
                    outstanding.partialAnswers.pop(frame.ansno, None)
            elif not frame.more:
                del channel.outstanding[frame.msgno]
        self._events.append(events.FrameReceived(channel.number, frame))

    def _receiveReplyFrame(self, channel, frame):
        outstanding = self._outstandingFor(channel, frame)
        if frame.type is ANS:
            self._receiveAnswerFrame(channel, frame, outstanding)
            return
        if frame.type is NUL:
            del channel.outstanding[frame.msgno]
            self._events.append(events.AnswersCompleted(channel.number, frame.msgno))
            return
        payload = self._assemble(channel, frame)
        if payload is None:
            if channel.partial is None:  # discarded: the reply is over
                del channel.outstanding[frame.msgno]
            return
        del channel.outstanding[frame.msgno]
        if channel.number == 0 or outstanding.purpose is not None:
            self._receiveManagementReply(frame.type, outstanding.purpose, payload)
            return
        event = events.ReplyReceived if frame.type is RPY else events.ErrorReceived
        self._events.append(event(channel.number, frame.msgno, Message.fromPayload(payload)))

    def _receiveAnswerFrame(self, channel, frame, outstanding):
        partial = outstanding.partialAnswers.get(frame.ansno)
        if partial is None:
            self._checkAnswerCount(outstanding, frame)
            partial = outstanding.partialAnswers[frame.ansno] = PartialMessage(
                self.config.maxMessageSize
            )
        # Only kept octets count: an answer over maxMessageSize is being
        # discarded, as a reply would be, and holds nothing.
        kept = partial.kept
        partial.add(frame.payload)
        grown = partial.kept - kept
        outstanding.answerOctets += grown
        self._answerOctets += grown
        if frame.more:
            # Each answer is capped, but a peer could open any number of
            # them at once: together they get no more than one message.
            if outstanding.answerOctets > self.config.maxMessageSize:
                raise RemoteProtocolError(
                    f"unfinished ANS replies to MSG {frame.msgno} on channel {frame.channel} "
                    f"hold {outstanding.answerOctets} octets, over the "
                    f"{self.config.maxMessageSize}-octet limit"
                )
            return
        outstanding.answerOctets -= partial.kept
        self._answerOctets -= partial.kept
        del outstanding.partialAnswers[frame.ansno]
        if partial.overflowed:
            self._discard(channel, ANS, frame.msgno, partial.size)
            return
        self._events.append(
            events.AnswerReceived(
                channel.number, frame.msgno, frame.ansno, Message.fromPayload(partial.octets)
            )
        )

    # -- Internals: channel management -----------------------------------

    def _receiveManagementRequest(self, msgno, payload):
        zero = self._channels[0]
        try:
            element = parseManagement(Message.fromPayload(payload).body, self.config.maxXMLSize)
            if isinstance(element, Start):
                self._receiveStart(msgno, element)
            elif isinstance(element, Close):
                self._receiveClose(msgno, element)
            else:
                raise BEEPError(
                    ReplyCode.PARAMETER_SYNTAX_ERROR,
                    "a channel 0 MSG must carry <start> or <close>",
                )
        except BEEPError as error:
            self._queueReply(zero, msgno, ERR, _managementPayload(error))

    def _receiveStart(self, msgno, start):
        number = start.number
        if number == 0 or number % 2 != self._peerParity():
            side = "initiator" if self.role is Role.LISTENER else "listener"
            raise BEEPError(  # the code of RFC 3080's own example
                ReplyCode.PARAMETER_SYNTAX_ERROR,
                f"channel {number} cannot be started by the {side}",
            )
        if number in self._channels or number in self._pendingStarts:
            raise BEEPError(ReplyCode.PARAMETER_INVALID, f"channel {number} is already in use")
        if self.released or self._channels[0].closing:
            raise BEEPError(ReplyCode.REQUESTED_ACTION_NOT_TAKEN, "the session is being released")
        if self._channelCount() >= self.config.maxChannels:
            raise BEEPError(
                ReplyCode.SERVICE_NOT_AVAILABLE,
                f"no more than {self.config.maxChannels} channels per session",
            )
        candidates = tuple(profile for profile in start.profiles if profile.uri in self._acceptable)
        if not candidates:
            raise BEEPError(
                ReplyCode.REQUESTED_ACTION_NOT_TAKEN, "all requested profiles are unsupported"
            )
        if self._receiveReadyStart(msgno, start, candidates):
            return
        self._pendingStarts[number] = (msgno, candidates)
        self._events.append(events.ChannelStartRequested(number, candidates, start.serverName))

    def _receiveClose(self, msgno, close):
        number = close.number
        channel = self._channels.get(number)
        if channel is None:
            raise BEEPError(ReplyCode.PARAMETER_INVALID, f"channel {number} is not open")
        if number in self._pendingCloses or channel.acceptedClose is not None:
            raise BEEPError(ReplyCode.PARAMETER_INVALID, f"channel {number} is already closing")
        # RFC 3080 does not ask for the channels to be closed first, and
        # beepcore-java releases with idle channels open; but nothing in
        # flight may be lost, and starts we have not answered would be
        # answered after our <ok />.
        if number == 0 and (
            self._pendingStarts or any(c.busy for n, c in self._channels.items() if n)
        ):
            raise BEEPError(
                ReplyCode.REQUESTED_ACTION_NOT_TAKEN, "messages are still in flight on this session"
            )
        self._pendingCloses[number] = msgno
        self._events.append(
            events.ChannelCloseRequested(number, close.code, close.text, close.lang)
        )

    def _receiveManagementReply(self, frameType, purpose, payload):
        kind = purpose[0]
        if kind == "tls":
            self._receiveReadyReply(frameType, purpose[1], payload)
            return
        try:
            element = parseManagement(Message.fromPayload(payload).body, self.config.maxXMLSize)
        except BEEPError as e:
            raise RemoteProtocolError(f"unparseable reply on channel 0: {e}") from None
        if frameType is ERR:
            if not isinstance(element, BEEPError):
                raise RemoteProtocolError(f"ERR on channel 0 carries {type(element).__name__}, not <error>")
            if kind == "greeting":
                self._events.append(events.SessionRefused(element))
            elif kind == "start":
                self._ownStarts.pop(purpose[1], None)
                self._events.append(events.ChannelStartFailed(purpose[1], element))
            else:
                channel = self._channels.get(purpose[1])
                if channel is not None:
                    channel.closing = False
                self._events.append(events.ChannelCloseFailed(purpose[1], element))
            return
        if kind == "greeting":
            if not isinstance(element, Greeting):
                raise RemoteProtocolError(f"the peer's greeting is {type(element).__name__}")
            self.peerGreeting = element
            self._events.append(events.GreetingReceived(element))
        elif kind == "start":
            self._receiveStartReply(purpose[1], purpose[2], element)
        else:
            self._receiveCloseReply(purpose[1], element)

    def _receiveStartReply(self, number, candidates, element):
        if not isinstance(element, ProfileElement):
            raise RemoteProtocolError(f"the reply to <start> is {type(element).__name__}, not <profile>")
        if element.uri not in {candidate.uri for candidate in candidates}:
            raise RemoteProtocolError(f"the peer started channel {number} with {element.uri}, not proposed")
        self._openStartedChannel(number, element.uri)
        self._events.append(events.ChannelStarted(number, element))

    def _openStartedChannel(self, number, uri):
        """
        The peer accepted our start of ``number``: the channel is open.
        """
        channel = self._openChannel(number, uri, self._ownStarts.pop(number))
        channel.announced = True
        self._windowChanges.add(number)

    def _receiveCloseReply(self, number, element):
        if not isinstance(element, Ok):
            raise RemoteProtocolError(f"the reply to <close> is {type(element).__name__}, not <ok />")
        if number == 0:
            self._release()
            self._events.append(events.SessionReleased())
            return
        # A close of ours that crossed the peer's has already removed it.
        if number in self._channels:
            self._forget(number)
        self._events.append(events.ChannelClosed(number))

    def _channelOptions(self, receiveWindow, frames):
        if receiveWindow is None:
            receiveWindow = self.config.receiveWindow
        elif not DEFAULT_WINDOW <= receiveWindow <= MAX_SIZE:
            # RFC 3081 section 3.1.1: a channel starts with at least 4096.
            raise LocalProtocolError(
                f"a channel's window is {DEFAULT_WINDOW} to {MAX_SIZE} octets, not {receiveWindow}"
            )
        return receiveWindow, frames

    def _openChannel(self, number, uri, options):
        receiveWindow, frames = options
        self._recentlyClosed.pop(number, None)
        channel = self._channels[number] = Channel(number, uri, receiveWindow)
        channel.frameLevel = frames
        return channel

    def _forget(self, number):
        """
        Remove a closed channel, remembering its number for a while.
        """
        channel = self._channels.pop(number)
        self._closed.append(number)
        if number in self._acceptedCloses:
            # The peer's <ok /> to our close crossed its own close, which we
            # accepted: nothing more will pass on the channel, so answer now.
            self._acceptedCloses.discard(number)
            self._queueReply(self._channels[0], channel.acceptedClose, RPY, _managementPayload(Ok()))
        self._recentlyClosed[number] = None
        while len(self._recentlyClosed) > self.config.maxChannels:
            self._recentlyClosed.popitem(last=False)

    def _release(self):
        self.released = True

    def _takePendingStart(self, number):
        try:
            return self._pendingStarts.pop(number)
        except KeyError:
            raise LocalProtocolError(f"no start of channel {number} awaits an answer") from None

    def _takePendingClose(self, number):
        try:
            return self._pendingCloses.pop(number)
        except KeyError:
            raise LocalProtocolError(f"no close of channel {number} awaits an answer") from None

    # -- Internals: helpers ----------------------------------------------

    def _peerParity(self):
        return 0 if self.role is Role.INITIATOR else 1

    def _channelCount(self):
        return len(self._channels) + len(self._pendingStarts) + len(self._ownStarts)

    def _allocateChannel(self):
        """
        The next free channel number of our parity, wrapping at the RFC 3080
        maximum.
        """
        first = 1 if self.role is Role.INITIATOR else 2
        number = self._nextChannel
        while number in self._channels or number in self._ownStarts:
            number = number + 2 if number + 2 <= MAX_CHANNEL else first
        self._nextChannel = number + 2 if number + 2 <= MAX_CHANNEL else first
        return number

    def _channel(self, number):
        channel = self._channels.get(number)
        if channel is None:
            raise LocalProtocolError(f"channel {number} is not open")
        return channel

    def _dataChannel(self, number):
        if number == 0:
            raise LocalProtocolError("channel 0 carries only channel management")
        return self._channel(number)

    def _checkNotTerminated(self):
        if self._terminated:
            raise LocalProtocolError("the session was terminated")

    def _checkActive(self):
        self._checkNotTerminated()
        if self.peerGreeting is None:
            raise LocalProtocolError("the peer's greeting has not arrived")
        if self.released or self._channels[0].closing:
            raise LocalProtocolError("the session is released or being released")

    @staticmethod
    def _payload(message):
        if isinstance(message, Message):
            return message.toPayloadPieces()
        if isinstance(message, (bytes, bytearray, memoryview)):
            return bytes(message)
        raise TypeError(f"a message is a Message or bytes, not {type(message).__name__}")
