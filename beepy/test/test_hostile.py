# -*- test-case-name: beepy.test.test_hostile -*-
"""
Hostile input: XML built to expand or to reach outside (billion laughs,
quadratic blowup, external entities and DTDs, parameter entities) wherever
a peer's XML is parsed, and the fuzz targets of :mod:`beepy.testing.fuzz`.

Every XML attack must end in a refusal (``<error code='500'>``) or, where
no reply is possible, in termination; never in memory growth or in a file
being read.
"""

import base64
import io
import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from beepy import BEEPError, ProfileElement, ReplyCode, SessionConfig
from beepy.channel import ChannelStart
from beepy.core.events import ChannelStartRequested, TLSRefused
from beepy.core.frames import FrameType
from beepy.core.management import TLS_URI, Start, parseManagement
from beepy.core.mime import Message
from beepy.core.sasl.base import SASLError
from beepy.core.sasl.blob import parseBlob
from beepy.sasl import mechanismURI
from beepy.test.test_sasl import SASLTestCase, connect
from beepy.test.test_session import URI, ScriptedPeer, SessionTestCase, dataFramesOn
from beepy.testing import fuzz
from beepy.tls import TLSProfileFactory

MSG, RPY, ERR = FrameType.MSG, FrameType.RPY, FrameType.ERR

#: What parsing one hostile document may allocate at its peak: a refused
#: document costs a few kilobytes; the smallest expansion here, 700 KB.
MEMORY_BOUND = 256 * 1024
#: Windows that admit every document in one frame.
WIDE = SessionConfig(receiveWindow=65536, maxFrameSize=65536)


def hostileDocuments(root, secret):
    """
    Attacks on an XML parser, each with ``root`` as its document element,
    each small enough to be piggybacked (4096 octets) and to expand, if it
    were let, well past :data:`MEMORY_BOUND`.

    :param secret: a ``file:`` URI whose content must never be read.
    :return: name -> document.
    """
    laughs = "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )
    return {
        "billion laughs": (
            f'<?xml version="1.0"?><!DOCTYPE {root} [<!ENTITY lol0 "lol">{laughs}]>'
            f"<{root}>&lol9;</{root}>"
        ).encode(),
        "quadratic blowup": (
            f'<!DOCTYPE {root} [<!ENTITY a "{"A" * 1000}">]><{root}>{"&a;" * 700}</{root}>'
        ).encode(),
        "external entity": (
            f'<!DOCTYPE {root} [<!ENTITY xxe SYSTEM "{secret}">]><{root}>&xxe;</{root}>'
        ).encode(),
        "external DTD": f'<!DOCTYPE {root} SYSTEM "{secret}"><{root} />'.encode(),
        "parameter entity": (
            f'<!DOCTYPE {root} [<!ENTITY % p SYSTEM "{secret}"> %p;]><{root} />'
        ).encode(),
        "undeclared entity": f"<{root}>&xxe;</{root}>".encode(),
    }


class HostileXMLTestCase(SynchronousTestCase):
    def setUp(self):
        path = FilePath(self.mktemp())
        path.setContent(b"SECRET-MARKER")
        self.secretURI = "file://" + path.path

    def documents(self, root):
        return hostileDocuments(root, self.secretURI)

    def assertRefusedCheaply(self, parse, document, exceptionType=BEEPError):
        """
        Assert that ``parse(document)`` raises ``exceptionType`` with code
        500, never mentions the secret, and allocates little on the way.
        """
        tracemalloc.start()
        try:
            error = self.assertRaises(exceptionType, parse, document)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        self.assertEqual(error.code, ReplyCode.GENERAL_SYNTAX_ERROR, error)
        self.assertNotIn("SECRET", str(error))
        self.assertLess(peak, MEMORY_BOUND)


