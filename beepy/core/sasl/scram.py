# -*- test-case-name: beepy.test.test_sasl_mechanisms -*-
"""
SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677), without channel
binding (the ``-PLUS`` variants are not offered, but the GS2 header is
parsed in full so they can be added).

The server never needs the password: it works from the salt, the iteration
count and two keys derived from the salted password (:func:`deriveKeys`),
which it looks up before sending its first message.
"""

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from beepy.core.sasl.base import (
    Challenge,
    Claim,
    ClientMechanism,
    Lookup,
    SASLError,
    ServerMechanism,
    Success,
    malformed,
    utf8,
)
from beepy.core.sasl.saslprep import saslprep

__all__ = [
    "HASHES",
    "SCRAMKeys",
    "SCRAMClaim",
    "SCRAMServer",
    "SCRAMClient",
    "deriveKeys",
    "DEFAULT_ITERATIONS",
    "MAX_ITERATIONS",
]

#: Mechanism name -> hashlib name.
HASHES = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"}
#: RFC 7677 section 4 asks for at least 4096.
DEFAULT_ITERATIONS = 4096
#: The most iterations a client spends on a server's say-so.
MAX_ITERATIONS = 10_000_000
#: The longest client message we parse.
MAX_MESSAGE = 4096

# Printable ASCII but the comma (RFC 5802 section 7, "printable").
_NONCE = re.compile(r"[\x21-\x2b\x2d-\x7e]+")
# An attribute is one letter, '=', then a value without commas.
_ATTRIBUTE = re.compile(r"([A-Za-z])=([^,]*)")
# A process-wide secret so that the fake salt of a user who does not exist
# is the same each time (a changing salt would tell the user is unknown).
_FAKE_KEY = secrets.token_bytes(32)


@dataclass(frozen=True)
class SCRAMKeys:
    """
    What a server stores for one user and one hash: never the password.
    """

    salt: bytes
    iterations: int
    storedKey: bytes
    serverKey: bytes


def _hmac(hashName, key, message):
    return hmac.new(key, message, hashName).digest()


def _xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def deriveKeys(password, salt=None, iterations=DEFAULT_ITERATIONS, hashName="sha256"):
    """
    The keys a server stores instead of ``password`` (a ``str``).

    :param salt: the salt; 16 random octets by default.
    """
    if salt is None:
        salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac(hashName, saslprep(password).encode("utf-8"), salt, iterations)
    clientKey = _hmac(hashName, salted, b"Client Key")
    return SCRAMKeys(
        salt,
        iterations,
        hashlib.new(hashName, clientKey).digest(),
        _hmac(hashName, salted, b"Server Key"),
    )


def _encodeName(name):
    return name.replace("=", "=3D").replace(",", "=2C")


def _decodeName(value):
    if re.search("=(?!2C|3D)", value):
        raise malformed("a SCRAM name has an '=' not followed by 2C or 3D")
    return value.replace("=2C", ",").replace("=3D", "=")


def _attributes(text, expected):
    """
    Split ``text`` into its attributes, checking the leading ones are
    ``expected`` in that order (extensions may follow).
    """
    pairs = []
    for part in text.split(","):
        match = _ATTRIBUTE.fullmatch(part)
        if match is None:
            raise malformed(f"malformed SCRAM attribute {part[:40]!r}")
        pairs.append(match.groups())
    names = "".join(name for name, _ in pairs[: len(expected)])
    if names != expected:
        raise malformed(f"SCRAM attributes {names!r} where {expected!r} were expected")
    return [value for _, value in pairs[: len(expected)]]


def _b64decode(value, what):
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise malformed(f"the {what} is not base64") from None


