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

    Its payload is a queue of chunks: all of it at once for an ordinary
    message, or appended piece by piece for a streamed one, which is
    :attr:`complete` only once its last piece is in.  A frame never waits
    for more octets than are buffered, and the final frame goes only once the
    message is complete.

    :ivar buffered: octets queued and not yet framed.
    :ivar onSent: called once the final frame has been serialized, or ``None``.
    """

    __slots__ = ("type", "msgno", "ansno", "chunks", "buffered", "complete", "started", "onSent")

    def __init__(self, frameType, msgno, payload=b"", ansno=None, onSent=None, complete=True):
        """
        :param payload: ``bytes``, or a tuple of pieces (a MIME header block
            and a body) sent one after the other without joining them.
        """
        self.type = frameType
        self.msgno = msgno
        self.ansno = ansno
        self.chunks = deque()
        self.buffered = 0
        self.complete = complete
        self.started = False
        self.onSent = onSent
        if type(payload) is not tuple:
            payload = (payload,)
        for piece in payload:
            if piece:
                self.chunks.append(memoryview(piece))
                self.buffered += len(piece)

    def append(self, data):
        """
        Queue more of a streamed payload; ignored once the message is
        complete (or truncated by a pre-emptive reply).
        """
        if data and not self.complete:
            self.chunks.append(memoryview(data))
            self.buffered += len(data)

    def take(self, size):
        """
        Remove the next ``size`` buffered octets (``size`` must not exceed
        :attr:`buffered`).

        :return: a list of ``memoryview`` pieces holding them: no copy is
            made until the frames are joined for the transport.
        """
        self.buffered -= size
        chunks = self.chunks
        pieces = []
        while size:
            chunk = chunks[0]
            if len(chunk) > size:
                chunks[0] = chunk[size:]
                chunk = chunk[:size]
            else:
                chunks.popleft()
            pieces.append(chunk)
            size -= len(chunk)
        return pieces

    @property
    def stalled(self):
        """
        Whether no frame can be made until more of the payload arrives.
        """
        return not (self.buffered or self.complete)

    def truncate(self):
        """
        Send no more of the payload: the next frame is a final, empty one
        (RFC 3080 section 2.6.3, after a pre-emptive reply).
        """
        self.chunks.clear()
        self.buffered = 0
        self.complete = True


class PartialMessage:
    """
    The octets of an incoming message whose final frame has not arrived,
    kept only up to ``limit``: past it, or once ``ignore()`` is called, the
    frames are counted but not stored.  The frames' payloads are kept as
    they came and joined once, at the end: one copy, however many frames.
    """

    __slots__ = ("pieces", "size", "limit", "ignored")

    def __init__(self, limit):
        self.pieces = []
        self.size = 0
        self.limit = limit
        self.ignored = False

    def add(self, payload):
        self.size += len(payload)
        if self.pieces is not None:
            if self.size > self.limit:
                self.pieces = None
            elif payload:
                # Empty frames cost the peer no window: keeping a piece for
                # each would let it grow the list for ever.
                self.pieces.append(payload)

    @property
    def octets(self):
        """
        The payload so far, or ``None`` if it was not kept.
        """
        if self.pieces is None:
            return None
        return self.pieces[0] if len(self.pieces) == 1 else b"".join(self.pieces)

    @property
    def kept(self):
        """
        Octets held: ``size`` until the message is discarded, then none.
        """
        return self.size if self.pieces is not None else 0

    def ignore(self):
        self.pieces = None
        self.ignored = True

    @property
    def overflowed(self):
        return self.pieces is None and not self.ignored


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

    __slots__ = ("request", "acknowledged", "answered", "partialAnswers", "answerOctets", "purpose")

    def __init__(self, request, purpose=None):
        self.request = request
        self.acknowledged = False
        self.answered = False
        self.partialAnswers = {}
        self.answerOctets = 0  # held in partialAnswers, all together
        self.purpose = purpose


class Channel:
    """
    The state of one open channel.

    :ivar profile: the URI the channel runs (``None`` for channel 0).
    :ivar outstanding: our msgno -> :class:`Outstanding`.
    :ivar replies: received msgno -> :class:`Reply`, until the reply is sent.
    :ivar unreleased: the same replies, in arrival order, until each is wholly
        moved to ``outgoing``: the first is the only one whose frames may go.
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
        self.unreleased = deque()
        self.outgoing = deque()
        self.closing = False  # we asked the peer to close it
        self.acceptedClose = None  # channel-0 msgno of the peer's close we accepted
        # Our octet stream to the peer.
        self.sendSeqno = 0
        self.peerAckno = 0
        self.peerWindowEdge = DEFAULT_WINDOW
        # The peer's octet stream to us.
        self.receiveSeqno = 0
        self.receiveEdge = DEFAULT_WINDOW  # the right edge we last advertised
        self.receiveWindow = receiveWindow
        self.windowChanged = receiveWindow != DEFAULT_WINDOW
        self.paused = False  # the application takes no more for now
        self.unconsumed = 0  # octets received while paused
        self.heldEvents = 0  # events for the application received while paused
        self.replyBacklog = 0  # octets of our replies not yet framed
        self.frameLevel = False  # deliver frames, not assembled messages
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

    def awaitReply(self, msgno):
        """
        Note a received ``MSG`` (or the implicit greeting request) that we
        owe a reply.
        """
        reply = self.replies[msgno] = Reply()
        self.unreleased.append(reply)
        return reply

    def windowUpdate(self):
        """
        The window to advertise in a ``SEQ`` now, or ``None`` if none is due.

        Credit is what the application has consumed plus the window, so an
        application that pauses the channel stops the peer within one window.
        So does a backlog of our replies larger than the window (a peer
        that pipelines requests but does not read the answers), unless we
        await replies on the channel ourselves: then the peer's replies to
        us need the room, and holding it back could stall both peers.

        RFC 3081 section 3.1.4: the right edge never moves left, and a
        ``SEQ`` goes only once it would advance the edge by half the window
        (or the window size was changed), so that ``SEQ``\ s stay few.
        """
        if not self.announced:
            return None
        if self.replyBacklog > self.receiveWindow and not self.outstanding:
            return None
        consumed = self.receiveSeqno - self.unconsumed
        edge = (consumed + self.receiveWindow) % SEQNO_MODULUS
        gain = seqnoDistance(self.receiveEdge, edge)
        if gain == 0 or gain >= SEQNO_MODULUS // 2:
            return None
        if gain * 2 < self.receiveWindow and not self.windowChanged:
            return None
        return seqnoDistance(self.receiveSeqno, edge)

    def advertised(self, window):
        self.receiveEdge = (self.receiveSeqno + window) % SEQNO_MODULUS
        self.windowChanged = False

    def receiveRoom(self):
        """
        How many more octets the peer may send before our advertised edge.
        """
        return seqnoDistance(self.receiveSeqno, self.receiveEdge)

    @property
    def busy(self):
        """
        Whether a message is in flight on the channel, either way.
        """
        return bool(self.outstanding or self.replies or self.outgoing or self.partial)
