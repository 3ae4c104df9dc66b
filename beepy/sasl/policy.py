# -*- test-case-name: beepy.test.test_sasl -*-
"""
The listener's SASL policy: which mechanisms it offers and when, how many
failures a session gets, which profiles need authentication, who may act as
whom, and whom to tell about each outcome.
"""

import secrets
import weakref
from dataclasses import dataclass
from typing import Any, Optional

from twisted.cred.credentials import IAnonymous, IUsernameHashedPassword, IUsernamePassword

from beepy.core.codes import ReplyCode
from beepy.core.errors import BEEPError
from beepy.core.sasl.anonymous import AnonymousServer
from beepy.core.sasl.base import SASLError
from beepy.core.sasl.crammd5 import CramMD5Server
from beepy.core.sasl.digestmd5 import DigestMD5Server
from beepy.core.sasl.external import ExternalServer
from beepy.core.sasl.otp import OTPServer
from beepy.core.sasl.plain import PlainServer
from beepy.core.sasl.scram import SCRAMServer
from beepy.interfaces import IBEEPAvatar
from beepy.sasl.cred import (
    IDigestMD5Credentials,
    IExternalCredentials,
    IOTPCredentials,
    IOTPDatabase,
    ISCRAMCredentials,
    ISCRAMKeyStore,
)
from beepy.sasl.transport import isEncrypted

__all__ = [
    "SASL_URI",
    "MECHANISMS",
    "mechanismURI",
    "Authentication",
    "AuthenticationStatus",
    "SASLPolicy",
]

#: Every SASL profile's URI is this followed by the mechanism name.
SASL_URI = "http://iana.org/beep/SASL/"

#: The mechanisms beepy implements, strongest first (the order a client
#: picks in).
MECHANISMS = (
    "SCRAM-SHA-256",
    "SCRAM-SHA-1",
    "DIGEST-MD5",
    "CRAM-MD5",
    "OTP",
    "PLAIN",
    "EXTERNAL",
    "ANONYMOUS",
)

#: Mechanisms that need an encrypted session: PLAIN sends the password as it
#: is, EXTERNAL takes the identity from the TLS client certificate.
_NEEDS_ENCRYPTION = {"PLAIN": True, "EXTERNAL": True}


def mechanismURI(name):
    return SASL_URI + name


def _hasChecker(portal, interface, store=None):
    checker = portal.checkers.get(interface)
    return checker is not None and (store is None or store.providedBy(checker))


def _checkable(portal, name):
    """
    Whether ``portal`` has a checker for what mechanism ``name`` produces.
    """
    hashed = _hasChecker(portal, IUsernameHashedPassword)
    return {
        "ANONYMOUS": _hasChecker(portal, IAnonymous),
        "PLAIN": _hasChecker(portal, IUsernamePassword),
        "CRAM-MD5": hashed,
        "DIGEST-MD5": hashed or _hasChecker(portal, IDigestMD5Credentials),
        "OTP": _hasChecker(portal, IOTPCredentials, IOTPDatabase),
        "SCRAM-SHA-1": hashed or _hasChecker(portal, ISCRAMCredentials, ISCRAMKeyStore),
        "SCRAM-SHA-256": hashed or _hasChecker(portal, ISCRAMCredentials, ISCRAMKeyStore),
        "EXTERNAL": _hasChecker(portal, IExternalCredentials),
    }[name]


@dataclass(frozen=True)
class Authentication:
    """
    A session's identity after a successful SASL exchange.

    :ivar mechanism: e.g. ``"SCRAM-SHA-256"``.
    :ivar authenticatedId: who the peer proved to be (a ``str``); ``None``
        for ANONYMOUS, and on the client side of EXTERNAL.
    :ivar authorizationId: who the peer acts as: the identity it asked for,
        else the authenticated one.
    :ivar avatar: what the ``twisted.cred`` realm returned (listener side
        only).
    :ivar trace: ANONYMOUS's trace information, if any.
    """

    mechanism: str
    authenticatedId: Optional[str]
    authorizationId: Optional[str]
    avatar: Any = None
    trace: Optional[str] = None


@dataclass(frozen=True)
class AuthenticationStatus:
    """
    The outcome of one exchange, as told to
    :attr:`SASLPolicy.statusChanged`.

    :ivar authentication: the :class:`Authentication` on success.
    :ivar error: the :class:`beepy.BEEPError` sent to the peer on failure.
    :ivar failures: the session's failed exchanges so far.
    """

    session: Any
    mechanism: str
    authentication: Optional[Authentication]
    error: Optional[BEEPError]
    failures: int

    @property
    def succeeded(self):
        return self.authentication is not None


class _SessionState:
    def __init__(self):
        self.failures = 0
        self.exchange = None


