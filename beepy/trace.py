# -*- test-case-name: beepy.test.test_trace -*-
"""
Frame tracing: every frame a session sends and receives, for people
debugging a peer (``beepy send --trace``) and for applications that want
the same in their logs.

The frames are decoded again from the octets the session wrote and read,
with the core's own :class:`~beepy.core.codec.FrameDecoder`, rather than
taken from the session's intentions: a trace shows what crossed the
connection (in the clear, above TLS), including a peer's malformed frames.

Trace a session from its first octet by giving its factory a ``trace``
callable (``connectBEEP`` passes it on)::

    connectBEEP(endpoint, trace=lambda session: FramePrinter(sys.stderr.write))

or attach a tracer to a running session with :func:`traceSession`.
"""

from twisted.logger import Logger
from zope.interface import Interface, implementer

from beepy.core.codec import FrameDecoder
from beepy.core.errors import RemoteProtocolError
from beepy.core.frames import MAX_SIZE, SeqFrame

__all__ = [
    "RECEIVED",
    "SENT",
    "FramePrinter",
    "FrameTracer",
    "IFrameObserver",
    "formatFrame",
    "traceSession",
]

#: The direction of a frame we sent, as :func:`formatFrame` shows it.
SENT = ">"
#: The direction of a frame we received.
RECEIVED = "<"

#: Payload octets :class:`FramePrinter` shows of each frame.
DEFAULT_PAYLOAD_WIDTH = 64

_ESCAPES = {0x0D: "\\r", 0x0A: "\\n", 0x09: "\\t", 0x5C: "\\\\", 0x22: '\\"'}


class IFrameObserver(Interface):
    """
    What a :class:`FrameTracer` reports to.
    """

    def frameTraced(direction, frame):
        """
        A whole frame crossed the connection.

        :param direction: :data:`SENT` or :data:`RECEIVED`.
        :param frame: a :class:`beepy.core.frames.DataFrame` or
            :class:`beepy.core.frames.SeqFrame`.
        """

    def sessionReset():
        """
        A tuning reset (TLS) started the session over: both peers greet
        again, and channel and message numbers start afresh.
        """

    def traceFailed(direction, error):
        """
        The octets going ``direction`` are not frames (the session will
        terminate if the peer sent them); nothing more is traced that way.

        :param error: the decoder's
            :class:`beepy.core.errors.RemoteProtocolError`.
        """


class FrameTracer:
    """
    The :attr:`beepy.BEEPProtocol.octetObserver` of one session: decodes
    both directions into frames for an :class:`IFrameObserver`.

    What the observer raises is logged, not passed on: it runs inside the
    session's reads and writes, and tracing must not break the session.

    :param maxPayload: the largest frame payload decoded; the session's own
        limits terminate it before anything larger arrives whole.
    """

    _log = Logger()

    def __init__(self, observer, maxPayload=MAX_SIZE):
        self.observer = observer
        self._maxPayload = maxPayload
        self._decoders = self._newDecoders()

    def dataReceived(self, data):
        self._decode(RECEIVED, data)

    def dataSent(self, data):
        self._decode(SENT, data)

    def sessionReset(self):
        # Whatever either direction held belonged to the old session.
        self._decoders = self._newDecoders()
        self._report(self.observer.sessionReset)

    def _newDecoders(self):
        return {direction: FrameDecoder(self._maxPayload) for direction in (SENT, RECEIVED)}

    def _decode(self, direction, data):
        decoder = self._decoders[direction]
        if decoder is None:
            return
        decoder.receiveData(data)
        try:
            frame = decoder.nextFrame()
            while frame is not None:
                self._report(self.observer.frameTraced, direction, frame)
                frame = decoder.nextFrame()
        except RemoteProtocolError as error:
            self._decoders[direction] = None
            self._report(self.observer.traceFailed, direction, error)

    def _report(self, method, *args):
        try:
            method(*args)
        except Exception:
            self._log.failure("the frame observer {observer!r} failed", observer=self.observer)


def escapePayload(payload, width=DEFAULT_PAYLOAD_WIDTH):
    """
    ``payload`` as one printable line: the first ``width`` octets, with
    CR, LF, tab, quotes, backslashes and non-ASCII octets escaped, and
    ``...`` if there was more.
    """
    shown = "".join(
        _ESCAPES.get(octet) or (chr(octet) if 0x20 <= octet < 0x7F else f"\\x{octet:02x}")
        for octet in payload[:width]
    )
    return f'"{shown}"' + ("..." if len(payload) > width else "")


def formatFrame(direction, frame, width=DEFAULT_PAYLOAD_WIDTH):
    """
    One line for a traced frame: the direction, the header as it is on the
    wire (without CRLF), and for a data frame its escaped payload, e.g.
    ``> MSG 1 0 . 0 12 "\\r\\nhello, BEEP"``.
    """
    if isinstance(frame, SeqFrame):
        return f"{direction} SEQ {frame.channel} {frame.ackno} {frame.window}"
    header = (
        f"{direction} {frame.type.value.decode()} {frame.channel} {frame.msgno} "
        f"{'*' if frame.more else '.'} {frame.seqno} {frame.size}"
    )
    if frame.ansno is not None:
        header += f" {frame.ansno}"
    return f"{header} {escapePayload(frame.payload, width)}"


@implementer(IFrameObserver)
class FramePrinter:
    """
    Writes each traced frame as a line of :func:`formatFrame`.

    :param write: called with each line, newline included (e.g.
        ``sys.stderr.write``).
    :param width: payload octets shown per frame.
    """

    def __init__(self, write, width=DEFAULT_PAYLOAD_WIDTH):
        self._write = write
        self._width = width

    def frameTraced(self, direction, frame):
        self._write(formatFrame(direction, frame, self._width) + "\n")

    def sessionReset(self):
        self._write("-- tuning reset: the session starts over, both peers greet again\n")

    def traceFailed(self, direction, error):
        self._write(f"{direction} not a frame ({error}): tracing stops in this direction\n")


def traceSession(session, observer):
    """
    Report the frames of ``session`` (a :class:`beepy.BEEPProtocol`) from
    now on to ``observer`` (an :class:`IFrameObserver`).  Attached after the
    connection is made, it can start in the middle of a frame and see
    garbage: give the factory a ``trace`` to see everything.

    :return: the :class:`FrameTracer`.
    """
    tracer = session.octetObserver = FrameTracer(observer)
    return tracer
