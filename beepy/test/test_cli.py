"""
Tests for the ``beepy`` console script, :mod:`beepy.cli`: its command line
and output in units, then whole commands in this process against real
loopback servers, then the installed script as a real process against a
real ``twistd beep``.
"""

import io
import os
import re

from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
from twisted.cred.portal import Portal
from twisted.internet import defer, endpoints, reactor
from twisted.internet.endpoints import HostnameEndpoint, TCP4ClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase, TestCase

from beepy import (
    BEEPError,
    BEEPServerFactory,
    Message,
    Profile,
    ProfileFactory,
    SessionTimeout,
    TLSPolicy,
)
from beepy.cli import ExitStatus, beepy, commands
from beepy.cli.commands import formatGreeting
from beepy.cli.options import DEFAULT_PORT, UsageError, endpointFromString, parseArguments
from beepy.cli.progress import ProgressMeter, formatSize
from beepy.cli.transfer import PipeProducer, ReplyWriter
from beepy.core.frames import DataFrame, FrameType
from beepy.core.management import TLS_URI, Greeting
from beepy.profiles.echo import ECHO_URI, EchoFactory
from beepy.profiles.sink import SINK_URI, SinkFactory
from beepy.sasl import AvatarIdRealm, ClientCertificateChecker, SASLPolicy
from beepy.testing.certificates import CertificateAuthority
from beepy.testing.processes import (
    TIMEOUT,
    cleanEnvironment,
    requireInstalled,
    runProcess,
    scriptCommand,
    startTwistd,
)

ANSWERS_URI = "http://example.com/profiles/answers"
FAILING_URI = "http://example.com/profiles/failing"
HANGUP_URI = "http://example.com/profiles/hangup"


class EndpointTests(SynchronousTestCase):
    """
    ENDPOINT is a Twisted endpoint string, or host[:port].
    """

    def assertHostPort(self, text, host, port):
        endpoint, name = endpointFromString(reactor, text)
        self.assertIsInstance(endpoint, HostnameEndpoint)
        self.assertEqual(name, host)
        shown = f"[{host}]" if ":" in host else host
        self.assertEqual(repr(endpoint), f"<HostnameEndpoint {shown}:{port}>")

    def test_host(self):
        self.assertHostPort("beep.example", "beep.example", DEFAULT_PORT)

    def test_hostPort(self):
        self.assertHostPort("beep.example:3000", "beep.example", 3000)

    def test_ipv6(self):
        self.assertHostPort("[::1]:3000", "::1", 3000)
        self.assertHostPort("[::1]", "::1", DEFAULT_PORT)
        self.assertHostPort("::1", "::1", DEFAULT_PORT)

    def test_endpointString(self):
        """
        A known endpoint type is parsed by Twisted; there is no host for TLS
        to check by default.
        """
        endpoint, host = endpointFromString(reactor, "tcp:beep.example:3000")
        self.assertIsInstance(endpoint, TCP4ClientEndpoint)
        self.assertIsNone(host)

    def test_badPort(self):
        for text in ("beep.example:0", "beep.example:http", "beep.example:70000", "[::1]:x"):
            self.assertRaises(UsageError, endpointFromString, reactor, text)

    def test_badEndpointString(self):
        error = self.assertRaises(UsageError, endpointFromString, reactor, "tcp:beep.example:x")
        self.assertIn("bad endpoint 'tcp:beep.example:x'", str(error))


