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

import json
import os
import re
import sys
import sysconfig
import textwrap
from signal import SIGTERM

from twisted.application.service import IServiceMaker
from twisted.internet import defer, reactor, utils
from twisted.internet.endpoints import clientFromString
from twisted.internet.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from twisted.internet.protocol import ProcessProtocol
from twisted.plugin import getPlugins
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase, TestCase

import beepy
from beepy import tap
from beepy.certificates import fingerprint
from beepy.client import connectBEEP
from beepy.core.management import TLS_URI
from beepy.core.mime import Message
from beepy.profiles.echo import ECHO_URI
from beepy.profiles.sink import SINK_URI

DISTRIBUTION = "twisted-beepy"

EDITABLE_HINT = (
    "an ordinary editable install (pip install -e .) hides twisted/plugins from twistd: "
    "use pip install . or pip install -e . --config-settings editable_mode=compat (see README.rst)"
)

INSTALL_COMMAND = (
    "python3 -m venv .venv && .venv/bin/pip install '.[test]'"
    " && .venv/bin/python -m twisted.trial beepy"
)

TIMEOUT = 60
"""
Seconds allowed for each step that waits on a child process or the network.
"""

_LISTENING = re.compile(rb"BEEP server listening on [^\n]*\bport=(\d+)")

_INSTALLED_SCRIPT = textwrap.dedent(
    """
    import importlib.metadata, json, os, sys
    try:
        distribution = importlib.metadata.distribution(%r)
    except importlib.metadata.PackageNotFoundError:
        sys.exit(3)
    import beepy
    print(json.dumps({
        "version": distribution.version,
        "package": os.path.dirname(os.path.abspath(beepy.__file__)),
    }))
    """
    % (DISTRIBUTION,)
)


def cleanEnvironment():
    """
    :return: a copy of ``os.environ`` without ``PYTHONPATH``, so a child
        Python finds only what is installed.
    """
    environment = dict(os.environ)
    environment.pop("PYTHONPATH", None)
    return environment


def twistdCommand():
    """
    :return: ``(executable, argv)`` that run the ``twistd`` of this Python.
    """
    script = os.path.join(sysconfig.get_path("scripts"), "twistd")
    if os.path.isfile(script):
        return sys.executable, [sys.executable, script]
    run = "import sys; sys.argv[0] = 'twistd'; from twisted.scripts.twistd import run; run()"
    return sys.executable, [sys.executable, "-c", run]


def _libraryDifferences(sourcePackage, installedPackage):
    """
    Compare the library modules of two copies of the ``beepy`` package.

    :param sourcePackage: the ``FilePath`` of the package these tests import.
    :param installedPackage: the ``FilePath`` of the installed package.
    :return: the relative paths of the ``.py`` files that are missing from
        the installed copy or differ from it.  ``beepy/test`` is left out:
        the child processes never run it.
    """
    differences = []
    skipped = ("__pycache__", "test")
    for source in sourcePackage.walk(descend=lambda path: path.basename() not in skipped):
        if source.isfile() and source.path.endswith(".py"):
            relative = source.segmentsFrom(sourcePackage)
            if relative[0] == "test":
                continue
            installed = installedPackage.descendant(relative)
            if not installed.isfile() or installed.getContent() != source.getContent():
                differences.append("/".join(["beepy"] + relative))
    return differences


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

    @defer.inlineCallbacks
    def _requireInstalled(self):
        """
        Fail, with the command that fixes it, unless the ``twisted-beepy``
        distribution is installed and matches this source tree.  Each test
        starts with this, so a missing installation is a test failure, not a
        skip or a ``setUp`` error.

        The check runs in a child Python started in an empty directory:
        in this process the current directory is on ``sys.path``, and a
        ``twisted_beepy.egg-info`` left there by ``pip install .`` would make
        ``importlib.metadata`` report an installation that does not exist.
        """
        output, errors, code = yield utils.getProcessOutputAndValue(
            sys.executable,
            ["-c", _INSTALLED_SCRIPT],
            env=cleanEnvironment(),
            path=self.directory.path,
        )
        if code == 3:
            self.fail(
                f"the {DISTRIBUTION} distribution is not installed in {sys.prefix}, so twistd "
                f"cannot find the beep plugin. From the repository root run the README's "
                f"install command:\n    {INSTALL_COMMAND}"
            )
        if code != 0:
            text = errors.decode(errors="replace")
            self.fail(f"checking for {DISTRIBUTION} failed ({code}):\n{text}")
        installed = json.loads(output)
        sourcePackage = FilePath(os.path.dirname(os.path.abspath(beepy.__file__)))
        installedPackage = FilePath(installed["package"])
        if sourcePackage != installedPackage:
            stale = _libraryDifferences(sourcePackage, installedPackage)
            if stale:
                self.fail(
                    f"the installed {DISTRIBUTION} {installed['version']} "
                    f"in {installedPackage.path} "
                    f"differs from this source tree ({', '.join(stale)}): reinstall it with "
                    f"`pip install '.[test]'` from the repository root (a fresh venv: "
                    f"{INSTALL_COMMAND})"
                )


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
        executable, argv = twistdCommand()
        process = TwistdProcess()
        transport = reactor.spawnProcess(
            process,
            executable,
            argv + ["-n", "-l", "-", "--pidfile=", "beep", "--listen", "tcp:0:interface=127.0.0.1"],
            env=cleanEnvironment(),
            path=self.directory.path,
        )
        self.addCleanup(process.terminate, transport)

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