def _b64(data):
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class SCRAMClaim(Claim):
    """
    The client's proof, to check against a user's stored keys (or keys
    derived from the password, for credential stores that keep those).
    """

    hashName: str
    salt: bytes
    iterations: int
    authMessage: bytes
    proof: bytes

    def checkKeys(self, keys):
        """
        :return: whether the proof matches ``keys`` (which must have the salt
            and iteration count this exchange used).
        """
        if (keys.salt, keys.iterations) != (self.salt, self.iterations):
            return False
        signature = _hmac(self.hashName, keys.storedKey, self.authMessage)
        clientKey = _xor(self.proof, signature)
        return hmac.compare_digest(hashlib.new(self.hashName, clientKey).digest(), keys.storedKey)

    def keysFor(self, password):
        """
        The keys ``password`` gives with this exchange's salt and count.
        """
        return deriveKeys(password, self.salt, self.iterations, self.hashName)


class SCRAMServer(ServerMechanism):
    """
    :param name: ``"SCRAM-SHA-1"`` or ``"SCRAM-SHA-256"``.
    :param nonce: our part of the nonce; random by default.
    """

    def __init__(self, name="SCRAM-SHA-256", nonce=None):
        self.name = name
        self._hashName = HASHES[name]
        self._nonce = nonce or _b64(secrets.token_bytes(18))
        self._step = self._clientFirst
        self._claim = None

    def respond(self, response):
        step, self._step = self._step, self._unexpected
        if len(response) > MAX_MESSAGE:
            raise malformed(f"SCRAM messages are limited to {MAX_MESSAGE} octets")
        return step(utf8(response, "the SCRAM message"))

    def _clientFirst(self, message):
        flag, comma, rest = message.partition(",")
        authzid, comma2, bare = rest.partition(",")
        if not (comma and comma2):
            raise malformed("a SCRAM client-first message starts with a GS2 header")
        if flag.startswith("p="):
            raise SASLError(f"{self.name} does not offer channel binding")
        if flag not in ("n", "y"):
            raise malformed(f"unknown GS2 channel binding flag {flag!r}")
        if authzid and not authzid.startswith("a="):
            raise malformed("the GS2 authorization id must start with 'a='")
        if bare.startswith("m="):
            raise SASLError("unsupported mandatory SCRAM extension")
        username, clientNonce = _attributes(bare, "nr")
        if not _NONCE.fullmatch(clientNonce):
            raise malformed("the client nonce is not printable")
        self._gs2Header = message[: len(flag) + len(authzid) + 2]
        self._bare = bare
        self._username = saslprep(_decodeName(username))
        if not self._username:
            raise malformed("the SCRAM user name is empty")
        self._authzid = _decodeName(authzid[2:]) or None
        self._combinedNonce = clientNonce + self._nonce
        self._step = self._awaitingLookup
        return Lookup(self._username)

    def found(self, record):
        """
        :param record: the user's :class:`SCRAMKeys`, or anything with the
            ``salt`` and ``iterations`` to use (the keys are then derived
            from the password when the claim is checked); ``None`` for an
            unknown user, who gets a plausible salt and then fails.
        """
        if self._step != self._awaitingLookup:
            raise SASLError("unexpected lookup result")
        if record is None:
            self._salt = _hmac("sha256", _FAKE_KEY, self._username.encode("utf-8"))[:16]
            self._iterations = DEFAULT_ITERATIONS
        else:
            self._salt, self._iterations = record.salt, record.iterations
        self._serverFirst = f"r={self._combinedNonce},s={_b64(self._salt)},i={self._iterations}"
        self._step = self._clientFinal
        return Challenge(self._serverFirst.encode("ascii"))

    def _clientFinal(self, message):
        withoutProof, comma, proof = message.rpartition(",")
        if not comma or not proof.startswith("p="):
            raise malformed("a SCRAM client-final message ends with the proof")
        binding, nonce = _attributes(withoutProof, "cr")
        if _b64decode(binding, "channel binding") != self._gs2Header.encode("utf-8"):
            raise SASLError("SCRAM channel binding mismatch")
        if nonce != self._combinedNonce:
            raise SASLError("SCRAM nonce mismatch")
        proof = _b64decode(proof[2:], "proof")
        if len(proof) != hashlib.new(self._hashName).digest_size:
            raise malformed("the SCRAM proof has the wrong length")
        authMessage = ",".join([self._bare, self._serverFirst, withoutProof]).encode("utf-8")
        self._claim = SCRAMClaim(
            self._username,
            self._authzid,
            self._hashName,
            self._salt,
            self._iterations,
            authMessage,
            proof,
        )
        return self._claim

    def _unexpected(self, message):
        raise SASLError("unexpected SCRAM message")

    def _awaitingLookup(self, message):
        raise SASLError("a SCRAM message before the server's challenge")

    def succeeded(self, secret=None):
        """
        :param secret: the user's server key, which proves to the client that
            we know its keys.
        """
        if self._claim is None or secret is None:
            raise SASLError("SCRAM succeeded without a checked proof")
        signature = _hmac(self._hashName, secret, self._claim.authMessage)
        return Success(f"v={_b64(signature)}".encode("ascii"))


