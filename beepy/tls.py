# -*- test-case-name: beepy.test.test_tls -*-
"""
The TLS profile (RFC 3080 section 3.1, ``http://iana.org/beep/TLS``) with
Twisted's ``startTLS``: a session secured in place.

Either peer may ask: :meth:`beepy.protocol.BEEPProtocol.startTLS` sends
``<ready />`` and returns a ``Deferred``; the peer that asked becomes the TLS
client, whichever side dialled TCP, and checks the other's certificate with
``service_identity``.  The other peer answers as its :class:`TLSPolicy`
says (the hooks Vortex users know: accept the request, choose the
certificate by ``serverName``, hear that TLS is active).  After the
handshake both peers discard every channel and greet again; the TLS profile
is not offered on the secured session.

:mod:`beepy.core.session` keeps the protocol rules (what may be sent and
received when); this module decides, starts the handshake and keeps time.
"""

from dataclasses import dataclass
from typing import Any, Optional

from twisted.internet import defer
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    ISSLTransport,
    ITLSTransport,
)
from twisted.internet.ssl import CertificateOptions, PrivateCertificate, optionsForClientTLS
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOProtocol
from twisted.python.failure import Failure
from zope.interface import implementer

from beepy.core.codes import ReplyCode
from beepy.core.errors import BEEPError, LocalProtocolError
from beepy.core.management import TLS_URI
from beepy.core.session import Role
from beepy.profile import Profile, ProfileFactory
from beepy.timeouts import clockOf

__all__ = ["TLS_URI", "DEFAULT_TLS_TIMEOUT", "TLSPolicy", "TLSRequest", "TLSTimeout"]

#: Seconds a TLS negotiation may take, from ``<ready />`` to the peer's new
#: greeting.
DEFAULT_TLS_TIMEOUT = 30.0

_log = Logger()

#: RFC 3080 section 4.1: "once any SASL negotiation is successful, a
#: transport security profile must not begin its underlying negotiation".
_AFTER_SASL = "TLS cannot begin once SASL has authenticated the session"


class TLSTimeout(Exception):
    """
    A TLS negotiation did not finish in time: no answer to ``<ready />``, no
    handshake, or no greeting after it.  The session is closed.
    """


@dataclass(frozen=True)
class TLSRequest:
    """
    How to ask the peer for TLS, and how to check it: we become the TLS
    client.

    :ivar serverName: the name the peer's certificate must carry; it also
        goes in the ``<start>`` and as SNI.  By default, the host we are
        connected to (its address).
    :ivar trustRoot: the authorities to trust, as ``optionsForClientTLS``
        takes them (a ``twisted.internet.ssl.Certificate``, or
        ``platformTrust()``, the default).
    :ivar clientCertificate: a ``twisted.internet.ssl.PrivateCertificate``
        to present, if the peer asks for one.
    :ivar verify: ``False`` accepts any certificate: encryption without
        authentication, for tests and pinned setups only.
    :ivar timeout: seconds from ``<ready />`` to the peer's new greeting.
    :ivar piggyback: send ``<ready />`` in the ``<start>`` (what peers do);
        ``False`` starts a TLS channel first and sends it as a message.
    """

    serverName: Optional[str] = None
    trustRoot: Any = None
    clientCertificate: Any = None
    verify: bool = True
    timeout: float = DEFAULT_TLS_TIMEOUT
    piggyback: bool = True

    def connectionCreator(self, serverName):
        """
        :return: the ``IOpenSSLClientConnectionCreator`` for the handshake.
        """
        if not self.verify:
            return _UnverifiedClientTLS(serverName, self.clientCertificate)
        return optionsForClientTLS(serverName, self.trustRoot, self.clientCertificate)


@implementer(IOpenSSLClientConnectionCreator)
class _UnverifiedClientTLS:
    """
    A TLS client that sends SNI but checks nothing (``verify=False``).
    """

    def __init__(self, serverName, clientCertificate):
        self._options = (
            clientCertificate.options() if clientCertificate is not None else CertificateOptions()
        )
        # SNI carries host names only (RFC 6066 section 3), never addresses.
        self._serverName = None
        if serverName and not (isIPAddress(serverName) or isIPv6Address(serverName)):
            self._serverName = serverName.encode("idna")

    def clientConnectionForTLS(self, tlsProtocol):
        connection = self._options.clientConnectionForTLS(tlsProtocol)
        if self._serverName is not None:
            connection.set_tlsext_host_name(self._serverName)
        return connection


