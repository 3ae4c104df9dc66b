# -*- test-case-name: beepy.test.test_tap -*-
"""
Tests for :mod:`beepy.tap`, the ``twistd beep`` options and service.
"""

import io

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import IService, MultiService
from twisted.internet.address import IPv4Address
from twisted.internet.error import CannotListenError, ConnectionDone
from twisted.internet.testing import (
    EventLoggingObserver,
    MemoryReactorClock,
    RaisingMemoryReactor,
    StringTransport,
)
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.python.filepath import FilePath
from twisted.python.usage import UsageError
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase

from beepy.core.management import TLS_URI
from beepy.core.mime import Message
from beepy.core.session import SessionConfig
from beepy.factory import BEEPClientFactory, BEEPServerFactory
from beepy.profiles.echo import ECHO_URI
from beepy.profiles.sink import SINK_URI
from beepy.sasl import mechanismURI
from beepy.tap import DEFAULT_LISTEN, Options, makeService


def parse(*arguments):
    """
    :return: :class:`Options` after parsing ``arguments``.
    """
    options = Options()
    options.parseOptions(list(arguments))
    return options


def connectInMemory(serverFactory):
    """
    Connect a client to a session of ``serverFactory``, in memory.

    :return: ``(client, server, pump)``.
    """
    server = serverFactory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 54321))
    client = BEEPClientFactory().buildProtocol(IPv4Address("TCP", "127.0.0.1", 10288))
    pump = iosim.connect(
        server,
        iosim.FakeTransport(server, isServer=True),
        client,
        iosim.FakeTransport(client, isServer=False),
    )
    return client, server, pump


class OptionsTests(SynchronousTestCase):
    """
    Tests for :class:`beepy.tap.Options`.
    """

    def test_defaultListen(self):
        """
        Without ``--listen``, the server listens on TCP port 10288.
        """
        self.assertEqual(DEFAULT_LISTEN, "tcp:10288")
        self.assertEqual(parse()["listen"], ["tcp:10288"])

    def test_listen(self):
        """
        ``--listen`` replaces the default.
        """
        self.assertEqual(parse("--listen", "tcp:1234")["listen"], ["tcp:1234"])

    def test_listenEquals(self):
        """
        ``--listen=ENDPOINT`` works as well as ``--listen ENDPOINT``.
        """
        self.assertEqual(
            parse("--listen=tcp:1234:interface=127.0.0.1")["listen"],
            ["tcp:1234:interface=127.0.0.1"],
        )

    def test_listenRepeated(self):
        """
        Every ``--listen`` is kept, in the order given.
        """
        options = parse(
            "--listen", "tcp:1234", "--listen", "unix:/tmp/beep.sock", "--listen", "tcp6:0"
        )
        self.assertEqual(options["listen"], ["tcp:1234", "unix:/tmp/beep.sock", "tcp6:0"])

    def test_defaultsNotShared(self):
        """
        Each :class:`Options` has its own list of endpoints.
        """
        parse("--listen", "tcp:1234")
        self.assertEqual(parse()["listen"], ["tcp:10288"])

    def test_badEndpoint(self):
        """
        An endpoint description that cannot be parsed is a usage error that
        names it, not a traceback from deep inside the endpoint parser.
        """
        for bad in ["nosuchtype:1234", "tcp:notaport", "tcp:1234:bogus=1", "tcp", ""]:
            error = self.assertRaises(UsageError, parse, "--listen", bad)
            self.assertIn(f"invalid --listen endpoint {bad!r}", str(error))

    def test_missingArgument(self):
        """
        ``--listen`` without a value is a usage error.
        """
        self.assertRaises(UsageError, parse, "--listen")

    def test_helpMentionsListen(self):
        """
        ``--help`` documents ``--listen`` and its default.
        """
        text = str(Options())
        self.assertIn("--listen", text)
        self.assertIn("tcp:10288", text)


