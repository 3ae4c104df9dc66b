# -*- test-case-name: beepy.test.test_mime -*-
"""
Messages as MIME entities (RFC 3080 section 2.2.2).

A BEEP payload is a block of MIME headers, an empty line, then the body.  When
no headers are given the defaults apply: ``Content-Type:
application/octet-stream`` and ``Content-Transfer-Encoding: binary``.

We are strict in what we send: every payload starts with its header block,
even an empty one (a lone CRLF), as Vortex and beepcore do.  We are tolerant
in what we accept: Net::BEEP::Lite sends default-typed bodies with no header
block at all, so a payload whose first line is not a MIME header is taken as
all body with the default headers.
"""

import re

__all__ = ["Message", "DEFAULT_CONTENT_TYPE", "DEFAULT_TRANSFER_ENCODING"]

DEFAULT_CONTENT_TYPE = "application/octet-stream"
DEFAULT_TRANSFER_ENCODING = "binary"

_CRLF = b"\r\n"
# RFC 5322 field name: printable US-ASCII except colon; no space.
_HEADER_LINE = re.compile(rb"[!-9;-~]+:[^\r\n]*\Z")
_CONTINUATION = re.compile(rb"[ \t][^\r\n]*\Z")


def _parseHeaderBlock(block):
    """
    Parse ``block`` (the header lines, without the blank line ending them).

    :return: a tuple of ``(name, value)`` pairs, or ``None`` if any line is
        not a MIME header line.
    """
    headers = []
    for line in block.split(_CRLF):
        if _HEADER_LINE.match(line):
            name, _, value = line.partition(b":")
            headers.append((name.decode("ascii"), [value.strip()]))
        elif headers and _CONTINUATION.match(line):
            headers[-1][1].append(line.strip())
        else:
            return None
    return tuple((name, b" ".join(parts).decode("latin-1")) for name, parts in headers)


class Message:
    """
    A BEEP message: MIME headers and a body.

    :param body: the entity body, as ``bytes``.
    :param contentType: shorthand for a ``Content-Type`` header.
    :param headers: further ``(name, value)`` header pairs, in order.
    """

    __slots__ = ("headers", "body")

    def __init__(self, body=b"", contentType=None, headers=()):
        if not isinstance(body, (bytes, bytearray, memoryview)):
            raise TypeError(f"a message body is bytes, not {type(body).__name__}")
        headers = tuple((str(name), str(value)) for name, value in headers)
        if contentType is not None:
            headers = (("Content-Type", contentType),) + headers
        for name, value in headers:
            if not _HEADER_LINE.match(f"{name}:{value}".encode("latin-1")):
                raise ValueError(f"invalid MIME header {name!r}: {value!r}")
        self.headers = headers
        self.body = bytes(body)

    @classmethod
    def fromPayload(cls, payload):
        """
        Parse a received payload, tolerating a missing header block.
        """
        payload = bytes(payload)
        if payload.startswith(_CRLF):
            return cls(payload[2:])
        end = payload.find(b"\r\n\r\n")
        if end >= 0:
            headers = _parseHeaderBlock(payload[:end])
            if headers is not None:
                message = cls(payload[end + 4 :])
                message.headers = headers
                return message
        return cls(payload)

    def toPayload(self):
        """
        The payload to send: the header block, an empty line, the body.
        """
        return b"".join(self.toPayloadPieces())

    def toPayloadPieces(self):
        """
        The payload as ``(header block and empty line, body)``, so that a
        large body is framed where it lies instead of copied behind its
        headers.
        """
        block = "".join(f"{name}: {value}\r\n" for name, value in self.headers)
        return (block.encode("latin-1") + _CRLF, self.body)

    def getHeader(self, name, default=None):
        """
        The value of the first header called ``name`` (case-insensitive).
        """
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return default

    @property
    def contentType(self):
        return self.getHeader("Content-Type", DEFAULT_CONTENT_TYPE)

    @property
    def transferEncoding(self):
        return self.getHeader("Content-Transfer-Encoding", DEFAULT_TRANSFER_ENCODING)

    def __eq__(self, other):
        if not isinstance(other, Message):
            return NotImplemented
        return (self.headers, self.body) == (other.headers, other.body)

    def __hash__(self):
        return hash((self.headers, self.body))

    def __repr__(self):
        return f"Message({self.body!r}, headers={self.headers!r})"
