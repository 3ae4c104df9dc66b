# -*- test-case-name: beepy.test.test_cli -*-
"""
The commands of ``beepy``, each a coroutine that either returns or raises
:class:`CommandFailed` with the exit status and the one line that says what
failed.

Each step of a session (connect, TLS, SASL, channel start, the message)
says how its failures read, so that the same exception (a ``BEEPError``,
say) gives the exit status of the step it ended.
"""

import enum
import os
import stat
import sys
from contextlib import contextmanager

from OpenSSL import SSL
from service_identity import VerificationError
from twisted.internet import defer, error, ssl
from twisted.web.client import FileBodyProducer
from twisted.web.iweb import UNKNOWN_LENGTH

from beepy.certificates import fingerprint, trustRootFromPEM
from beepy.client import connectBEEP
from beepy.core.errors import BEEPError, ProtocolError
from beepy.core.sasl.base import SASLError
from beepy.sasl import mechanismURI
from beepy.stream import StreamingMessage
from beepy.timeouts import SessionTimeout
from beepy.tls import TLSTimeout
from beepy.trace import FramePrinter
from beepy.cli.options import UsageError, endpointFromString
from beepy.cli.progress import ProgressMeter
from beepy.cli.transfer import CountingProducer, PipeProducer, ReplyWriter

__all__ = ["CommandFailed", "ExitStatus", "formatGreeting", "greet", "send"]


class ExitStatus(enum.IntEnum):
    """
    What ``beepy`` exits with: what failed, for scripts.
    """

    OK = 0
    ERROR_REPLY = 1  # the peer answered the message with ERR
    USAGE = 2  # bad command line, unreadable file
    UNREACHABLE = 3  # connection refused, no such host, timeout
    SESSION_REFUSED = 4  # refused in the greeting, or no greeting
    PROFILE_REFUSED = 5  # the channel did not start
    AUTHENTICATION_FAILED = 6  # SASL
    TLS_FAILED = 7  # refused, handshake, certificate
    CONNECTION_LOST = 8  # protocol violation, or lost midway
    INTERRUPTED = 130  # SIGINT (Ctrl-C) or SIGTERM, as shells report SIGINT


class CommandFailed(Exception):
    """
    A command failed: ``beepy`` prints :attr:`message` and exits with
    :attr:`status`.
    """

    def __init__(self, status, message):
        super().__init__(status, message)
        self.status = status
        self.message = message


def _describe(exception):
    """
    One line for an exception from Twisted, OpenSSL or beepy.
    """
    if isinstance(exception, SSL.Error):
        # OpenSSL's errors carry a list of (library, function, reason).
        details = exception.args[0] if exception.args else []
        reasons = [entry[-1] for entry in details if isinstance(entry, tuple) and entry[-1]]
        return "; ".join(reasons) or str(exception) or "TLS error"
    if isinstance(exception, error.ConnectionRefusedError):
        return "connection refused"
    if isinstance(exception, error.ConnectionClosed):
        # Without Twisted's "Connection to the other side was lost in a
        # non-clean fashion" before the reason.
        detail = " ".join(str(argument) for argument in exception.args)
        if detail:
            return detail
        if isinstance(exception, error.ConnectionDone):
            return "the peer closed the connection"
        return "the connection broke"
    return str(exception).strip() or type(exception).__name__


def _connectionFailure(exception):
    """
    The :class:`CommandFailed` for reasons that mean the same in every
    step (the connection or TLS broke), or ``None``.
    """
    if isinstance(exception, (SSL.Error, VerificationError, TLSTimeout)):
        return CommandFailed(ExitStatus.TLS_FAILED, f"TLS failed: {_describe(exception)}")
    if isinstance(exception, ProtocolError):
        return CommandFailed(ExitStatus.CONNECTION_LOST, f"protocol violation: {exception}")
    if isinstance(exception, SessionTimeout):
        return CommandFailed(ExitStatus.CONNECTION_LOST, f"gave up: {exception}")
    if isinstance(exception, error.ConnectionClosed):
        return CommandFailed(
            ExitStatus.CONNECTION_LOST, f"connection lost: {_describe(exception)}"
        )
    return None