class ArgumentTests(SynchronousTestCase):
    """
    :func:`parseArguments` takes options anywhere and refuses combinations
    that make no sense, with a message naming the command.
    """

    def assertUsageError(self, argv, message, command="beepy send"):
        error = self.assertRaises(UsageError, parseArguments, argv)
        self.assertIn(message, str(error))
        self.assertEqual(error.command, command)

    def test_optionsAfterEndpoint(self):
        arguments = parseArguments(
            ["send", "beep.example", "--profile", ECHO_URI, "-f", "body", "--tls", "--insecure"]
        )
        self.assertEqual(
            (arguments.command, arguments.endpoint, arguments.profile, arguments.file),
            ("send", "beep.example", ECHO_URI, "body"),
        )
        self.assertTrue(arguments.tls and arguments.insecure)
        self.assertFalse(arguments.trace)

    def test_noCommand(self):
        self.assertUsageError([], "COMMAND", "beepy")

    def test_profileRequired(self):
        self.assertUsageError(["send", "beep.example"], "-p/--profile")

    def test_tlsOptionsNeedTLS(self):
        for option in (["--ca", "a"], ["--cert", "c"], ["--insecure"], ["--server-name", "x"]):
            self.assertUsageError(
                ["greet", "beep.example"] + option, "needs --tls", "beepy greet"
            )

    def test_checksExclusive(self):
        self.assertUsageError(
            ["greet", "beep.example", "--tls", "--ca", "ca.pem", "--insecure"],
            "not allowed with argument",
            "beepy greet",
        )

    def test_saslMechanism(self):
        arguments = parseArguments(
            ["send", "h", "-p", ECHO_URI, "--sasl", "scram-sha-256", "-u", "bob",
             "--password-file", "pw"]
        )
        self.assertEqual(arguments.sasl, "SCRAM-SHA-256")
        self.assertUsageError(["send", "h", "-p", ECHO_URI, "--sasl", "KERBEROS"], "invalid choice")

    def test_saslCredentials(self):
        self.assertUsageError(
            ["send", "h", "-p", ECHO_URI, "--sasl", "PLAIN", "-u", "bob"],
            "--sasl PLAIN needs --user and --password-file",
        )
        self.assertUsageError(["send", "h", "-p", ECHO_URI, "-u", "bob"], "--user needs --sasl")
        self.assertEqual(
            parseArguments(["send", "h", "-p", ECHO_URI, "--sasl", "anonymous"]).sasl, "ANONYMOUS"
        )


    def test_timeout(self):
        self.assertEqual(parseArguments(["greet", "h"]).timeout, 60.0)
        self.assertEqual(parseArguments(["greet", "h", "--timeout", "2.5"]).timeout, 2.5)
        self.assertIsNone(parseArguments(["greet", "h", "--timeout", "off"]).timeout)
        self.assertUsageError(["greet", "h", "--timeout", "-1"], "--timeout", "beepy greet")


class FormatTests(SynchronousTestCase):
    def test_greeting(self):
        greeting = Greeting((ECHO_URI, TLS_URI), features="x-fast", localize="fr")
        self.assertEqual(
            formatGreeting(greeting),
            f"profiles:\n  {ECHO_URI}\n  {TLS_URI}\nfeatures: x-fast\nlocalize: fr\n",
        )

    def test_emptyGreeting(self):
        self.assertEqual(
            formatGreeting(Greeting()),
            "profiles:\n  (none)\nfeatures: (none)\nlocalize: (none)\n",
        )

    def test_sizes(self):
        self.assertEqual(
            [formatSize(n) for n in (0, 1023, 1536, 5 * 2**20, 2**40 * 3)],
            ["0 B", "1023 B", "1.5 KiB", "5.0 MiB", "3.0 TiB"],
        )


class FakeTerminal(io.StringIO):
    def __init__(self, terminal=True):
        super().__init__()
        self._terminal = terminal

    def isatty(self):
        return self._terminal


class ProgressMeterTests(SynchronousTestCase):
    """
    The progress line shows only on a terminal, and only once a transfer
    has taken a moment.
    """

    def test_quickTransfer(self):
        clock, stream = Clock(), FakeTerminal()
        meter = ProgressMeter(clock, stream, total=1000)
        meter.start()
        meter.countSent(1000)
        clock.advance(0.9)
        meter.stop()
        self.assertEqual(stream.getvalue(), "")
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_longTransfer(self):
        clock, stream = Clock(), FakeTerminal()
        meter = ProgressMeter(clock, stream, total=4 * 2**20)
        meter.start()
        meter.countSent(2**20)
        clock.advance(1)
        self.assertEqual(
            stream.getvalue(),
            "\rsent 1.0 MiB of 4.0 MiB (25%), received 0 B, 1.0 MiB/s\x1b[K",
        )
        meter.countSent(3 * 2**20)
        meter.countReceived(512)
        clock.advance(1)
        meter.stop()
        self.assertTrue(
            stream.getvalue().endswith(
                "\rsent 4.0 MiB of 4.0 MiB (100%), received 512 B, 2.0 MiB/s\x1b[K\n"
            ),
            repr(stream.getvalue()),
        )
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_notATerminal(self):
        clock, stream = Clock(), FakeTerminal(terminal=False)
        meter = ProgressMeter(clock, stream)
        meter.start()
        clock.advance(10)
        meter.stop()
        self.assertEqual(stream.getvalue(), "")


def frame(frameType, payload, more=False, msgno=0, ansno=None):
    return DataFrame(frameType, 1, msgno, more, 0, payload, ansno)


