# -*- test-case-name: beepy.test.test_session -*-
"""
What :meth:`beepy.core.session.Session.receiveData` reports: small frozen
values, named in the past tense, one for each thing the peer did that the
application may care about.
"""

from dataclasses import dataclass
from typing import Optional, Tuple

from beepy.core.errors import BEEPError, RemoteProtocolError
from beepy.core.frames import DataFrame
from beepy.core.management import Greeting, ProfileElement
from beepy.core.mime import Message

__all__ = [
    "GreetingReceived",
    "SessionRefused",
    "ChannelStartRequested",
    "ChannelStarted",
    "ChannelStartFailed",
    "ChannelCloseRequested",
    "ChannelClosed",
    "ChannelCloseFailed",
    "MessageReceived",
    "ReplyReceived",
    "ErrorReceived",
    "AnswerReceived",
    "AnswersCompleted",
    "MessageDiscarded",
    "FrameReceived",
    "SessionReleased",
    "ProtocolViolated",
    "TLSRequested",
    "TLSAccepted",
    "TLSRefused",
]


@dataclass(frozen=True)
class GreetingReceived:
    """
    The peer's greeting arrived: the session is established.
    """

    greeting: Greeting


@dataclass(frozen=True)
class SessionRefused:
    """
    The peer answered with ``<error>`` instead of a greeting (RFC 3080
    section 2.4); it will close the connection.
    """

    error: BEEPError


@dataclass(frozen=True)
class ChannelStartRequested:
    """
    The peer asks to start ``number``.  Answer with
    :meth:`~beepy.core.session.Session.acceptStart` or
    :meth:`~beepy.core.session.Session.refuseStart`.

    :ivar profiles: the candidates we offer, in the peer's order of
        preference; those we do not offer were already filtered out.
    """

    number: int
    profiles: Tuple[ProfileElement, ...]
    serverName: Optional[str] = None


@dataclass(frozen=True)
class ChannelStarted:
    """
    The peer accepted our start of ``number`` with ``profile`` (which may
    carry piggybacked content).
    """

    number: int
    profile: ProfileElement


@dataclass(frozen=True)
class ChannelStartFailed:
    number: int
    error: BEEPError


@dataclass(frozen=True)
class ChannelCloseRequested:
    """
    The peer asks to close ``number`` (0: release the session).  Answer with
    :meth:`~beepy.core.session.Session.acceptClose` or
    :meth:`~beepy.core.session.Session.refuseClose`.
    """

    number: int
    code: int
    text: str = ""
    lang: Optional[str] = None


@dataclass(frozen=True)
class ChannelClosed:
    """
    The peer accepted our close of ``number``, or a close crossed ours.
    """

    number: int


@dataclass(frozen=True)
class ChannelCloseFailed:
    number: int
    error: BEEPError


@dataclass(frozen=True)
class MessageReceived:
    """
    A complete ``MSG``: answer it with one reply, or answers then a ``NUL``.
    """

    channel: int
    msgno: int
    message: Message


@dataclass(frozen=True)
class ReplyReceived:
    """
    A complete ``RPY`` to our ``MSG`` ``msgno``.
    """

    channel: int
    msgno: int
    message: Message


@dataclass(frozen=True)
class ErrorReceived:
    """
    A complete ``ERR`` to our ``MSG`` ``msgno``.
    """

    channel: int
    msgno: int
    message: Message


@dataclass(frozen=True)
class AnswerReceived:
    """
    One complete ``ANS`` to our ``MSG`` ``msgno``; more may follow.
    """

    channel: int
    msgno: int
    ansno: int
    message: Message


@dataclass(frozen=True)
class AnswersCompleted:
    """
    The ``NUL`` that ends the answers to our ``MSG`` ``msgno``.
    """

    channel: int
    msgno: int


@dataclass(frozen=True)
class MessageDiscarded:
    """
    A message grew past the session's ``maxMessageSize``; its frames were
    counted but not kept.  A ``MSG`` is already answered with ``ERR`` 554; a
    reply to our ``MSG`` ``msgno`` is lost to the application.
    """

    channel: int
    msgno: int
    isReply: bool
    size: int


@dataclass(frozen=True)
class FrameReceived:
    """
    A data frame arrived on a channel started with ``frames=True`` (see
    :meth:`~beepy.core.session.Session.startChannel`).  A final ``RPY``
    or ``ERR`` frame, or a ``NUL``, ends the reply to our ``MSG``.
    """

    channel: int
    frame: DataFrame


@dataclass(frozen=True)
class SessionReleased:
    """
    Channel 0 is closed (RFC 3080 section 2.4): the connection can go.
    """


@dataclass(frozen=True)
class ProtocolViolated:
    """
    The peer broke RFC 3080 or 3081; the session is over and must be
    terminated without a response.  Always the last event.
    """

    error: RemoteProtocolError


@dataclass(frozen=True)
class TLSRequested:
    """
    The peer sent ``<ready />`` (RFC 3080 section 3.1): piggybacked on a
    ``<start>`` of channel ``number``, or as a ``MSG`` on ``number``, a
    channel running the TLS profile.  It may send nothing more until we
    answer with :meth:`~beepy.core.session.Session.acceptTLS` or
    :meth:`~beepy.core.session.Session.refuseTLS`.

    :ivar serverName: the ``serverName`` of the ``<start>`` that carried the
        request, or ``None`` (always ``None`` for a ``MSG``).
    """

    number: int
    serverName: Optional[str] = None


@dataclass(frozen=True)
class TLSAccepted:
    """
    The peer answered our ``<ready />`` with ``<proceed />``: negotiate TLS
    now, as the TLS client, then call
    :meth:`~beepy.core.session.Session.reset`.
    """


@dataclass(frozen=True)
class TLSRefused:
    """
    The peer answered our ``<ready />`` with an error (in an ``ERR``, or
    piggybacked in a positive reply as Vortex does); the session goes on in
    the clear.
    """

    error: BEEPError
