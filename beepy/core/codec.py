# -*- test-case-name: beepy.test.test_codec -*-
"""
The frame codec: bytes to frames and back, exactly per the ABNF of RFC 3080
section 2.2.1 and RFC 3081 section 3.1.

The decoder is incremental: bytes arrive in whatever chunks the transport
delivers (a header split across reads, many frames in one read) and frames
come out one at a time, so that everything before a poorly formed frame is
still processed.  It knows nothing of channels or sequence numbers; those
rules live in :mod:`beepy.core.session`.
"""

import re

from beepy.core.errors import RemoteProtocolError
from beepy.core.frames import (
    MAX_CHANNEL,
    MAX_MSGNO,
    MAX_RECEIVED_ANSNO,
    MAX_SEQNO,
    MAX_SIZE,
    DataFrame,
    FrameType,
    SeqFrame,
)

__all__ = [
    "FrameDecoder",
    "encodeFrame",
    "encodeHeader",
    "DEFAULT_MAX_HEADER_LENGTH",
    "LONGEST_HEADER",
    "TRAILER",
]

#: The longest legal header line: an ``ANS`` with every field at its
#: maximum, CRLF included.
LONGEST_HEADER = 62

#: Anything much longer than :data:`LONGEST_HEADER` is garbage, not a header.
DEFAULT_MAX_HEADER_LENGTH = 128

TRAILER = b"END\r\n"
_SEQ = b"SEQ"
_KEYWORDS = {frameType.value: frameType for frameType in FrameType}
_MORE = {b"*": True, b".": False}


def _number(field, name, maximum):
    """
    Parse one decimal header field, strictly: ASCII digits only (no sign, no
    space), at most ``maximum``.
    """
    if not field.isdigit() or len(field) > 10:
        raise RemoteProtocolError(f"bad {name} {field!r} in frame header")
    value = int(field)
    if value > maximum:
        raise RemoteProtocolError(f"{name} {value} out of range in frame header")
    return value


#: A well-formed data frame header, matched in one step; anything else goes
#: through the field-by-field parse, which says what is wrong.
_DATA_HEADER = re.compile(
    rb"(MSG|RPY|ERR|ANS|NUL) ([0-9]{1,10}) ([0-9]{1,10}) ([*.]) ([0-9]{1,10}) ([0-9]{1,10})"
    rb"(?: ([0-9]{1,10}))?"
)


def _parseHeader(line):
    """
    Parse a header line (without its CRLF).

    :return: ``(frame type or None for SEQ, fields)`` where fields are the
        decoded numbers and the ``more`` flag, in header order.
    """
    match = _DATA_HEADER.fullmatch(line)
    if match is not None:
        keyword, channel, msgno, more, seqno, size, ansno = match.groups()
        frameType = _KEYWORDS[keyword]
        if (ansno is None) == (frameType is FrameType.ANS):
            return _parseFields(line)
        channel, msgno, seqno, size = int(channel), int(msgno), int(seqno), int(size)
        if (
            channel <= MAX_CHANNEL
            and msgno <= MAX_MSGNO
            and seqno <= MAX_SEQNO
            and size <= MAX_SIZE
            and (ansno is None or int(ansno) <= MAX_RECEIVED_ANSNO)
        ):
            return (
                frameType,
                channel,
                msgno,
                more == b"*",
                seqno,
                size,
                None if ansno is None else int(ansno),
            )
    return _parseFields(line)


def _parseFields(line):
    """
    Parse a header line field by field, naming the first bad one.
    """
    parts = line.split(b" ")
    keyword = parts[0]
    if keyword == _SEQ:
        if len(parts) != 4:
            raise RemoteProtocolError(f"malformed SEQ header {line!r}")
        return SeqFrame(
            _number(parts[1], "channel", MAX_CHANNEL),
            _number(parts[2], "ackno", MAX_SEQNO),
            _number(parts[3], "window", MAX_SIZE),
        )
    frameType = _KEYWORDS.get(keyword)
    if frameType is None:
        raise RemoteProtocolError(f"unknown frame keyword in header {line!r}")
    expected = 7 if frameType is FrameType.ANS else 6
    if len(parts) != expected:
        raise RemoteProtocolError(f"malformed {keyword.decode()} header {line!r}")
    more = _MORE.get(parts[3])
    if more is None:
        raise RemoteProtocolError(f"bad continuation indicator in header {line!r}")
    return (
        frameType,
        _number(parts[1], "channel", MAX_CHANNEL),
        _number(parts[2], "msgno", MAX_MSGNO),
        more,
        _number(parts[4], "seqno", MAX_SEQNO),
        _number(parts[5], "size", MAX_SIZE),
        _number(parts[6], "ansno", MAX_RECEIVED_ANSNO) if expected == 7 else None,
    )


