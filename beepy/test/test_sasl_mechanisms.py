# -*- test-case-name: beepy.test.test_sasl_mechanisms -*-
"""
Tests for the sans-I/O SASL mechanisms in :mod:`beepy.core.sasl`, against
the published test vectors of their RFCs.
"""

import base64

from twisted.trial.unittest import SynchronousTestCase

from beepy.core.codes import ReplyCode
from beepy.core.sasl.anonymous import AnonymousClaim, AnonymousClient, AnonymousServer
from beepy.core.sasl.base import Challenge, Claim, Lookup, SASLError, Success
from beepy.core.sasl.crammd5 import CramMD5Client, CramMD5Server
from beepy.core.sasl.digestmd5 import DigestMD5Client, DigestMD5Server, userHash
from beepy.core.sasl.external import ExternalClient, ExternalServer
from beepy.core.sasl.otp import (
    OTPClient,
    OTPServer,
    OTPState,
    fromWords,
    oneTimePassword,
    toWords,
)
from beepy.core.sasl.plain import PlainClaim, PlainClient, PlainServer
from beepy.core.sasl.saslprep import saslprep
from beepy.core.sasl.scram import SCRAMClient, SCRAMServer, deriveKeys


class SASLprepTests(SynchronousTestCase):
    """
    The examples of RFC 4013 section 3.
    """

    def test_examples(self):
        self.assertEqual(saslprep("I\u00adX"), "IX")  # SOFT HYPHEN mapped to nothing
        self.assertEqual(saslprep("user"), "user")
        self.assertEqual(saslprep("USER"), "USER")  # case preserved
        self.assertEqual(saslprep("\u00aa"), "a")  # NFKC
        self.assertEqual(saslprep("\u2168"), "IX")  # NFKC
        self.assertEqual(saslprep("a\u00a0b"), "a b")  # non-ASCII space to SPACE

    def test_prohibited(self):
        self.assertRaises(SASLError, saslprep, "\u0007")  # control character
        self.assertRaises(SASLError, saslprep, "\u0627\u0031")  # bidi: must end in RandALCat

    def test_unassigned(self):
        """
        Unassigned code points pass in queries, not in stored strings.
        """
        self.assertEqual(saslprep("\u0221"), "\u0221")
        self.assertRaises(SASLError, saslprep, "\u0221", allowUnassigned=False)


class PlainTests(SynchronousTestCase):
    def test_exchange(self):
        """
        RFC 4616 section 4's examples, with and without an authzid.
        """
        client = PlainClient("tim", "tanstaaftanstaaf")
        self.assertEqual(client.initialResponse(), b"\0tim\0tanstaaftanstaaf")
        self.assertEqual(
            PlainServer().start(client.initialResponse()),
            PlainClaim("tim", None, "tanstaaftanstaaf"),
        )
        client = PlainClient("Kurt", "xipj3plmq", "Ursel")
        self.assertEqual(client.initialResponse(), b"Ursel\0Kurt\0xipj3plmq")
        self.assertEqual(
            PlainServer().respond(client.initialResponse()),
            PlainClaim("Kurt", "Ursel", "xipj3plmq"),
        )

    def test_noInitialResponse(self):
        """
        Without an initial response the server waits, saying nothing.
        """
        self.assertEqual(PlainServer().start(None), Challenge(None))

    def test_malformed(self):
        for message in [
            b"bob\0secret",
            b"\0\0secret",
            b"\0bob\0",
            b"\0bob\0se\0cret",
            b"\0\xff\0x",
        ]:
            error = self.assertRaises(SASLError, PlainServer().respond, message)
            self.assertEqual(error.code, ReplyCode.PARAMETER_SYNTAX_ERROR)

    def test_singleMessage(self):
        server = PlainServer()
        server.respond(b"\0bob\0secret")
        self.assertRaises(SASLError, server.respond, b"\0bob\0secret")


class AnonymousTests(SynchronousTestCase):
    def test_exchange(self):
        """
        RFC 4505 section 4's trace.
        """
        client = AnonymousClient("sirhc")
        self.assertEqual(
            AnonymousServer().start(client.initialResponse()), AnonymousClaim(None, None, "sirhc")
        )
        self.assertEqual(AnonymousServer().start(b""), AnonymousClaim(None, None, None))

    def test_tooLong(self):
        self.assertRaises(SASLError, AnonymousServer().respond, b"x" * 256)
        self.assertRaises(SASLError, AnonymousServer().respond, b"a\nb")


