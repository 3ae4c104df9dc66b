# -*- test-case-name: beepy.test.test_sasl_mechanisms -*-
"""
PLAIN (RFC 4616): the client sends ``authzid NUL authcid NUL passwd`` in
one message.  The password crosses the wire as it is, so it belongs on
encrypted sessions only.
"""

from dataclasses import dataclass

from beepy.core.sasl.base import (
    Claim,
    ClientMechanism,
    SASLError,
    ServerMechanism,
    malformed,
    utf8,
)
from beepy.core.sasl.saslprep import saslprep

__all__ = ["PlainClaim", "PlainServer", "PlainClient", "MAX_FIELD"]

#: The longest authzid, authcid or password we take, in octets (RFC 4616
#: asks for at least 255).
MAX_FIELD = 1024


@dataclass(frozen=True)
class PlainClaim(Claim):
    """
    :ivar password: the password, SASLprep-ed.
    """

    password: str


class PlainServer(ServerMechanism):
    name = "PLAIN"
    revealsPassword = True

    def __init__(self):
        self._answered = False

    def respond(self, response):
        if self._answered:
            raise SASLError("PLAIN takes a single message")
        self._answered = True
        fields = response.split(b"\0")
        if len(fields) != 3:
            raise malformed("a PLAIN message is authzid NUL authcid NUL passwd")
        if any(len(field) > MAX_FIELD for field in fields):
            raise malformed(f"PLAIN fields are limited to {MAX_FIELD} octets")
        authzid, authcid, password = (
            utf8(field, name) for field, name in zip(fields, ("authzid", "authcid", "passwd"))
        )
        if not authcid or not password:
            raise malformed("PLAIN needs an authcid and a password")
        return PlainClaim(saslprep(authcid), authzid or None, saslprep(password))


class PlainClient(ClientMechanism):
    name = "PLAIN"

    def __init__(self, authenticationId, password, authorizationId=None):
        self._message = "\0".join(
            [authorizationId or "", saslprep(authenticationId), saslprep(password)]
        ).encode("utf-8")

    def initialResponse(self):
        return self._message