class FrameDecoder:
    """
    Turns a byte stream into :class:`DataFrame` and :class:`SeqFrame` values.

    Feed it with :meth:`receiveData`, then call :meth:`nextFrame` until it
    returns ``None``.  A poorly formed frame raises
    :class:`~beepy.core.errors.RemoteProtocolError`; the decoder is useless
    after that, as is the session.

    :param maxPayload: the largest frame payload accepted before it is
        buffered; a larger ``size`` is refused at once.
    :param maxHeaderLength: the longest header line, CRLF included.
    """

    def __init__(self, maxPayload, maxHeaderLength=DEFAULT_MAX_HEADER_LENGTH):
        self.maxPayload = maxPayload
        self.maxHeaderLength = maxHeaderLength
        self._buffer = bytearray()
        self._header = None  # a parsed header whose payload is awaited
        self._decoded = 0  # frames returned so far

    @property
    def bufferedBytes(self):
        """
        How many received octets are waiting to complete a frame.
        """
        return len(self._buffer)

    @property
    def unfinishedFrame(self):
        """
        The ordinal (from 0) of the frame of which some octets have arrived
        but not all, or ``None``: a frame timeout keys on it, so that it
        restarts for each new frame, not for each octet.
        """
        if self._buffer or self._header is not None:
            return self._decoded
        return None

    def receiveData(self, data):
        """
        Append received octets; frames come out of :meth:`nextFrame`.
        """
        self._buffer += data

    def nextFrame(self):
        """
        :return: the next complete frame, or ``None`` if more octets are needed.
        :raises RemoteProtocolError: if the stream is not a valid frame here.
        """
        buffer = self._buffer
        if self._header is None:
            end = buffer.find(b"\n", 0, self.maxHeaderLength)
            if end < 0:
                if len(buffer) >= self.maxHeaderLength:
                    raise RemoteProtocolError(
                        f"frame header longer than {self.maxHeaderLength} octets"
                    )
                return None
            if end == 0 or buffer[end - 1] != 0x0D:
                raise RemoteProtocolError("frame header not terminated by CRLF")
            header = _parseHeader(bytes(buffer[: end - 1]))
            del buffer[: end + 1]
            if isinstance(header, SeqFrame):
                self._decoded += 1
                return header
            if header[5] > self.maxPayload:
                raise RemoteProtocolError(
                    f"frame size {header[5]} exceeds the limit of "
                    f"{self.maxPayload} octets"
                )
            self._header = header
        frameType, channel, msgno, more, seqno, size, ansno = self._header
        available = len(buffer) - size
        if available < len(TRAILER):
            if available > 0 and not TRAILER.startswith(buffer[size:]):
                raise RemoteProtocolError("frame payload not followed by END")
            return None
        if buffer[size : size + len(TRAILER)] != TRAILER:
            raise RemoteProtocolError("frame payload not followed by END")
        payload = bytes(buffer[:size])
        del buffer[: size + len(TRAILER)]
        self._header = None
        self._decoded += 1
        return DataFrame(frameType, channel, msgno, more, seqno, payload, ansno)


def encodeFrame(frame):
    """
    Serialize a :class:`DataFrame` or :class:`SeqFrame` to its wire form.
    """
    if isinstance(frame, SeqFrame):
        return b"SEQ %d %d %d\r\n" % (frame.channel, frame.ackno, frame.window)
    header = encodeHeader(
        frame.type, frame.channel, frame.msgno, frame.more, frame.seqno, len(frame.payload), frame.ansno
    )
    return header + frame.payload + TRAILER


def encodeHeader(frameType, channel, msgno, more, seqno, size, ansno=None):
    """
    A data frame's header line, CRLF included: the session writes the
    payload and :data:`TRAILER` after it itself, to avoid copying the
    payload into a frame.
    """
    if ansno is None:
        return b"%s %d %d %s %d %d\r\n" % (
            frameType.value, channel, msgno, b"*" if more else b".", seqno, size
        )
    return b"%s %d %d %s %d %d %d\r\n" % (
        frameType.value, channel, msgno, b"*" if more else b".", seqno, size, ansno
    )
