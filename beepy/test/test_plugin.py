# -*- test-case-name: beepy.test.test_plugin -*-
"""
Tests for the ``twistd beep`` plugin, ``twisted/plugins/beepy_server.py``.

Twisted finds plugins by scanning ``twisted/plugins`` directories on
``sys.path``, so whether ``twistd beep`` works depends on how beepy was
installed (an ordinary ``pip install -e .`` hides the plugin).  The tests of
:class:`InstalledPluginTests` therefore run real ``twistd`` processes from
an empty directory without ``PYTHONPATH``: they see exactly what a user of
the installed distribution sees, not this source tree.
"""

import re
import sys
import textwrap
from signal import SIGTERM

from twisted.application.service import IServiceMaker
from twisted.internet import defer, reactor, utils
from twisted.internet.endpoints import clientFromString
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.plugin import getPlugins
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase, TestCase

from beepy import tap
from beepy.certificates import fingerprint
from beepy.client import connectBEEP
from beepy.core.management import TLS_URI
from beepy.core.mime import Message
from beepy.profiles.echo import ECHO_URI
from beepy.profiles.sink import SINK_URI
from beepy.testing.processes import (
    EDITABLE_HINT,
    TIMEOUT,
    cleanEnvironment,
    requireInstalled,
    startTwistd,
    twistdCommand,
)


class PluginDiscoveryTests(SynchronousTestCase):
    """
    The plugin as Twisted's plugin system finds it in this process.
    """

    def test_found(self):
        """
        ``getPlugins(IServiceMaker)`` finds the ``beep`` service maker, and it
        resolves to :mod:`beepy.tap`.
        """
        makers = [maker for maker in getPlugins(IServiceMaker) if maker.tapname == "beep"]
        self.assertTrue(makers, "no IServiceMaker with tapname 'beep' was found")
        for maker in makers:
            self.assertEqual(maker.name, "BEEP server")
            self.assertIs(maker.options, tap.Options)
            self.assertIs(maker.makeService, tap.makeService)


class InstalledTestCase(TestCase):
    """
    Tests run in child processes that see only the installed distribution;
    each starts with :meth:`_requireInstalled`.
    """

    def setUp(self):
        self.directory = FilePath(self.mktemp())
        self.directory.makedirs()

    def _requireInstalled(self):
        """
        Fail, with the command that fixes it, unless the installation
        matches this source tree; see
        :func:`beepy.testing.processes.requireInstalled`.
        """
        return requireInstalled(self.directory)


class InstalledPluginTests(InstalledTestCase):
    """
    The plugin as an installed ``twistd`` finds it.
    """

    @defer.inlineCallbacks
    def test_twistHelp(self):
        """
        ``python -m twisted beep --help`` finds the plugin and documents
        ``--listen``.
        """
        yield self._requireInstalled()
        output, errors, code = yield utils.getProcessOutputAndValue(
            sys.executable,
            ["-m", "twisted", "beep", "--help"],
            env=cleanEnvironment(),
            path=self.directory.path,
        ).addTimeout(TIMEOUT, reactor)
        text = (output + errors).decode(errors="replace")
        self.assertEqual(
            code, 0, f"python -m twisted beep --help exited with {code} ({EDITABLE_HINT}):\n{text}"
        )
        self.assertIn("--listen", text)

    @defer.inlineCallbacks
    def test_twistdListsPlugin(self):
        """
        ``twistd --help`` lists the ``beep`` command.
        """
        yield self._requireInstalled()
        executable, argv = twistdCommand()
        output, errors, code = yield utils.getProcessOutputAndValue(
            executable, argv[1:] + ["--help"], env=cleanEnvironment(), path=self.directory.path
        ).addTimeout(TIMEOUT, reactor)
        text = (output + errors).decode(errors="replace")
        self.assertEqual(code, 0, text)
        self.assertTrue(
            re.search(r"^\s+beep\s+", text, re.MULTILINE),
            f"twistd --help does not list the beep plugin ({EDITABLE_HINT}):\n{text}",
        )

    @defer.inlineCallbacks
    def test_serveEcho(self):
        """
        ``twistd -n beep --listen tcp:0:interface=127.0.0.1`` logs the port it
        listens on, greets a client with the echo and sink profiles and TLS,
        secures the session with the self-signed certificate whose
        fingerprint it logged, echoes a message, and shuts down cleanly on
        ``SIGTERM``.
        """
        yield self._requireInstalled()
        process, transport = startTwistd(
            self, self.directory, "--listen", "tcp:0:interface=127.0.0.1"
        )

        port = yield process.whenListening().addTimeout(TIMEOUT, reactor)
        endpoint = clientFromString(reactor, f"tcp:127.0.0.1:{port}")
        session = yield connectBEEP(endpoint).addTimeout(TIMEOUT, reactor)
        closed = session.notifyClose()
        self.assertEqual(sorted(session.peerProfiles), sorted([ECHO_URI, SINK_URI, TLS_URI]))

        # A client that knows only the logged fingerprint pins it.
        yield session.startTLS(verify=False).addTimeout(TIMEOUT, reactor)
        logged = re.search(r"SHA-256 fingerprint ([0-9A-F:]{95})", process.text())
        self.assertIsNotNone(logged, process.text())
        self.assertEqual(fingerprint(session.peerCertificate), logged.group(1))
        self.assertEqual(sorted(session.peerProfiles), sorted([ECHO_URI, SINK_URI]))

        channel = yield session.openChannel([ECHO_URI]).addTimeout(TIMEOUT, reactor)
        message = Message(b"hello, twistd", contentType="text/plain")
        reply = yield channel.sendMessage(message).addTimeout(TIMEOUT, reactor)
        self.assertEqual((reply.body, reply.contentType), (b"hello, twistd", "text/plain"))

        yield session.close().addTimeout(TIMEOUT, reactor)
        yield closed.addTimeout(TIMEOUT, reactor)

        ended = yield process.terminate(transport)
        # twistd exits with status 0 on SIGTERM, or (newer Twisted) kills
        # itself with the same signal after its orderly shutdown.
        self.assertTrue(
            isinstance(ended, ProcessDone)
            or (isinstance(ended, ProcessTerminated) and ended.signal == SIGTERM),
            f"twistd did not exit cleanly on SIGTERM: {ended}\n{process.text()}",
        )
        self.assertIn("Server Shut Down.", process.text())


