# -*- test-case-name: beepy.test.test_sasl_mechanisms -*-
"""
OTP (RFC 2444) over RFC 2289 one-time passwords, MD5 and SHA-1: the
mechanism of RFC 3080's own examples and the one beepcore-java ships.

The client sends ``authzid NUL authcid``; the server answers with a
challenge ``otp-md5 <sequence> <seed> ext``; the client sends the one-time
password for that sequence number (as six words or hex, in RFC 2243's
extended form); the server hashes it once and compares it with the last
one-time password it accepted, which the response then replaces.

beepcore-java counts one hash short of RFC 2289 (its answer to sequence
``n`` is RFC 2289's password ``n - 1``); ``beepcore=True`` makes our client
do the same and our server accept such answers as well.
"""

import hashlib
import hmac
import re
import secrets
import struct
from dataclasses import dataclass
from typing import Optional

from beepy.core.sasl.base import (
    Challenge,
    Claim,
    ClientMechanism,
    Lookup,
    SASLError,
    ServerMechanism,
    malformed,
    utf8,
)
from beepy.core.sasl.otpwords import INDEX, WORDS

__all__ = [
    "ALGORITHMS",
    "MAX_SEQUENCE",
    "OTPState",
    "OTPClaim",
    "OTPServer",
    "OTPClient",
    "oneTimePassword",
    "toWords",
    "fromWords",
]

ALGORITHMS = ("md5", "sha1")
MAX_MESSAGE = 1024
#: The highest sequence number our client answers: each costs a hash, and
#: a hostile server could ask for billions.  RFC 2289 implementations
#: start counts at 99, 499 or 9999.
MAX_SEQUENCE = 100_000
_SEED = re.compile(r"[A-Za-z0-9]{1,16}")
_HEX16 = re.compile(r"[0-9A-Fa-f]{16}")
_FAKE_KEY = secrets.token_bytes(32)


def _fold(algorithm, data):
    """
    One hash application, folded to 64 bits (RFC 2289 section 5 and
    appendix A, whose SHA-1 fold stores each 32-bit word little-endian).
    """
    digest = hashlib.new(algorithm, data).digest()
    if algorithm == "md5":
        return bytes(a ^ b for a, b in zip(digest[:8], digest[8:]))
    words = struct.unpack(">5I", digest)
    return struct.pack("<2I", words[0] ^ words[2] ^ words[4], words[1] ^ words[3])


def _checkAlgorithm(algorithm):
    if algorithm not in ALGORITHMS:
        raise SASLError(f"unsupported OTP algorithm {algorithm!r}")


def _checkSeed(seed):
    if not _SEED.fullmatch(seed):
        raise malformed("an OTP seed is 1 to 16 letters and digits")


def oneTimePassword(passphrase, seed, sequence, algorithm="md5"):
    """
    RFC 2289's one-time password number ``sequence``: the seed (lower-cased)
    and pass phrase hashed once, then ``sequence`` more times.
    """
    _checkAlgorithm(algorithm)
    _checkSeed(seed)
    value = _fold(algorithm, (seed.lower() + passphrase).encode("utf-8"))
    for _ in range(sequence):
        value = _fold(algorithm, value)
    return value


def _checksum(number):
    return sum((number >> shift) & 3 for shift in range(0, 64, 2)) & 3


def toWords(otp):
    """
    The six-word form of a 64-bit one-time password.
    """
    number = int.from_bytes(otp, "big")
    bits = (number << 2) | _checksum(number)
    return " ".join(WORDS[(bits >> (55 - 11 * i)) & 0x7FF] for i in range(6))


def fromWords(text):
    """
    The one-time password six words stand for.

    :raises SASLError: 501 for unknown words or a wrong checksum.
    """
    words = text.upper().split()
    if len(words) != 6 or any(word not in INDEX for word in words):
        raise malformed("an OTP is six words of the RFC 2289 dictionary")
    bits = 0
    for word in words:
        bits = (bits << 11) | INDEX[word]
    number = bits >> 2
    if _checksum(number) != bits & 3:
        raise malformed("the OTP words fail their checksum")
    return number.to_bytes(8, "big")


def _parseOTP(text):
    compact = "".join(text.split())
    if _HEX16.fullmatch(compact):
        return bytes.fromhex(compact)
    return fromWords(text)


@dataclass(frozen=True)
class OTPState:
    """
    What a server stores for one user: the algorithm, the seed, and the last
    one-time password accepted with its sequence number.  The next challenge
    asks for ``sequence - 1``.
    """

    algorithm: str
    sequence: int
    seed: str
    lastOTP: bytes

    def __post_init__(self):
        _checkAlgorithm(self.algorithm)
        _checkSeed(self.seed)
        if self.sequence < 0 or len(self.lastOTP) != 8:
            raise ValueError("an OTP state has a sequence >= 0 and a 64-bit password")

    @classmethod
    def create(cls, passphrase, seed, sequence=500, algorithm="md5"):
        """
        The state of a user whose next challenge is ``sequence - 1``.
        """
        return cls(
            algorithm, sequence, seed, oneTimePassword(passphrase, seed, sequence, algorithm)
        )


