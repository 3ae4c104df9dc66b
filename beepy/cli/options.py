# -*- test-case-name: beepy.test.test_cli -*-
"""
The command line of ``beepy``, and the reading of its ENDPOINT argument.

It is parsed with ``argparse`` rather than ``twisted.python.usage``, whose
``getopt`` stops at the first argument: ``beepy send ENDPOINT --profile
URI`` takes options after ENDPOINT.
"""

import argparse
import re

from twisted.internet.endpoints import HostnameEndpoint, clientFromString
from twisted.internet.interfaces import IStreamClientEndpointStringParserWithReactor
from twisted.plugin import getPlugins

from beepy.options import OFF, secondsOrOff
from beepy.sasl import MECHANISMS

__all__ = ["DEFAULT_PORT", "UsageError", "endpointFromString", "parseArguments"]

#: The port IANA assigned to BEEP, used when ENDPOINT names none.
DEFAULT_PORT = 10288

#: The endpoint types Twisted parses itself; plugins add more (``tls:``).
_BUILTIN_ENDPOINT_TYPES = frozenset(["tcp", "ssl", "unix"])

#: Mechanisms that take no user name and password.
_ANONYMOUS_MECHANISMS = frozenset(["ANONYMOUS", "EXTERNAL"])

#: ``host[:port]``, or ``[address][:port]`` for IPv6.
_HOST_PORT = re.compile(
    r"\[(?P<bracketed>[^\]]+)\](?::(?P<port6>[^:]*))?"
    r"|(?P<host>[^:]+)(?::(?P<port>[^:]*))?"
)

_ENDPOINT_HELP = (
    f"host[:port] (port {DEFAULT_PORT} by default; [address]:port for IPv6), "
    "or a Twisted client endpoint string: tcp:HOST:PORT, tls:HOST:PORT, unix:PATH"
)


class UsageError(Exception):
    """
    A bad command line; the message says what is wrong.

    :ivar command: how the command whose help explains it is named, e.g.
        ``beepy send``.
    """

    def __init__(self, message, command="beepy"):
        super().__init__(message)
        self.command = command


def _endpointTypes():
    return _BUILTIN_ENDPOINT_TYPES | {
        parser.prefix for parser in getPlugins(IStreamClientEndpointStringParserWithReactor)
    }


def endpointFromString(reactor, text):
    """
    Read ENDPOINT: a Twisted client endpoint string (``tcp:beep.example:10288``,
    ``tls:beep.example:10288``, ``unix:/run/beep.sock``), or else a host
    with an optional port (``beep.example``, ``beep.example:10288``,
    ``[::1]:10288``), which is connected to over TCP, IPv4 or IPv6.

    :return: ``(endpoint, host)``: the ``IStreamClientEndpoint``, and the
        host name of a ``host[:port]`` (the name TLS checks by default), or
        ``None`` for an endpoint string.
    :raises UsageError: if ``text`` is neither.
    """
    kind, colon, _ = text.partition(":")
    if colon and kind in _endpointTypes():
        try:
            return clientFromString(reactor, text), None
        except (ValueError, TypeError, KeyError) as e:
            raise UsageError(f"bad endpoint {text!r}: {e}") from e
    if text.count(":") > 1 and not text.startswith("["):
        host, port = text, None  # a bare IPv6 address
    else:
        match = _HOST_PORT.fullmatch(text)
        if match is None:
            raise UsageError(f"bad endpoint {text!r}: give host[:port] or an endpoint string")
        host = match.group("bracketed") or match.group("host")
        port = match.group("port6") if match.group("bracketed") else match.group("port")
    if port is None:
        port = DEFAULT_PORT
    elif port.isdigit() and 0 < int(port) < 65536:
        port = int(port)
    else:
        raise UsageError(f"bad port {port!r} in endpoint {text!r}")
    return HostnameEndpoint(reactor, host, port), host


class _Parser(argparse.ArgumentParser):
    """
    Raises :class:`UsageError` instead of printing usage and exiting, so
    that a usage error is one line like every other failure.
    """

    def error(self, message):
        raise UsageError(message, self.prog)


DEFAULT_TIMEOUT = 60.0
"""
Seconds ``beepy`` waits on a silent peer before giving up.
"""


def _timeout(text):
    """
    ``--timeout``: seconds, or ``off`` (``None``).
    """
    value = secondsOrOff(text)
    return None if value is OFF else value