class ReplyWriterTests(SynchronousTestCase):
    """
    :class:`ReplyWriter` writes reply bodies without their MIME headers,
    streaming an ``RPY`` and writing each ``ANS`` whole.
    """

    def setUp(self):
        self.output = io.BytesIO()
        self.counted = []
        self.writer = ReplyWriter(self.output, self.counted.append, maxAnswerOctets=100)

    def test_reply(self):
        """
        The body streams out as frames come, even when the header block is
        split across frames.
        """
        self.writer.frameReceived(frame(FrameType.RPY, b"Content-Type: te", more=True))
        self.assertEqual(self.output.getvalue(), b"")
        self.writer.frameReceived(frame(FrameType.RPY, b"xt/plain\r\n\r\nfirst ", more=True))
        self.assertEqual(self.output.getvalue(), b"first ")
        self.writer.frameReceived(frame(FrameType.RPY, b"second"))
        self.assertEqual(self.output.getvalue(), b"first second")
        self.assertEqual(self.counted, [16, 18, 6])
        self.assertIsNone(self.writer.error)

    def test_headerless(self):
        self.writer.frameReceived(frame(FrameType.RPY, b"\r\nbody"))
        self.assertEqual(self.output.getvalue(), b"body")

    def test_answers(self):
        """
        Interleaved answers are each written whole, in the order they end.
        """
        self.writer.frameReceived(frame(FrameType.ANS, b"\r\non", more=True, ansno=0))
        self.writer.frameReceived(frame(FrameType.ANS, b"\r\ntwo ", ansno=1))
        self.writer.frameReceived(frame(FrameType.ANS, b"e ", ansno=0))
        self.writer.frameReceived(frame(FrameType.NUL, b""))
        self.assertEqual(self.output.getvalue(), b"two one ")

    def test_tooManyAnswers(self):
        """
        Unfinished answers beyond the limit break the session off, with a
        protocol violation as the reason.
        """
        disconnected = []
        session = type("Session", (), {"disconnect": lambda self: disconnected.append(True)})()
        self.writer.channel = type("Channel", (), {"session": session})()
        self.writer.frameReceived(frame(FrameType.ANS, b"\r\n" + b"x" * 60, more=True, ansno=0))
        self.assertEqual((disconnected, self.writer.error), ([], None))
        self.writer.frameReceived(frame(FrameType.ANS, b"\r\n" + b"y" * 60, more=True, ansno=1))
        self.assertEqual(disconnected, [True])
        self.assertEqual(
            str(self.writer.error), "the peer's unfinished answers exceed 100 octets"
        )
        self.assertEqual(self.output.getvalue(), b"")

    def test_error(self):
        payload = (
            b"Content-Type: application/beep+xml\r\n\r\n"
            b"<error code='550'>no such thing</error>"
        )
        self.writer.frameReceived(frame(FrameType.ERR, payload[:20], more=True))
        self.writer.frameReceived(frame(FrameType.ERR, payload[20:]))
        self.assertEqual(self.writer.error, BEEPError(550, "no such thing"))
        self.assertEqual(self.output.getvalue(), b"")


class Collector:
    def __init__(self):
        self.data = bytearray()

    def write(self, data):
        self.data += data


class PipeProducerTests(TestCase):
    """
    :class:`PipeProducer` reads a pipe in a thread and writes what it read
    in the reactor's.
    """

    @defer.inlineCallbacks
    def test_toTheEnd(self):
        readable, writable = os.pipe()
        self.addCleanup(os.close, readable)
        os.write(writable, b"piped ")
        os.write(writable, b"octets")
        os.close(writable)
        consumer = Collector()
        yield PipeProducer(reactor, readable).startProducing(consumer).addTimeout(
            TIMEOUT, reactor
        )
        self.assertEqual(consumer.data, b"piped octets")

    @defer.inlineCallbacks
    def test_readError(self):
        readable, writable = os.pipe()
        os.close(readable)
        os.close(writable)
        finished = PipeProducer(reactor, readable).startProducing(Collector())
        yield self.assertFailure(finished.addTimeout(TIMEOUT, reactor), OSError)


class AnswersProfile(Profile):
    def messageReceived(self, message):
        return [Message(b"one "), Message(b"two "), Message(b"three")]


class FailingProfile(Profile):
    def messageReceived(self, message):
        raise BEEPError(550, "not today")


class HangupProfile(Profile):
    def messageReceived(self, message):
        self.channel.session.disconnect()
        return defer.Deferred()


def _factory(uri, profile):
    return type(f"{profile.__name__}Factory", (ProfileFactory,), {"uri": uri, "profile": profile})()


AUTHORITY = CertificateAuthority()
SERVER_CERTIFICATE = AUTHORITY.issue("beep.example", "127.0.0.1")
CLIENT_CERTIFICATE = AUTHORITY.issue("client.example")


