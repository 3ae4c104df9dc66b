# -*- test-case-name: beepy.test.test_chaos_tap -*-
"""
Tests for ``twistd beep-chaos``: :mod:`beepy.chaos.tap`'s options and
service, and the plugin as an installed ``twistd`` finds it.
"""

import io
import re
import sys

from twisted.application.service import IServiceMaker
from twisted.internet import defer, endpoints, reactor, utils
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.plugin import getPlugins
from twisted.python.filepath import FilePath
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase, TestCase

from beepy import BEEPServerFactory, Message, connectBEEP
from beepy.chaos import tap
from beepy.profiles.echo import ECHO_URI, EchoFactory
from beepy.testing.processes import (
    EDITABLE_HINT,
    TIMEOUT,
    TwistdProcess,
    cleanEnvironment,
    requireInstalled,
    twistdCommand,
)


def parse(*arguments):
    """
    :return: :class:`beepy.chaos.tap.Options` after parsing ``arguments``.
    """
    options = tap.Options()
    options.parseOptions(list(arguments))
    return options


class OptionsTests(SynchronousTestCase):
    """
    Tests for :class:`beepy.chaos.tap.Options`.
    """

    def test_defaults(self):
        """
        Only ``--backend`` is needed: the proxy then listens on TCP port
        10289 and passes everything through.
        """
        options = parse("--backend", "tcp:localhost:10288")
        self.assertEqual(options["listen"], ["tcp:10289"])
        self.assertEqual([(w, c.name) for w, c in options["mix"]], [(1, "dummy")])
        self.assertIsNone(options["seed"])

    def test_mix(self):
        """
        ``--behavior`` and ``--behavior-option`` build the mix; ``--seed``
        is an integer.
        """
        options = parse(
            "--backend", "tcp:localhost:10288", "--listen", "tcp:0",
            "--behavior", "20:split,10:delay", "--behavior", "corrupt",
            "--behavior-option", "delay:seconds=0.5", "--behavior-option", "corrupt:target=header",
            "--seed", "42",
        )
        self.assertEqual(
            [(w, c.name) for w, c in options["mix"]], [(20, "split"), (10, "delay"), (1, "corrupt")]
        )
        self.assertEqual(options["mix"][1][1].settings["seconds"], 0.5)
        self.assertEqual(options["mix"][2][1].settings["target"], "header")
        self.assertEqual(options["seed"], 42)

    def test_mistakes(self):
        """
        Each mistake is a usage error whose message says what is wrong.
        """
        backend = ["--backend", "tcp:localhost:10288"]
        for arguments, message in [
            ([], "--backend is required"),
            (backend + ["--behavior", "nosuch"], "no chaos behaviour 'nosuch'"),
            (backend + ["--behavior-option", "delay:seconds=x"], "is for 'delay', not in the mix"),
            (backend + ["--behavior", "delay", "--behavior-option", "delay:seconds=x"],
             "bad value 'x' for delay:seconds"),
            (backend + ["--listen", "nosuch:1"], "invalid --listen endpoint 'nosuch:1'"),
            (["--backend", "tcp:nohost"], "invalid --backend endpoint 'tcp:nohost'"),
        ]:
            error = self.assertRaises(UsageError, parse, *arguments)
            self.assertIn(message, str(error))

    def test_helpBehaviors(self):
        """
        ``--help-behaviors`` lists every behaviour with its options, types
        and defaults, and exits.
        """
        output = io.StringIO()
        self.patch(sys, "stdout", output)
        self.assertRaises(SystemExit, parse, "--help-behaviors")
        text = output.getvalue()
        for name in ["dummy", "delay", "split", "slow", "blackout", "reset", "corrupt", "hang"]:
            self.assertIn(f"\n{name}: ", "\n" + text)
        self.assertIn("delay:seconds=a number >= 0 (default 1.0)", text)
        self.assertIn("corrupt:target=one of any|header|payload (default any)", text)


