# -*- test-case-name: beepy.test.test_tap -*-
"""
The ``twistd beep`` plugin: a BEEP server offering the profiles it is told
to, by name, from the profile registry (:mod:`beepy.registry`); echo and
sink by default.

``twisted/plugins/beepy_server.py`` names this module; twistd imports it only
when ``beep`` is chosen, then calls :func:`makeService` with the parsed
:class:`Options`::

    twistd -n beep --listen tcp:10288 --listen unix:/run/beep.sock \
        --profile echo --profile-option echo:delay=0.5 --max-channels 64

With ``--auth`` (any ``twisted.cred`` checker plugin, as in other twistd
plugins) it offers SASL too, and the echo and sink profiles then need an
authenticated session::

    twistd -n beep --auth memory:bob:secret --sasl-mechanisms SCRAM-SHA-256,CRAM-MD5

Sessions may be secured with the TLS profile: with the certificate of
``--tls-cert``, or else with a self-signed one made at start-up.
"""

import sys

from cryptography import x509
from OpenSSL import crypto
from twisted.application import service, strports
from twisted.cred import strcred
from twisted.cred.credentials import IAnonymous, IUsernameHashedPassword, IUsernamePassword
from twisted.cred.portal import Portal
from twisted.internet import endpoints, ssl
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.logger import Logger, jsonFileLogObserver
from twisted.python import usage
from twisted.python.filepath import FilePath
from zope.interface import implementer

from beepy.certificates import fingerprint, selfSignedCertificate
from beepy.factory import BEEPServerFactory
from beepy.options import LimitOptions, ProfileOptions, limitParameters
from beepy.sasl import MECHANISMS, AvatarIdRealm, SASLPolicy, normaliseChecker
from beepy.tls import TLSPolicy

__all__ = ["DEFAULT_LISTEN", "Options", "jsonLogObserver", "makeService"]

DEFAULT_LISTEN = "tcp:10288"
"""
The endpoint ``twistd beep`` listens on when no ``--listen`` is given: TCP
port 10288, the port IANA assigned to BEEP, on every interface.
"""

_log = Logger()

_LIMIT_DEFAULTS = {"idleTimeout": 300.0}
"""
Limits whose server default differs from the library's, by attribute.
"""


class _TLSOptions:
    """
    The TLS options of ``twistd beep``, mixed into :class:`Options` the way
    Twisted's ``strcred.AuthOptionMixin`` is.

    After :meth:`_checkTLSOptions`, ``self["tls-certificate"]`` is the
    ``PrivateCertificate`` of ``--tls-cert`` (``None`` without it) and
    ``self["tls-authorities"]`` the trust root of ``--tls-ca`` (or ``None``).
    """

    optParameters = [
        [
            "tls-cert",
            None,
            None,
            "PEM file with the certificate the TLS profile presents, and its key unless "
            "--tls-key is given (default: a self-signed certificate made at start-up).",
        ],
        ["tls-key", None, None, "PEM file with the private key of --tls-cert."],
        [
            "tls-ca",
            None,
            None,
            "PEM file with the authorities whose client certificates TLS requires.",
        ],
    ]
    optFlags = [
        ["require-tls", None, "Offer no profile but TLS until the session is secured."],
    ]

    def _checkTLSOptions(self):
        certificate, key = self["tls-cert"], self["tls-key"]
        if key is not None and certificate is None:
            raise usage.UsageError("--tls-key needs --tls-cert")
        self["tls-certificate"] = None
        if certificate is not None:
            pem = _read(certificate, "--tls-cert")
            if key is not None:
                pem += b"\n" + _read(key, "--tls-key")
            try:
                self["tls-certificate"] = ssl.PrivateCertificate.loadPEM(pem)
            except Exception as e:
                # OpenSSL's parse errors, Twisted's VerifyError for a key that
                # does not match: either way, not a usable certificate.
                raise usage.UsageError(
                    f"no certificate with its private key in --tls-cert/--tls-key: {e!r}"
                ) from e
        self["tls-authorities"] = None
        if self["tls-ca"] is not None:
            try:
                authorities = x509.load_pem_x509_certificates(_read(self["tls-ca"], "--tls-ca"))
            except ValueError as e:
                raise usage.UsageError(f"no certificates in --tls-ca: {e}") from e
            self["tls-authorities"] = ssl.trustRootFromCertificates(
                [ssl.Certificate(crypto.X509.from_cryptography(a)) for a in authorities]
            )


