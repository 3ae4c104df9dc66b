# -*- test-case-name: beepy.test.test_sasl_mechanisms -*-
"""
ANONYMOUS (RFC 4505): no identity at all, only optional trace information
(an email address or an opaque token) for the server's logs.
"""

from dataclasses import dataclass
from typing import Optional

from beepy.core.sasl.base import Claim, ClientMechanism, SASLError, ServerMechanism, malformed, utf8

__all__ = ["AnonymousClaim", "AnonymousServer", "AnonymousClient", "MAX_TRACE"]

#: RFC 4505 section 2: the trace is at most 255 characters.
MAX_TRACE = 255


@dataclass(frozen=True)
class AnonymousClaim(Claim):
    """
    :ivar trace: the client's trace information, or ``None``.
    """

    trace: Optional[str]


class AnonymousServer(ServerMechanism):
    name = "ANONYMOUS"

    def __init__(self):
        self._answered = False

    def respond(self, response):
        if self._answered:
            raise SASLError("ANONYMOUS takes a single message")
        self._answered = True
        trace = utf8(response, "the trace")
        if len(trace) > MAX_TRACE:
            raise malformed(f"the trace is limited to {MAX_TRACE} characters")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in trace):
            raise malformed("the trace holds control characters")
        return AnonymousClaim(None, None, trace or None)


class AnonymousClient(ClientMechanism):
    name = "ANONYMOUS"

    def __init__(self, trace=""):
        self._trace = trace.encode("utf-8")

    def initialResponse(self):
        return self._trace
