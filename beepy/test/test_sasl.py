# -*- test-case-name: beepy.test.test_sasl -*-
"""
SASL end to end: a listener with a :class:`beepy.sasl.SASLPolicy` and a
client calling ``authenticate``, wired together in memory.
"""

from hashlib import md5

from twisted.cred.checkers import (
    AllowAnonymousAccess,
    FilePasswordDB,
    ICredentialsChecker,
    InMemoryUsernamePasswordDatabaseDontUse,
)
from twisted.cred.credentials import IUsernamePassword
from twisted.cred import strcred
from twisted.cred.portal import Portal
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.python.filepath import FilePath
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from beepy import (
    BEEPClientFactory,
    BEEPError,
    BEEPServerFactory,
    Message,
    ProfileElement,
    ReplyCode,
)
from beepy.core.events import ChannelStartRequested, GreetingReceived
from beepy.core.management import Greeting
from beepy.core.sasl.base import SASLError
from beepy.core.session import Role, Session
from beepy.profiles.echo import ECHO_URI, EchoFactory
from beepy.sasl import (
    AvatarIdRealm,
    InMemoryDigestMD5Checker,
    InMemoryOTPDatabase,
    InMemorySCRAMChecker,
    SASLPolicy,
    mechanismURI,
    normaliseChecker,
)

PASSWORD_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-1", "DIGEST-MD5", "CRAM-MD5", "PLAIN")


def _bytesChecker(users):
    """
    A checker with the given users, as protocols want it: bytes.
    """
    checker = InMemoryUsernamePasswordDatabaseDontUse()
    for name, password in users.items():
        checker.addUser(name.encode(), password.encode())
    return checker


def connect(policy, profiles=()):
    """
    :return: ``(client, server, pump)``, greeted.
    """
    server = BEEPServerFactory(profiles, sasl=policy).buildProtocol(None)
    client = BEEPClientFactory().buildProtocol(None)
    pump = iosim.connect(
        server, iosim.FakeTransport(server, True), client, iosim.FakeTransport(client, False)
    )
    return client, server, pump