class SCRAMClient(ClientMechanism):
    """
    :param nonce: the client nonce; random by default.
    """

    def __init__(
        self,
        username,
        password,
        authorizationId=None,
        name="SCRAM-SHA-256",
        nonce=None,
        maxIterations=MAX_ITERATIONS,
    ):
        self.name = name
        self._hashName = HASHES[name]
        self._password = password
        self._nonce = nonce or _b64(secrets.token_bytes(18))
        self._maxIterations = maxIterations
        authzid = f"a={_encodeName(authorizationId)}" if authorizationId else ""
        self._gs2Header = f"n,{authzid},"
        self._bare = f"n={_encodeName(saslprep(username))},r={self._nonce}"
        self._serverSignature = None

    def initialResponse(self):
        return (self._gs2Header + self._bare).encode("utf-8")

    def challenge(self, data):
        if self._serverSignature is not None:
            # The server-final message sent as a challenge, to be answered
            # with an empty response (RFC 4422 section 4, step 7).
            self.complete(data)
            return b""
        serverFirst = utf8(data, "the SCRAM server-first message")
        if serverFirst.startswith("m="):
            raise SASLError("unsupported mandatory SCRAM extension")
        nonce, salt, iterations = _attributes(serverFirst, "rsi")
        if not nonce.startswith(self._nonce) or nonce == self._nonce:
            raise SASLError("the server's SCRAM nonce does not extend ours")
        if not (iterations.isascii() and iterations.isdigit()):
            raise malformed("the SCRAM iteration count is not a number")
        iterations = int(iterations)
        if not 1 <= iterations <= self._maxIterations:
            raise SASLError(f"SCRAM iteration count {iterations} out of range")
        salted = hashlib.pbkdf2_hmac(
            self._hashName,
            saslprep(self._password).encode("utf-8"),
            _b64decode(salt, "salt"),
            iterations,
        )
        withoutProof = f"c={_b64(self._gs2Header.encode('utf-8'))},r={nonce}"
        authMessage = ",".join([self._bare, serverFirst, withoutProof]).encode("utf-8")
        clientKey = _hmac(self._hashName, salted, b"Client Key")
        storedKey = hashlib.new(self._hashName, clientKey).digest()
        proof = _xor(clientKey, _hmac(self._hashName, storedKey, authMessage))
        serverKey = _hmac(self._hashName, salted, b"Server Key")
        self._serverSignature = _hmac(self._hashName, serverKey, authMessage)
        return f"{withoutProof},p={_b64(proof)}".encode("ascii")

    def complete(self, data):
        if self._serverSignature is None or data is None:
            raise SASLError("the server ended SCRAM without proving it knows our keys")
        serverFinal = utf8(data, "the SCRAM server-final message")
        if serverFinal.startswith("e="):
            raise SASLError(f"SCRAM failed: {serverFinal[2:].split(',')[0]}")
        (verifier,) = _attributes(serverFinal, "v")
        if not hmac.compare_digest(_b64decode(verifier, "verifier"), self._serverSignature):
            raise SASLError("the SCRAM server signature is wrong")