class CommandTestCase(TestCase):
    """
    Runs ``beepy`` in this process against servers on loopback.
    """

    def setUp(self):
        self.directory = FilePath(self.mktemp())
        self.directory.makedirs()

    @defer.inlineCallbacks
    def listen(self, factory):
        """
        :return: a ``Deferred`` firing with ``host:port`` of ``factory``
            listening on loopback until the test ends.
        """
        endpoint = endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
        port = yield endpoint.listen(factory)
        self.addCleanup(port.stopListening)
        return f"127.0.0.1:{port.getHost().port}"

    def listenBEEP(self, **kwargs):
        profiles = [
            EchoFactory(),
            SinkFactory(),
            _factory(ANSWERS_URI, AnswersProfile),
            _factory(FAILING_URI, FailingProfile),
            _factory(HANGUP_URI, HangupProfile),
        ]
        kwargs.setdefault("tls", TLSPolicy(SERVER_CERTIFICATE))
        return self.listen(BEEPServerFactory(profiles, **kwargs))

    @defer.inlineCallbacks
    def assertFailsAgainstBEEP(self, status, message, commandLine, **server):
        """
        :meth:`assertFails` against a new :meth:`listenBEEP` server (with
        ``server`` arguments), whose ``host:port`` replaces ``WHERE`` in
        ``commandLine``.
        """
        where = yield self.listenBEEP(**server)
        yield self.assertFails(status, message, commandLine.replace("WHERE", where))

    def pipe(self, content):
        """
        :return: the reading end of a pipe holding ``content`` (at most
            what a pipe buffers, 64 KiB on Linux), as stdin is for ``echo
            hi | beepy send``.
        """
        readable, writable = os.pipe()
        os.write(writable, content)
        os.close(writable)
        stream = os.fdopen(readable, "rb")
        self.addCleanup(stream.close)
        return stream

    def file(self, name, content):
        path = self.directory.child(name)
        path.setContent(content)
        return path.path

    @defer.inlineCallbacks
    def runBeepy(self, *argv, stdin=b""):
        """
        :return: a ``Deferred`` firing with ``(status, stdout, stderr)``.
        """
        self.patch(commands, "stdin", lambda: self.pipe(stdin))
        stdout, stderr = io.BytesIO(), io.StringIO()
        status = yield beepy(reactor, list(argv), stdout, stderr).addTimeout(TIMEOUT, reactor)
        return status, stdout.getvalue(), stderr.getvalue()

    @defer.inlineCallbacks
    def assertFails(self, status, message, commandLine):
        """
        ``beepy`` with the arguments of ``commandLine`` (split at spaces)
        exits with ``status``, printing nothing but the line ``beepy:
        message`` (a regular expression).
        """
        result = yield self.runBeepy(*commandLine.split())
        self.assertEqual(result[0], status, result)
        self.assertEqual(result[1], b"")
        self.assertRegex(result[2], f"^beepy: {message}\n$")


