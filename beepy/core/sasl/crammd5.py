# -*- test-case-name: beepy.test.test_sasl_mechanisms -*-
"""
CRAM-MD5 (RFC 2195): the server sends a unique challenge in the form of a
message id, the client answers with its user name and
``HMAC-MD5(password, challenge)`` in lower-case hex.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from beepy.core.sasl.base import (
    Challenge,
    Claim,
    ClientMechanism,
    SASLError,
    ServerMechanism,
    malformed,
    utf8,
)

__all__ = ["CramMD5Claim", "CramMD5Server", "CramMD5Client", "digest"]

_HEX = frozenset(b"0123456789abcdef")


def digest(password, challenge):
    """
    The CRAM-MD5 digest of ``challenge`` keyed with ``password`` (``bytes``
    or ``str``, taken as UTF-8), as lower-case hex ``bytes``.
    """
    if isinstance(password, str):
        password = password.encode("utf-8")
    return hmac.new(password, challenge, hashlib.md5).hexdigest().encode("ascii")


@dataclass(frozen=True)
class CramMD5Claim(Claim):
    """
    :ivar challenge: the challenge we sent.
    :ivar response: the client's digest, lower-case hex ``bytes``.
    """

    challenge: bytes
    response: bytes

    def checkPassword(self, password):
        return hmac.compare_digest(digest(password, self.challenge), self.response)


class CramMD5Server(ServerMechanism):
    """
    :param hostname: the host name in the challenge.
    :param challenge: the challenge to send; a fresh random one by default.
    """

    name = "CRAM-MD5"
    serverFirst = True

    def __init__(self, hostname="localhost", challenge=None):
        if challenge is None:
            challenge = f"<{secrets.randbelow(10**18)}.{secrets.randbelow(10**9)}@{hostname}>"
            challenge = challenge.encode("utf-8")
        self._challenge = challenge
        self._answered = False

    def challenge(self):
        return Challenge(self._challenge)

    def respond(self, response):
        if self._answered:
            raise SASLError("CRAM-MD5 takes a single response")
        self._answered = True
        username, space, hexDigest = response.rpartition(b" ")
        if not space or not username:
            raise malformed("a CRAM-MD5 response is the user name, a space and the digest")
        if len(hexDigest) != 32 or not set(hexDigest) <= _HEX:
            raise malformed("the CRAM-MD5 digest is 32 lower-case hex digits")
        return CramMD5Claim(utf8(username, "the user name"), None, self._challenge, hexDigest)


class CramMD5Client(ClientMechanism):
    name = "CRAM-MD5"
    serverFirst = True

    def __init__(self, username, password):
        self._username = username.encode("utf-8")
        self._password = password
        self._answered = False

    def challenge(self, data):
        if self._answered:
            raise SASLError("CRAM-MD5 has a single challenge")
        self._answered = True
        return self._username + b" " + digest(self._password, data)
