# -*- test-case-name: beepy.test.test_tap_tls -*-
"""
Tests for the TLS options of ``twistd beep`` (:mod:`beepy.tap`).
"""

from OpenSSL import SSL, crypto
from twisted.internet import defer, endpoints, reactor, ssl
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.filepath import FilePath
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase, TestCase

from beepy import connectBEEP
from beepy.certificates import fingerprint
from beepy.profiles.echo import ECHO_URI
from beepy.core.management import TLS_URI
from beepy.profiles.sink import SINK_URI
from beepy.tap import Options, makeService
from beepy.testing.certificates import CertificateAuthority
from beepy.tls import TLSPolicy

AUTHORITY = CertificateAuthority()
CERTIFICATE = AUTHORITY.issue("beep.example", "127.0.0.1")


def parse(*arguments):
    options = Options()
    options.parseOptions(list(arguments))
    return options


class PEMFiles:
    """
    Writes PEM files for a test.
    """

    def __init__(self, testCase):
        self.directory = FilePath(testCase.mktemp())
        self.directory.makedirs()

    def write(self, name, *contents):
        path = self.directory.child(name)
        path.setContent(b"".join(contents))
        return path.path

    def certificate(self, certificate=CERTIFICATE):
        # Not PrivateCertificate.dumpPEM, which writes the key too.
        return ssl.Certificate(certificate.original).dumpPEM()

    def key(self, certificate=CERTIFICATE):
        return certificate.privateKey.dump(crypto.FILETYPE_PEM)


class TLSOptionsTests(SynchronousTestCase):
    def setUp(self):
        self.files = PEMFiles(self)

    def test_none(self):
        """
        Without TLS options there is no certificate, no authority, and TLS
        is not required.
        """
        options = parse()
        self.assertIsNone(options["tls-certificate"])
        self.assertIsNone(options["tls-authorities"])
        self.assertFalse(options["require-tls"])

    def test_certificateAndKeyInOneFile(self):
        pem = self.files.write("both.pem", self.files.certificate(), self.files.key())
        options = parse("--tls-cert", pem)
        self.assertEqual(fingerprint(options["tls-certificate"]), fingerprint(CERTIFICATE))

    def test_separateKey(self):
        certificate = self.files.write("cert.pem", self.files.certificate())
        key = self.files.write("key.pem", self.files.key())
        options = parse("--tls-cert", certificate, "--tls-key", key)
        self.assertEqual(fingerprint(options["tls-certificate"]), fingerprint(CERTIFICATE))
        self.assertTrue(options["tls-certificate"].privateKey.matches(CERTIFICATE.getPublicKey()))

    def test_keyWithoutCertificate(self):
        key = self.files.write("key.pem", self.files.key())
        error = self.assertRaises(UsageError, parse, "--tls-key", key)
        self.assertIn("--tls-key needs --tls-cert", str(error))

    def test_missingFile(self):
        error = self.assertRaises(UsageError, parse, "--tls-cert", "/nonexistent/cert.pem")
        self.assertIn("cannot read --tls-cert /nonexistent/cert.pem", str(error))

    def test_noKey(self):
        certificate = self.files.write("cert.pem", self.files.certificate())
        self.assertRaises(UsageError, parse, "--tls-cert", certificate)

    def test_notPEM(self):
        garbage = self.files.write("garbage.pem", b"not a certificate")
        self.assertRaises(UsageError, parse, "--tls-cert", garbage)

    def test_keyOfAnotherCertificate(self):
        other = AUTHORITY.issue("other.example")
        certificate = self.files.write("cert.pem", self.files.certificate())
        key = self.files.write("key.pem", self.files.key(other))
        error = self.assertRaises(UsageError, parse, "--tls-cert", certificate, "--tls-key", key)
        self.assertIn("private key", str(error))

    def test_authorities(self):
        """
        ``--tls-ca`` reads every certificate of a bundle.
        """
        bundle = self.files.write(
            "ca.pem",
            AUTHORITY.certificate.dumpPEM(),
            CertificateAuthority().certificate.dumpPEM(),
        )
        options = parse("--tls-ca", bundle)
        self.assertIsNotNone(options["tls-authorities"])

    def test_badAuthorities(self):
        garbage = self.files.write("ca.pem", b"nothing here")
        self.assertRaises(UsageError, parse, "--tls-ca", garbage)

    def test_requireTLS(self):
        self.assertTrue(parse("--require-tls")["require-tls"])

    def test_help(self):
        text = str(Options())
        for option in ("--tls-cert", "--tls-key", "--tls-ca", "--require-tls", "ssl:"):
            self.assertIn(option, text)


