# -*- test-case-name: beepy.test.test_sasl -*-
"""
The listening side of SASL: one profile factory per offered mechanism, and
an exchange on each SASL channel that drives the mechanism's state machine,
asks ``twisted.cred`` to check what the client claims, and makes the avatar
the session's identity.

On the wire (RFC 3080 section 4.1), as Vortex does it:

- an initial response piggybacked on ``<start>`` is answered in the start
  reply (``<blob status='complete' />`` for PLAIN); a failure there refuses
  the start with ``ERR`` and ``<error code='535'>``;
- later steps are ``MSG``/``RPY`` pairs carrying ``<blob>``; a failure is an
  ``ERR`` with ``<error>`` (Vortex sends that ``<error>`` in an ``RPY``;
  Vortex's own client reads either).
"""

from collections import namedtuple
from dataclasses import dataclass
from typing import Any, Optional

from twisted.cred.credentials import Anonymous, UsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from beepy.core.codes import ReplyCode
from beepy.core.errors import BEEPError
from beepy.core.management import BEEP_XML
from beepy.core.mime import Message
from beepy.core.sasl.base import Challenge, Claim, Lookup, SASLError, Success
from beepy.core.sasl.blob import ABORT, COMPLETE, Blob, encodeBlob, parseBlob
from beepy.core.sasl.scram import DEFAULT_ITERATIONS
from beepy.interfaces import IProfile, IProfileFactory
from beepy.sasl.cred import (
    CramMD5Credentials,
    DigestMD5Credentials,
    ExternalCredentials,
    IOTPCredentials,
    ISCRAMCredentials,
    ISCRAMKeyStore,
    OTPCredentials,
    SCRAMCredentials,
    SCRAMPasswordCredentials,
    _bytes,
    _saltFor,
    _text,
)
from beepy.sasl.policy import Authentication, AuthenticationStatus, mechanismURI
from beepy.sasl.transport import peerCertificate

__all__ = ["SASLProfileFactory", "AuthenticationGuard", "SASLMind"]

_Salt = namedtuple("_Salt", "salt iterations")


@dataclass(frozen=True)
class SASLMind:
    """
    The ``mind`` a realm is given: the session, the mechanism, and who the
    client asked to act as (so a realm can make that identity's avatar).
    """

    session: Any
    mechanism: str
    authorizationId: Optional[str]


def _reply(blob):
    return Message(encodeBlob(blob), contentType=BEEP_XML)


@implementer(IProfileFactory)
class SASLProfileFactory:
    """
    Offers one SASL mechanism under ``http://iana.org/beep/SASL/<name>``.
    """

    def __init__(self, policy, name):
        self.policy = policy
        self.name = name
        self.uri = mechanismURI(name)

    def buildProfile(self, channel, start):
        exchange = ServerExchange(self.policy, self.name, channel)
        return defer.Deferred.fromCoroutine(exchange.begin(start))


@implementer(IProfileFactory)
class AuthenticationGuard:
    """
    An application profile that only starts on an authenticated session:
    before, its starts are refused with 530.
    """

    def __init__(self, policy, factory):
        self.policy = policy
        self.factory = factory
        self.uri = factory.uri

    def buildProfile(self, channel, start):
        session = channel.session
        if session.authentication is None and self.policy.requiresAuthentication(self.uri, session):
            raise BEEPError(ReplyCode.AUTHENTICATION_REQUIRED, "authentication required")
        return self.factory.buildProfile(channel, start)