def _addSessionArguments(parser):
    """
    What every command needs to reach a peer: the endpoint, TLS, tracing.
    """
    parser.add_argument("endpoint", metavar="ENDPOINT", help=_ENDPOINT_HELP)
    parser.add_argument(
        "--trace", action="store_true", help="print every frame sent (>) and received (<) to stderr"
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_timeout,
        default=DEFAULT_TIMEOUT,
        help=f"give up when the peer sends nothing for this long: no greeting, no reply "
        f"(default: {DEFAULT_TIMEOUT:g}; off to wait for ever)",
    )
    tls = parser.add_argument_group("TLS")
    tls.add_argument(
        "--tls", action="store_true", help="secure the session with the TLS profile first"
    )
    checks = tls.add_mutually_exclusive_group()
    checks.add_argument(
        "--ca", metavar="PEM", help="the authorities to trust (default: the system's)"
    )
    checks.add_argument(
        "--fingerprint",
        metavar="SHA256",
        help="accept only the certificate with this fingerprint (AB:CD:..., as twistd beep logs it)",
    )
    checks.add_argument(
        "--insecure",
        action="store_true",
        help="accept any certificate: encryption without authentication",
    )
    tls.add_argument(
        "--cert",
        metavar="PEM",
        help="the certificate to present, with its private key in the same file, "
        "to a peer that asks for one (and for SASL EXTERNAL)",
    )
    tls.add_argument(
        "--server-name",
        metavar="NAME",
        help="the name the peer's certificate must carry (default: the host of ENDPOINT)",
    )


def _addSendArguments(parser):
    parser.add_argument(
        "-p", "--profile", metavar="URI", required=True, help="the profile of the channel"
    )
    parser.add_argument(
        "-f", "--file", metavar="FILE", help="send the content of FILE (default: stdin)"
    )
    parser.add_argument(
        "-t",
        "--content-type",
        metavar="TYPE",
        help="the Content-Type of the message (default: application/octet-stream)",
    )
    sasl = parser.add_argument_group("SASL")
    sasl.add_argument(
        "--sasl",
        metavar="MECHANISM",
        type=str.upper,
        choices=MECHANISMS,
        help=f"authenticate with this mechanism: {', '.join(MECHANISMS)}",
    )
    sasl.add_argument("-u", "--user", metavar="NAME", help="the user name")
    sasl.add_argument(
        "--password-file",
        metavar="FILE",
        help="the file whose first line is the password (OTP: the passphrase)",
    )
    sasl.add_argument("--authzid", metavar="NAME", help="the identity to act as, if not --user")


def _buildParser():
    from beepy import __version__

    parser = _Parser(
        prog="beepy",
        description="A command-line client for BEEP (RFC 3080/3081) peers.",
        epilog="Run beepy COMMAND --help for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"beepy {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    greet = commands.add_parser(
        "greet",
        help="print the peer's greeting",
        description="Connect, print the peer's greeting (profiles, features, localize), "
        "and release the session.",
    )
    _addSessionArguments(greet)
    send = commands.add_parser(
        "send",
        help="send one message and print the reply",
        description="Open a channel, send one message with the body of --file (or stdin), "
        "print the body of the reply to stdout (each ANS as it arrives), then close the "
        "channel and release the session.",
    )
    _addSessionArguments(send)
    _addSendArguments(send)
    return parser


def parseArguments(argv):
    """
    Parse and check a ``beepy`` command line.

    :param argv: the arguments, without the program name.
    :return: an ``argparse.Namespace``: ``command`` and the options of
        that command, spelled as Python names (``server_name``).
    :raises UsageError: for a bad command line.
    """
    arguments = _buildParser().parse_args(argv)
    tlsOnly = [
        name
        for name in ("ca", "cert", "fingerprint", "server_name", "insecure")
        if getattr(arguments, name)
    ]
    command = f"beepy {arguments.command}"
    if tlsOnly and not arguments.tls:
        raise UsageError(f"--{tlsOnly[0].replace('_', '-')} needs --tls", command)
    if arguments.command == "send":
        _checkSASL(arguments, command)
    return arguments


def _checkSASL(arguments, command):
    if arguments.sasl is None:
        for name in ("user", "password_file", "authzid"):
            if getattr(arguments, name) is not None:
                raise UsageError(f"--{name.replace('_', '-')} needs --sasl", command)
    elif arguments.sasl not in _ANONYMOUS_MECHANISMS and (
        arguments.user is None or arguments.password_file is None
    ):
        raise UsageError(f"--sasl {arguments.sasl} needs --user and --password-file", command)