class GreetTests(CommandTestCase):
    @defer.inlineCallbacks
    def test_greet(self):
        where = yield self.listenBEEP(features="x-fast", localize="fr")
        status, out, err = yield self.runBeepy("greet", where)
        self.assertEqual((status, err), (ExitStatus.OK, ""))
        lines = out.decode().splitlines()
        self.assertEqual(lines[0], "profiles:")
        self.assertIn(f"  {ECHO_URI}", lines)
        self.assertIn(f"  {TLS_URI}", lines)
        self.assertEqual(lines[-2:], ["features: x-fast", "localize: fr"])

    @defer.inlineCallbacks
    def test_greetOverTLS(self):
        """
        With ``--tls`` the greeting is the one over TLS (no TLS profile),
        followed by the certificate's fingerprint.
        """
        where = yield self.listenBEEP()
        ca = self.file("ca.pem", AUTHORITY.certificate.dumpPEM())
        status, out, err = yield self.runBeepy(
            "greet", where, "--tls", "--ca", ca, "--server-name", "beep.example"
        )
        self.assertEqual((status, err), (ExitStatus.OK, ""))
        self.assertNotIn(TLS_URI, out.decode())
        self.assertIn(f"  {ECHO_URI}\n", out.decode())
        self.assertRegex(out.decode(), "TLS certificate SHA-256 fingerprint: [0-9A-F:]{95}\n$")

    @defer.inlineCallbacks
    def test_connectionRefused(self):
        port = yield endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            Factory.forProtocol(Protocol)
        )
        where = f"127.0.0.1:{port.getHost().port}"
        yield port.stopListening()
        yield self.assertFails(
            ExitStatus.UNREACHABLE,
            f"cannot connect to {where}: connection refused",
            f"greet {where}",
        )

    @defer.inlineCallbacks
    def test_silentPeer(self):
        """
        ``--timeout`` bounds the wait for the greeting (and for every reply,
        through the idle timeout): a silent peer is a refused session.
        """
        asked = []

        def connectBEEP(endpoint, **kwargs):
            asked.append(kwargs)
            return defer.fail(SessionTimeout("greeting", 5, "no greeting within"))

        self.patch(commands, "connectBEEP", connectBEEP)
        yield self.assertFails(
            ExitStatus.SESSION_REFUSED,
            "no greeting from 127.0.0.1:1: greeting: no greeting within 5 s",
            "greet 127.0.0.1:1 --timeout 5",
        )
        self.assertEqual(
            (asked[0]["greetingTimeout"], asked[0]["idleTimeout"]), (5.0, 5.0)
        )

    def test_timedOutMidway(self):
        """
        A session given up on after the greeting is a lost connection.
        """
        failed = commands._connectionFailure(SessionTimeout("idle", 60, "no octet in or out for"))
        self.assertEqual(failed.status, ExitStatus.CONNECTION_LOST)
        self.assertEqual(failed.message, "gave up: idle: no octet in or out for 60 s")

    @defer.inlineCallbacks
    def test_sessionRefused(self):
        """
        A greeting that is an ``<error>`` refuses the session.
        """
        refusal = (
            b"Content-Type: application/beep+xml\r\n\r\n"
            b"<error code='421'>too busy</error>"
        )

        class Refusing(Protocol):
            def connectionMade(self):
                self.transport.write(b"ERR 0 0 . 0 %d\r\n%sEND\r\n" % (len(refusal), refusal))

        where = yield self.listen(Factory.forProtocol(Refusing))
        yield self.assertFails(
            ExitStatus.SESSION_REFUSED,
            f"{where} refused the session: 421 too busy",
            f"greet {where}",
        )

    @defer.inlineCallbacks
    def test_noGreeting(self):
        class Hangup(Protocol):
            def connectionMade(self):
                self.transport.loseConnection()

        where = yield self.listen(Factory.forProtocol(Hangup))
        yield self.assertFails(
            ExitStatus.SESSION_REFUSED,
            f"no greeting from {where}: the connection ended without a release",
            f"greet {where}",
        )

    @defer.inlineCallbacks
    def test_notBEEP(self):
        class Chatty(Protocol):
            def connectionMade(self):
                self.transport.write(b"220 smtp.example ESMTP\r\n")

        where = yield self.listen(Factory.forProtocol(Chatty))
        yield self.assertFails(
            ExitStatus.SESSION_REFUSED,
            f"no greeting from {where}: unknown frame keyword in header b'220 smtp.example ESMTP'",
            f"greet {where}",
        )

    @defer.inlineCallbacks
    def test_usage(self):
        result = yield self.runBeepy("greet", "127.0.0.1", "--insecure")
        self.assertEqual(
            result,
            (ExitStatus.USAGE, b"", "beepy greet: --insecure needs --tls (see beepy greet --help)\n"),
        )