def _read(path, option):
    try:
        return FilePath(path).getContent()
    except OSError as e:
        raise usage.UsageError(f"cannot read {option} {path}: {e.strerror}") from e


def _tlsPolicy(options, limits):
    """
    The TLS policy of the server: the ``--tls-*`` options, or a self-signed
    certificate whose fingerprint is logged, so that clients can check it.
    """
    certificate = options["tls-certificate"]
    if certificate is None:
        certificate = selfSignedCertificate()
        _log.info(
            "No --tls-cert: TLS uses a self-signed certificate, SHA-256 fingerprint {fingerprint}",
            fingerprint=fingerprint(certificate),
        )
    return TLSPolicy(
        certificate,
        clientTrustRoot=options["tls-authorities"],
        requireTLS=bool(options["require-tls"]),
        **limits,
    )


class Options(usage.Options, strcred.AuthOptionMixin, _TLSOptions, ProfileOptions, LimitOptions):
    """
    Command-line options for ``twistd beep``.

    After :meth:`parseOptions`, ``self["listen"]`` is the list of server
    endpoint descriptions to listen on, in the order given;
    ``self["credCheckers"]`` the checkers ``--auth`` made (from
    :class:`twisted.cred.strcred.AuthOptionMixin`), and ``self["sasl"]``
    the :class:`beepy.sasl.SASLPolicy` built from them, or ``None``; for
    the TLS options, see :class:`_TLSOptions`; for the profiles and limits,
    :class:`beepy.options.ProfileOptions` and
    :class:`beepy.options.LimitOptions`.
    """

    limitDefaults = _LIMIT_DEFAULTS
    optParameters = limitParameters(
        {"factory": BEEPServerFactory, "tls": TLSPolicy, "sasl": SASLPolicy}, _LIMIT_DEFAULTS
    )

    synopsis = (
        "[--listen ENDPOINT ...] [--profile NAME ... [--profile-option NAME:KEY=VALUE ...]] "
        "[--auth CHECKER ... [--sasl-mechanisms NAMES]] "
        "[--tls-cert PEM [--tls-key PEM]] [--tls-ca PEM] [--require-tls] [LIMITS]"
    )
    longdesc = (
        "Run a BEEP (RFC 3080/3081) server offering the profiles chosen with --profile "
        "(echo and sink by default; --help-profiles lists them and their options), and "
        "TLS to secure sessions. "
        "ENDPOINT is a Twisted server endpoint description, such as "
        "tcp:10288, tcp:10288:interface=127.0.0.1, tcp6:10288 or unix:/path/to/socket; "
        "ssl:10289:privateKey=key.pem:certKey=cert.pem runs TLS from the first byte; "
        "haproxy:tcp:10288 takes connections through HAProxy's PROXY protocol. "
        "With --auth, SASL is offered and the profiles need authentication; "
        "PLAIN is only offered once the session is secured with TLS. "
        "Sizes take K, M and G suffixes."
    )
    supportedInterfaces = (IUsernamePassword, IUsernameHashedPassword, IAnonymous)

    def __init__(self):
        super().__init__()
        self["listen"] = []
        self["credCheckers"] = []
        self["sasl-mechanisms"] = None
        self["sasl"] = None

    def opt_sasl_mechanisms(self, names):
        """
        Comma-separated SASL mechanisms to offer (default: all that --auth can check).
        """
        mechanisms = [name.strip().upper() for name in names.split(",") if name.strip()]
        unknown = [name for name in mechanisms if name not in MECHANISMS]
        if unknown or not mechanisms:
            raise usage.UsageError(
                f"unknown SASL mechanisms {unknown}; choose from {', '.join(MECHANISMS)}"
            )
        self["sasl-mechanisms"] = mechanisms

    def opt_listen(self, description):
        """
        Listen on this server endpoint; may be repeated
        (default: tcp:10288).
        """
        _checkEndpoint(description)
        self["listen"].append(description)

    def postOptions(self):
        if not self["listen"]:
            self["listen"] = [DEFAULT_LISTEN]
        self._checkTLSOptions()
        self._checkProfileOptions()
        self._checkLimitOptions()
        if self["credCheckers"]:
            self["sasl"] = _buildPolicy(
                self["credCheckers"],
                self["sasl-mechanisms"],
                [profile.uri for profile in self["profiles"]],
                self["limits"].get("sasl", {}),
            )
        elif self["sasl-mechanisms"] is not None:
            raise usage.UsageError("--sasl-mechanisms needs --auth")
        elif self["limits"].get("sasl"):
            raise usage.UsageError("--sasl-max-failures needs --auth")