class SASLTestCase(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.statuses = []

    def policy(self, *checkers, **options):
        options.setdefault("clock", self.clock)
        options.setdefault("statusChanged", self.statuses.append)
        if not checkers:
            checkers = (_bytesChecker({"bob": "secret"}), AllowAnonymousAccess())
        return SASLPolicy(Portal(AvatarIdRealm(), checkers), **options)

    def authenticate(self, client, pump, mechanism=None, **credentials):
        d = client.authenticate(mechanism, **credentials)
        pump.flush()
        return d


class MechanismTests(SASLTestCase):
    """
    Every mechanism succeeds, with and without piggybacking, and the
    identity and avatar land on both sessions.
    """

    def assertAuthenticated(self, mechanism, piggyback, policy, **credentials):
        client, server, pump = connect(policy)
        d = self.authenticate(client, pump, mechanism, piggyback=piggyback, **credentials)
        result = self.successResultOf(d)
        self.assertEqual(result.mechanism, mechanism)
        self.assertIs(client.authentication, result)
        self.assertEqual(server.authentication.mechanism, mechanism)
        return client, server

    def test_passwordMechanisms(self):
        for mechanism in PASSWORD_MECHANISMS:
            for piggyback in (True, False):
                client, server = self.assertAuthenticated(
                    mechanism,
                    piggyback,
                    self.policy(allowPlaintext=True),
                    username="bob",
                    password="secret",
                )
                self.assertEqual((server.authenticatedId, server.authorizationId), ("bob", "bob"))
                self.assertEqual(server.avatar.avatarId, b"bob")
                self.assertEqual(client.authenticatedId, "bob")
                self.assertIsNone(client.avatar)

    def test_scramFromStoredKeys(self):
        """
        A store of SCRAM keys serves SCRAM without any password kept.
        """
        store = InMemorySCRAMChecker()
        store.addUser("bob", "secret")
        for mechanism in ("SCRAM-SHA-1", "SCRAM-SHA-256"):
            for piggyback in (True, False):
                _, server = self.assertAuthenticated(
                    mechanism, piggyback, self.policy(store), username="bob", password="secret"
                )
                self.assertEqual(server.authenticatedId, "bob")

    def test_digestFromUserHashes(self):
        checker = InMemoryDigestMD5Checker()
        checker.addUser("bob", "example.org", "secret")
        _, server = self.assertAuthenticated(
            "DIGEST-MD5",
            True,
            self.policy(checker, realm="example.org"),
            username="bob",
            password="secret",
        )
        self.assertEqual(server.authenticatedId, "bob")

    def test_anonymous(self):
        for piggyback in (True, False):
            _, server = self.assertAuthenticated(
                "ANONYMOUS", piggyback, self.policy(), trace="test@aspl.es"
            )
            self.assertIsNone(server.authenticatedId)
            self.assertEqual(server.authentication.trace, "test@aspl.es")

    def test_otp(self):
        """
        OTP moves the user's sequence down: the same password never works
        twice, the next one does.
        """
        database = InMemoryOTPDatabase()
        database.addUser("tim", "This is a test.", "TeSt", sequence=100)
        for piggyback in (True, False):
            _, server = self.assertAuthenticated(
                "OTP",
                piggyback,
                self.policy(database),
                username="tim",
                passphrase="This is a test.",
            )
            self.assertEqual(server.authenticatedId, "tim")
        self.assertEqual(database.otpState(b"tim").sequence, 98)

    def test_authorizationId(self):
        """
        Acting as another identity needs the policy's consent.
        """
        client, server, pump = connect(self.policy())
        d = self.authenticate(client, pump, "CRAM-MD5", username="bob", password="secret")
        self.successResultOf(d)

        class Proxying(SASLPolicy):
            def mayAuthorize(self, session, authenticatedId, authorizationId):
                return authenticatedId == "bob"

        portal = Portal(AvatarIdRealm(), [_bytesChecker({"bob": "secret", "eve": "evil"})])
        for user, password, outcome in [("bob", "secret", True), ("eve", "evil", False)]:
            client, server, pump = connect(Proxying(portal, clock=self.clock))
            d = self.authenticate(
                client,
                pump,
                "SCRAM-SHA-1",
                username=user,
                password=password,
                authorizationId="alice",
            )
            if outcome:
                self.assertEqual(self.successResultOf(d).authorizationId, "alice")
                self.assertEqual((server.authenticatedId, server.authorizationId), (user, "alice"))
            else:
                self.assertEqual(self.failureResultOf(d, BEEPError).value.code, 535)
                self.assertIsNone(server.authentication)

    def test_logout(self):
        """
        The avatar is logged out when the session ends.
        """
        loggedOut = []

        class Realm(AvatarIdRealm):
            def requestAvatar(self, avatarId, mind, *interfaces):
                interface, avatar, _ = super().requestAvatar(avatarId, mind, *interfaces)
                return interface, avatar, lambda: loggedOut.append(avatarId)

        policy = SASLPolicy(Portal(Realm(), [_bytesChecker({"bob": "secret"})]))
        client, server, pump = connect(policy)
        self.successResultOf(self.authenticate(client, pump, username="bob", password="secret"))
        self.assertEqual(loggedOut, [])
        client.transport.loseConnection()
        pump.flush()
        self.assertEqual(loggedOut, [b"bob"])


class ChoiceTests(SASLTestCase):
    def test_strongestOffered(self):
        client, server, pump = connect(self.policy(allowPlaintext=True))
        result = self.successResultOf(
            self.authenticate(client, pump, username="bob", password="secret")
        )
        self.assertEqual(result.mechanism, "SCRAM-SHA-256")

    def test_plainNotChosenInClear(self):
        """
        A client does not pick PLAIN on its own on an unencrypted session.
        """
        client, server, pump = connect(
            self.policy(mechanisms=["PLAIN", "ANONYMOUS"], allowPlaintext=True)
        )
        d = self.authenticate(client, pump, username="bob", password="secret")
        self.assertEqual(
            self.failureResultOf(d, SASLError).value.code, ReplyCode.REQUESTED_ACTION_NOT_TAKEN
        )
        result = self.successResultOf(
            self.authenticate(client, pump, "PLAIN", username="bob", password="secret")
        )
        self.assertEqual(result.mechanism, "PLAIN")

    def test_anonymousWithoutCredentials(self):
        client, server, pump = connect(self.policy())
        self.assertEqual(
            self.successResultOf(self.authenticate(client, pump)).mechanism, "ANONYMOUS"
        )

    def test_unknownCredential(self):
        client, server, pump = connect(self.policy())
        self.assertRaises(TypeError, client.authenticate, username="bob", pasword="typo")


class FailureTests(SASLTestCase):
    def assertFails(self, d, code):
        error = self.failureResultOf(d, BEEPError).value
        self.assertEqual(error.code, code)
        return error

    def test_badPasswordAndUnknownUser(self):
        """
        A wrong password and an unknown user fail alike, with 535, for every
        password mechanism, piggybacked or not; the session stays
        unauthenticated and the status hook hears each failure.
        """
        for mechanism in PASSWORD_MECHANISMS:
            for piggyback in (True, False):
                texts = []
                for user, password in [("bob", "wrong"), ("nobody", "secret")]:
                    client, server, pump = connect(self.policy(allowPlaintext=True))
                    d = self.authenticate(
                        client,
                        pump,
                        mechanism,
                        piggyback=piggyback,
                        username=user,
                        password=password,
                    )
                    texts.append(self.assertFails(d, ReplyCode.AUTHENTICATION_FAILURE).text)
                    self.assertIsNone(server.authentication)
                    self.assertIsNone(client.authentication)
                    self.assertFalse(self.statuses[-1].succeeded)
                    self.assertEqual(self.statuses[-1].failures, 1)
                self.assertEqual(texts[0], texts[1])

    def test_otpFailures(self):
        database = InMemoryOTPDatabase()
        database.addUser("tim", "This is a test.", "TeSt", sequence=100)
        for user, passphrase in [("tim", "wrong passphrase"), ("nobody", "This is a test.")]:
            client, server, pump = connect(self.policy(database))
            d = self.authenticate(client, pump, "OTP", username=user, passphrase=passphrase)
            self.assertFails(d, ReplyCode.AUTHENTICATION_FAILURE)
        self.assertEqual(database.otpState(b"tim").sequence, 100)

    def test_malformedBase64(self):
        """
        Malformed base64, piggybacked or in a message, is refused with 501
        and counts as a failure.
        """
        client, server, pump = connect(self.policy())
        d = client.openChannel([ProfileElement(mechanismURI("ANONYMOUS"), b"<blob>!!!!</blob>")])
        pump.flush()
        self.assertFails(d, ReplyCode.PARAMETER_SYNTAX_ERROR)
        channel = self.openRaw(client, pump, "CRAM-MD5")
        d = channel.sendMessage(Message(b"<blob>AAA</blob>"))
        pump.flush()
        self.assertFails(d, ReplyCode.PARAMETER_SYNTAX_ERROR)
        self.assertEqual([status.failures for status in self.statuses], [1, 2])

    def openRaw(self, client, pump, mechanism):
        d = client.openChannel([mechanismURI(mechanism)])
        pump.flush()
        return self.successResultOf(d)

    def test_wrongStatus(self):
        client, server, pump = connect(self.policy())
        channel = self.openRaw(client, pump, "CRAM-MD5")
        d = channel.sendMessage(Message(b"<blob status='finished'>AAAA</blob>"))
        pump.flush()
        self.assertFails(d, ReplyCode.PARAMETER_SYNTAX_ERROR)
        d = channel.sendMessage(Message(b"<blob>AAAA</blob>"))
        pump.flush()
        self.assertFails(d, ReplyCode.REQUESTED_ACTION_NOT_TAKEN)

    def test_abort(self):
        """
        A client's abort fails the exchange.
        """
        client, server, pump = connect(self.policy())
        channel = self.openRaw(client, pump, "CRAM-MD5")
        d = channel.sendMessage(Message(b"<blob status='abort' />"))
        pump.flush()
        self.assertIn("aborted", self.assertFails(d, ReplyCode.AUTHENTICATION_FAILURE).text)
        self.assertIsNone(server.authentication)

    def test_tooManyFailures(self):
        """
        After ``maxFailures`` failed exchanges the refusal is sent and the
        connection dropped; the log never holds the password.
        """
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        client, server, pump = connect(self.policy(maxFailures=2, allowPlaintext=True))
        for attempt in range(2):
            d = self.authenticate(client, pump, "PLAIN", username="bob", password="hunter2")
            self.assertFails(d, ReplyCode.AUTHENTICATION_FAILURE)
        self.assertFalse(server.transport.disconnecting)
        self.clock.advance(0)
        pump.flush()
        self.assertTrue(server.transport.disconnecting)
        # Dropped without a release: broken off, as the client sees it.
        self.assertEqual(
            self.successResultOf(client.notifyClose()).__class__.__name__, "ConnectionLost"
        )
        logged = [str(event) for event in events]
        self.assertTrue(any("bob" in text for text in logged))
        self.assertFalse(any("hunter2" in text for text in logged))

    def test_plainRefusedInClear(self):
        """
        PLAIN is not offered on an unencrypted session, and a start of it is
        refused with 538, as is EXTERNAL's.
        """
        client, server, pump = connect(self.policy())
        self.assertNotIn(mechanismURI("PLAIN"), client.peerProfiles)
        self.assertIn(mechanismURI("SCRAM-SHA-256"), client.peerProfiles)
        d = self.authenticate(client, pump, "PLAIN", username="bob", password="secret")
        self.assertFails(d, ReplyCode.AUTHENTICATION_MECHANISM_REQUIRES_ENCRYPTION)
        self.assertEqual(self.statuses, [])

    def test_temporaryFailure(self):
        """
        A checker that breaks gives 454, and the break is logged.
        """

        @implementer(ICredentialsChecker)
        class Broken:
            credentialInterfaces = (IUsernamePassword,)

            def requestAvatarId(self, credentials):
                raise OSError("database down")

        client, server, pump = connect(self.policy(Broken(), allowPlaintext=True))
        d = self.authenticate(client, pump, "PLAIN", username="bob", password="secret")
        self.assertFails(d, ReplyCode.TEMPORARY_AUTHENTICATION_FAILURE)
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)

    def test_once(self):
        """
        An authenticated session cannot authenticate again.
        """
        client, server, pump = connect(self.policy())
        self.successResultOf(self.authenticate(client, pump, username="bob", password="secret"))
        client.authentication = None
        d = self.authenticate(client, pump, "CRAM-MD5", username="bob", password="secret")
        self.assertFails(d, ReplyCode.REQUESTED_ACTION_NOT_TAKEN)

    def test_oneExchangeAtATime(self):
        client, server, pump = connect(self.policy())
        self.openRaw(client, pump, "CRAM-MD5")
        d = self.authenticate(client, pump, "SCRAM-SHA-1", username="bob", password="secret")
        self.assertFails(d, ReplyCode.REQUESTED_ACTION_NOT_TAKEN)