_THIRD_PARTY_PLUGIN = textwrap.dedent(
    """
    from beepy.profile import Profile, ProfileFactory
    from beepy.registry import ProfileOption, ProfilePlugin


    class Shout(Profile):
        def messageReceived(self, message):
            return message.body.upper() + self.factory.suffix.encode()


    class ShoutFactory(ProfileFactory):
        uri = "http://example.com/beep/shout"
        profile = Shout

        def __init__(self, suffix):
            self.suffix = suffix


    shout = ProfilePlugin(
        "shout",
        ShoutFactory.uri,
        "Answers every message in capitals.",
        ShoutFactory,
        [ProfileOption("suffix", str, "!", "Appended to every answer.")],
    )
    """
)


class ThirdPartyProfileTests(InstalledTestCase):
    """
    A profile from another distribution: a ``twisted/plugins`` module on the
    path of an installed ``twistd beep``, with no change to beepy.
    """

    def setUp(self):
        super().setUp()
        plugins = self.directory.child("site").descendant(["twisted", "plugins"])
        plugins.makedirs()
        plugins.child("acme_shout.py").setContent(_THIRD_PARTY_PLUGIN.encode())
        self.environment = cleanEnvironment()
        self.environment["PYTHONPATH"] = self.directory.child("site").path

    def twistd(self, *arguments):
        executable, argv = twistdCommand()
        return utils.getProcessOutputAndValue(
            executable,
            argv[1:] + ["beep", *arguments],
            env=self.environment,
            path=self.directory.path,
        ).addTimeout(TIMEOUT, reactor)

    @defer.inlineCallbacks
    def test_helpProfiles(self):
        """
        ``twistd beep --help-profiles`` lists beepy's profiles and the third
        party's, with its option.
        """
        yield self._requireInstalled()
        output, errors, code = yield self.twistd("--help-profiles")
        text = (output + errors).decode(errors="replace")
        self.assertEqual(code, 0, text)
        for name in ("echo", "sink", "shout"):
            self.assertRegex(text, rf"(?m)^{name}$")
        self.assertIn("shout:suffix=STR  Appended to every answer. [default: !]", text)

    @defer.inlineCallbacks
    def test_badProfileOption(self):
        """
        An option the profile does not declare stops twistd with a non-zero
        status and a line naming the profile's options.
        """
        yield self._requireInstalled()
        output, errors, code = yield self.twistd("--profile", "shout", "--profile-option", "shout:volume=11")
        self.assertNotEqual(code, 0)
        self.assertIn(
            "profile shout has no option 'volume' (its options: suffix)",
            (output + errors).decode(errors="replace"),
        )

    @defer.inlineCallbacks
    def test_serveThirdParty(self):
        """
        ``twistd beep --profile shout --profile-option shout:suffix=?``
        offers only that profile, built with that option.
        """
        yield self._requireInstalled()
        process, _ = startTwistd(
            self,
            self.directory,
            "--listen",
            "tcp:0:interface=127.0.0.1",
            "--profile",
            "shout",
            "--profile-option",
            "shout:suffix=?",
            env=self.environment,
        )
        port = yield process.whenListening().addTimeout(TIMEOUT, reactor)
        session = yield connectBEEP(clientFromString(reactor, f"tcp:127.0.0.1:{port}"))
        self.assertEqual(
            sorted(session.peerProfiles), sorted(["http://example.com/beep/shout", TLS_URI])
        )
        channel = yield session.openChannel(["http://example.com/beep/shout"])
        reply = yield channel.sendMessage(Message(b"hello")).addTimeout(TIMEOUT, reactor)
        self.assertEqual(reply.body, b"HELLO?")
        yield session.close().addTimeout(TIMEOUT, reactor)