class SASLPolicy:
    """
    How a listener runs SASL.  Pass one to
    :class:`beepy.BEEPServerFactory` (``sasl=``).

    :param portal: the ``twisted.cred`` portal that checks credentials and
        makes avatars.
    :param mechanisms: the mechanism names to offer; by default every one the
        portal has a checker for.
    :param allowPlaintext: offer PLAIN on unencrypted sessions too.
    :param maxFailures: failed exchanges a session gets; after the last the
        connection is dropped.
    :param statusChanged: called with an :class:`AuthenticationStatus` after
        every exchange, success or failure.
    :param requireAuthentication: the profile URIs that may only start once
        the session is authenticated (ERR 530 before): a collection, or a
        callable ``(uri, session) -> bool``.
    :param hideUnauthenticated: leave those profiles out of the greeting
        too (a session greets once, before it authenticates).
    :param interfaces: the avatar interfaces asked of the realm.
    :param hostname: the host name in CRAM-MD5 challenges.
    :param realm: the DIGEST-MD5 realm.
    :param beepcore: accept OTP answers counted as beepcore-java counts.
    :param clock: an ``IReactorTime`` used to drop a session after its last
        failure once the refusal has been written; the global reactor by
        default.
    """

    def __init__(
        self,
        portal,
        mechanisms=None,
        allowPlaintext=False,
        maxFailures=3,
        statusChanged=None,
        requireAuthentication=(),
        hideUnauthenticated=False,
        interfaces=(IBEEPAvatar,),
        hostname="localhost",
        realm="",
        beepcore=False,
        clock=None,
    ):
        if mechanisms is None:
            mechanisms = [name for name in MECHANISMS if _checkable(portal, name)]
        mechanisms = tuple(mechanisms)
        for name in mechanisms:
            if name not in MECHANISMS:
                raise ValueError(f"unknown SASL mechanism {name!r}")
            if not _checkable(portal, name):
                raise ValueError(f"the portal has no checker for what {name} produces")
        if maxFailures < 1:
            raise ValueError("maxFailures must be at least 1")
        self.portal = portal
        self.mechanisms = mechanisms
        self.allowPlaintext = allowPlaintext
        self.maxFailures = maxFailures
        self.statusChanged = statusChanged
        self.interfaces = tuple(interfaces)
        self.hostname = hostname
        self.realm = realm
        self.beepcore = beepcore
        self._requireAuthentication = requireAuthentication
        self.hideUnauthenticated = hideUnauthenticated
        self._clock = clock
        self._sessions = weakref.WeakKeyDictionary()
        # Keys the salts offered when a checker knows passwords, not salts.
        self.saltKey = secrets.token_bytes(32)

    @property
    def clock(self):
        if self._clock is None:
            from twisted.internet import reactor

            self._clock = reactor
        return self._clock

    def state(self, session):
        """
        The SASL bookkeeping of one session.
        """
        state = self._sessions.get(session)
        if state is None:
            state = self._sessions[session] = _SessionState()
        return state

    def needsEncryption(self, name):
        if name == "PLAIN":
            return not self.allowPlaintext
        return _NEEDS_ENCRYPTION.get(name, False)

    def advertises(self, session, name):
        """
        Whether the greeting of ``session`` offers mechanism ``name``.
        """
        return name in self.mechanisms and (not self.needsEncryption(name) or isEncrypted(session))

    def withheldProfiles(self, session, offered=()):
        """
        The URIs this session's greeting leaves out: mechanisms it may not
        use (their starts are still answered, with 538) and, with
        ``hideUnauthenticated``, the profiles that need authentication
        (they start once it is done, though the greeting cannot say so).

        :param offered: the URIs the greeting would otherwise list.
        """
        withheld = [
            mechanismURI(name) for name in self.mechanisms if not self.advertises(session, name)
        ]
        if self.hideUnauthenticated:
            withheld += [uri for uri in offered if self.requiresAuthentication(uri, session)]
        return withheld

    def checkStart(self, session, name):
        """
        Refuse a start of mechanism ``name`` that policy forbids.

        :raises BEEPError: 550 on an authenticated session or while another
            exchange runs, 538 for a mechanism that needs encryption.
        """
        state = self.state(session)
        if session.authentication is not None:
            raise SASLError(
                "the session is already authenticated", ReplyCode.REQUESTED_ACTION_NOT_TAKEN
            )
        if state.exchange is not None:
            raise SASLError(
                "another SASL exchange is in progress", ReplyCode.REQUESTED_ACTION_NOT_TAKEN
            )
        if state.failures >= self.maxFailures:
            raise SASLError(
                "too many authentication failures", ReplyCode.REQUESTED_ACTION_NOT_TAKEN
            )
        if self.needsEncryption(name) and not isEncrypted(session):
            raise SASLError(
                f"{name} needs an encrypted session",
                ReplyCode.AUTHENTICATION_MECHANISM_REQUIRES_ENCRYPTION,
            )

    def requiresAuthentication(self, uri, session):
        """
        Whether a channel of profile ``uri`` may only start on an
        authenticated session.
        """
        if callable(self._requireAuthentication):
            return bool(self._requireAuthentication(uri, session))
        return uri in self._requireAuthentication

    def buildMechanism(self, name):
        """
        The server state machine (from :mod:`beepy.core.sasl`) for one
        exchange of mechanism ``name``.
        """
        if name.startswith("SCRAM-"):
            return SCRAMServer(name)
        if name == "CRAM-MD5":
            return CramMD5Server(self.hostname)
        if name == "DIGEST-MD5":
            return DigestMD5Server(self.realm)
        if name == "OTP":
            return OTPServer(self.beepcore)
        return {"ANONYMOUS": AnonymousServer, "PLAIN": PlainServer, "EXTERNAL": ExternalServer}[
            name
        ]()

    def mayAuthorize(self, session, authenticatedId, authorizationId):
        """
        Whether ``authenticatedId`` may act as ``authorizationId``.  By
        default only as itself; override (or use a realm that looks at the
        ``mind``) to allow proxies.
        """
        return authorizationId is None or authorizationId == authenticatedId