class TLSPolicy:
    """
    How a session answers the peer's request for TLS (we become the TLS
    server), and whether it insists on TLS.  Give it to
    :class:`~beepy.factory.BEEPServerFactory` (or to a client factory, to
    let the listener ask) as ``tls=``.

    Subclass and override the hooks for more; each may return a
    ``Deferred``.

    :param certificate: the ``twisted.internet.ssl.PrivateCertificate`` to
        present by default; without one (and no match in
        ``certificates``) requests are refused with 550.
    :param certificates: ``serverName`` -> ``PrivateCertificate``, for
        virtual hosting: the ``serverName`` of the ``<start>`` that carries
        ``<ready />`` chooses the certificate.
    :param clientTrustRoot: require a client certificate from these
        authorities (a ``twisted.internet.ssl.Certificate``, or an
        ``IOpenSSLTrustRoot``); ``None`` asks for none.
    :param requireTLS: greet with the TLS profile alone until the session is
        secured; the other profiles are offered after.
    :param timeout: seconds from our ``<proceed />`` to the peer's new
        greeting.
    """

    def __init__(
        self,
        certificate=None,
        certificates=None,
        clientTrustRoot=None,
        requireTLS=False,
        timeout=DEFAULT_TLS_TIMEOUT,
    ):
        self.certificate = certificate
        self.certificates = dict(certificates or {})
        self.clientTrustRoot = clientTrustRoot
        self.requireTLS = requireTLS
        self.timeout = timeout

    def acceptTLS(self, session, serverName):
        """
        The peer asks for TLS (Vortex: the TLS accept handler).

        :param session: the :class:`~beepy.protocol.BEEPProtocol`.
        :param serverName: the ``serverName`` of the request, or ``None``.
        :return: ``True`` to go ahead, ``False`` to refuse with 421; raise
            :class:`~beepy.BEEPError` to refuse with its code.
        """
        return True

    def certificateFor(self, session, serverName):
        """
        Choose what to present (Vortex: the certificate and key location
        handlers).

        :return: a ``PrivateCertificate``, or ready server TLS options (a
            ``twisted.internet.ssl.CertificateOptions`` or another
            ``IOpenSSLServerConnectionCreator``), or ``None`` to refuse
            with 550.  By default, ``certificates[serverName]``, else
            ``certificate``.
        """
        return self.certificates.get(serverName, self.certificate)

    def tlsStarted(self, session):
        """
        TLS is active on ``session`` (Vortex: the TLS notify handler),
        whichever peer asked: ``session.peerCertificate`` holds the peer's
        certificate, if it sent one.  The session greets again next.
        """

    def serverOptions(self, chosen):
        """
        :return: the server connection creator for what
            :meth:`certificateFor` chose.
        """
        if not isinstance(chosen, PrivateCertificate):
            return chosen
        return CertificateOptions(
            privateKey=chosen.privateKey.original,
            certificate=chosen.original,
            trustRoot=self.clientTrustRoot,
        )


class _TLSProfile(Profile):
    """
    A channel started for the TLS profile without ``<ready />``: the request
    comes as a message on it (RFC 3080 section 3.1); the core reports it as
    a TLS request, anything else is refused here.
    """

    def __init__(self, serverName):
        self.serverName = serverName

    def messageReceived(self, message):
        raise BEEPError(ReplyCode.PARAMETER_SYNTAX_ERROR, "the TLS profile expects <ready />")


class TLSProfileFactory(ProfileFactory):
    """
    Accepts the starts of TLS channels that carry no ``<ready />`` (those
    that do are TLS requests, answered by the session's :class:`TLSPolicy`).
    """

    uri = TLS_URI

    def buildProfile(self, channel, start):
        if start.content:
            raise BEEPError(
                ReplyCode.PARAMETER_SYNTAX_ERROR, "a TLS start carries <ready /> or nothing"
            )
        return _TLSProfile(start.serverName)


def isTLSTransport(transport):
    """
    Whether ``transport`` already runs TLS (an ``ssl:`` endpoint, or after
    ``startTLS``).
    """
    return isinstance(transport, TLSMemoryBIOProtocol) or ISSLTransport.providedBy(transport)


