# -*- test-case-name: beepy.test.test_session -*-
"""
The exceptions of the protocol core.

Two families, kept apart on purpose (as h11 does):

- :class:`BEEPError` is a *reply*: it carries an RFC 3080 section 8 code and
  travels on the wire as ``<error>`` (channel management) or as the payload of
  an ``ERR`` message.  A session survives it.
- :class:`ProtocolError` is a broken *session*: :class:`RemoteProtocolError`
  means the peer sent something RFC 3080 section 2.2.1.1 calls poorly formed,
  and the session must be terminated without a reply;
  :class:`LocalProtocolError` means this side's code asked for something the
  protocol does not allow, and nothing was sent.
"""

from beepy.core.codes import ReplyCode

__all__ = [
    "BEEPError",
    "ProtocolError",
    "RemoteProtocolError",
    "LocalProtocolError",
    "SessionReset",
]


class BEEPError(Exception):
    """
    A coded refusal: an ``<error>`` element or an ``ERR`` reply.

    :ivar code: the :class:`ReplyCode` (or, for codes outside RFC 3080 section
        8 that a peer sent, the plain ``int``).
    :ivar text: the diagnostic text, possibly empty.
    :ivar lang: the ``xml:lang`` of ``text``, or ``None``.
    """

    def __init__(self, code=ReplyCode.TRANSACTION_FAILED, text="", lang=None):
        try:
            code = ReplyCode(code)
        except ValueError:
            code = int(code)
        text = str(text)
        super().__init__(code, text)
        self.code = code
        self.text = text
        self.lang = lang

    def __str__(self):
        code = int(self.code)
        return f"{code} {self.text}" if self.text else str(code)

    def __repr__(self):
        return f"{type(self).__name__}({int(self.code)}, {self.text!r})"

    def __eq__(self, other):
        if not isinstance(other, BEEPError):
            return NotImplemented
        return (int(self.code), self.text, self.lang) == (
            int(other.code),
            other.text,
            other.lang,
        )

    __hash__ = Exception.__hash__


class ProtocolError(Exception):
    """
    A rule of RFC 3080 or RFC 3081 was broken; the subclass says by whom.
    """


class RemoteProtocolError(ProtocolError):
    """
    The peer sent a poorly formed frame or an impossible management reply: the
    session must be terminated, without a response (RFC 3080 section
    2.2.1.1).
    """


class LocalProtocolError(ProtocolError, ValueError):
    """
    This side asked the session for something the protocol forbids (a message
    on a closed channel, a reply for a message never received, ...).  Nothing
    was sent; the session is unharmed.
    """


class SessionReset(Exception):
    """
    A tuning reset (RFC 3080 section 3: TLS, or a SASL security layer)
    discarded every channel and message of the session, which started over
    with new greetings.  What was in flight fails with this.
    """
