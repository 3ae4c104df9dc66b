# -*- test-case-name: beepy.test.test_sasl_tls -*-
"""
SASL over real TLS on loopback sockets, from the first byte: EXTERNAL with
and without a client certificate, PLAIN offered and used over TLS, and
refused over plain TCP.  The certificates are made for each test
(:mod:`beepy.testing.certificates`).
"""

from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
from twisted.cred.portal import Portal
from twisted.internet import defer, endpoints, reactor, ssl
from twisted.trial.unittest import TestCase

from beepy import BEEPError, BEEPServerFactory, ReplyCode, connectBEEP
from beepy.profiles.echo import ECHO_URI, EchoFactory
from beepy.sasl import AvatarIdRealm, ClientCertificateChecker, SASLPolicy, mechanismURI
from beepy.testing.certificates import CertificateAuthority


class _Authority:
    """
    A certificate authority, a server certificate for ``localhost`` and a
    client certificate for ``acinom``, all made for one test.
    """

    def __init__(self):
        authority = CertificateAuthority()
        self.server = authority.issue("localhost")
        self.client = authority.issue("acinom")
        self.trustRoot = authority.certificate

    def serverOptions(self):
        return ssl.CertificateOptions(
            privateKey=self.server.privateKey.original,
            certificate=self.server.original,
            verify=True,
            caCerts=[self.trustRoot.original],
            requireCertificate=False,
        )

    def clientOptions(self, withCertificate=True):
        return ssl.optionsForClientTLS(
            "localhost",
            trustRoot=self.trustRoot,
            clientCertificate=self.client if withCertificate else None,
        )


class TLSTests(TestCase):
    timeout = 30

    def setUp(self):
        self.authority = _Authority()
        checker = InMemoryUsernamePasswordDatabaseDontUse()
        checker.addUser(b"bob", b"secret")
        portal = Portal(AvatarIdRealm(), [checker, ClientCertificateChecker()])
        self.policy = SASLPolicy(portal, requireAuthentication=[ECHO_URI])

    @defer.inlineCallbacks
    def listen(self, tls):
        factory = BEEPServerFactory([EchoFactory()], sasl=self.policy)
        if tls:
            endpoint = endpoints.SSL4ServerEndpoint(
                reactor, 0, self.authority.serverOptions(), interface="127.0.0.1"
            )
        else:
            endpoint = endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
        port = yield endpoint.listen(factory)
        self.addCleanup(port.stopListening)
        return port.getHost().port

    @defer.inlineCallbacks
    def connect(self, tls=True, withCertificate=True):
        port = yield self.listen(tls)
        if tls:
            endpoint = endpoints.SSL4ClientEndpoint(
                reactor, "127.0.0.1", port, self.authority.clientOptions(withCertificate)
            )
        else:
            endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port)
        session = yield connectBEEP(endpoint)
        self.addCleanup(self.release, session)
        return session

    def release(self, session):
        """
        Release the session if a test has not, and wait for the end.
        """
        closed = session.notifyClose()
        if session.transport.connected:
            session.close().addErrback(lambda _: session.transport.loseConnection())
        return closed

    @defer.inlineCallbacks
    def test_external(self):
        """
        EXTERNAL takes the identity from the client certificate; then the
        profile that needs authentication starts.
        """
        session = yield self.connect()
        self.assertIn(mechanismURI("EXTERNAL"), session.peerProfiles)
        result = yield session.authenticate()
        self.assertEqual(result.mechanism, "EXTERNAL")
        echo = yield session.openChannel([ECHO_URI])
        reply = yield echo.sendMessage(b"hello")
        self.assertEqual(reply.body, b"hello")

    @defer.inlineCallbacks
    def test_externalIdentity(self):
        """
        The listener's session has the certificate's identity, and the
        authorization id asked for must be that one.
        """
        identities = []
        self.policy.statusChanged = identities.append
        session = yield self.connect()
        yield session.authenticate("EXTERNAL", authorizationId="acinom")
        [status] = identities
        self.assertEqual(
            (status.authentication.authenticatedId, status.authentication.authorizationId),
            ("acinom", "acinom"),
        )
        self.assertEqual(status.authentication.avatar.avatarId, b"acinom")

    @defer.inlineCallbacks
    def test_externalWithoutCertificate(self):
        """
        Over TLS without a client certificate, EXTERNAL fails with 535.
        """
        session = yield self.connect(withCertificate=False)
        with self.assertRaises(BEEPError) as caught:
            yield session.authenticate("EXTERNAL")
        self.assertEqual(caught.exception.code, ReplyCode.AUTHENTICATION_FAILURE)
        with self.assertRaises(BEEPError) as caught:
            yield session.openChannel([ECHO_URI])
        self.assertEqual(caught.exception.code, ReplyCode.AUTHENTICATION_REQUIRED)

    @defer.inlineCallbacks
    def test_plainOverTLS(self):
        """
        Over TLS, PLAIN is offered, and a client with a password may pick it.
        """
        self.policy = SASLPolicy(self.policy.portal, mechanisms=["PLAIN"])
        session = yield self.connect(withCertificate=False)
        self.assertEqual(session.peerProfiles, (mechanismURI("PLAIN"), ECHO_URI))
        result = yield session.authenticate(username="bob", password="secret")
        self.assertEqual((result.mechanism, result.authenticatedId), ("PLAIN", "bob"))

    @defer.inlineCallbacks
    def test_plainRefusedOverTCP(self):
        """
        Over plain TCP neither PLAIN nor EXTERNAL is offered, and their
        starts are refused with 538.
        """
        session = yield self.connect(tls=False)
        self.assertNotIn(mechanismURI("PLAIN"), session.peerProfiles)
        self.assertNotIn(mechanismURI("EXTERNAL"), session.peerProfiles)
        for mechanism, credentials in [
            ("PLAIN", dict(username="bob", password="secret")),
            ("EXTERNAL", {}),
        ]:
            with self.assertRaises(BEEPError) as caught:
                yield session.authenticate(mechanism, **credentials)
            self.assertEqual(
                caught.exception.code, ReplyCode.AUTHENTICATION_MECHANISM_REQUIRES_ENCRYPTION
            )