@dataclass(frozen=True)
class OTPClaim(Claim):
    """
    The one-time password the client gave for the challenge
    ``algorithm``/``sequence``/``seed``; ``reinitialized`` is the new state
    an ``init-hex``/``init-word`` response asks for.
    """

    algorithm: str
    sequence: int
    seed: str
    otp: bytes
    reinitialized: Optional[OTPState]
    beepcore: bool

    def check(self, state):
        """
        :param state: the user's current :class:`OTPState`, or ``None``.
        :return: the state to store if the password is right (and ``state``
            is still the one challenged), else ``None``.
        """
        if state is None or (state.algorithm, state.sequence, state.seed) != (
            self.algorithm,
            self.sequence + 1,
            self.seed,
        ):
            return None
        once = _fold(self.algorithm, self.otp)
        if hmac.compare_digest(once, state.lastOTP):
            sequence = self.sequence
        elif (
            self.beepcore
            and self.sequence >= 1
            and hmac.compare_digest(_fold(self.algorithm, once), state.lastOTP)
        ):
            sequence = self.sequence - 1
        else:
            return None
        return self.reinitialized or OTPState(self.algorithm, sequence, self.seed, self.otp)


def _authorizationAndAuthentication(response):
    fields = response.split(b"\0")
    if len(fields) != 2 or not fields[1]:
        raise malformed("the OTP initial response is authzid NUL authcid")
    authzid, authcid = (utf8(field, "the identity") for field in fields)
    return authzid or None, authcid


class OTPServer(ServerMechanism):
    """
    :param beepcore: also accept beepcore-java's answers, one hash short.
    """

    name = "OTP"

    def __init__(self, beepcore=False):
        self._beepcore = beepcore
        self._step = self._identities

    def respond(self, response):
        step, self._step = self._step, self._unexpected
        if len(response) > MAX_MESSAGE:
            raise malformed(f"OTP messages are limited to {MAX_MESSAGE} octets")
        return step(response)

    def _identities(self, response):
        self._authzid, self._authcid = _authorizationAndAuthentication(response)
        self._step = self._awaitingLookup
        return Lookup(self._authcid)

    def found(self, record):
        """
        :param record: the user's :class:`OTPState`, or ``None`` for an
            unknown user, who gets a plausible challenge and then fails.
        """
        if self._step != self._awaitingLookup:
            raise SASLError("unexpected lookup result")
        if record is None:
            fake = hmac.new(_FAKE_KEY, self._authcid.encode("utf-8"), "sha256").digest()
            self._challenged = ("md5", 499, "ke" + str(int.from_bytes(fake[:4], "big") % 10000))
        elif record.sequence < 1:
            raise SASLError("no one-time passwords left: the OTP sequence must be reinitialized")
        else:
            self._challenged = (record.algorithm, record.sequence - 1, record.seed)
        algorithm, sequence, seed = self._challenged
        self._step = self._response
        return Challenge(f"otp-{algorithm} {sequence} {seed} ext".encode("ascii"))

    def _response(self, response):
        text = utf8(response, "the OTP response").strip()
        kind, colon, rest = text.partition(":")
        kind = kind.lower() if colon else ""
        reinitialized = None
        if kind in ("hex", "word"):
            otp = _parseOTP(rest)
        elif kind in ("init-hex", "init-word"):
            parts = rest.split(":")
            if len(parts) != 3:
                raise malformed("an OTP init response is current:new-params:new-otp")
            otp = _parseOTP(parts[0])
            params = parts[1].split()
            if len(params) != 3 or not (params[1].isascii() and params[1].isdigit()):
                raise malformed("OTP new-params are algorithm, sequence and seed")
            try:
                reinitialized = OTPState(
                    params[0].lower(), int(params[1]), params[2], _parseOTP(parts[2])
                )
            except ValueError:
                raise malformed("invalid new OTP parameters") from None
        elif not colon:
            otp = _parseOTP(text)
        else:
            raise malformed(f"unknown OTP response type {kind!r}")
        algorithm, sequence, seed = self._challenged
        return OTPClaim(
            self._authcid,
            self._authzid,
            algorithm,
            sequence,
            seed,
            otp,
            reinitialized,
            self._beepcore,
        )

    def _unexpected(self, response):
        raise SASLError("unexpected OTP message")

    def _awaitingLookup(self, response):
        raise SASLError("an OTP response before the server's challenge")


class OTPClient(ClientMechanism):
    """
    :param beepcore: answer as beepcore-java does, one hash short of RFC
        2289 (only for servers that count that way).
    :param maxSequence: the highest sequence number answered; a challenge
        for more is refused rather than hashed for hours.
    """

    name = "OTP"

    def __init__(
        self, username, passphrase, authorizationId=None, beepcore=False, maxSequence=MAX_SEQUENCE
    ):
        self._identities = f"{authorizationId or ''}\0{username}".encode("utf-8")
        self._passphrase = passphrase
        self._beepcore = beepcore
        self._maxSequence = maxSequence
        self._answered = False

    def initialResponse(self):
        return self._identities

    def challenge(self, data):
        if self._answered:
            raise SASLError("OTP has a single challenge")
        self._answered = True
        tokens = utf8(data, "the OTP challenge").split()
        if (
            len(tokens) < 3
            or not tokens[0].startswith("otp-")
            or not (tokens[1].isascii() and tokens[1].isdigit())
        ):
            raise malformed("an OTP challenge is otp-<algorithm> <sequence> <seed>")
        if len(tokens[1]) > 10 or int(tokens[1]) > self._maxSequence:
            raise SASLError(f"OTP sequence {tokens[1][:12]} is over our limit of {self._maxSequence}")
        algorithm, sequence, seed = tokens[0][4:], int(tokens[1]), tokens[2]
        if self._beepcore:
            if sequence < 1:
                raise SASLError("OTP sequence 0 cannot be answered one hash short")
            sequence -= 1
        words = toWords(oneTimePassword(self._passphrase, seed, sequence, algorithm))
        extended = "ext" in tokens[3:]
        return (f"word:{words}" if extended else words).encode("ascii")