class MakeServiceTests(SynchronousTestCase):
    """
    Tests for :func:`beepy.tap.makeService`.
    """

    def setUp(self):
        self.reactor = MemoryReactorClock()

    def startService(self, *arguments):
        """
        Build and start the service for ``arguments``; stop it at cleanup.

        :return: the started service.
        """
        service = makeService(parse(*arguments), reactor=self.reactor)
        service.privilegedStartService()
        service.startService()
        self.addCleanup(lambda: service.running and service.stopService())
        return service

    def test_service(self):
        """
        ``makeService`` returns a ``MultiService`` of one endpoint service per
        ``--listen``, which does not listen before it starts.
        """
        service = makeService(parse("--listen", "tcp:1", "--listen", "tcp:2"), reactor=self.reactor)
        self.assertIsInstance(service, MultiService)
        self.assertTrue(IService.providedBy(service))
        children = list(service)
        self.assertEqual(len(children), 2)
        for child in children:
            self.assertIsInstance(child, StreamServerEndpointService)
        self.assertEqual(self.reactor.tcpServers, [])

    def test_listensWithDefault(self):
        """
        Started without ``--listen``, the service listens on TCP port 10288
        on every interface with a :class:`BEEPServerFactory`.
        """
        self.startService()
        [(port, factory, backlog, interface)] = self.reactor.tcpServers
        self.assertEqual((port, interface), (10288, ""))
        self.assertIsInstance(factory, BEEPServerFactory)

    def test_listensOnEach(self):
        """
        Each ``--listen`` endpoint listens, all with the same factory.
        """
        self.startService("--listen", "tcp:1234:interface=127.0.0.1", "--listen", "tcp:5678")
        servers = self.reactor.tcpServers
        self.assertEqual(
            [(port, interface) for port, _, _, interface in servers],
            [(1234, "127.0.0.1"), (5678, "")],
        )
        self.assertIs(servers[0][1], servers[1][1])

    def test_profiles(self):
        """
        The factory offers the echo and sink profiles.
        """
        self.startService()
        [(_, factory, _, _)] = self.reactor.tcpServers
        uris = sorted(profile.uri for profile in factory.profiles)
        self.assertEqual(uris, sorted([ECHO_URI, SINK_URI]))

    def test_greetingAndEcho(self):
        """
        A client connected in memory to a session from the service's factory
        is greeted with the echo and sink profiles and TLS, and the echo
        profile echoes.
        """
        self.startService()
        [(_, serverFactory, _, _)] = self.reactor.tcpServers
        client, server, pump = connectInMemory(serverFactory)
        self.assertEqual(sorted(client.peerProfiles), sorted([ECHO_URI, SINK_URI, TLS_URI]))

        opening = client.openChannel([ECHO_URI])
        pump.flush()
        channel = self.successResultOf(opening)
        replying = channel.sendMessage(Message(b"ping", contentType="text/plain"))
        pump.flush()
        reply = self.successResultOf(replying)
        self.assertEqual((reply.body, reply.contentType), (b"ping", "text/plain"))

    def test_logsAddress(self):
        """
        Once an endpoint listens, the service logs one line with the address
        it listens on, so a port chosen with ``tcp:0`` can be learned.
        """
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.startService("--listen", "tcp:4321")
        listening = [event for event in events if "address" in event]
        self.assertEqual(len(listening), 1)
        [event] = listening
        self.assertEqual(event["log_namespace"], "beepy.tap")
        self.assertEqual(event["address"], IPv4Address("TCP", "0.0.0.0", 4321))
        self.assertEqual(
            formatEvent(event),
            "BEEP server listening on IPv4Address(type='TCP', host='0.0.0.0', port=4321)",
        )

    def test_stopListening(self):
        """
        Stopping the service stops listening.
        """
        self.reactor = PortRecordingReactor()
        service = self.startService("--listen", "tcp:4321")
        [port] = self.reactor.ports
        self.assertFalse(port.stopped)
        self.successResultOf(service.stopService())
        self.assertTrue(port.stopped)

    def test_listenFailureRaised(self):
        """
        A failure to listen is raised from ``privilegedStartService``, so
        twistd reports it and exits instead of running without a port.
        """
        inUse = CannotListenError("", 10288, OSError("address in use"))
        refusing = RaisingMemoryReactor(listenException=inUse)
        service = makeService(parse(), reactor=refusing)
        self.assertRaises(CannotListenError, service.privilegedStartService)