@implementer(IProfile)
class ServerExchange:
    """
    One SASL exchange on one channel.
    """

    _log = Logger()

    def __init__(self, policy, name, channel):
        self.mechanism = name
        self._policy = policy
        self._channel = channel
        self._session = channel.session
        self._state = policy.state(self._session)
        self._mech = policy.buildMechanism(name)
        self._fromKeyStore = False
        self._claimed = None
        self._busy = False
        self._over = False

    # -- IProfile -----------------------------------------------------------

    def messageReceived(self, message):
        if self._over:
            raise BEEPError(ReplyCode.REQUESTED_ACTION_NOT_TAKEN, "this SASL exchange is over")
        if self._busy:
            raise BEEPError(ReplyCode.REQUESTED_ACTION_NOT_TAKEN, "one SASL message at a time")
        return defer.Deferred.fromCoroutine(self._step(message.body))

    def closeRequested(self, code, text):
        return True

    def channelClosed(self, reason):
        if self._state.exchange is self:
            self._state.exchange = None
        self._over = True

    # -- The exchange -------------------------------------------------------

    async def begin(self, start):
        """
        Answer the channel start: refuse it (raising :class:`BEEPError`) or
        return this exchange as the channel's profile, with the first answer
        piggybacked on the reply.
        """
        self._policy.checkStart(self._session, self.mechanism)
        self._state.exchange = self
        self._busy = True
        try:
            initial = None if start.content is None else self._received(start.content)
            outcome = await self._drive(self._mech.start(initial))
        except Exception as e:
            raise self._failed(e) from None
        finally:
            self._busy = False
        if isinstance(outcome, Challenge) and outcome.data is None:
            start.replyContent = None
        else:
            start.replyContent = encodeBlob(self._blob(outcome))
        return self

    async def _step(self, body):
        self._busy = True
        try:
            outcome = await self._drive(self._mech.respond(self._received(body)))
        except Exception as e:
            raise self._failed(e) from None
        finally:
            self._busy = False
        return _reply(self._blob(outcome))

    def _received(self, data):
        blob = parseBlob(data)
        if isinstance(blob, BEEPError) or blob.status == ABORT:
            raise SASLError("the client aborted the exchange")
        return blob.data

    def _blob(self, outcome):
        if isinstance(outcome, Success):
            return Blob(outcome.data or b"", COMPLETE)
        return Blob(outcome.data or b"")

    async def _drive(self, outcome):
        while True:
            if isinstance(outcome, Lookup):
                outcome = self._mech.found(await self._lookup(outcome.authenticationId))
            elif isinstance(outcome, Claim):
                self._claimed = outcome
                outcome = self._mech.succeeded(await self._login(outcome))
            else:
                if isinstance(outcome, Success):
                    self._succeeded()
                return outcome

    async def _lookup(self, username):
        checkers = self._policy.portal.checkers
        if self.mechanism.startswith("SCRAM-"):
            store = checkers.get(ISCRAMCredentials)
            if store is not None and ISCRAMKeyStore.providedBy(store):
                self._fromKeyStore = True
                return await defer.maybeDeferred(store.scramKeys, _bytes(username), self.mechanism)
            return _Salt(_saltFor(self._policy.saltKey, username), DEFAULT_ITERATIONS)
        database = checkers[IOTPCredentials]
        return await defer.maybeDeferred(database.otpState, _bytes(username))

    def _credentials(self, claim):
        name = self.mechanism
        if name == "PLAIN":
            return UsernamePassword(_bytes(claim.authenticationId), _bytes(claim.password))
        if name == "ANONYMOUS":
            return Anonymous()
        if name == "CRAM-MD5":
            return CramMD5Credentials(claim)
        if name == "DIGEST-MD5":
            return DigestMD5Credentials(claim)
        if name == "OTP":
            return OTPCredentials(claim)
        if name == "EXTERNAL":
            certificate = peerCertificate(self._session)
            if certificate is None:
                raise SASLError("EXTERNAL needs a TLS client certificate")
            return ExternalCredentials(certificate, claim.authorizationId)
        if self._fromKeyStore:
            return SCRAMCredentials(claim, name)
        return SCRAMPasswordCredentials(claim)

    async def _login(self, claim):
        """
        Check ``claim`` through the portal; remember the identity and
        avatar; return the secret the check learnt, for the final message.
        """
        credentials = self._credentials(claim)
        mind = SASLMind(self._session, self.mechanism, claim.authorizationId)
        _, avatar, logout = await self._policy.portal.login(
            credentials, mind, *self._policy.interfaces
        )
        if self.mechanism == "EXTERNAL":
            authenticatedId = _text(getattr(avatar, "avatarId", None) or b"") or None
            if authenticatedId is None:
                authenticatedId = _text(credentials.certificate.get_subject().commonName or "")
        else:
            authenticatedId = claim.authenticationId
        authorizationId = claim.authorizationId or authenticatedId
        if not self._policy.mayAuthorize(self._session, authenticatedId, claim.authorizationId):
            logout()
            raise SASLError(f"{authenticatedId} may not act as {claim.authorizationId}")
        self._identity = Authentication(
            self.mechanism,
            authenticatedId,
            authorizationId,
            avatar,
            getattr(claim, "trace", None),
        )
        self._session.notifyClose().addCallback(lambda _: logout())
        return getattr(credentials, "secret", None)

    def _succeeded(self):
        self._over = True
        self._state.exchange = None
        self._session.authentication = self._identity
        self._log.info(
            "{peer} authenticated with SASL {mechanism} as {identity}",
            beepEvent="authenticated",
            peer=self._peer(),
            mechanism=self.mechanism,
            identity=self._identity.authenticatedId,
        )
        self._report(self._identity, None)

    def _failed(self, exception):
        """
        Account for a failed exchange and turn ``exception`` into the error
        the peer hears; never a password in the log or on the wire.
        """
        self._over = True
        self._state.exchange = None
        if isinstance(exception, UnauthorizedLogin):
            error = SASLError("authentication failure")
        elif isinstance(exception, BEEPError):
            error = exception
        else:
            self._log.failure(
                "SASL {mechanism} check failed",
                mechanism=self.mechanism,
            )
            error = SASLError(
                "temporary authentication failure", ReplyCode.TEMPORARY_AUTHENTICATION_FAILURE
            )
        self._state.failures += 1
        who = getattr(self._claimed, "authenticationId", None)
        self._log.warn(
            "SASL {mechanism} authentication{who} from {peer} failed ({failures} of {limit}): {error}",
            beepEvent="authenticationFailed",
            mechanism=self.mechanism,
            who=f" of {who!r}" if who else "",
            peer=self._peer(),
            failures=self._state.failures,
            limit=self._policy.maxFailures,
            error=error,
        )
        self._report(None, error)
        if self._state.failures >= self._policy.maxFailures:
            self._log.warn("Dropping {peer}: too many authentication failures", peer=self._peer())
            self._policy.clock.callLater(0, self._session.disconnect)
        return error

    def _report(self, authentication, error):
        hook = self._policy.statusChanged
        if hook is None:
            return
        status = AuthenticationStatus(
            self._session, self.mechanism, authentication, error, self._state.failures
        )
        try:
            hook(status)
        except Exception:
            self._log.failure("the SASL status hook failed")

    def _peer(self):
        return self._session._peer()