class ExternalTests(SynchronousTestCase):
    def test_exchange(self):
        self.assertEqual(
            ExternalServer().start(ExternalClient("acinom").initialResponse()),
            Claim(None, "acinom"),
        )
        self.assertEqual(
            ExternalServer().start(ExternalClient().initialResponse()), Claim(None, None)
        )
        self.assertRaises(SASLError, ExternalServer().respond, b"a\0b")


class CramMD5Tests(SynchronousTestCase):
    """
    RFC 2195 section 2's example.
    """

    challenge = b"<1896.697170952@postoffice.reston.mci.net>"

    def test_client(self):
        client = CramMD5Client("tim", "tanstaaftanstaaf")
        self.assertIsNone(client.initialResponse())
        self.assertEqual(client.challenge(self.challenge), b"tim b913a602c7eda7a495b4e6e7334d3890")

    def test_server(self):
        server = CramMD5Server(challenge=self.challenge)
        self.assertEqual(server.start(None), Challenge(self.challenge))
        claim = server.respond(b"tim b913a602c7eda7a495b4e6e7334d3890")
        self.assertEqual(claim.authenticationId, "tim")
        self.assertTrue(claim.checkPassword(b"tanstaaftanstaaf"))
        self.assertFalse(claim.checkPassword(b"tanstaaf"))

    def test_freshChallenges(self):
        """
        Each server makes its own challenge, shaped as a message id.
        """
        first, second = (
            CramMD5Server("example.com").challenge(),
            CramMD5Server("example.com").challenge(),
        )
        self.assertNotEqual(first, second)
        self.assertRegex(first.data, rb"^<\d+\.\d+@example\.com>$")

    def test_malformed(self):
        for response in [
            b"tim",
            b"tim b913",
            b" b913a602c7eda7a495b4e6e7334d3890",
            b"tim B913A602C7EDA7A495B4E6E7334D3890",
        ]:
            self.assertRaises(SASLError, CramMD5Server().respond, response)

    def test_noInitialResponse(self):
        self.assertRaises(SASLError, CramMD5Server().start, b"tim")


class DigestMD5Tests(SynchronousTestCase):
    """
    RFC 2831 section 4's example, and Vortex's exchange from
    ``interop/vortex/08-sasl-digest-md5``.
    """

    def test_rfc2831Client(self):
        client = DigestMD5Client("chris", "secret", "elwood.innosoft.com", cnonce="OA6MHXh6VqTrRk")
        client._digestURI = "imap/elwood.innosoft.com"  # the RFC's example is for IMAP
        response = client.challenge(
            b'realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",qop="auth",'
            b"algorithm=md5-sess,charset=utf-8"
        )
        self.assertIn(b"response=d388dad90d4bbd760a152321f2143af7", response)
        client.complete(b"rspauth=ea40f60335c427b5527b84dbabcdfffd")
        self.assertRaises(SASLError, DigestMD5Client("chris", "secret", "x").complete, b"rspauth=0")

    def test_rfc2831Server(self):
        server = DigestMD5Server("elwood.innosoft.com", nonce="OA6MG9tEQGm2hh")
        server.start(None)
        server._claim = None
        claim = server.respond(
            b'charset=utf-8,username="chris",realm="elwood.innosoft.com",'
            b'nonce="OA6MG9tEQGm2hh",nc=00000001,cnonce="OA6MHXh6VqTrRk",'
            b'digest-uri="beep/elwood.innosoft.com",'
            b"response=d388dad90d4bbd760a152321f2143af7,qop=auth"
        )
        # Same numbers, but a BEEP digest-uri: the response cannot match.
        self.assertFalse(claim.checkUserHash(userHash("chris", "elwood.innosoft.com", "secret")))

    def test_vortex(self):
        """
        Vortex's recorded response checks out, and our rspauth is the one
        Vortex sent.
        """
        server = DigestMD5Server("aspl.es", nonce="YnqcuYXBWh1ykk48bpaiug==")
        challenge = server.start(None).data
        self.assertIn(b'nonce="YnqcuYXBWh1ykk48bpaiug=="', challenge)
        claim = server.respond(
            base64.b64decode(
                "dXNlcm5hbWU9ImJvYiIsIHJlYWxtPSJhc3BsLmVzIiwgbm9uY2U9IllucWN1WVhCV2gxeWtrNDhi"
                "cGFpdWc9PSIsIGNub25jZT0iaDFieFhmcE93dzNDYm9hNEwyL1pGUT09IiwgbmM9MDAwMDAwMDEs"
                "IHFvcD1hdXRoLCBkaWdlc3QtdXJpPSJiZWVwLzEyNy4wLjAuMSIsIHJlc3BvbnNlPTY0NjYwMzQ0"
                "ZDAxNDlhNDU3NWFmYjViMGJjZTU4ZjI0LCBjaGFyc2V0PXV0Zi04"
            )
        )
        secret = claim.userHashFor("secret")
        self.assertTrue(claim.checkUserHash(secret))
        self.assertFalse(claim.checkUserHash(claim.userHashFor("wrong")))
        self.assertEqual(
            server.succeeded(secret), Success(b"rspauth=0ca3392b1855f8b69313822e2422fc1a")
        )

    def test_roundTrip(self):
        server = DigestMD5Server("example.org")
        client = DigestMD5Client("bob", "secret", "example.org", authorizationId="alice")
        claim = server.respond(client.challenge(server.start(None).data))
        self.assertEqual((claim.authenticationId, claim.authorizationId), ("bob", "alice"))
        secret = claim.userHashFor("secret")
        self.assertTrue(claim.checkUserHash(secret))
        client.complete(server.succeeded(secret).data)

    def test_refusals(self):
        """
        Responses for another nonce, realm, service, qop or nonce count are
        refused before any password is looked at.
        """
        good = {
            "username": '"bob"',
            "realm": '"r"',
            "nonce": '"n"',
            "cnonce": '"c"',
            "nc": "00000001",
            "qop": "auth",
            "digest-uri": '"beep/h"',
            "response": "0" * 32,
        }
        self.assertIsInstance(self._respond(good), Claim)
        for name, value in [
            ("nonce", '"m"'),
            ("realm", '"s"'),
            ("digest-uri", '"imap/h"'),
            ("qop", "auth-conf"),
            ("nc", "00000002"),
            ("response", "xyz"),
        ]:
            self.assertRaises(SASLError, self._respond, dict(good, **{name: value}))
        self.assertRaises(
            SASLError, self._respond, {k: v for k, v in good.items() if k != "cnonce"}
        )
        self.assertRaises(
            SASLError, DigestMD5Server("r", nonce="n").respond, b'nonce="n",nonce="n"'
        )

    def _respond(self, values):
        server = DigestMD5Server("r", nonce="n")
        return server.respond(",".join(f"{k}={v}" for k, v in values.items()).encode())