class ServiceTests(SynchronousTestCase):
    """
    Tests for :func:`beepy.chaos.tap.makeService`.
    """

    def test_listens(self):
        """
        The service listens on every ``--listen`` endpoint once started, with
        the proxy's factory, and connects accepted clients to the backend.
        """
        clock = MemoryReactorClock()
        options = parse(
            "--backend", "tcp:backend.invalid:10288", "--listen", "tcp:1234", "--listen", "tcp:1235"
        )
        service = tap.makeService(options, reactor=clock)
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual([port for port, *_ in clock.tcpServers], [1234, 1235])
        factory = clock.tcpServers[0][1]
        factory.buildProtocol(None).makeConnection(StringTransport())
        self.assertEqual([(host, port) for host, port, *_ in clock.tcpClients],
                         [("backend.invalid", 10288)])

    def test_plugin(self):
        """
        ``getPlugins(IServiceMaker)`` finds ``beep-chaos``, resolving to
        this module.
        """
        makers = [maker for maker in getPlugins(IServiceMaker) if maker.tapname == "beep-chaos"]
        self.assertTrue(makers)
        for maker in makers:
            self.assertIs(maker.options, tap.Options)
            self.assertIs(maker.makeService, tap.makeService)


class InstalledChaosPluginTests(TestCase):
    """
    ``twistd beep-chaos`` as an installed ``twistd`` runs it, in child
    processes that see only the installed distribution.
    """

    def setUp(self):
        self.directory = FilePath(self.mktemp())
        self.directory.makedirs()

    def _requireInstalled(self):
        return requireInstalled(self.directory)

    @defer.inlineCallbacks
    def twistd(self, *arguments):
        """
        Run ``twistd beep-chaos`` with ``arguments`` to its end.

        :return: a ``Deferred`` firing with ``(output text, exit code)``.
        """
        yield self._requireInstalled()
        executable, argv = twistdCommand()
        output, errors, code = yield utils.getProcessOutputAndValue(
            executable,
            argv[1:] + ["beep-chaos", *arguments],
            env=cleanEnvironment(),
            path=self.directory.path,
        ).addTimeout(TIMEOUT, reactor)
        return (output + errors).decode(errors="replace"), code

    @defer.inlineCallbacks
    def test_badOption(self):
        """
        A mistake makes twistd exit with a non-zero status, and its last
        line says what is wrong.
        """
        text, code = yield self.twistd("--backend", "tcp:127.0.0.1:1", "--behavior", "10:nosuch")
        self.assertNotEqual(code, 0, text)
        last = text.strip().splitlines()[-1]
        self.assertIn("no chaos behaviour 'nosuch'; there are blackout, corrupt, delay", last)

    @defer.inlineCallbacks
    def test_helpBehaviors(self):
        """
        ``--help-behaviors`` lists the behaviours the installed plugin
        finds.
        """
        text, code = yield self.twistd("--help-behaviors")
        self.assertEqual(code, 0, f"{text}\n{EDITABLE_HINT}")
        self.assertIn("split:size=an integer >= 1 (default 16)", text)

    @defer.inlineCallbacks
    def test_proxyEcho(self):
        """
        ``twistd -n beep-chaos --behavior split`` logs the port it listens
        on and carries a BEEP session, split into pieces, to the backend.
        """
        yield self._requireInstalled()
        endpoint = endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
        server = yield endpoint.listen(BEEPServerFactory([EchoFactory()]))
        self.addCleanup(server.stopListening)

        executable, argv = twistdCommand()
        process = TwistdProcess()
        process.listening = re.compile(rb"BEEP chaos proxy listening on [^\n]*\bport=(\d+)")
        transport = reactor.spawnProcess(
            process,
            executable,
            argv
            + ["-n", "-l", "-", "--pidfile=", "beep-chaos", "--listen", "tcp:0:interface=127.0.0.1",
               "--backend", f"tcp:127.0.0.1:{server.getHost().port}",
               "--behavior", "split", "--behavior-option", "split:size=3", "--seed", "1"],
            env=cleanEnvironment(),
            path=self.directory.path,
        )
        self.addCleanup(process.terminate, transport)
        port = yield process.whenListening().addTimeout(TIMEOUT, reactor)

        client = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port)
        session = yield connectBEEP(client).addTimeout(TIMEOUT, reactor)
        channel = yield session.openChannel([ECHO_URI]).addTimeout(TIMEOUT, reactor)
        reply = yield channel.sendMessage(Message(b"through the chaos")).addTimeout(TIMEOUT, reactor)
        self.assertEqual(reply.body, b"through the chaos")
        yield session.close().addTimeout(TIMEOUT, reactor)
        self.assertIn("gets split(direction=both,interval=0.0,size=3)", process.text())
        yield process.terminate(transport)
