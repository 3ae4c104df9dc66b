# -*- test-case-name: beepy.test.test_plugin -*-
"""
Child processes for tests of what a user of the installed distribution
runs: ``twistd beep`` and the ``beepy`` console script.

Each runs from the installed distribution, without ``PYTHONPATH``, so it
sees exactly what an installation provides, not the source tree;
:func:`requireInstalled` first checks that the installation matches the
source tree the tests come from.
"""

import json
import os
import re
import sys
import sysconfig
import textwrap

from twisted.internet import defer, reactor, utils
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.protocol import ProcessProtocol
from twisted.python.filepath import FilePath
from twisted.trial.unittest import FailTest

import beepy

__all__ = [
    "EDITABLE_HINT",
    "DISTRIBUTION",
    "INSTALL_COMMAND",
    "ScriptProcess",
    "TIMEOUT",
    "TwistdProcess",
    "cleanEnvironment",
    "requireInstalled",
    "runProcess",
    "scriptCommand",
    "startTwistd",
    "twistdCommand",
]

DISTRIBUTION = "twisted-beepy"

INSTALL_COMMAND = (
    "python3 -m venv .venv && .venv/bin/pip install '.[test]'"
    " && .venv/bin/python -m twisted.trial beepy"
)

EDITABLE_HINT = (
    "an ordinary editable install (pip install -e .) hides twisted/plugins from twistd: "
    "use pip install . or pip install -e . --config-settings editable_mode=compat (see README.rst)"
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


def scriptCommand(name):
    """
    :return: the path of the console script ``name`` installed with this
        Python, or ``None`` if there is none.
    """
    script = os.path.join(sysconfig.get_path("scripts"), name)
    return script if os.path.isfile(script) else None


def twistdCommand():
    """
    :return: ``(executable, argv)`` that run the ``twistd`` of this Python.
    """
    script = scriptCommand("twistd")
    if script is not None:
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


@defer.inlineCallbacks
def requireInstalled(directory):
    """
    Fail the test, with the command that fixes it, unless the
    ``twisted-beepy`` distribution is installed and matches this source
    tree.  Tests of child processes start with this, so a missing
    installation is a test failure, not a skip or a ``setUp`` error.

    The check runs in a child Python started in ``directory``, an empty
    one: in this process the current directory is on ``sys.path``, and a
    ``twisted_beepy.egg-info`` left there by ``pip install .`` would make
    ``importlib.metadata`` report an installation that does not exist.

    :raises FailTest: (in the ``Deferred``) if it is missing or stale.
    """
    output, errors, code = yield utils.getProcessOutputAndValue(
        sys.executable,
        ["-c", _INSTALLED_SCRIPT],
        env=cleanEnvironment(),
        path=directory.path,
    )
    if code == 3:
        raise FailTest(
            f"the {DISTRIBUTION} distribution is not installed in {sys.prefix}, so twistd "
            f"cannot find the beep plugin. From the repository root run the README's "
            f"install command:\n    {INSTALL_COMMAND}"
        )
    if code != 0:
        text = errors.decode(errors="replace")
        raise FailTest(f"checking for {DISTRIBUTION} failed ({code}):\n{text}")
    installed = json.loads(output)
    sourcePackage = FilePath(os.path.dirname(os.path.abspath(beepy.__file__)))
    installedPackage = FilePath(installed["package"])
    if sourcePackage != installedPackage:
        stale = _libraryDifferences(sourcePackage, installedPackage)
        if stale:
            raise FailTest(
                f"the installed {DISTRIBUTION} {installed['version']} "
                f"in {installedPackage.path} "
                f"differs from this source tree ({', '.join(stale)}): reinstall it with "
                f"`pip install '.[test]'` from the repository root (a fresh venv: "
                f"{INSTALL_COMMAND})"
            )


class ScriptProcess(ProcessProtocol):
    """
    A child process run to its end, with what it writes collected.

    :param stdin: ``bytes`` written to its standard input, which is then
        closed; ``None`` leaves it open.
    :ivar ended: a ``Deferred`` firing with ``(stdout, stderr, exit
        status)`` (``bytes``, ``bytes``, and an ``int``, or ``None`` if a
        signal ended it).
    """

    def __init__(self, stdin=b""):
        self._stdin = stdin
        self.output = bytearray()
        self.errors = bytearray()
        self.ended = defer.Deferred()
        self._errorWaiters = []

    def whenError(self, text):
        """
        :return: a ``Deferred`` firing once the process has written
            ``text`` (``bytes``) to stderr.
        """
        waiter = defer.Deferred()
        self._errorWaiters.append((text, waiter))
        self._checkErrors()
        return waiter

    def connectionMade(self):
        if self._stdin is not None:
            self.transport.write(self._stdin)
            self.transport.closeStdin()

    def outReceived(self, data):
        self.output += data

    def errReceived(self, data):
        self.errors += data
        self._checkErrors()

    def processEnded(self, reason):
        self.ended.callback((bytes(self.output), bytes(self.errors), reason.value.exitCode))

    def _checkErrors(self):
        waiting, self._errorWaiters = self._errorWaiters, []
        for text, waiter in waiting:
            if text in self.errors:
                waiter.callback(None)
            else:
                self._errorWaiters.append((text, waiter))


def runProcess(executable, argv, stdin=b"", env=None, path=None):
    """
    Start a child process; see :class:`ScriptProcess`.

    :param argv: its arguments, the program name included.
    :return: ``(process, transport)``: the :class:`ScriptProcess`, whose
        ``ended`` fires at the end, and the process transport.
    """
    process = ScriptProcess(stdin)
    transport = reactor.spawnProcess(process, executable, argv, env=env, path=path)
    return process, transport


class TwistdProcess(ProcessProtocol):
    """
    Watches a ``twistd beep`` child process: its output, the port it
    listens on, and its end.

    :cvar listening: the pattern of the log line that gives the port.
    """

    listening = _LISTENING

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
            match = self.listening.search(self.output)
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


def startTwistd(testCase, directory, *arguments, env=None):
    """
    Start ``twistd -n beep`` with ``arguments`` in ``directory``, stopped
    when ``testCase`` ends.

    :param env: its environment; by default :func:`cleanEnvironment`.

    :return: ``(process, transport)``: the :class:`TwistdProcess` and the
        process transport.
    """
    executable, argv = twistdCommand()
    process = TwistdProcess()
    transport = reactor.spawnProcess(
        process,
        executable,
        argv + ["-n", "-l", "-", "--pidfile=", "beep"] + list(arguments),
        env=cleanEnvironment() if env is None else env,
        path=directory.path,
    )
    testCase.addCleanup(process.terminate, transport)
    return process, transport