class RecordingPort:
    """
    A listening port that remembers whether it was stopped.

    :ivar stopped: whether ``stopListening`` was called.
    """

    def __init__(self, port):
        self._port = port
        self.stopped = False

    def getHost(self):
        return self._port.getHost()

    def stopListening(self):
        self.stopped = True


class PortRecordingReactor(MemoryReactorClock):
    """
    A ``MemoryReactor`` that keeps the ports it listens with.

    :ivar ports: a :class:`RecordingPort` per ``listenTCP``.
    """

    def __init__(self):
        super().__init__()
        self.ports = []

    def listenTCP(self, port, factory, backlog=50, interface=""):
        listening = RecordingPort(super().listenTCP(port, factory, backlog, interface))
        self.ports.append(listening)
        return listening


class AuthTests(SynchronousTestCase):
    """
    ``twistd beep --auth ... --sasl-mechanisms ...``: SASL through the
    checkers of Twisted's ``--auth`` plugins.
    """

    def connect(self, *arguments):
        """
        Start the service for ``arguments`` on a ``MemoryReactor`` and
        connect a client to a session of its factory, in memory.
        """
        reactor = MemoryReactorClock()
        service = makeService(parse(*arguments), reactor=reactor)
        service.startService()
        self.addCleanup(service.stopService)
        [(_, serverFactory, _, _)] = reactor.tcpServers
        return connectInMemory(serverFactory)

    def test_noAuth(self):
        self.assertIsNone(parse()["sasl"])

    def test_memory(self):
        """
        ``--auth memory:`` users (kept as text by the plugin) authenticate;
        before, the echo profile is refused with 530.
        """
        client, server, pump = self.connect("--auth", "memory:bob:secret")
        self.assertIn(mechanismURI("SCRAM-SHA-256"), client.peerProfiles)
        self.assertNotIn(mechanismURI("PLAIN"), client.peerProfiles)
        opening = client.openChannel([ECHO_URI])
        pump.flush()
        self.assertEqual(self.failureResultOf(opening).value.code, 530)
        authenticating = client.authenticate("CRAM-MD5", username="bob", password="secret")
        pump.flush()
        self.assertEqual(self.successResultOf(authenticating).authenticatedId, "bob")
        opening = client.openChannel([ECHO_URI])
        pump.flush()
        self.successResultOf(opening)
        self.assertEqual(server.avatar.avatarId, b"bob")

    def test_file(self):
        path = FilePath(self.mktemp())
        path.setContent(b"alice:wonderland\n")
        client, server, pump = self.connect("--auth", "file:" + path.path)
        authenticating = client.authenticate(username="alice", password="wonderland")
        pump.flush()
        self.assertEqual(self.successResultOf(authenticating).mechanism, "SCRAM-SHA-256")

    def test_mechanisms(self):
        """
        ``--sasl-mechanisms`` chooses what is offered, names in any case.
        """
        options = parse("--auth", "memory:bob:secret", "--sasl-mechanisms", "cram-md5, SCRAM-SHA-1")
        self.assertEqual(options["sasl"].mechanisms, ("CRAM-MD5", "SCRAM-SHA-1"))
        client, server, pump = self.connect(
            "--auth", "memory:bob:secret", "--sasl-mechanisms", "CRAM-MD5"
        )
        self.assertEqual(
            sorted(client.peerProfiles),
            sorted([mechanismURI("CRAM-MD5"), ECHO_URI, SINK_URI, TLS_URI]),
        )

    def test_anonymous(self):
        client, server, pump = self.connect("--auth", "anonymous")
        authenticating = client.authenticate(trace="me@example.com")
        pump.flush()
        self.assertEqual(self.successResultOf(authenticating).mechanism, "ANONYMOUS")

    def test_badMechanisms(self):
        """
        Unknown mechanisms, mechanisms without a checker, and mechanisms
        without ``--auth`` are usage errors.
        """
        self.assertRaises(UsageError, parse, "--auth", "memory:a:b", "--sasl-mechanisms", "KERBEROS")
        self.assertRaises(UsageError, parse, "--auth", "memory:a:b", "--sasl-mechanisms", "OTP")
        self.assertRaises(UsageError, parse, "--sasl-mechanisms", "PLAIN")
        error = self.assertRaises(UsageError, parse, "--sasl-max-failures", "5")
        self.assertEqual(str(error), "--sasl-max-failures needs --auth")

    def test_helpMentionsAuth(self):
        help = str(Options())
        self.assertIn("--auth", help)
        self.assertIn("--sasl-mechanisms", help)


