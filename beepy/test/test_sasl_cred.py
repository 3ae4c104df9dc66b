# -*- test-case-name: beepy.test.test_sasl_cred -*-
"""
Tests for :mod:`beepy.sasl.cred` and :mod:`beepy.sasl.transport`.
"""

from twisted.cred import strcred
from twisted.cred.checkers import FilePasswordDB
from twisted.cred.credentials import UsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import Interface, directlyProvides

from beepy.core.sasl.otp import OTPServer
from beepy.interfaces import IBEEPAvatar
from beepy.sasl import (
    AvatarIdRealm,
    ClientCertificateChecker,
    ExternalCredentials,
    InMemoryOTPDatabase,
    OTPCredentials,
    isEncrypted,
    normaliseChecker,
    peerCertificate,
)


class NormaliseCheckerTests(SynchronousTestCase):
    def test_memory(self):
        """
        ``--auth memory:`` users become bytes; the original is untouched.
        """
        text = strcred.makeChecker("memory:bob:secret:alice:wonderland")
        normalised = normaliseChecker(text)
        self.assertEqual(normalised.users, {b"bob": b"secret", b"alice": b"wonderland"})
        self.assertEqual(text.users, {"bob": "secret", "alice": "wonderland"})
        self.assertEqual(
            self.successResultOf(normalised.requestAvatarId(UsernamePassword(b"bob", b"secret"))),
            b"bob",
        )

    def test_otherCheckers(self):
        checker = FilePasswordDB(self.mktemp())
        self.assertIs(normaliseChecker(checker), checker)


class OTPDatabaseTests(SynchronousTestCase):
    def credentials(self, response):
        server = OTPServer()
        server.start(b"\0tim")
        server.found(self.database.otpState(b"tim"))
        return OTPCredentials(server.respond(response))

    def test_once(self):
        """
        A one-time password is accepted once, and the state moves down.
        """
        self.database = InMemoryOTPDatabase()
        self.database.addUser("tim", "This is a test.", "TeSt", sequence=100)
        credentials = self.credentials(b"word:BAIL TUFT BITS GANG CHEF THY")
        self.assertEqual(self.database.requestAvatarId(credentials), b"tim")
        self.assertEqual(self.database.otpState("tim").sequence, 99)
        self.assertRaises(UnauthorizedLogin, self.database.requestAvatarId, credentials)


class CertificateCheckerTests(SynchronousTestCase):
    def test_noCertificate(self):
        self.assertRaises(
            UnauthorizedLogin, ClientCertificateChecker().requestAvatarId, ExternalCredentials(None)
        )

    def test_identify(self):
        checker = ClientCertificateChecker(lambda certificate: b"id:" + certificate)
        self.assertEqual(checker.requestAvatarId(ExternalCredentials(b"x")), b"id:x")


class RealmTests(SynchronousTestCase):
    def test_avatar(self):
        interface, avatar, logout = AvatarIdRealm().requestAvatar(b"bob", None, IBEEPAvatar)
        self.assertIs(interface, IBEEPAvatar)
        self.assertEqual(avatar.avatarId, b"bob")
        self.assertIsNone(logout())

    def test_otherInterface(self):
        self.assertRaises(
            NotImplementedError, AvatarIdRealm().requestAvatar, b"bob", None, Interface
        )


class _Session:
    def __init__(self, transport):
        self.transport = transport


class TransportTests(SynchronousTestCase):
    def test_plain(self):
        session = _Session(StringTransport())
        self.assertFalse(isEncrypted(session))
        self.assertIsNone(peerCertificate(session))

    def test_tls(self):
        transport = StringTransport()
        transport.getPeerCertificate = lambda: "certificate"
        directlyProvides(transport, ISSLTransport)
        session = _Session(transport)
        self.assertTrue(isEncrypted(session))
        self.assertEqual(peerCertificate(session), "certificate")
