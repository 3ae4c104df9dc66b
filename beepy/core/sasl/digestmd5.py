# -*- test-case-name: beepy.test.test_sasl_mechanisms -*-
"""
DIGEST-MD5 (RFC 2831), authentication only (``qop=auth``; no integrity or
confidentiality layer).  Historic since RFC 6331, but deployed BEEP peers
(Vortex) offer it, and RFC 3195 asks for it.

The server can check a response either with the password or with the
"user hash" ``MD5(username ":" realm ":" password)``, which is what a
credential store that does not keep passwords stores (:func:`userHash`).
"""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from beepy.core.sasl.base import (
    Challenge,
    Claim,
    ClientMechanism,
    SASLError,
    ServerMechanism,
    Success,
    malformed,
    utf8,
)

__all__ = ["DigestMD5Claim", "DigestMD5Server", "DigestMD5Client", "userHash", "SERVICE"]

#: The GSSAPI service name of BEEP, the first half of the digest-uri.
SERVICE = "beep"
MAX_MESSAGE = 4096

# RFC 2831 section 7.1: name=value pairs, the value a token or a quoted
# string, separated by commas with optional white space.
_PAIR = re.compile(r'\s*([A-Za-z0-9-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,"\s]*)\s*(?:,|$)')
_HEX32 = re.compile(r"[0-9a-f]{32}")


def _md5(data):
    return hashlib.md5(data).digest()


def _hex(data):
    return data.hex().encode("ascii")


def _latin1IfPossible(text, utf8Charset):
    """
    RFC 2831 section 2.1.2.1: with ``charset=utf-8``, user names, realms
    and passwords that fit in ISO 8859-1 are hashed in ISO 8859-1.
    """
    if utf8Charset:
        try:
            return text.encode("iso-8859-1")
        except UnicodeEncodeError:
            return text.encode("utf-8")
    return text.encode("iso-8859-1")


def userHash(username, realm, password, utf8Charset=True):
    """
    ``MD5(username ":" realm ":" password)``: what a server may store
    instead of the password.
    """
    return _md5(
        b":".join(_latin1IfPossible(part, utf8Charset) for part in (username, realm, password))
    )


def _responseValue(userHashValue, nonce, cnonce, nc, qop, digestURI, authzid, method):
    a1 = userHashValue + b":" + nonce.encode("utf-8") + b":" + cnonce.encode("utf-8")
    if authzid:
        a1 += b":" + authzid.encode("utf-8")
    a2 = method + b":" + digestURI.encode("utf-8")
    kd = b":".join(
        [
            _hex(_md5(a1)),
            nonce.encode("utf-8"),
            nc.encode("ascii"),
            cnonce.encode("utf-8"),
            qop.encode("ascii"),
            _hex(_md5(a2)),
        ]
    )
    return _hex(_md5(kd))


def _parse(text):
    """
    Parse a DIGEST-MD5 message into a dict, refusing repeated names.
    """
    values = {}
    position = 0
    text = text.strip()
    while position < len(text):
        match = _PAIR.match(text, position)
        if match is None or match.end() == position:
            raise malformed("malformed DIGEST-MD5 message")
        name, value = match.group(1).lower(), match.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        if name in values:
            raise malformed(f"DIGEST-MD5 directive {name} repeated")
        values[name] = value
        position = match.end()
    return values


def _quote(value):
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class DigestMD5Claim(Claim):
    realm: str
    nonce: str
    cnonce: str
    nc: str
    digestURI: str
    response: bytes
    utf8Charset: bool

    def checkUserHash(self, userHashValue):
        """
        :return: whether the response was made with the password whose
            :func:`userHash` is ``userHashValue``.
        """
        expected = _responseValue(
            userHashValue,
            self.nonce,
            self.cnonce,
            self.nc,
            "auth",
            self.digestURI,
            self.authorizationId,
            b"AUTHENTICATE",
        )
        return hmac.compare_digest(expected, self.response)

    def userHashFor(self, password):
        return userHash(self.authenticationId, self.realm, password, self.utf8Charset)