class SendTests(CommandTestCase):
    @defer.inlineCallbacks
    def test_file(self):
        """
        The file's content goes as the body; the echoed body is printed,
        without its headers, and nothing else.
        """
        where = yield self.listenBEEP()
        body = os.urandom(300 * 1024)
        path = self.file("body", body)
        status, out, err = yield self.runBeepy(
            "send", where, "--profile", ECHO_URI, "--file", path, "-t", "application/x-test"
        )
        self.assertEqual((status, err), (ExitStatus.OK, ""))
        self.assertEqual(out, body)

    @defer.inlineCallbacks
    def test_stdin(self):
        where = yield self.listenBEEP()
        status, out, err = yield self.runBeepy("send", where, "-p", ECHO_URI, stdin=b"from stdin")
        self.assertEqual((status, out, err), (ExitStatus.OK, b"from stdin", ""))

    @defer.inlineCallbacks
    def test_stdinFile(self):
        """
        A file as stdin (``beepy send ... < file``) is sent like ``--file``.
        """
        where = yield self.listenBEEP()
        body = os.urandom(200 * 1024)
        stream = open(self.file("body", body), "rb")
        self.addCleanup(stream.close)
        self.patch(commands, "stdin", lambda: stream)
        stdout, stderr = io.BytesIO(), io.StringIO()
        status = yield beepy(reactor, ["send", where, "-p", ECHO_URI], stdout, stderr)
        self.assertEqual((status, stdout.getvalue(), stderr.getvalue()), (ExitStatus.OK, body, ""))

    @defer.inlineCallbacks
    def test_emptyReply(self):
        where = yield self.listenBEEP()
        status, out, err = yield self.runBeepy("send", where, "-p", SINK_URI, stdin=b"swallowed")
        self.assertEqual((status, out, err), (ExitStatus.OK, b"", ""))

    @defer.inlineCallbacks
    def test_answers(self):
        where = yield self.listenBEEP()
        status, out, err = yield self.runBeepy("send", where, "-p", ANSWERS_URI)
        self.assertEqual((status, out, err), (ExitStatus.OK, b"one two three", ""))

    def test_errorReply(self):
        return self.assertFailsAgainstBEEP(
            ExitStatus.ERROR_REPLY,
            "the peer answered with an error: 550 not today",
            f"send WHERE -p {FAILING_URI}",
        )

    def test_refusedProfile(self):
        return self.assertFailsAgainstBEEP(
            ExitStatus.PROFILE_REFUSED,
            "the peer refused profile http://example.com/nothing: 550 .+",
            "send WHERE -p http://example.com/nothing",
        )

    def test_connectionLost(self):
        return self.assertFailsAgainstBEEP(
            ExitStatus.CONNECTION_LOST,
            "connection lost: .+",
            f"send WHERE -p {HANGUP_URI}",
        )

    @defer.inlineCallbacks
    def test_unreadableFile(self):
        missing = self.directory.child("missing").path
        yield self.assertFails(
            ExitStatus.USAGE,
            f"cannot read --file {missing}: No such file or directory",
            f"send 127.0.0.1:1 -p {ECHO_URI} -f {missing}",
        )

    @defer.inlineCallbacks
    def test_trace(self):
        """
        ``--trace`` prints every frame on stderr; the reply still goes to
        stdout alone.
        """
        where = yield self.listenBEEP()
        status, out, err = yield self.runBeepy("send", where, "-p", ECHO_URI, "--trace", stdin=b"hi")
        self.assertEqual((status, out), (ExitStatus.OK, b"hi"))
        lines = err.splitlines()
        self.assertRegex(lines[0], r'^> RPY 0 0 \. 0 \d+ "Content-Type: application/beep\+xml')
        self.assertIn('> MSG 1 0 * 2 2 "hi"', lines)
        self.assertIn('< RPY 1 0 . 0 4 "\\r\\nhi"', lines)
        self.assertRegex(lines[-1], r"^< RPY 0 \d+ \. \d+ \d+ .*<ok />")


class TLSTests(CommandTestCase):
    @defer.inlineCallbacks
    def test_trusted(self):
        where = yield self.listenBEEP()
        ca = self.file("ca.pem", AUTHORITY.certificate.dumpPEM())
        status, out, err = yield self.runBeepy(
            "send", where, "-p", ECHO_URI, "--tls", "--ca", ca, "--server-name", "beep.example",
            stdin=b"secret",
        )
        self.assertEqual((status, out, err), (ExitStatus.OK, b"secret", ""))

    @defer.inlineCallbacks
    def test_insecure(self):
        where = yield self.listenBEEP()
        status, out, err = yield self.runBeepy(
            "send", where, "-p", ECHO_URI, "--tls", "--insecure", stdin=b"secret"
        )
        self.assertEqual((status, out, err), (ExitStatus.OK, b"secret", ""))

    def test_untrusted(self):
        """
        By default the system's authorities are trusted, and the test
        authority is not one of them.
        """
        return self.assertFailsAgainstBEEP(
            ExitStatus.TLS_FAILED,
            "TLS failed: certificate verify failed",
            f"send WHERE -p {ECHO_URI} --tls",
        )

    @defer.inlineCallbacks
    def test_wrongName(self):
        where = yield self.listenBEEP()
        ca = self.file("ca.pem", AUTHORITY.certificate.dumpPEM())
        yield self.assertFails(
            ExitStatus.TLS_FAILED,
            "TLS failed: .*other.example.*",
            f"greet {where} --tls --ca {ca} --server-name other.example",
        )

    def test_wrongFingerprint(self):
        return self.assertFailsAgainstBEEP(
            ExitStatus.TLS_FAILED,
            "TLS failed: the peer's certificate has fingerprint [0-9A-F:]{95}, not AB:CD",
            "greet WHERE --tls --fingerprint AB:CD",
        )

    def test_notOffered(self):
        return self.assertFailsAgainstBEEP(
            ExitStatus.TLS_FAILED,
            "TLS failed: the peer does not offer TLS",
            "greet WHERE --tls --insecure",
            tls=None,
        )


