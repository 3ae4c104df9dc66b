# -*- test-case-name: beepy.test.test_sasl_mechanisms -*-
"""
EXTERNAL (RFC 4422 appendix A): the identity comes from outside SASL, here
the TLS client certificate; the client only says which authorization
identity it wants (or nothing, for the one its certificate stands for).
"""

from beepy.core.sasl.base import Claim, ClientMechanism, SASLError, ServerMechanism, malformed, utf8

__all__ = ["ExternalServer", "ExternalClient", "MAX_AUTHZID"]

MAX_AUTHZID = 1024


class ExternalServer(ServerMechanism):
    name = "EXTERNAL"

    def __init__(self):
        self._answered = False

    def respond(self, response):
        if self._answered:
            raise SASLError("EXTERNAL takes a single message")
        self._answered = True
        if len(response) > MAX_AUTHZID:
            raise malformed(f"the authorization id is limited to {MAX_AUTHZID} octets")
        authzid = utf8(response, "the authorization id")
        if "\0" in authzid:
            raise malformed("the authorization id holds NUL")
        return Claim(None, authzid or None)


class ExternalClient(ClientMechanism):
    name = "EXTERNAL"

    def __init__(self, authorizationId=None):
        self._authzid = (authorizationId or "").encode("utf-8")

    def initialResponse(self):
        return self._authzid
