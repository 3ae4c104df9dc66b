# -*- test-case-name: beepy.test.test_codec -*-
"""
The frames of RFC 3080 section 2.2.1 and the ``SEQ`` frame of RFC 3081
section 3.1, as small immutable values.

A frame's ``size`` is not stored: it is ``len(payload)``, so a frame cannot
disagree with itself.
"""

import enum
from dataclasses import dataclass
from typing import Optional

__all__ = [
    "FrameType",
    "DataFrame",
    "SeqFrame",
    "MAX_CHANNEL",
    "MAX_MSGNO",
    "MAX_SIZE",
    "MAX_ANSNO",
    "MAX_RECEIVED_ANSNO",
    "MAX_SEQNO",
    "SEQNO_MODULUS",
]

#: Upper bounds of the header fields (RFC 3080 section 2.2.1, RFC 3081
#: section 3.1.1); every lower bound is 0.
MAX_CHANNEL = MAX_MSGNO = MAX_SIZE = MAX_ANSNO = 2147483647
MAX_SEQNO = 4294967295
#: RFC 3080 contradicts itself on ``ansno``: the ABNF says 0..2147483647, the
#: prose of section 2.2.1.1 0..4294967295.  We send only the former and
#: accept the latter.
MAX_RECEIVED_ANSNO = MAX_SEQNO
#: Sequence numbers and acknowledgements count octets modulo 2**32.
SEQNO_MODULUS = 2**32


class FrameType(enum.Enum):
    """
    The keyword that opens a data frame's header.
    """

    MSG = b"MSG"
    RPY = b"RPY"
    ERR = b"ERR"
    ANS = b"ANS"
    NUL = b"NUL"

    @property
    def isReply(self):
        """
        ``True`` for the four keywords that answer a ``MSG``.
        """
        return self is not FrameType.MSG


@dataclass(frozen=True, slots=True)
class DataFrame:
    """
    One frame of a message: ``MSG``, ``RPY``, ``ERR``, ``ANS`` or ``NUL``.

    :ivar more: ``True`` for the intermediate indicator ``*``, ``False`` for
        the final ``.``.
    :ivar ansno: the answer number, present exactly on ``ANS`` frames.
    """

    type: FrameType
    channel: int
    msgno: int
    more: bool
    seqno: int
    payload: bytes
    ansno: Optional[int] = None

    @property
    def size(self):
        return len(self.payload)


@dataclass(frozen=True, slots=True)
class SeqFrame:
    """
    RFC 3081's ``SEQ channel ackno window``: the receiver of ``channel`` will
    accept octets up to, but not including, ``ackno + window``.
    """

    channel: int
    ackno: int
    window: int
