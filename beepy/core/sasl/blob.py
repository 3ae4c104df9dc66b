# -*- test-case-name: beepy.test.test_sasl_blob -*-
"""
The ``<blob>`` element of RFC 3080 section 4.1 (DTD in section 7.3), which
carries every SASL message, base64-encoded, piggybacked on ``<start>`` and
its reply or as the body of ``MSG`` and ``RPY`` on the SASL channel::

    <!ELEMENT blob (#PCDATA)>
    <!ATTLIST blob xml:space (default|preserve) "preserve"
                   status    (abort|complete|continue) "continue">

A failed exchange is reported with an ``<error>`` element instead, so
:func:`parseBlob` reads both.

Parsing goes through the hardened, size-limited parser of channel
management.  The base64 content is decoded strictly: white space (which XML
writers may wrap long content with) is ignored, anything else outside the
base64 alphabet, or wrong padding, is refused with 501.
"""

import base64
import binascii
import re
from dataclasses import dataclass

from beepy.core.codes import ReplyCode
from beepy.core.errors import BEEPError
from beepy.core.management import encodeManagement, errorFromElement, parseElement
from beepy.core.sasl.base import SASLError, malformed

__all__ = [
    "Blob",
    "CONTINUE",
    "COMPLETE",
    "ABORT",
    "parseBlob",
    "encodeBlob",
    "encodeError",
    "MAX_BLOB_XML",
]

CONTINUE, COMPLETE, ABORT = "continue", "complete", "abort"
_STATUSES = frozenset((CONTINUE, COMPLETE, ABORT))

#: The largest ``<blob>`` document we parse: our mechanisms' messages are a
#: few hundred octets, and piggybacked content is capped at 4K anyway.
MAX_BLOB_XML = 16 * 1024

_BASE64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}")
_WHITESPACE = re.compile(rb"[ \t\r\n]+")


@dataclass(frozen=True)
class Blob:
    """
    One SASL message: the decoded ``data`` and the ``status``.
    """

    data: bytes = b""
    status: str = CONTINUE

    def __post_init__(self):
        if self.status not in _STATUSES:
            raise ValueError(f"unknown blob status {self.status!r}")


def _decode(text):
    data = _WHITESPACE.sub(b"", text.encode("utf-8"))
    if not _BASE64.fullmatch(data):
        raise malformed("the blob is not base64")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise malformed("the blob is not valid base64") from None


def parseBlob(data, maxSize=MAX_BLOB_XML):
    """
    Parse a SASL message.

    :return: a :class:`Blob`, or the :class:`BEEPError` an ``<error>``
        element stands for.
    :raises SASLError: 500 for XML that is not well formed, 501 for an
        element other than ``<blob>``/``<error>``, an unknown status, or
        content that is not base64.
    """
    try:
        root = parseElement(data, maxSize)
        if root.name == "error":
            return errorFromElement(root)
    except SASLError:
        raise
    except BEEPError as e:
        raise SASLError(e.text, e.code) from None
    if root.name != "blob":
        raise malformed(f"<{root.name}> where <blob> was expected")
    if root.children:
        raise malformed(f"<blob> must not contain <{root.children[0].name}>")
    status = root.attributes.get("status", CONTINUE)
    if status not in _STATUSES:
        raise malformed(f"unknown blob status {status!r}")
    return Blob(_decode("".join(root.text)), status)


def encodeBlob(blob):
    """
    Serialize a :class:`Blob` the way Vortex and beepcore write it: no
    ``status`` attribute for ``continue``, an empty element when there is no
    data.
    """
    status = "" if blob.status == CONTINUE else f" status='{blob.status}'"
    if not blob.data:
        return f"<blob{status} />".encode("ascii")
    encoded = base64.b64encode(blob.data).decode("ascii")
    return f"<blob{status}>{encoded}</blob>".encode("ascii")


def encodeError(error):
    """
    Serialize a failed exchange as an ``<error>`` element.
    """
    if not isinstance(error, BEEPError):
        error = BEEPError(ReplyCode.AUTHENTICATION_FAILURE, str(error))
    return encodeManagement(error)
