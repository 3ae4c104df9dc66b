# -*- test-case-name: beepy.test.test_session -*-
"""
The bookkeeping of one channel, in both directions.

A channel carries two independent octet streams, each with its own sequence
numbers and RFC 3081 window, and two independent message-number spaces: the
``MSG``\\ s we send (awaiting replies) and the ``MSG``\\ s we receive (awaiting
ours).  :class:`Channel` keeps all of it; :mod:`beepy.core.session` applies
the rules.
"""

from collections import deque

from beepy.core.frames import MAX_MSGNO, SEQNO_MODULUS

__all__ = ["Channel", "OutgoingMessage", "DEFAULT_WINDOW"]

#: RFC 3081 section 3.1.1: every channel starts with a 4096-octet window.
DEFAULT_WINDOW = 4096


def seqnoDistance(start, end):
    """
    Octets from sequence number ``start`` to ``end``, modulo 2**32.
    """
    return (end - start) % SEQNO_MODULUS


class OutgoingMessage:
    """
    A message queued for sending, cut into frames as the peer's window allows.

    :ivar onSent: called once the final frame has been serialized, or ``None``.
    """

    __slots__ = ("type", "msgno", "ansno", "payload", "offset", "started", "onSent")

    def __init__(self, frameType, msgno, payload, ansno=None, onSent=None):
        self.type = frameType
        self.msgno = msgno
        self.ansno = ansno
        self.payload = memoryview(payload)
        self.offset = 0
        self.started = False
        self.onSent = onSent

    def truncate(self):
        """
        Send no more of the payload: the next frame is a final, empty one
        (RFC 3080 section 2.6.3, after a pre-emptive reply).
        """
        self.payload = self.payload[: self.offset]


class PartialMessage:
    """
    The octets of an incoming message whose final frame has not arrived,
    kept only up to ``limit``: past it, or once ``ignore()`` is called, the
    frames are counted but not stored.
    """

    __slots__ = ("octets", "size", "limit", "ignored")

    def __init__(self, limit):
        self.octets = bytearray()
        self.size = 0
        self.limit = limit
        self.ignored = False

    def add(self, payload):
        self.size += len(payload)
        if self.octets is not None:
            if self.size <= self.limit:
                self.octets += payload
            else:
                self.octets = None

    def ignore(self):
        self.octets = None
        self.ignored = True

    @property
    def overflowed(self):
        return self.octets is None and not self.ignored


class Reply:
    """
    Our reply to one received ``MSG``, held back until every earlier ``MSG``
    on the channel is answered (RFC 3080 section 2.6.1).

    :ivar style: ``None`` until the first reply is queued, then ``"ANS"`` or
        ``"RPY"`` (which also covers ``ERR``).
    """

    __slots__ = ("queued", "complete", "style", "nextAnsno")

    def __init__(self):
        self.queued = deque()
        self.complete = False
        self.style = None
        self.nextAnsno = 0


class Outstanding:
    """
    One of our ``MSG``\\ s awaiting its reply.

    :ivar request: the :class:`OutgoingMessage` of the ``MSG``.
    :ivar acknowledged: the first frame of the reply has arrived (RFC 3080
        section 2.3.1.3 calls that acknowledgement).
    :ivar answered: an ``ANS`` has arrived, so only ``ANS`` and ``NUL`` may
        follow.
    :ivar partialAnswers: answer number -> :class:`PartialMessage` of an
        ``ANS`` still arriving.
    :ivar purpose: for channel-0 requests, what the reply will settle.
    """

    __slots__ = ("request", "acknowledged", "answered", "partialAnswers", "purpose")

    def __init__(self, request, purpose=None):
        self.request = request
        self.acknowledged = False
        self.answered = False
        self.partialAnswers = {}
        self.purpose = purpose


class Channel:
    """
    The state of one open channel.

    :ivar profile: the URI the channel runs (``None`` for channel 0).
    :ivar outstanding: our msgno -> :class:`Outstanding`.
    :ivar replies: received msgno -> :class:`Reply`, in arrival order; the
        first entry is the only one whose frames may be sent.
    :ivar outgoing: messages being framed, strictly one after another.
    :ivar partial: the :class:`PartialMessage` of an incoming ``MSG``, ``RPY``
        or ``ERR`` whose final frame has not arrived, or ``None``.
    :ivar lastIntermediate: ``(type, msgno)`` of the previous received frame
        if it was intermediate (``*``), else ``None``.
    """

    def __init__(self, number, profile, receiveWindow):
        self.number = number
        self.profile = profile
        self.nextMsgno = 1 if number == 0 else 0
        self.outstanding = {}
        self.replies = {}
        self.outgoing = deque()
        self.closing = False  # we asked the peer to close it
        self.acceptedClose = None  # channel-0 msgno of the peer's close we accepted
        # Our octet stream to the peer.
        self.sendSeqno = 0
        self.peerAckno = 0
        self.peerWindowEdge = DEFAULT_WINDOW
        # The peer's octet stream to us.
        self.receiveSeqno = 0
        self.receiveAckno = 0
        self.receiveWindow = receiveWindow
        self.advertisedWindow = DEFAULT_WINDOW
        self.partial = None
        self.lastIntermediate = None
        # Nothing may be sent on or about a channel, SEQ and <close>
        # included, before the reply that opens it: the peer would not know
        # the channel yet.  Channel 0 is announced by our greeting.
        self.announced = False
        self.heldClose = None  # a <close> waiting for the channel's announcement

    def allocateMsgno(self):
        """
        The next message number not awaiting a reply, wrapping at the RFC
        3080 maximum.
        """
        msgno = self.nextMsgno
        while msgno in self.outstanding:
            msgno = 0 if msgno == MAX_MSGNO else msgno + 1
        self.nextMsgno = 0 if msgno == MAX_MSGNO else msgno + 1
        return msgno

    def sendWindow(self):
        """
        How many octets the peer's window still admits (never negative, even
        if the peer shrank its window below what is in flight).
        """
        available = seqnoDistance(self.sendSeqno, self.peerWindowEdge)
        return 0 if available >= SEQNO_MODULUS // 2 else available

    def seqWanted(self):
        """
        Whether to advertise the window again: RFC 3081 section 3.1.4 says to
        wait until at least half of it is consumed, so that SEQs stay few.
        """
        if not self.announced:
            return False
        if self.advertisedWindow != self.receiveWindow:
            return True
        consumed = seqnoDistance(self.receiveAckno, self.receiveSeqno)
        return consumed > 0 and consumed * 2 >= self.receiveWindow

    @property
    def busy(self):
        """
        Whether a message is in flight on the channel, either way.
        """
        return bool(self.outstanding or self.replies or self.outgoing or self.partial)