class ParserTests(HostileXMLTestCase):
    """
    The hardened parser itself, as channel management and SASL use it.
    """

    def test_management(self):
        for root in ("greeting", "start", "error", "ready"):
            for name, document in self.documents(root).items():
                with self.subTest(root=root, attack=name):
                    self.assertRefusedCheaply(parseManagement, document)

    def test_blob(self):
        for name, document in self.documents("blob").items():
            with self.subTest(attack=name):
                self.assertRefusedCheaply(parseBlob, document, SASLError)


class SessionTests(HostileXMLTestCase, SessionTestCase):
    """
    The same documents arriving on channel 0 of a session.
    """

    def hostileMessage(self, document):
        return Message(document, contentType="application/beep+xml").toPayload()

    def test_requestRefusedWith500(self):
        """
        In a channel-0 ``MSG``, each is answered ``<error code='500'>``
        and the session goes on.
        """
        peer = ScriptedPeer(config=WIDE)
        for msgno, document in enumerate(self.documents("start").values(), start=1):
            tracemalloc.start()
            try:
                events = peer.deliver(peer.frame(MSG, 0, msgno, self.hostileMessage(document)))
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            self.assertEqual(events, [])
            self.assertLess(peak, MEMORY_BOUND)
        peer.read()
        answers = peer.channelZeroReplies()
        self.assertEqual({(kind, error.code) for kind, error in answers}, {(ERR, 500)})
        self.assertEqual(len(answers), 6)
        self.assertNotIn(b"SECRET", b"".join(f.payload for f in dataFramesOn(peer.frames, 0)))
        events = peer.deliver(peer.request(Start(1, (ProfileElement(URI),))))
        self.assertEventTypes(events, ChannelStartRequested)

    def test_greetingTerminates(self):
        """
        As the peer's greeting, which cannot be refused, each terminates
        the session.
        """
        for name, document in self.documents("greeting").items():
            with self.subTest(attack=name):
                peer = ScriptedPeer(config=WIDE, greet=False)
                events = peer.deliver(peer.frame(RPY, 0, 0, self.hostileMessage(document)))
                self.assertViolated(peer, events, "unparseable reply on channel 0")

    def test_tlsReplyRefused(self):
        """
        As the ``<proceed />`` piggybacked in the answer to our TLS request,
        each is a refusal (500): no TLS, no expansion.
        """
        for name, document in self.documents("proceed").items():
            with self.subTest(attack=name):
                peer = ScriptedPeer(config=WIDE)
                peer.session.requestTLS()
                peer.read()
                payload = self.hostileMessage(
                    b"<profile uri='%s' encoding='base64'>%s</profile>"
                    % (TLS_URI.encode(), base64.b64encode(document))
                )
                events = peer.deliver(peer.frame(RPY, 0, 1, payload))
                self.assertEventTypes(events, TLSRefused)
                self.assertEqual(events[0].error.code, ReplyCode.GENERAL_SYNTAX_ERROR)

    def test_tlsReadyNotTaken(self):
        """
        As the ``<ready />`` piggybacked on a TLS start, each is no TLS
        request; the TLS profile refuses such a start.
        """
        for name, document in self.documents("ready").items():
            with self.subTest(attack=name):
                peer = ScriptedPeer(profiles=(TLS_URI,))
                start = Start(1, (ProfileElement(TLS_URI, document),))
                events = peer.deliver(peer.request(start))
                self.assertEventTypes(events, ChannelStartRequested)
                error = self.assertRaises(
                    BEEPError,
                    TLSProfileFactory().buildProfile,
                    None,
                    ChannelStart(content=document),
                )
                self.assertEqual(error.code, ReplyCode.PARAMETER_SYNTAX_ERROR)