class TLSServiceTests(SynchronousTestCase):
    def setUp(self):
        self.files = PEMFiles(self)
        self.logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def policy(self, *arguments):
        [child] = list(makeService(parse(*arguments), reactor=MemoryReactorClock()))
        policy = child.factory.tls
        self.assertIsInstance(policy, TLSPolicy)
        return policy

    def fingerprintLines(self):
        return [e for e in self.logged if "fingerprint" in e]

    def test_selfSigned(self):
        """
        Without ``--tls-cert`` the server still offers TLS, with a
        self-signed certificate made at start-up whose SHA-256 fingerprint
        is logged, for clients to check.
        """
        policy = self.policy()
        [event] = self.fingerprintLines()
        self.assertEqual(event["fingerprint"], fingerprint(policy.certificate))
        self.assertEqual(
            formatEvent(event),
            "No --tls-cert: TLS uses a self-signed certificate, SHA-256 fingerprint "
            + fingerprint(policy.certificate),
        )
        self.assertFalse(policy.requireTLS)
        self.assertIsNone(policy.clientTrustRoot)

    def test_givenCertificate(self):
        pem = self.files.write("both.pem", self.files.certificate(), self.files.key())
        policy = self.policy("--tls-cert", pem)
        self.assertEqual(fingerprint(policy.certificate), fingerprint(CERTIFICATE))
        self.assertEqual(self.fingerprintLines(), [])

    def test_requireTLSAndAuthorities(self):
        bundle = self.files.write("ca.pem", AUTHORITY.certificate.dumpPEM())
        policy = self.policy("--require-tls", "--tls-ca", bundle)
        self.assertTrue(policy.requireTLS)
        self.assertIsNotNone(policy.clientTrustRoot)


class ServedTLSTests(TestCase):
    """
    ``twistd beep``'s service over loopback TCP, with real TLS.
    """

    timeout = 30

    def setUp(self):
        self.files = PEMFiles(self)
        self.logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.closing = []

    def serve(self, *arguments):
        """
        Start the service of ``arguments`` on the real reactor; stop it and
        close its sessions at cleanup.

        :return: the port it listens on, and the factory.
        """
        service = makeService(parse(*arguments), reactor=reactor)
        [child] = list(service)
        build = child.factory.buildProtocol

        def buildProtocol(address):
            session = build(address)
            self.closing.append(session.notifyClose())
            return session

        child.factory.buildProtocol = buildProtocol
        service.startService()
        self.addCleanup(lambda: defer.gatherResults(self.closing))
        self.addCleanup(service.stopService)
        [port] = [e["address"].port for e in self.logged if "address" in e]
        return port, child.factory

    @defer.inlineCallbacks
    def echoAndRelease(self, session):
        channel = yield session.openChannel([ECHO_URI])
        reply = yield channel.sendMessage(b"secret")
        self.assertEqual(reply.body, b"secret")
        yield session.close()

    @defer.inlineCallbacks
    def test_selfSignedOutOfTheBox(self):
        """
        Run as the README runs it, the server secures sessions with its
        self-signed certificate: a client that trusts that certificate (by
        its logged fingerprint) gets TLS.
        """
        port, factory = self.serve("--listen", "tcp:0:interface=127.0.0.1")
        endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port)
        session = yield connectBEEP(endpoint)
        certificate = ssl.Certificate(factory.tls.certificate.original)
        yield session.startTLS(serverName="localhost", trustRoot=certificate)
        [logged] = [e["fingerprint"] for e in self.logged if "fingerprint" in e]
        self.assertEqual(fingerprint(session.peerCertificate), logged)
        self.assertEqual(session.peerProfiles, (ECHO_URI, SINK_URI))
        yield self.echoAndRelease(session)

    @defer.inlineCallbacks
    def test_sslEndpoint(self):
        """
        ``--listen ssl:...`` runs TLS from the first byte: the session is
        secure at once and does not offer the TLS profile.
        """
        key = self.files.write("key.pem", self.files.key())
        certificate = self.files.write("cert.pem", self.files.certificate())
        port, factory = self.serve(
            "--listen", f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={certificate}"
        )
        endpoint = endpoints.wrapClientTLS(
            ssl.optionsForClientTLS("beep.example", AUTHORITY.certificate),
            endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port),
        )
        session = yield connectBEEP(endpoint)
        self.assertTrue(session.isSecure)
        self.assertEqual(session.peerProfiles, (ECHO_URI, SINK_URI))
        yield self.echoAndRelease(session)

    @defer.inlineCallbacks
    def test_requireTLSWithClientCertificates(self):
        """
        ``--require-tls`` offers TLS alone until the session is secured;
        ``--tls-ca`` makes TLS require a client certificate from those
        authorities.
        """
        pem = self.files.write("both.pem", self.files.certificate(), self.files.key())
        bundle = self.files.write("ca.pem", AUTHORITY.certificate.dumpPEM())
        port, factory = self.serve(
            "--listen",
            "tcp:0:interface=127.0.0.1",
            "--tls-cert",
            pem,
            "--tls-ca",
            bundle,
            "--require-tls",
        )
        endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port)
        anonymous = yield connectBEEP(endpoint)
        self.assertEqual(anonymous.peerProfiles, (TLS_URI,))
        yield self.assertFailure(
            anonymous.startTLS(serverName="beep.example", trustRoot=AUTHORITY.certificate),
            SSL.Error,
        )
        session = yield connectBEEP(endpoint)
        yield session.startTLS(
            serverName="beep.example",
            trustRoot=AUTHORITY.certificate,
            clientCertificate=AUTHORITY.issue("client.example"),
        )
        self.assertEqual(session.peerProfiles, (ECHO_URI, SINK_URI))
        yield session.close()