class OTPTests(SynchronousTestCase):
    """
    RFC 2289 appendix C's vectors, and the exchange of RFC 2444 section 5.
    """

    vectors = [
        ("md5", "This is a test.", "TeSt", 0, "9E876134D90499DD", "INCH SEA ANNE LONG AHEM TOUR"),
        ("md5", "This is a test.", "TeSt", 1, "7965E05436F5029F", "EASE OIL FUM CURE AWRY AVIS"),
        ("md5", "This is a test.", "TeSt", 99, "50FE1962C4965880", "BAIL TUFT BITS GANG CHEF THY"),
        ("md5", "AbCdEfGhIjK", "alpha1", 0, "87066DD9644BF206", "FULL PEW DOWN ONCE MORT ARC"),
        ("md5", "AbCdEfGhIjK", "alpha1", 1, "7CD34C1040ADD14B", "FACT HOOF AT FIST SITE KENT"),
        ("md5", "AbCdEfGhIjK", "alpha1", 99, "5AA37A81F212146C", "BODE HOP JAKE STOW JUT RAP"),
        ("md5", "OTP's are good", "correct", 0, "F205753943DE4CF9", "ULAN NEW ARMY FUSE SUIT EYED"),
        ("sha1", "This is a test.", "TeSt", 0, "BB9E6AE1979D8FF4", "MILT VARY MAST OK SEES WENT"),
        ("sha1", "This is a test.", "TeSt", 1, "63D936639734385B", "CART OTTO HIVE ODE VAT NUT"),
        ("sha1", "AbCdEfGhIjK", "alpha1", 0, "AD85F658EBE383C9", "LEST OR HEEL SCOT ROB SUIT"),
    ]

    def test_vectors(self):
        for algorithm, passphrase, seed, count, hexValue, words in self.vectors:
            otp = oneTimePassword(passphrase, seed, count, algorithm)
            self.assertEqual(otp.hex().upper(), hexValue, (algorithm, passphrase, count))
            self.assertEqual(toWords(otp), words)
            self.assertEqual(fromWords(words.lower()), otp)

    def test_badWords(self):
        self.assertRaises(SASLError, fromWords, "FULL PEW DOWN ONCE MORT ART")  # checksum
        self.assertRaises(SASLError, fromWords, "FULL PEW DOWN ONCE MORT")
        self.assertRaises(SASLError, fromWords, "FULL PEW DOWN ONCE MORT XYZZY")

    def exchange(self, state, response=None, client=None):
        server = OTPServer()
        client = client or OTPClient("tim", "This is a test.")
        self.assertEqual(server.start(client.initialResponse()), Lookup("tim"))
        challenge = server.found(state)
        return server.respond(response or client.challenge(challenge.data)), challenge

    def test_exchange(self):
        """
        The server challenges for the sequence below the stored one; the
        right answer yields the new state, and only once.
        """
        state = OTPState.create("This is a test.", "TeSt", 100)
        claim, challenge = self.exchange(state)
        self.assertEqual(challenge, Challenge(b"otp-md5 99 TeSt ext"))
        new = claim.check(state)
        self.assertEqual(new, OTPState("md5", 99, "TeSt", bytes.fromhex("50FE1962C4965880")))
        self.assertIsNone(claim.check(new))

    def test_responseForms(self):
        """
        Hex and words, extended or not, are all accepted; a wrong password
        is not.
        """
        state = OTPState.create("This is a test.", "TeSt", 100)
        for response in [
            b"hex:50FE 1962 C496 5880",
            b"word:bail tuft bits gang chef thy",
            b"BAIL TUFT BITS GANG CHEF THY",
            b"50fe1962c4965880",
        ]:
            claim, _ = self.exchange(state, response)
            self.assertIsNotNone(claim.check(state))
        claim, _ = self.exchange(state, b"hex:9E876134D90499DD")
        self.assertIsNone(claim.check(state))

    def test_reinitialization(self):
        """
        An ``init-hex`` response replaces the state with the new one.
        """
        state = OTPState.create("This is a test.", "TeSt", 100)
        newOTP = oneTimePassword("AbCdEfGhIjK", "alpha1", 99)
        claim, _ = self.exchange(
            state, b"init-hex:50FE1962C4965880:md5 99 alpha1:" + newOTP.hex().encode()
        )
        self.assertEqual(claim.check(state), OTPState("md5", 99, "alpha1", newOTP))

    def test_unknownUser(self):
        """
        An unknown user gets a plausible challenge, then fails.
        """
        claim, challenge = self.exchange(None)
        self.assertRegex(challenge.data, rb"^otp-md5 499 ke\d+ ext$")
        self.assertIsNone(claim.check(None))

    def test_exhausted(self):
        server = OTPServer()
        server.start(b"\0tim")
        self.assertRaises(SASLError, server.found, OTPState.create("This is a test.", "TeSt", 0))

    def test_beepcore(self):
        """
        beepcore-java answers challenge ``n`` with RFC 2289's password
        ``n - 1``; only a server told so accepts that, and then moves the
        sequence down by two.
        """
        state = OTPState.create("AbCdEfGhIjK", "alpha1", 2)
        client = OTPClient("tim", "AbCdEfGhIjK", beepcore=True)
        claim, challenge = self.exchange(state, client=client)
        self.assertEqual(challenge.data, b"otp-md5 1 alpha1 ext")
        self.assertIsNone(claim.check(state))
        server = OTPServer(beepcore=True)
        server.start(b"\0IW_User")
        server.found(state)
        claim = server.respond(b"word:FULL PEW DOWN ONCE MORT ARC")
        self.assertEqual(
            claim.check(state), OTPState("md5", 0, "alpha1", bytes.fromhex("87066DD9644BF206"))
        )

    def test_clientAnswers(self):
        """
        Our client answers in the extended form when the challenge offers it.
        """
        client = OTPClient("tim", "This is a test.", authorizationId="root")
        self.assertEqual(client.initialResponse(), b"root\0tim")
        self.assertEqual(
            client.challenge(b"otp-md5 99 TeSt ext"), b"word:BAIL TUFT BITS GANG CHEF THY"
        )
        self.assertEqual(
            OTPClient("t", "This is a test.").challenge(b"otp-sha1 1 TeSt"),
            b"CART OTTO HIVE ODE VAT NUT",
        )