class SASLTests(CommandTestCase):
    @defer.inlineCallbacks
    def listenSASL(self):
        checker = InMemoryUsernamePasswordDatabaseDontUse()
        checker.addUser(b"bob", b"secret")
        policy = SASLPolicy(Portal(AvatarIdRealm(), [checker]), requireAuthentication=[ECHO_URI])
        return (yield self.listenBEEP(sasl=policy, tls=None))

    def send(self, where, *options, password=b"secret\n"):
        passwordFile = self.file("password", password)
        return self.runBeepy(
            "send", where, "-p", ECHO_URI, "--user", "bob", "--password-file", passwordFile,
            *options, stdin=b"authenticated",
        )

    @defer.inlineCallbacks
    def test_authenticated(self):
        where = yield self.listenSASL()
        result = yield self.send(where, "--sasl", "SCRAM-SHA-256")
        self.assertEqual(result, (ExitStatus.OK, b"authenticated", ""))

    @defer.inlineCallbacks
    def test_wrongPassword(self):
        where = yield self.listenSASL()
        status, out, err = yield self.send(where, "--sasl", "CRAM-MD5", password=b"guess\n")
        self.assertEqual((status, out), (ExitStatus.AUTHENTICATION_FAILED, b""))
        self.assertRegex(err, "^beepy: authentication failed: 535 .*\n$")

    @defer.inlineCallbacks
    def test_plainOverTLS(self):
        """
        TLS comes first, then SASL: PLAIN is offered once the session is
        secured.
        """
        checker = InMemoryUsernamePasswordDatabaseDontUse()
        checker.addUser(b"bob", b"secret")
        policy = SASLPolicy(Portal(AvatarIdRealm(), [checker]), requireAuthentication=[ECHO_URI])
        where = yield self.listenBEEP(sasl=policy)
        result = yield self.send(where, "--tls", "--insecure", "--sasl", "PLAIN")
        self.assertEqual(result, (ExitStatus.OK, b"authenticated", ""))

    @defer.inlineCallbacks
    def test_external(self):
        """
        ``--cert`` presents a client certificate, which SASL EXTERNAL then
        authenticates.
        """
        policy = SASLPolicy(
            Portal(AvatarIdRealm(), [ClientCertificateChecker()]),
            requireAuthentication=[ECHO_URI],
        )
        where = yield self.listenBEEP(
            sasl=policy, tls=TLSPolicy(SERVER_CERTIFICATE, clientTrustRoot=AUTHORITY.certificate)
        )
        ca = self.file("ca.pem", AUTHORITY.certificate.dumpPEM())
        cert = self.file("client.pem", CLIENT_CERTIFICATE.dumpPEM())
        result = yield self.runBeepy(
            *f"send {where} -p {ECHO_URI} --tls --ca {ca} --server-name beep.example "
            f"--cert {cert} --sasl EXTERNAL".split(),
            stdin=b"certified",
        )
        self.assertEqual(result, (ExitStatus.OK, b"certified", ""))

    @defer.inlineCallbacks
    def test_badCertificate(self):
        cert = self.file("client.pem", AUTHORITY.certificate.dumpPEM())
        status, out, err = yield self.runBeepy(
            "greet", "127.0.0.1:1", "--tls", "--insecure", "--cert", cert
        )
        self.assertEqual((status, out), (ExitStatus.USAGE, b""))
        self.assertRegex(err, "^beepy: no certificate with its private key in --cert: .+\n$")

    @defer.inlineCallbacks
    def test_notOffered(self):
        """
        PLAIN is not offered in the clear.
        """
        where = yield self.listenSASL()
        status, out, err = yield self.send(where, "--sasl", "PLAIN")
        self.assertEqual((status, out), (ExitStatus.AUTHENTICATION_FAILED, b""))
        self.assertEqual(err, "beepy: authentication failed: the peer does not offer SASL PLAIN\n")