class SASLTests(HostileXMLTestCase, SASLTestCase):
    """
    The same documents as SASL ``<blob>``\\ s, through a listener with a
    SASL policy.
    """

    def setUp(self):
        HostileXMLTestCase.setUp(self)
        SASLTestCase.setUp(self)

    def test_piggybackedRefused(self):
        """
        Piggybacked on the start of a SASL channel, each gets the start
        refused with 500.
        """
        for name, document in self.documents("blob").items():
            with self.subTest(attack=name):
                client, server, pump = connect(self.policy(allowPlaintext=True, maxFailures=10))
                pump.flush()
                opening = client.openChannel(ProfileElement(mechanismURI("PLAIN"), document))
                pump.flush()
                error = self.failureResultOf(opening, BEEPError).value
                self.assertEqual(error.code, ReplyCode.GENERAL_SYNTAX_ERROR)
                self.assertNotIn("SECRET", error.text)
                self.assertIsNone(server.authentication)

    def test_messageRefused(self):
        """
        In a ``MSG`` on an open SASL channel, each is answered with
        ``ERR`` 500.
        """
        for name, document in self.documents("blob").items():
            with self.subTest(attack=name):
                client, server, pump = connect(self.policy(allowPlaintext=True, maxFailures=10))
                pump.flush()
                opening = client.openChannel(mechanismURI("PLAIN"))
                pump.flush()
                channel = self.successResultOf(opening)
                reply = channel.sendMessage(
                    Message(document, contentType="application/beep+xml")
                )
                pump.flush()
                error = self.failureResultOf(reply, BEEPError).value
                self.assertEqual(error.code, ReplyCode.GENERAL_SYNTAX_ERROR)
                self.assertIsNone(server.authentication)


class FuzzTargetTests(SynchronousTestCase):
    """
    Each fuzz target, run briefly: arbitrary input parses or raises the
    project's error for it.  (``python -m beepy.testing.fuzz`` runs them
    for longer.)
    """

    def test_targets(self):
        self.assertIn("session", fuzz.TARGETS)
        for mechanism in ("PLAIN", "ANONYMOUS", "EXTERNAL", "CRAM-MD5", "DIGEST-MD5", "OTP"):
            self.assertIn(f"sasl-server-{mechanism}", fuzz.TARGETS)
            self.assertIn(f"sasl-client-{mechanism}", fuzz.TARGETS)
        for name, target in sorted(fuzz.TARGETS.items()):
            with self.subTest(target=name):
                target()

    def test_list(self):
        out = io.StringIO()
        self.assertEqual(fuzz.main(["--list"], out), 0)
        self.assertEqual(out.getvalue().split(), sorted(fuzz.TARGETS))

    def test_runFor(self):
        """
        A run ends after the time given and says how many inputs passed.
        """
        out = io.StringIO()
        self.assertEqual(fuzz.main(["management", "--seconds", "0.2", "--seed", "3"], out), 0)
        self.assertRegex(out.getvalue(), r"^management: \d+ inputs in 0.2 s, no failure")

    def test_failureReported(self):
        """
        A failing input is printed, with its traceback, and can be
        replayed.
        """

        @settings(database=None)
        @given(st.binary())
        def fragile(data):
            if data:
                raise IndexError("escaped")

        self.patch(fuzz, "TARGETS", {"fragile": fragile})
        out = io.StringIO()
        self.assertEqual(fuzz.main(["fragile", "--seconds", "5", "--seed", "1"], out), 1)
        self.assertIn("IndexError: escaped", out.getvalue())
        failing = out.getvalue().rsplit("input: ", 1)[1].strip()
        self.assertRaises(IndexError, fuzz.main, ["fragile", "--replay", failing], out)

    def test_slowInputReported(self):
        """
        An input that keeps a target busy past ``--input-timeout`` is a
        failure, reported like any other.
        """

        @settings(database=None)
        @given(st.binary())
        def stuck(data):
            while True:
                pass

        self.patch(fuzz, "TARGETS", {"stuck": stuck})
        out = io.StringIO()
        arguments = ["stuck", "--seconds", "30", "--input-timeout", "0.1"]
        self.assertEqual(fuzz.main(arguments, out), 1)
        self.assertIn("InputTimeout", out.getvalue())
        self.assertIn("stuck: failed after 0 inputs", out.getvalue())