class PolicyTests(SASLTestCase):
    def test_requireAuthentication(self):
        """
        A profile that needs authentication is refused with 530 before it
        and starts after; the factory can look at the avatar.
        """
        avatars = []

        class Echo(EchoFactory):
            def buildProfile(self, channel, start):
                avatars.append(channel.session.avatar)
                return super().buildProfile(channel, start)

        client, server, pump = connect(self.policy(requireAuthentication=[ECHO_URI]), [Echo()])
        self.assertIn(ECHO_URI, client.peerProfiles)
        d = client.openChannel([ECHO_URI])
        pump.flush()
        self.assertEqual(
            self.failureResultOf(d, BEEPError).value.code, ReplyCode.AUTHENTICATION_REQUIRED
        )
        self.successResultOf(self.authenticate(client, pump, username="bob", password="secret"))
        d = client.openChannel([ECHO_URI])
        pump.flush()
        self.successResultOf(d)
        self.assertEqual([avatar.avatarId for avatar in avatars], [b"bob"])

    def test_hideUnauthenticated(self):
        """
        A policy can keep the profiles that need authentication out of the
        greeting; they still start once the session is authenticated.
        """
        policy = self.policy(requireAuthentication=[ECHO_URI], hideUnauthenticated=True)
        client, server, pump = connect(policy, [EchoFactory()])
        self.assertNotIn(ECHO_URI, client.peerProfiles)
        d = client.openChannel([ECHO_URI])
        pump.flush()
        self.assertEqual(
            self.failureResultOf(d, BEEPError).value.code, ReplyCode.AUTHENTICATION_REQUIRED
        )
        self.successResultOf(self.authenticate(client, pump, username="bob", password="secret"))
        d = client.openChannel([ECHO_URI])
        pump.flush()
        self.successResultOf(d)

    def test_statusOnSuccess(self):
        client, server, pump = connect(self.policy())
        self.successResultOf(self.authenticate(client, pump, username="bob", password="secret"))
        [status] = self.statuses
        self.assertTrue(status.succeeded)
        self.assertIs(status.session, server)
        self.assertEqual(
            (status.mechanism, status.authentication), ("SCRAM-SHA-256", server.authentication)
        )

    def test_mechanismsOffered(self):
        """
        By default, the mechanisms the portal can check; or those named.
        """
        self.assertEqual(
            self.policy().mechanisms,
            ("SCRAM-SHA-256", "SCRAM-SHA-1", "DIGEST-MD5", "CRAM-MD5", "PLAIN", "ANONYMOUS"),
        )
        self.assertEqual(self.policy(InMemoryOTPDatabase()).mechanisms, ("OTP",))
        client, server, pump = connect(self.policy(mechanisms=["CRAM-MD5"]))
        self.assertEqual(client.peerProfiles, (mechanismURI("CRAM-MD5"),))
        self.assertRaises(ValueError, self.policy, InMemoryOTPDatabase(), mechanisms=["PLAIN"])
        self.assertRaises(ValueError, self.policy, mechanisms=["KERBEROS_V4"])


