# -*- test-case-name: beepy.test.test_cli -*-
"""
``beepy``, the command-line BEEP client: ``beepy greet ENDPOINT`` shows a
peer's greeting, ``beepy send ENDPOINT --profile URI`` sends it a message.
See ``doc/cli.rst``.
"""

import sys

from twisted.internet import defer

from beepy.cli.commands import ExitStatus, greet, run, send
from beepy.cli.options import UsageError, parseArguments

__all__ = ["ExitStatus", "beepy", "main"]

_COMMANDS = {"greet": greet, "send": send}


def beepy(reactor, argv, stdout, stderr):
    """
    Run the ``beepy`` command line ``argv`` (without the program name).

    :param stdout: the binary stream replies are written to.
    :param stderr: the text stream for errors, traces and progress.
    :return: a ``Deferred`` firing with the :class:`ExitStatus`; it never
        fails for the failures ``beepy`` knows (each is one line on
        ``stderr``).
    """
    try:
        arguments = parseArguments(argv)
    except UsageError as e:
        stderr.write(f"{e.command}: {e} (see {e.command} --help)\n")
        return defer.succeed(ExitStatus.USAGE)
    except SystemExit as e:  # --help and --version, printed
        return defer.succeed(ExitStatus(e.code or 0))
    return run(reactor, _COMMANDS[arguments.command], arguments, stdout, stderr)


def main():
    """
    The ``beepy`` console script.
    """
    from twisted.internet.task import react

    def running(reactor):
        finished = defer.Deferred()

        def settle(result):
            if not finished.called:
                finished.callback(result)

        def interrupted():
            # A signal stops the reactor before the command is done; without
            # this, react would exit with 0.  The command is cancelled, so
            # that the connection it loses is not reported as a failure.
            if not finished.called:
                sys.stderr.write("beepy: interrupted\n")
                finished.callback(ExitStatus.INTERRUPTED)
                command.cancel()

        command = beepy(reactor, sys.argv[1:], sys.stdout.buffer, sys.stderr)
        command.addBoth(settle)
        reactor.addSystemEventTrigger("before", "shutdown", interrupted)
        return finished.addCallback(_exit)

    react(running)


def _exit(status):
    if status:
        raise SystemExit(int(status))