class ProfileOptionsTests(SynchronousTestCase):
    """
    ``--profile``, ``--profile-option`` and ``--help-profiles``: the
    profiles come from the registry, by name.
    """

    def test_chosen(self):
        options = parse("--profile", "sink")
        self.assertEqual([profile.uri for profile in options["profiles"]], [SINK_URI])

    def test_order(self):
        options = parse("--profile", "sink", "--profile", "echo")
        self.assertEqual([p.uri for p in options["profiles"]], [SINK_URI, ECHO_URI])

    def test_profileOption(self):
        options = parse("--profile-option", "echo:delay=0.5", "--profile-option", "sink:window=8K")
        echo, sink = options["profiles"]
        self.assertEqual(echo.delay, 0.5)
        self.assertRaises(UsageError, parse, "--profile-option", "sink:window=8K!")

    def test_unknownProfile(self):
        error = self.assertRaises(UsageError, parse, "--profile", "chat")
        self.assertEqual(str(error), "no profile named 'chat'; registered: echo, ping, sink")

    def test_optionForAnotherProfile(self):
        error = self.assertRaises(
            UsageError, parse, "--profile", "echo", "--profile-option", "sink:window=8192"
        )
        self.assertEqual(str(error), "--profile-option for 'sink', which is not offered")

    def test_badProfileOptions(self):
        for text in ("echo", "echo:delay", ":delay=1", "echo:=1"):
            error = self.assertRaises(UsageError, parse, "--profile-option", text)
            self.assertIn("NAME:KEY=VALUE", str(error))
        error = self.assertRaises(UsageError, parse, "--profile-option", "echo:speed=1")
        self.assertEqual(str(error), "profile echo has no option 'speed' (its options: delay)")
        error = self.assertRaises(UsageError, parse, "--profile-option", "echo:delay=soon")
        self.assertEqual(str(error), "profile option echo:delay takes float, not 'soon'")

    def test_twice(self):
        self.assertRaises(UsageError, parse, "--profile", "echo", "--profile", "echo")

    def test_helpProfiles(self):
        """
        ``--help-profiles`` lists each profile's name, URI, description and
        options with their types and defaults, then exits with 0.
        """
        options = Options()
        options.profilesOutput = io.StringIO()
        exiting = self.assertRaises(SystemExit, options.parseOptions, ["--help-profiles"])
        self.assertEqual(exiting.code, 0)
        listing = options.profilesOutput.getvalue()
        self.assertIn(f"echo\n    {ECHO_URI}\n", listing)
        self.assertIn("echo:delay=FLOAT  Seconds each reply waits before it leaves. [default: 0.0]", listing)
        self.assertIn("sink:window=OCTETS  ", listing)

    def test_authGuardsChosenProfiles(self):
        """
        With ``--auth``, the profiles chosen need authentication.
        """
        options = parse("--profile", "sink", "--auth", "memory:bob:secret")
        self.assertTrue(options["sasl"].requiresAuthentication(SINK_URI, None))
        self.assertFalse(options["sasl"].requiresAuthentication(ECHO_URI, None))


