# -*- test-case-name: beepy.test.test_sasl -*-
"""
The initiating side of SASL: :func:`authenticate` picks a mechanism the
peer offers (or the one asked for), runs it on a new channel and records
the identity on the session.
"""

from twisted.internet import defer

from beepy.core.codes import ReplyCode
from beepy.core.errors import BEEPError
from beepy.core.management import BEEP_XML, ProfileElement
from beepy.core.mime import Message
from beepy.core.sasl.anonymous import AnonymousClient
from beepy.core.sasl.base import SASLError
from beepy.core.sasl.blob import ABORT, COMPLETE, Blob, encodeBlob, parseBlob
from beepy.core.sasl.crammd5 import CramMD5Client
from beepy.core.sasl.digestmd5 import DigestMD5Client
from beepy.core.sasl.external import ExternalClient
from beepy.core.sasl.otp import OTPClient
from beepy.core.sasl.plain import PlainClient
from beepy.core.sasl.scram import SCRAMClient
from beepy.sasl.policy import MECHANISMS, Authentication, mechanismURI
from beepy.sasl.transport import isEncrypted

__all__ = ["authenticate"]

_CREDENTIALS = frozenset(
    ["username", "password", "authorizationId", "trace", "passphrase", "host", "realm", "beepcore"]
)
_PASSWORD_MECHANISMS = frozenset(["SCRAM-SHA-256", "SCRAM-SHA-1", "DIGEST-MD5", "CRAM-MD5"])


def _fits(name, credentials, encrypted):
    """
    Whether mechanism ``name`` can authenticate with ``credentials``.
    """
    named = "username" in credentials
    secret = "password" in credentials or "passphrase" in credentials
    if name in _PASSWORD_MECHANISMS:
        return named and "password" in credentials
    if name == "PLAIN":
        return named and "password" in credentials and encrypted
    if name == "OTP":
        return named and "passphrase" in credentials
    if name == "EXTERNAL":
        return encrypted and not named and not secret
    return not named and not secret  # ANONYMOUS


def _host(session):
    try:
        return session.transport.getPeer().host
    except Exception:
        return "localhost"


def _clientMechanism(name, session, credentials):
    get = credentials.get
    if name.startswith("SCRAM-"):
        return SCRAMClient(
            credentials["username"], credentials["password"], get("authorizationId"), name
        )
    if name == "DIGEST-MD5":
        return DigestMD5Client(
            credentials["username"],
            credentials["password"],
            get("host") or _host(session),
            get("authorizationId"),
            get("realm"),
        )
    if name == "CRAM-MD5":
        return CramMD5Client(credentials["username"], credentials["password"])
    if name == "OTP":
        return OTPClient(
            credentials["username"],
            credentials["passphrase"],
            get("authorizationId"),
            get("beepcore", False),
        )
    if name == "PLAIN":
        return PlainClient(credentials["username"], credentials["password"], get("authorizationId"))
    if name == "EXTERNAL":
        return ExternalClient(get("authorizationId"))
    return AnonymousClient(get("trace", ""))


def _choose(session, credentials):
    offered = set(session.peerProfiles)
    encrypted = isEncrypted(session)
    for name in MECHANISMS:
        if mechanismURI(name) in offered and _fits(name, credentials, encrypted):
            return name
    raise SASLError(
        "the peer offers no SASL mechanism that fits these credentials",
        ReplyCode.REQUESTED_ACTION_NOT_TAKEN,
    )


def authenticate(session, mechanism=None, piggyback=True, serverName=None, **credentials):
    """
    Authenticate ``session`` (a :class:`beepy.protocol.BEEPProtocol`) with
    SASL.

    :param mechanism: the mechanism name; by default the strongest the peer
        offers that fits the credentials given (PLAIN only on an encrypted
        session).
    :param piggyback: send the initial response with the ``<start>``.
    :param serverName: the ``serverName`` of the ``<start>`` (Vortex sends
        the host it connected to).
    :param credentials: ``username`` and ``password``; ``passphrase`` (OTP);
        ``authorizationId``; ``trace`` (ANONYMOUS); ``host`` and ``realm``
        (DIGEST-MD5, the host defaulting to the peer's address);
        ``beepcore`` (OTP against beepcore-java).
    :return: a ``Deferred`` that fires with the session's
        :class:`beepy.sasl.Authentication`, or fails with the peer's
        :class:`beepy.BEEPError` (code and text), or with a
        :class:`beepy.core.sasl.base.SASLError` if the peer failed to prove
        itself (DIGEST-MD5, SCRAM).
    """
    unknown = set(credentials) - _CREDENTIALS
    if unknown:
        raise TypeError(f"unknown credentials {sorted(unknown)}")
    if session.authentication is not None:
        return defer.fail(
            SASLError("the session is already authenticated", ReplyCode.REQUESTED_ACTION_NOT_TAKEN)
        )
    try:
        name = mechanism or _choose(session, credentials)
    except SASLError as e:
        return defer.fail(e)
    try:
        mech = _clientMechanism(name, session, credentials)
    except KeyError as e:
        return defer.fail(TypeError(f"{name} needs {e.args[0]}"))
    except Exception as e:
        return defer.fail(e)
    return defer.Deferred.fromCoroutine(
        _run(session, name, mech, credentials, piggyback, serverName)
    )


async def _send(channel, blob):
    reply = await channel.sendMessage(Message(encodeBlob(blob), contentType=BEEP_XML))
    return parseBlob(reply.body)


async def _run(session, name, mech, credentials, piggyback, serverName):
    initial = mech.initialResponse()
    uri = mechanismURI(name)
    sent = piggyback and initial is not None
    profile = ProfileElement(uri, encodeBlob(Blob(initial))) if sent else uri
    channel = await session.openChannel([profile], serverName)
    try:
        if channel.startContent:
            reply = parseBlob(channel.startContent)
        elif initial is not None:
            reply = await _send(channel, Blob(initial))
        else:
            reply = await _send(channel, Blob())
        while True:
            if isinstance(reply, BEEPError):
                raise reply
            if reply.status == ABORT:
                raise SASLError("the peer aborted the exchange")
            if reply.status == COMPLETE:
                mech.complete(reply.data or None)
                break
            try:
                response = mech.challenge(reply.data)
            except SASLError:
                await _abort(channel)
                raise
            reply = await _send(channel, Blob(response))
    except Exception:
        channel.close().addErrback(lambda _: None)
        raise
    authentication = Authentication(
        name,
        credentials.get("username"),
        credentials.get("authorizationId") or credentials.get("username"),
        trace=credentials.get("trace"),
    )
    session.authentication = authentication
    return authentication


async def _abort(channel):
    """
    Tell the peer we give up; whatever it answers, the exchange has failed.
    """
    try:
        await channel.sendMessage(Message(encodeBlob(Blob(status=ABORT)), contentType=BEEP_XML))
    except Exception:
        pass