@contextmanager
def _step(status, what, failures=(BEEPError,)):
    """
    Run a step: ``failures`` it raises become ``CommandFailed(status,
    "what: ...")``; a broken connection or TLS reads the same in any step.
    """
    try:
        yield
    except CommandFailed:
        raise
    except failures as e:
        raise CommandFailed(status, f"{what}: {_describe(e)}") from e
    except Exception as e:
        failed = _connectionFailure(e)
        if failed is None:
            raise
        raise failed from e


def _readFile(path, option, mode="rb"):
    """
    Open the file of ``option``; one that cannot be read is a usage error,
    found before connecting.
    """
    try:
        return open(path, mode)
    except OSError as e:
        raise CommandFailed(ExitStatus.USAGE, f"cannot read {option} {path}: {e.strerror}") from e


def _readSecret(path, option):
    """
    The first line of the file of ``option``, without its newline.
    """
    with _readFile(path, option, "r") as secrets:
        return secrets.readline().rstrip("\r\n")


async def _connect(reactor, options, stderr):
    """
    Connect, be greeted, and secure the session if asked.

    :return: the greeted (and secured) session.
    """
    where = options.endpoint
    try:
        endpoint, host = endpointFromString(reactor, where)
    except UsageError as e:
        raise CommandFailed(ExitStatus.USAGE, str(e)) from e
    tls = _tlsArguments(options, host) if options.tls else None

    def trace(session):
        return FramePrinter(stderr.write)

    with _step(
        ExitStatus.UNREACHABLE,
        f"cannot connect to {where}",
        (error.ConnectError, error.DNSLookupError),
    ), _step(ExitStatus.SESSION_REFUSED, f"{where} refused the session"):
        try:
            session = await connectBEEP(
                endpoint,
                trace=trace if options.trace else None,
                greetingTimeout=options.timeout,
                idleTimeout=options.timeout,
            )
        except (error.ConnectionClosed, ProtocolError, SessionTimeout) as e:
            raise CommandFailed(
                ExitStatus.SESSION_REFUSED, f"no greeting from {where}: {_describe(e)}"
            ) from e
    if tls is not None:
        try:
            await _secure(session, tls, options.fingerprint)
        except Exception:
            await _abandon(session)
            raise
    return session


def _tlsArguments(options, host):
    """
    The arguments of ``startTLS`` that the TLS options give, their files
    read before connecting.
    """
    trustRoot = clientCertificate = None
    if options.ca is not None:
        with _readFile(options.ca, "--ca") as pem:
            try:
                trustRoot = trustRootFromPEM(pem.read())
            except ValueError as e:
                raise CommandFailed(ExitStatus.USAGE, f"no certificates in --ca: {e}") from e
    if options.cert is not None:
        with _readFile(options.cert, "--cert") as pem:
            try:
                clientCertificate = ssl.PrivateCertificate.loadPEM(pem.read())
            except Exception as e:
                # OpenSSL's parse errors, or no key that matches.
                raise CommandFailed(
                    ExitStatus.USAGE, f"no certificate with its private key in --cert: {e}"
                ) from e
    return dict(
        serverName=options.server_name or host,
        trustRoot=trustRoot,
        clientCertificate=clientCertificate,
        verify=not (options.insecure or options.fingerprint),
    )


async def _secure(session, arguments, pinned):
    with _step(ExitStatus.TLS_FAILED, "TLS failed", (BEEPError, ProtocolError)):
        await session.startTLS(**arguments)
    if pinned is not None:
        presented = fingerprint(session.peerCertificate) if session.peerCertificate else "none"
        if presented.replace(":", "") != pinned.replace(":", "").upper():
            raise CommandFailed(
                ExitStatus.TLS_FAILED,
                f"TLS failed: the peer's certificate has fingerprint {presented}, not {pinned}",
            )


async def _abandon(session):
    """
    Drop the session after a failure, and wait until the connection has
    closed (a TLS one says goodbye first).
    """
    closed = session.notifyClose()
    session.disconnect()
    await closed


async def _release(session):
    """
    Release the session and wait for the connection to close; a peer that
    declines the release is disconnected.
    """
    closed = session.notifyClose()
    with _step(ExitStatus.CONNECTION_LOST, "the peer refused to release the session"):
        try:
            await session.close()
        except BEEPError:
            await _abandon(session)
            raise
    await closed


