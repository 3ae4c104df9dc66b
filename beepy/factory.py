# -*- test-case-name: beepy.test.test_protocol -*-
"""
Factories that build :class:`beepy.protocol.BEEPProtocol` sessions: one for
the listening side, one for the initiating side.
"""

from twisted.internet.protocol import Factory

from beepy.core.codes import ReplyCode
from beepy.core.errors import BEEPError
from beepy.core.session import Role, SessionConfig
from beepy.interfaces import IProfileFactory
from beepy.protocol import BEEPProtocol
from beepy.timeouts import DEFAULT_FRAME_TIMEOUT, DEFAULT_GREETING_TIMEOUT
from beepy.trace import traceSession

__all__ = ["BEEPServerFactory", "BEEPClientFactory"]


class _BEEPFactory(Factory):
    """
    :param profiles: the :class:`beepy.interfaces.IProfileFactory` providers
        to offer in the greeting and to start channels with.
    :param config: the session's :class:`beepy.core.session.SessionConfig`.
    :param features: the greeting's ``features`` attribute, if any.
    :param localize: the greeting's ``localize`` attribute, if any.
    :param sasl: a :class:`beepy.sasl.SASLPolicy` to offer SASL mechanisms
        (and guard the profiles it says need authentication), or ``None``.
    :param tls: a :class:`beepy.tls.TLSPolicy` to offer TLS and answer the
        peer's requests for it; without one, TLS is not offered (a session
        may still ask the peer for it).
    :param clock: what keeps time for TLS timeouts and the three below (an
        ``IReactorTime``); the global reactor by default.
    :param greetingTimeout: seconds from the connection to the peer's
        greeting (``None``: no limit).
    :param idleTimeout: seconds without an octet in or out, while we owe
        the peer no reply, before the session is closed (``None``: no
        limit).  See :class:`beepy.timeouts.SessionTimeouts` for why a reply
        we owe stops the count and one we await does not.
    :param frameTimeout: seconds a frame may take from its first octet to
        its last (``None``: no limit), so that a peer trickling octets,
        each of which resets the idle count, is still dropped.
    :param trace: to trace every frame of each session: called with each
        new session, it returns the :class:`beepy.trace.IFrameObserver` to
        report that session's frames to (see :mod:`beepy.trace`).
    :param maxConnections: for a server, the sessions served at once, or
        ``None`` for no limit (see :class:`BEEPServerFactory`).

    When a timeout runs out the session is dropped and its pending
    ``Deferred``\\ s fail with :class:`beepy.SessionTimeout`.
    """

    protocol = BEEPProtocol
    role = None

    def __init__(
        self,
        profiles=(),
        config=SessionConfig(),
        features=None,
        localize=None,
        sasl=None,
        tls=None,
        clock=None,
        greetingTimeout=DEFAULT_GREETING_TIMEOUT,
        idleTimeout=None,
        frameTimeout=DEFAULT_FRAME_TIMEOUT,
        trace=None,
        maxConnections=None,
    ):
        if maxConnections is not None and (self.role is not Role.LISTENER or maxConnections < 1):
            raise ValueError("maxConnections is a positive number of sessions a server serves")
        self.profiles = list(profiles)
        for profile in self.profiles:
            if not IProfileFactory.providedBy(profile):
                raise TypeError(f"{profile!r} does not provide IProfileFactory")
        self.sasl = sasl
        if sasl is not None:
            from beepy.sasl.server import AuthenticationGuard, SASLProfileFactory

            self.profiles = [SASLProfileFactory(sasl, name) for name in sasl.mechanisms] + [
                AuthenticationGuard(sasl, profile) for profile in self.profiles
            ]
        uris = [profile.uri for profile in self.profiles]
        if len(set(uris)) != len(uris):
            raise ValueError("two profile factories share a URI")
        self.config = config
        self.features = features
        self.localize = localize
        self.tls = tls
        self.clock = clock
        self.greetingTimeout = greetingTimeout
        self.idleTimeout = idleTimeout
        self.frameTimeout = frameTimeout
        self.trace = trace
        self.maxConnections = maxConnections

    def buildProtocol(self, addr):
        protocol = self.protocol(self.role, self.profiles, self.config, self.features, self.localize)
        protocol.factory = self
        protocol.saslPolicy = self.sasl
        protocol.tlsPolicy = self.tls
        protocol.clock = self.clock
        protocol.greetingTimeout = self.greetingTimeout
        protocol.idleTimeout = self.idleTimeout
        protocol.frameTimeout = self.frameTimeout
        if self.trace is not None:
            traceSession(protocol, self.trace(protocol))
        return protocol


class BEEPServerFactory(_BEEPFactory):
    """
    Builds the listening side of each accepted connection.

    With ``maxConnections``, a connection beyond that many sessions gets
    ``<error code='421'>`` in place of a greeting (RFC 3080 section 2.4)
    and is closed; each session that ends makes room.
    """

    role = Role.LISTENER
    #: The sessions being served now.
    connections = 0

    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        if self.maxConnections is not None and self.connections >= self.maxConnections:
            protocol.sessionRefusal = BEEPError(
                ReplyCode.SERVICE_NOT_AVAILABLE,
                f"the server is serving its limit of {self.maxConnections} sessions",
            )
            return protocol
        self.connections += 1
        protocol.notifyClose().addCallback(self._connectionEnded)
        return protocol

    def _connectionEnded(self, reason):
        self.connections -= 1


class BEEPClientFactory(_BEEPFactory):
    """
    Builds the initiating side of a connection we open.
    """

    role = Role.INITIATOR