class TwistdProcess(ProcessProtocol):
    """
    Watches a ``twistd beep`` child process: its output, the port it
    listens on, and its end.
    """

    def __init__(self):
        self.output = bytearray()
        self._port = None
        self._reason = None
        self._listeningWaiters = []
        self._endWaiters = []

    def text(self):
        """
        :return: everything the process wrote so far, stdout and stderr
            interleaved, as text.
        """
        return self.output.decode(errors="replace")

    def whenListening(self):
        """
        :return: a ``Deferred`` firing with the TCP port number from the
            process's first ``BEEP server listening on`` line, or failing if
            the process ends before writing one.
        """
        if self._port is not None:
            return defer.succeed(self._port)
        if self._reason is not None:
            return defer.fail(self._notListening())
        waiter = defer.Deferred()
        self._listeningWaiters.append(waiter)
        return waiter

    def whenEnded(self):
        """
        :return: a ``Deferred`` firing with the exception the process ended
            with: ``ProcessDone`` for exit status 0, else ``ProcessTerminated``
            (a result, not a failure).
        """
        if self._reason is not None:
            return defer.succeed(self._reason.value)
        waiter = defer.Deferred()
        self._endWaiters.append(waiter)
        return waiter

    @defer.inlineCallbacks
    def terminate(self, transport):
        """
        Stop the process with ``SIGTERM``, or ``SIGKILL`` if it is still
        running after :data:`TIMEOUT` seconds, unless it has already ended.

        :param transport: the process transport from ``spawnProcess``.
        :return: a ``Deferred`` firing with the exception it ended with, as
            :meth:`whenEnded` does.
        """
        for signal in ("TERM", "KILL"):
            if self._reason is not None:
                break
            try:
                transport.signalProcess(signal)
            except ProcessExitedAlready:
                pass
            try:
                yield self.whenEnded().addTimeout(TIMEOUT, reactor)
            except defer.TimeoutError:
                pass
        return (yield self.whenEnded())

    def outReceived(self, data):
        self.output += data
        if self._port is None:
            match = _LISTENING.search(self.output)
            if match is not None:
                self._port = int(match.group(1))
                waiters, self._listeningWaiters = self._listeningWaiters, []
                for waiter in waiters:
                    waiter.callback(self._port)

    errReceived = outReceived

    def processEnded(self, reason):
        self._reason = reason
        waiters, self._listeningWaiters = self._listeningWaiters, []
        for waiter in waiters:
            waiter.errback(self._notListening())
        waiters, self._endWaiters = self._endWaiters, []
        for waiter in waiters:
            waiter.callback(reason.value)

    def _notListening(self):
        return RuntimeError(
            f"twistd ended ({self._reason.getErrorMessage()}) before it logged "
            f"'BEEP server listening on':\n{self.text()}"
        )


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
        executable, argv = twistdCommand()
        process = TwistdProcess()
        arguments = ["-n", "-l", "-", "--pidfile=", "beep", "--listen", "tcp:0:interface=127.0.0.1"]
        transport = reactor.spawnProcess(
            process,
            executable,
            argv + arguments + ["--profile", "shout", "--profile-option", "shout:suffix=?"],
            env=self.environment,
            path=self.directory.path,
        )
        self.addCleanup(process.terminate, transport)
        port = yield process.whenListening().addTimeout(TIMEOUT, reactor)
        session = yield connectBEEP(clientFromString(reactor, f"tcp:127.0.0.1:{port}"))
        self.assertEqual(
            sorted(session.peerProfiles), sorted(["http://example.com/beep/shout", TLS_URI])
        )
        channel = yield session.openChannel(["http://example.com/beep/shout"])
        reply = yield channel.sendMessage(Message(b"hello")).addTimeout(TIMEOUT, reactor)
        self.assertEqual(reply.body, b"HELLO?")
        yield session.close().addTimeout(TIMEOUT, reactor)