class ConsoleScriptTests(TestCase):
    """
    The installed ``beepy`` script, run as a real process against a real
    ``twistd beep``.
    """

    def setUp(self):
        self.directory = FilePath(self.mktemp())
        self.directory.makedirs()

    @defer.inlineCallbacks
    def requireScript(self):
        """
        Fail unless the installed ``beepy`` script is there and up to date
        (a test failure, as in :mod:`beepy.test.test_plugin`, not a
        ``setUp`` error).
        """
        yield requireInstalled(self.directory)
        self.script = scriptCommand("beepy")
        self.assertIsNotNone(self.script, "the beepy console script is not installed")

    @defer.inlineCallbacks
    def startServer(self):
        """
        Start ``twistd beep`` on a free loopback port.

        :return: a ``Deferred`` firing with ``host:port`` of the server.
        """
        yield self.requireScript()
        self.twistd, _ = startTwistd(self, self.directory, "--listen", "tcp:0:interface=127.0.0.1")
        port = yield self.twistd.whenListening().addTimeout(TIMEOUT, reactor)
        return f"127.0.0.1:{port}"

    def beepy(self, *argv, stdin=b""):
        """
        :return: a ``Deferred`` firing with ``(status, stdout, stderr)``.
        """
        process, _ = self.start(*argv, stdin=stdin)
        return process.ended.addCallback(
            lambda result: (result[2], result[0], result[1].decode())
        )

    def start(self, *argv, stdin=b""):
        """
        Start ``beepy argv``; see :func:`beepy.testing.processes.runProcess`.
        """
        return runProcess(
            self.script,
            [self.script] + list(argv),
            stdin=stdin,
            env=cleanEnvironment(),
            path=self.directory.path,
        )

    @defer.inlineCallbacks
    def test_greet(self):
        where = yield self.startServer()
        status, out, err = yield self.beepy("greet", where)
        self.assertEqual((status, err), (0, ""))
        self.assertEqual(
            out.decode(),
            f"profiles:\n  {ECHO_URI}\n  {SINK_URI}\n  {TLS_URI}\n"
            "features: (none)\nlocalize: (none)\n",
        )

    @defer.inlineCallbacks
    def test_sendEcho(self):
        where = yield self.startServer()
        status, out, err = yield self.beepy(
            "send", where, "--profile", ECHO_URI, stdin=b"hello, twistd\n"
        )
        self.assertEqual((status, out, err), (0, b"hello, twistd\n", ""))

    @defer.inlineCallbacks
    def test_sendTLS(self):
        """
        Over TLS with twistd's self-signed certificate: pinned by the
        fingerprint it logged, or not checked at all.
        """
        where = yield self.startServer()
        logged = re.search(r"SHA-256 fingerprint ([0-9A-F:]{95})", self.twistd.text())
        self.assertIsNotNone(logged, self.twistd.text())
        for check in (["--fingerprint", logged.group(1)], ["--insecure"]):
            status, out, err = yield self.beepy(
                "send", where, "-p", ECHO_URI, "--tls", *check, stdin=b"secured"
            )
            self.assertEqual((status, out, err), (0, b"secured", ""), check)

    @defer.inlineCallbacks
    def test_refusedProfile(self):
        where = yield self.startServer()
        status, out, err = yield self.beepy(
            "send", where, "-p", "http://example.com/nothing", stdin=b"x"
        )
        self.assertEqual((status, out), (ExitStatus.PROFILE_REFUSED, b""))
        self.assertRegex(err, "^beepy: the peer refused profile http://example.com/nothing: 550 .*\n$")

    @defer.inlineCallbacks
    def test_connectionRefused(self):
        yield self.requireScript()
        port = yield endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            Factory.forProtocol(Protocol)
        )
        where = f"127.0.0.1:{port.getHost().port}"
        yield port.stopListening()
        status, out, err = yield self.beepy("greet", where)
        self.assertEqual(
            (status, out, err),
            (ExitStatus.UNREACHABLE, b"", f"beepy: cannot connect to {where}: connection refused\n"),
        )

    @defer.inlineCallbacks
    def test_usage(self):
        yield self.requireScript()
        status, out, err = yield self.beepy("send", "127.0.0.1")
        self.assertEqual((status, out), (ExitStatus.USAGE, b""))
        self.assertEqual(
            err,
            "beepy send: the following arguments are required: -p/--profile "
            "(see beepy send --help)\n",
        )

    @defer.inlineCallbacks
    def test_interrupted(self):
        """
        Ctrl-C (``SIGINT``) while ``send`` waits on stdin ends it with status
        130 and one line, not with status 0 or a traceback.
        """
        where = yield self.startServer()
        process, transport = self.start("send", where, "-p", ECHO_URI, "--trace", stdin=None)
        yield process.whenError(b"> MSG 1 0 ").addTimeout(TIMEOUT, reactor)
        transport.signalProcess("INT")
        out, err, status = yield process.ended.addTimeout(TIMEOUT, reactor)
        self.assertEqual((status, out), (ExitStatus.INTERRUPTED, b""))
        self.assertTrue(err.endswith(b"\nbeepy: interrupted\n"), err)