def _buildPolicy(checkers, mechanisms, guarded, limits):
    """
    The SASL policy of ``twistd beep --auth``: a portal over the checkers
    (``--auth memory:`` ones keyed by bytes, as protocols need), the avatar
    being the avatar id, and the offered profiles (the URIs ``guarded``) for
    authenticated sessions only.

    :raises twisted.python.usage.UsageError: if a mechanism asked for has no
        checker.
    """
    portal = Portal(AvatarIdRealm(), [normaliseChecker(checker) for checker in checkers])
    try:
        return SASLPolicy(portal, mechanisms, requireAuthentication=guarded, **limits)
    except ValueError as e:
        raise usage.UsageError(str(e)) from e


def _checkEndpoint(description):
    """
    Parse a server endpoint description the way :func:`makeService` will,
    without listening, so a mistake is reported as a usage error before
    twistd starts.

    No reactor is used: the endpoint is built with ``reactor=None`` and
    thrown away.  Option parsing must not import the global reactor, since
    ``twist --reactor`` installs its reactor only after the plugin's options
    are parsed.

    :param description: a server endpoint description, e.g. ``tcp:10288``.
    :raises twisted.python.usage.UsageError: if it cannot be parsed.
    """
    try:
        endpoints.serverFromString(None, description)
    except Exception as e:
        # Endpoint parsers report a bad description with whatever exception
        # their argument handling raises (ValueError, TypeError, OSError for a
        # missing certificate file, ...); any of them means "bad option".
        raise usage.UsageError(f"invalid --listen endpoint {description!r}: {e}") from e


@implementer(IStreamServerEndpoint)
class _AnnouncingEndpoint:
    """
    A server endpoint that logs the address it is listening on, once it is.

    With ``tcp:0`` that log line is the only way to learn the port the
    operating system picked.

    :param endpoint: the ``IStreamServerEndpoint`` to listen with.
    """

    def __init__(self, endpoint):
        self._endpoint = endpoint

    def listen(self, protocolFactory):
        """
        Listen on the wrapped endpoint.

        :param protocolFactory: the factory for accepted connections.
        :return: a ``Deferred`` firing with the ``IListeningPort``, or failing
            as the wrapped endpoint's does.
        """
        listening = self._endpoint.listen(protocolFactory)
        return listening.addCallback(self._announce)

    def _announce(self, port):
        _log.info("BEEP server listening on {address}", address=port.getHost())
        return port


def _buildFactory(options, reactor):
    """
    Build the factory every listening endpoint shares.

    :param options: the parsed :class:`Options`.
    :param reactor: the reactor the service listens with, which keeps time
        for the sessions' timeouts too; the global reactor if ``None``.
    :return: a :class:`beepy.factory.BEEPServerFactory`.
    """
    limits = options["limits"]
    return BEEPServerFactory(
        profiles=options["profiles"],
        config=options["config"],
        sasl=options.get("sasl"),
        tls=_tlsPolicy(options, limits.get("tls", {})),
        clock=reactor,
        **limits.get("factory", {}),
    )


def jsonLogObserver():
    """
    Log every event as one line of JSON on standard output, its fields
    (``beepEvent``, ``peer``, ``channel``, ``profile``, ...) intact, for log
    pipelines::

        twistd -n --logger beepy.tap.jsonLogObserver beep

    :return: Twisted's ``jsonFileLogObserver`` on ``sys.stdout``.
    """
    return jsonFileLogObserver(sys.stdout)


def makeService(options, reactor=None):
    """
    Build the ``twistd beep`` service.

    :param options: the parsed :class:`Options`.
    :param reactor: the reactor to listen with and keep time with; the
        global reactor if ``None``.  Tests pass a ``MemoryReactorClock``.
    :return: a ``MultiService`` with one child per ``--listen`` endpoint.
        Each child listens when the service starts and logs
        ``BEEP server listening on <address>`` once it does.  A failure to
        listen is raised from ``startService``, so twistd exits with it.
    """
    factory = _buildFactory(options, reactor)
    parent = service.MultiService()
    for description in options["listen"]:
        child = strports.service(description, factory, reactor=reactor)
        child.endpoint = _AnnouncingEndpoint(child.endpoint)
        child.setServiceParent(parent)
    return parent