class DigestMD5Server(ServerMechanism):
    """
    :param realm: the realm offered (and required of the client).
    :param host: the host the client must name in its digest-uri, or
        ``None`` to accept any (BEEP has no canonical host name for a
        session; ``serverName`` is the obvious one).
    """

    name = "DIGEST-MD5"
    serverFirst = True

    def __init__(self, realm="", host=None, nonce=None):
        self._realm = realm
        self._host = host
        self._nonce = nonce or secrets.token_urlsafe(18)
        self._claim = None
        self._answered = False

    def challenge(self):
        realm = f"realm={_quote(self._realm)}," if self._realm else ""
        text = f'{realm}nonce={_quote(self._nonce)},qop="auth",charset=utf-8,algorithm=md5-sess'
        return Challenge(text.encode("utf-8"))

    def respond(self, response):
        if self._answered:
            raise SASLError("DIGEST-MD5 takes a single response")
        self._answered = True
        if len(response) > MAX_MESSAGE:
            raise malformed(f"DIGEST-MD5 responses are limited to {MAX_MESSAGE} octets")
        values = _parse(utf8(response, "the DIGEST-MD5 response"))
        for required in ("username", "nonce", "cnonce", "nc", "digest-uri", "response"):
            if required not in values:
                raise malformed(f"the DIGEST-MD5 response lacks {required}")
        if values.get("charset", "utf-8").lower() != "utf-8":
            raise malformed("the only DIGEST-MD5 charset is utf-8")
        if values.get("qop", "auth") != "auth":
            raise SASLError("only qop=auth is offered")
        if values["nonce"] != self._nonce:
            raise SASLError("DIGEST-MD5 nonce mismatch")
        if values["nc"] != "00000001":
            raise SASLError("DIGEST-MD5 nonce count must be 00000001")
        if values.get("realm", "") != self._realm:
            raise SASLError("DIGEST-MD5 realm mismatch")
        service, _, host = values["digest-uri"].partition("/")
        if service.lower() != SERVICE or (
            self._host is not None and host.split("/")[0] != self._host
        ):
            raise SASLError(f"DIGEST-MD5 digest-uri {values['digest-uri']!r} is not ours")
        if not _HEX32.fullmatch(values["response"]):
            raise malformed("the DIGEST-MD5 response value is 32 lower-case hex digits")
        self._claim = DigestMD5Claim(
            values["username"],
            values.get("authzid") or None,
            self._realm,
            self._nonce,
            values["cnonce"],
            values["nc"],
            values["digest-uri"],
            values["response"].encode("ascii"),
            "charset" in values,
        )
        return self._claim

    def succeeded(self, secret=None):
        """
        :param secret: the user hash the response was checked with; the
            ``rspauth`` made from it proves to the client that we know it.
        """
        if self._claim is None or secret is None:
            raise SASLError("DIGEST-MD5 succeeded without a checked response")
        claim = self._claim
        rspauth = _responseValue(
            secret,
            claim.nonce,
            claim.cnonce,
            claim.nc,
            "auth",
            claim.digestURI,
            claim.authorizationId,
            b"",
        )
        return Success(b"rspauth=" + rspauth)


class DigestMD5Client(ClientMechanism):
    """
    :param host: the host part of the digest-uri (``beep/host``).
    :param realm: the realm to use; by default the first the server offers.
    """

    name = "DIGEST-MD5"
    serverFirst = True

    def __init__(self, username, password, host, authorizationId=None, realm=None, cnonce=None):
        self._username = username
        self._password = password
        self._digestURI = f"{SERVICE}/{host}"
        self._authzid = authorizationId
        self._realm = realm
        self._cnonce = cnonce or secrets.token_urlsafe(18)
        self._rspauth = None
        self._verified = False

    def challenge(self, data):
        if self._rspauth is not None:
            # rspauth sent as a challenge, answered with an empty response.
            self.complete(data)
            return b""
        values = _parse(utf8(data, "the DIGEST-MD5 challenge"))
        if "nonce" not in values:
            raise malformed("the DIGEST-MD5 challenge lacks a nonce")
        if values.get("algorithm") != "md5-sess":
            raise SASLError("the DIGEST-MD5 challenge does not say algorithm=md5-sess")
        if "auth" not in [qop.strip() for qop in values.get("qop", "auth").split(",")]:
            raise SASLError("the server offers no qop=auth")
        utf8Charset = values.get("charset", "").lower() == "utf-8"
        realm = self._realm if self._realm is not None else values.get("realm", "")
        nonce, nc = values["nonce"], "00000001"
        secret = userHash(self._username, realm, self._password, utf8Charset)
        response = _responseValue(
            secret, nonce, self._cnonce, nc, "auth", self._digestURI, self._authzid, b"AUTHENTICATE"
        )
        self._rspauth = _responseValue(
            secret, nonce, self._cnonce, nc, "auth", self._digestURI, self._authzid, b""
        )
        parts = [f"username={_quote(self._username)}"]
        if realm:
            parts.append(f"realm={_quote(realm)}")
        parts += [
            f"nonce={_quote(nonce)}",
            f"cnonce={_quote(self._cnonce)}",
            f"nc={nc}",
            "qop=auth",
            f"digest-uri={_quote(self._digestURI)}",
            f"response={response.decode('ascii')}",
        ]
        if utf8Charset:
            parts.append("charset=utf-8")
        if self._authzid:
            parts.append(f"authzid={_quote(self._authzid)}")
        return ",".join(parts).encode("utf-8")

    def complete(self, data):
        if self._verified:
            return
        if self._rspauth is None or not data:
            raise SASLError("the server ended DIGEST-MD5 without proving it knows the password")
        values = _parse(utf8(data, "the DIGEST-MD5 rspauth"))
        if not hmac.compare_digest(
            values.get("rspauth", "").encode("ascii", "replace"), self._rspauth
        ):
            raise SASLError("the DIGEST-MD5 rspauth is wrong")
        self._verified = True