class CheckerTests(SASLTestCase):
    """
    Checkers a Twisted application already has work, whether they keep
    text or bytes.
    """

    def test_memoryWithText(self):
        """
        ``--auth memory:`` builds a checker keyed by ``str``;
        :func:`normaliseChecker` makes it serve bytes credentials.
        """
        text = strcred.makeChecker("memory:bob:secret")
        client, server, pump = connect(self.policy(text))
        d = self.authenticate(client, pump, "CRAM-MD5", username="bob", password="secret")
        self.failureResultOf(d, BEEPError)
        for mechanism in PASSWORD_MECHANISMS:
            client, server, pump = connect(self.policy(normaliseChecker(text), allowPlaintext=True))
            d = self.authenticate(client, pump, mechanism, username="bob", password="secret")
            self.assertEqual(self.successResultOf(d).authenticatedId, "bob")

    def test_file(self):
        path = FilePath(self.mktemp())
        path.setContent(b"bob:secret\nalice:wonderland\n")
        checker = FilePasswordDB(path.path)
        for mechanism in PASSWORD_MECHANISMS:
            client, server, pump = connect(self.policy(checker, allowPlaintext=True))
            d = self.authenticate(client, pump, mechanism, username="alice", password="wonderland")
            self.assertEqual(self.successResultOf(d).authenticatedId, "alice")

    def test_hashedFile(self):
        """
        A file of hashed passwords only serves PLAIN.
        """
        path = FilePath(self.mktemp())
        path.setContent(b"bob:5ebe2294ecd0e0f08eab7690d2a6ee69\n")
        checker = FilePasswordDB(
            path.path, hash=lambda user, password, stored: md5(password).hexdigest().encode()
        )
        policy = self.policy(checker, allowPlaintext=True)
        self.assertEqual(policy.mechanisms, ("PLAIN",))
        client, server, pump = connect(policy)
        d = self.authenticate(client, pump, "PLAIN", username="bob", password="secret")
        self.assertEqual(self.successResultOf(d).authenticatedId, "bob")


class WithholdTests(SynchronousTestCase):
    """
    :meth:`beepy.core.session.Session.withhold`, which keeps a mechanism out
    of the greeting without making its start unknown.
    """

    def test_withheldButStartable(self):
        listener = Session(Role.LISTENER, ["urn:a", "urn:b"])
        listener.withhold(["urn:b"])
        listener.greet()
        initiator = Session(Role.INITIATOR)
        initiator.greet()
        [greeting] = initiator.receiveData(listener.dataToSend())
        self.assertEqual(greeting, GreetingReceived(Greeting(("urn:a",))))
        listener.receiveData(initiator.dataToSend())
        initiator.startChannel(["urn:b"])
        [requested] = listener.receiveData(initiator.dataToSend())
        self.assertIsInstance(requested, ChannelStartRequested)
        self.assertEqual([p.uri for p in requested.profiles], ["urn:b"])
