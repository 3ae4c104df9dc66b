# -*- test-case-name: beepy.test.test_sasl_mechanisms -*-
"""
What every SASL mechanism shares: the error it raises, and the small set of
outcomes a server mechanism hands back to its driver.

A server mechanism is a state machine fed the client's responses.  Each call
returns one outcome, which tells the driver what to do next:

- :class:`Challenge`: send this data to the client and wait for its answer;
- :class:`Lookup`: look the user up (SCRAM needs the stored salt, OTP the
  sequence and seed) and pass the record to ``found()``;
- a :class:`Claim`: the client has said everything; check its evidence
  against the credential store, then call ``succeeded()`` with what the
  check learnt;
- :class:`Success`: the exchange is over; send the final data, if any.

No mechanism here does I/O, keeps time, or knows about Twisted: the driver
(``beepy.sasl``) asks ``twisted.cred`` and moves the bytes.
"""

from dataclasses import dataclass
from typing import Optional

from beepy.core.codes import ReplyCode
from beepy.core.errors import BEEPError

__all__ = [
    "SASLError",
    "Challenge",
    "Lookup",
    "Claim",
    "Success",
    "ServerMechanism",
    "ClientMechanism",
    "utf8",
]


class SASLError(BEEPError):
    """
    A SASL exchange failed.  It travels as an ``<error>`` with its code:
    535 by default (authentication failure), 501 for a message that breaks
    the mechanism's syntax, 534 or 538 when policy refuses the mechanism.
    """

    def __init__(self, text="authentication failure", code=ReplyCode.AUTHENTICATION_FAILURE):
        super().__init__(code, text)


def malformed(text):
    """
    The error for a client message that breaks the mechanism's syntax.
    """
    return SASLError(text, ReplyCode.PARAMETER_SYNTAX_ERROR)


def utf8(data, what):
    """
    Decode ``data`` as UTF-8, or fail the exchange.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise malformed(f"{what} is not UTF-8") from None


@dataclass(frozen=True)
class Challenge:
    """
    Send ``data`` to the client and wait for its response; ``None`` means
    there is nothing to send (the client speaks first and has not yet).
    """

    data: Optional[bytes]


@dataclass(frozen=True)
class Lookup:
    """
    The mechanism needs the stored record of ``authenticationId`` before it
    can go on.
    """

    authenticationId: str


@dataclass(frozen=True)
class Claim:
    """
    The client's complete claim: who it is, who it wants to act as (``None``
    for the same), and, in subclasses, the evidence to check.
    """

    authenticationId: Optional[str]
    authorizationId: Optional[str]


@dataclass(frozen=True)
class Success:
    """
    The exchange succeeded; ``data`` is the server's additional data for the
    client (``<blob status='complete'>``), or ``None``.
    """

    data: Optional[bytes] = None


class ServerMechanism:
    """
    The server side of one exchange.

    :cvar name: the registered mechanism name, e.g. ``"PLAIN"``.
    :cvar serverFirst: whether the server speaks first (CRAM-MD5,
        DIGEST-MD5); the others expect an initial response.
    :cvar revealsPassword: whether the password crosses the wire in a form
        an eavesdropper can use (PLAIN).
    """

    name = None
    serverFirst = False
    revealsPassword = False

    def start(self, initialResponse):
        """
        The exchange begins.

        :param initialResponse: what the client sent with its request to
            start (piggybacked), or ``None``.
        """
        if self.serverFirst:
            if initialResponse:
                raise malformed(f"{self.name} does not take an initial response")
            return self.challenge()
        if initialResponse is None:
            return Challenge(None)
        return self.respond(initialResponse)

    def challenge(self):
        """
        The first challenge of a server-first mechanism.
        """
        raise NotImplementedError

    def respond(self, response):
        """
        The client sent ``response``.
        """
        raise NotImplementedError

    def found(self, record):
        """
        The record asked for by :class:`Lookup`, or ``None`` if there is no
        such user.
        """
        raise SASLError("unexpected lookup result")

    def succeeded(self, secret=None):
        """
        The driver checked the :class:`Claim` and it holds; ``secret`` is
        what the check learnt, for mechanisms whose final message proves the
        server knows it too (DIGEST-MD5, SCRAM).
        """
        return Success()


class ClientMechanism:
    """
    The client side of one exchange.
    """

    name = None
    serverFirst = False

    def initialResponse(self):
        """
        :return: the initial response to send with the request, or ``None``
            for a server-first mechanism.
        """
        return None

    def challenge(self, data):
        """
        Answer the server's challenge.

        :return: the response bytes.
        """
        raise SASLError(f"{self.name} expects no challenge")

    def complete(self, data):
        """
        The server says the exchange succeeded, with additional ``data`` (or
        ``None``); raise :class:`SASLError` if that data does not prove what
        it should.
        """