class _Negotiation:
    """
    One TLS negotiation on a session, from ``<ready />`` to the new
    greetings, with its timeout.

    :param session: the :class:`~beepy.protocol.BEEPProtocol`.
    :param creator: the TLS connection creator for our role.
    :param client: whether we asked, and so are the TLS client.
    :ivar deferred: fires with the session once the peer greeted us over
        TLS, or fails with why the negotiation failed.
    """

    def __init__(self, session, creator, client, timeout):
        self.session = session
        self.creator = creator
        self.client = client
        self.timeout = timeout
        self.channel = None  # a TLS channel we opened for the request
        self.deferred = defer.Deferred()
        self._accepting = not client
        self._handshaking = False
        self._failure = None
        self._timer = clockOf(session).callLater(timeout, self._timedOut)
        session._tlsNegotiation = self
        if not client:
            # Nobody waits on the answering side; failures are logged.
            self.deferred.addErrback(lambda failure: None)

    # Called by the session.

    def flushed(self):
        """
        The session wrote what its core queued: send ``<proceed />`` once no
        reply is owed (RFC 3080 section 3.1.3.1), and start the handshake
        once ``<proceed />`` has gone or arrived.
        """
        core = self.session._session
        if self._accepting and not core.repliesOwed:
            self._accepting = False
            self.session._send(lambda core: core.acceptTLS())
        elif core.tlsProceeding and not self._handshaking:
            self._handshaking = True
            self._startHandshake()

    def refused(self, error):
        """
        The peer answered our ``<ready />`` with ``error``; the session goes
        on in the clear.
        """
        _log.info("{peer} refused TLS: {error}", peer=self.session._peer(), error=error)
        self._finish()
        if self.channel is not None:
            self.channel.close()
        self.deferred.errback(error)

    def handshakeCompleted(self):
        self.session._tlsNegotiated()
        greeted = self.session.whenGreeted()
        greeted.addCallback(self._greeted)
        greeted.addErrback(lambda failure: None)  # connectionLost reports it

    def connectionLost(self, reason):
        """
        :return: the reason to give everything else that waited.
        """
        if self._failure is not None:
            reason = self._failure
        _log.error(
            "TLS negotiation with {peer} failed: {reason}",
            peer=self.session._peer(),
            reason=reason.getErrorMessage(),
        )
        self._finish()
        self.deferred.errback(reason)
        return reason

    # Internals.

    def _startHandshake(self):
        # Twisted's startTLS picks the TLS role from the direction of the
        # connection; "normal" says whether ours matches it.
        normal = self.client == (self.session.role is Role.INITIATOR)
        try:
            self.session.transport.startTLS(self.creator, normal)
        except Exception:
            self._failure = Failure()
            self.session.transport.abortConnection()

    def _greeted(self, session):
        self._finish()
        self.deferred.callback(session)

    def _timedOut(self):
        self._timer = None
        self._failure = Failure(TLSTimeout(f"no TLS session after {self.timeout:g} seconds"))
        self.session.transport.abortConnection()

    def _finish(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.session._tlsNegotiation = None


def requestTLS(session, request):
    """
    Ask the peer of ``session`` for TLS as ``request`` says; see
    :meth:`beepy.protocol.BEEPProtocol.startTLS`.
    """
    if session.isSecure:
        return defer.fail(LocalProtocolError("the session is already secured"))
    if session.authentication is not None:
        return defer.fail(LocalProtocolError(_AFTER_SASL))
    if session._tlsNegotiation is not None:
        return defer.fail(LocalProtocolError("a TLS negotiation is already under way"))
    greeted = session.whenGreeted()
    return greeted.addCallback(lambda _: defer.Deferred.fromCoroutine(_request(session, request)))


async def _request(session, request):
    if TLS_URI not in session.peerProfiles:
        raise LocalProtocolError("the peer does not offer TLS")
    if not ITLSTransport.providedBy(session.transport):
        raise LocalProtocolError("this transport cannot start TLS")
    if session._tlsNegotiation is not None:
        raise LocalProtocolError("a TLS negotiation is already under way")
    serverName = request.serverName or getattr(session.transport.getPeer(), "host", None)
    if serverName is None:
        raise ValueError("no serverName to check the peer's certificate against")
    creator = request.connectionCreator(serverName)
    channel = None
    if not request.piggyback:
        channel = await session.openChannel([TLS_URI], serverName=serverName)
    negotiation = _Negotiation(session, creator, True, request.timeout)
    negotiation.channel = channel
    try:
        if channel is None:
            session._send(lambda core: core.requestTLS(serverName))
        else:
            session._send(lambda core: core.requestTLS(number=channel.number))
    except Exception:
        negotiation._finish()
        raise
    return await negotiation.deferred


def answerRequest(session, event):
    """
    The peer sent ``<ready />``: ask the policy, then answer.
    """
    answering = defer.Deferred.fromCoroutine(_answer(session, event))
    answering.addErrback(lambda failure: _log.failure("failed to answer a TLS request", failure))


async def _answer(session, event):
    policy = session.tlsPolicy
    serverName = event.serverName
    channel = session._channels.get(event.number)
    if serverName is None and channel is not None:
        serverName = getattr(channel.profile, "serverName", None)
    creator = None
    try:
        if policy is None:
            raise BEEPError(ReplyCode.REQUESTED_ACTION_NOT_TAKEN, "TLS is not offered")
        if session._tlsNegotiation is not None:
            raise BEEPError(ReplyCode.ACTION_NOT_TAKEN, "a TLS negotiation is already under way")
        if session.authentication is not None:
            raise BEEPError(ReplyCode.REQUESTED_ACTION_NOT_TAKEN, _AFTER_SASL)
        if not await defer.maybeDeferred(policy.acceptTLS, session, serverName):
            raise BEEPError(ReplyCode.SERVICE_NOT_AVAILABLE, "TLS denied")
        chosen = await defer.maybeDeferred(policy.certificateFor, session, serverName)
        if chosen is None:
            raise BEEPError(
                ReplyCode.REQUESTED_ACTION_NOT_TAKEN,
                f"no certificate for {serverName or 'this server'}",
            )
        creator = policy.serverOptions(chosen)
    except BEEPError as e:
        refusal = e
    except Exception:
        _log.failure("the TLS policy failed")
        refusal = BEEPError(ReplyCode.ACTION_ABORTED, "local error in processing")
    if session._lostReason is not None:
        return
    if creator is None:
        _log.info("Refused TLS to {peer}: {error}", peer=session._peer(), error=refusal)
        session._send(lambda core: core.refuseTLS(refusal))
        return
    _Negotiation(session, creator, False, policy.timeout)
    session._flush()