class LimitOptionsTests(SynchronousTestCase):
    """
    Every limit is an option, reaching what enforces it.
    """

    def test_defaults(self):
        """
        Without limit options the session has the library's defaults.
        """
        options = parse()
        self.assertEqual(options["config"], SessionConfig())

    def test_sessionLimits(self):
        options = parse(
            "--receive-window", "2M",
            "--max-frame-size", "16K",
            "--max-message-size", "1G",
            "--max-channels", "9",
            "--max-header-length", "100",
            "--max-xml-size", "4K",
            "--stream-buffer", "1M",
        )  # fmt: skip
        self.assertEqual(
            options["config"],
            SessionConfig(
                receiveWindow=2 * 1024**2,
                maxFrameSize=16 * 1024,
                maxMessageSize=1024**3,
                maxChannels=9,
                maxHeaderLength=100,
                maxXMLSize=4096,
                streamBuffer=1024**2,
            ),
        )
        service = makeService(options, MemoryReactorClock())
        self.assertIs(service.services[0].factory.config, options["config"])

    def test_timeouts(self):
        """
        The timeouts reach the factory: the server's idle default is 300 s,
        and ``off`` turns a timer off rather than leaving its default.
        """
        factory = makeService(parse(), MemoryReactorClock()).services[0].factory
        self.assertEqual(
            (factory.greetingTimeout, factory.idleTimeout, factory.frameTimeout), (30, 300.0, 60)
        )
        options = parse(
            "--greeting-timeout", "5", "--idle-timeout", "off", "--frame-timeout", "0"
        )
        factory = makeService(options, MemoryReactorClock()).services[0].factory
        self.assertEqual(
            (factory.greetingTimeout, factory.idleTimeout, factory.frameTimeout), (5.0, None, None)
        )
        self.assertRaises(UsageError, parse, "--idle-timeout", "-1")

    def test_policyLimits(self):
        options = parse(
            "--tls-timeout", "5", "--sasl-max-failures", "1", "--auth", "memory:bob:secret"
        )
        self.assertEqual(options["sasl"].maxFailures, 1)
        factory = makeService(options, MemoryReactorClock()).services[0].factory
        self.assertEqual(factory.tls.timeout, 5.0)

    def test_badLimits(self):
        """
        A value a limit cannot take is a usage error naming it, whether the
        option's type or the session's own check refuses it.
        """
        self.assertRaises(UsageError, parse, "--max-channels", "0")
        self.assertRaises(UsageError, parse, "--max-frame-size", "lots")
        self.assertRaises(UsageError, parse, "--tls-timeout", "0")
        error = self.assertRaises(UsageError, parse, "--receive-window", "1000")
        self.assertIn("receiveWindow must be at least 4096", str(error))

    def test_helpShowsDefaults(self):
        help = str(Options())
        self.assertIn("--max-channels=", help)
        self.assertIn("[default: 256]", help)


class HAProxyTests(SynchronousTestCase):
    """
    ``--listen haproxy:...``: behind HAProxy, sessions know their real peer.
    """

    def test_proxiedPeer(self):
        """
        The session greets at once (HAProxy holds it until its client
        connects), and once the PROXY header has arrived its log events name
        the client HAProxy saw, not HAProxy.
        """
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        reactor = MemoryReactorClock()
        service = makeService(parse("--listen", "haproxy:tcp:10288"), reactor)
        service.startService()
        self.addCleanup(service.stopService)
        [(port, factory, _, _)] = reactor.tcpServers
        self.assertEqual(port, 10288)
        protocol = factory.buildProtocol(IPv4Address("TCP", "192.0.2.1", 40000))
        transport = StringTransport(
            hostAddress=IPv4Address("TCP", "192.0.2.2", 10288),
            peerAddress=IPv4Address("TCP", "192.0.2.1", 40000),
        )
        protocol.makeConnection(transport)
        protocol.dataReceived(b"PROXY TCP4 203.0.113.7 192.0.2.2 56324 10288\r\n")
        self.assertTrue(transport.value().startswith(b"RPY 0 0 . 0 "))
        protocol.connectionLost(Failure(ConnectionDone()))
        [closed] = [event for event in events if event.get("beepEvent") == "sessionClosed"]
        self.assertEqual((closed["peer"].host, closed["peer"].port), ("203.0.113.7", 56324))