def formatGreeting(greeting, certificate=None):
    """
    The lines ``beepy greet`` prints for a peer's
    :class:`beepy.core.management.Greeting`.

    :param certificate: the peer's certificate once TLS is active.
    """
    lines = ["profiles:"] + [f"  {uri}" for uri in greeting.profiles or ("(none)",)]
    lines.append(f"features: {greeting.features or '(none)'}")
    lines.append(f"localize: {greeting.localize or '(none)'}")
    if certificate is not None:
        lines.append(f"TLS certificate SHA-256 fingerprint: {fingerprint(certificate)}")
    return "\n".join(lines) + "\n"


async def greet(reactor, options, stdout, stderr):
    session = await _connect(reactor, options, stderr)
    try:
        stdout.write(formatGreeting(session.peerGreeting, session.peerCertificate).encode())
        stdout.flush()
    finally:
        await _release(session)


async def send(reactor, options, stdout, stderr):
    password = None
    if options.password_file is not None:
        password = _readSecret(options.password_file, "--password-file")
    if options.file is None:
        opened, producer = None, _stdinProducer(reactor, stdin())
    else:
        opened = _readFile(options.file, "--file")
        producer = FileBodyProducer(opened)
    try:
        session = await _connect(reactor, options, stderr)
        try:
            if options.sasl is not None:
                await _authenticate(session, options, password)
            await _transfer(reactor, session, options, producer, stdout, stderr)
        except Exception:
            await _abandon(session)
            raise
        await _release(session)
    finally:
        if opened is not None:
            opened.close()


def stdin():
    """
    The binary standard input (a function, so tests can replace it).
    """
    return sys.stdin.buffer


def _stdinProducer(reactor, stream):
    """
    The body producer of standard input: a redirected file is read like
    ``--file`` (its size is known), a pipe or terminal in a thread.
    """
    fileno = stream.fileno()
    if stat.S_ISREG(os.fstat(fileno).st_mode):
        return FileBodyProducer(stream)
    return PipeProducer(reactor, fileno)


async def _transfer(reactor, session, options, producer, stdout, stderr):
    total = None if producer.length is UNKNOWN_LENGTH else producer.length
    progress = ProgressMeter(reactor, stderr, total)
    writer = ReplyWriter(stdout, progress.countReceived, session.factory.config.maxMessageSize)
    uri = options.profile
    with _step(ExitStatus.PROFILE_REFUSED, f"the peer refused profile {uri}"):
        channel = await session.openChannel([uri], profile=writer)
    message = StreamingMessage(
        CountingProducer(producer, progress.countSent), options.content_type
    )
    if not options.trace:
        # Both go to stderr, and a redrawn line would garble the trace.
        progress.start()
    failed = None
    try:
        with _step(ExitStatus.ERROR_REPLY, "the peer answered with an error"):
            await channel.sendMessage(message)
    except CommandFailed as e:
        failed = e
    finally:
        progress.stop()
    if isinstance(writer.error, ProtocolError):
        # The reply writer broke the session off, and says why.
        raise _connectionFailure(writer.error)
    if failed is not None:
        raise failed
    if writer.error is not None:
        raise CommandFailed(
            ExitStatus.ERROR_REPLY, f"the peer answered with an error: {writer.error}"
        )


async def _authenticate(session, options, password):
    mechanism = options.sasl
    if mechanismURI(mechanism) not in session.peerProfiles:
        raise CommandFailed(
            ExitStatus.AUTHENTICATION_FAILED,
            f"authentication failed: the peer does not offer SASL {mechanism}",
        )
    credentials = {}
    if options.user is not None:
        credentials["username"] = options.user
    if password is not None:
        credentials["passphrase" if mechanism == "OTP" else "password"] = password
    if options.authzid is not None:
        credentials["authorizationId"] = options.authzid
    with _step(ExitStatus.AUTHENTICATION_FAILED, "authentication failed", (BEEPError, SASLError)):
        await session.authenticate(mechanism, **credentials)


def run(reactor, command, options, stdout, stderr):
    """
    Run ``command`` (:func:`greet` or :func:`send`).

    :return: a ``Deferred`` firing with the :class:`ExitStatus`, after
        writing the line that says what failed to ``stderr``.
    """

    async def running():
        try:
            await command(reactor, options, stdout, stderr)
        except CommandFailed as e:
            stderr.write(f"beepy: {e.message}\n")
            return e.status
        return ExitStatus.OK

    return defer.Deferred.fromCoroutine(running())