class SCRAMTests(SynchronousTestCase):
    """
    RFC 5802 section 5 (SCRAM-SHA-1) and RFC 7677 section 3 (SCRAM-SHA-256).
    """

    vectors = [
        (
            "SCRAM-SHA-1",
            "fyko+d2lbbFgONRv9qkxdawL",
            "3rfcNHYJY1ZVvWVs7j",
            "QSXCR+Q6sek8bf92",
            "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
            "rmF9pqV8S7suAoZWja4dJRkFsKQ=",
        ),
        (
            "SCRAM-SHA-256",
            "rOprNGfwEbeRWgbNEkqO",
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
            "W22ZaJ0SNY7soEsUEjb6gQ==",
            "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
        ),
    ]

    def test_vectors(self):
        for name, clientNonce, serverNonce, salt, proof, verifier in self.vectors:
            client = SCRAMClient("user", "pencil", name=name, nonce=clientNonce)
            server = SCRAMServer(name, nonce=serverNonce)
            self.assertEqual(client.initialResponse(), f"n,,n=user,r={clientNonce}".encode())
            self.assertEqual(server.start(client.initialResponse()), Lookup("user"))
            keys = deriveKeys(
                "pencil", base64.b64decode(salt), 4096, "sha1" if name.endswith("1") else "sha256"
            )
            challenge = server.found(keys)
            nonce = clientNonce + serverNonce
            self.assertEqual(challenge.data, f"r={nonce},s={salt},i=4096".encode())
            clientFinal = client.challenge(challenge.data)
            self.assertEqual(clientFinal, f"c=biws,r={nonce},p={proof}".encode())
            claim = server.respond(clientFinal)
            self.assertTrue(claim.checkKeys(keys))
            self.assertFalse(claim.checkKeys(deriveKeys("pen", keys.salt, 4096, claim.hashName)))
            final = server.succeeded(keys.serverKey)
            self.assertEqual(final, Success(f"v={verifier}".encode()))
            client.complete(final.data)

    def test_wrongServerSignature(self):
        name, clientNonce, serverNonce, salt, proof, verifier = self.vectors[1]
        client = SCRAMClient("user", "pencil", nonce=clientNonce)
        client.challenge(f"r={clientNonce}{serverNonce},s={salt},i=4096".encode())
        self.assertRaises(SASLError, client.complete, b"v=" + base64.b64encode(b"x" * 32))
        self.assertRaises(SASLError, client.complete, None)
        self.assertRaises(SASLError, client.complete, b"e=invalid-proof")

    def test_authorizationAndEscaping(self):
        client = SCRAMClient("a,b=c", "pencil", authorizationId="x=y")
        server = SCRAMServer()
        self.assertTrue(client.initialResponse().startswith(b"n,a=x=3Dy,n=a=2Cb=3Dc,r="))
        self.assertEqual(server.start(client.initialResponse()), Lookup("a,b=c"))
        claim = server.respond(client.challenge(server.found(deriveKeys("pencil")).data))
        self.assertEqual((claim.authenticationId, claim.authorizationId), ("a,b=c", "x=y"))

    def test_refusals(self):
        """
        Channel binding (not offered), mandatory extensions, tampered nonces
        and bindings fail the exchange.
        """
        for first in [
            b"p=tls-unique,,n=user,r=abc",
            b"n,,m=ext,n=user,r=abc",
            b"x,,n=user,r=abc",
            b"n,,r=abc,n=user",
            b"n,,n=us=er,r=abc",
            b"n,,n=user,r=a,c",
        ]:
            self.assertRaises(SASLError, SCRAMServer().respond, first)
        server = SCRAMServer(nonce="S")
        server.respond(b"n,,n=user,r=C")
        server.found(deriveKeys("pencil"))
        self.assertRaises(
            SASLError, server.respond, b"c=biws,r=CX,p=" + base64.b64encode(b"p" * 32)
        )
        server = SCRAMServer(nonce="S")
        server.respond(b"y,,n=user,r=C")
        server.found(deriveKeys("pencil"))
        self.assertRaises(
            SASLError, server.respond, b"c=biws,r=CS,p=" + base64.b64encode(b"p" * 32)
        )

    def test_unknownUser(self):
        """
        An unknown user is offered the same salt each time.
        """
        salts = []
        for _ in range(2):
            server = SCRAMServer()
            server.respond(b"n,,n=nobody,r=C")
            salts.append(server.found(None).data.split(b",")[1])
        self.assertEqual(salts[0], salts[1])

    def test_iterationCap(self):
        client = SCRAMClient("user", "pencil", nonce="C", maxIterations=5000)
        self.assertRaises(SASLError, client.challenge, b"r=CS,s=QSXCR+Q6sek8bf92,i=100000")
        self.assertRaises(
            SASLError, SCRAMClient("user", "p", nonce="C").challenge, b"r=X,s=QSXC,i=1"
        )
