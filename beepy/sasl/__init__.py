# -*- test-case-name: beepy.test.test_sasl -*-
"""
SASL for BEEP sessions (RFC 3080 section 4.1), authenticating through a
``twisted.cred`` portal.

A listener offers mechanisms by passing a :class:`SASLPolicy` to
:class:`beepy.BEEPServerFactory`; a client calls
``session.authenticate(...)``.  Either way the outcome is the session's
:attr:`~beepy.BEEPProtocol.authentication`.  See ``doc/sasl.rst``.
"""

from beepy.core.sasl.base import SASLError
from beepy.sasl.client import authenticate
from beepy.sasl.cred import (
    Avatar,
    AvatarIdRealm,
    ClientCertificateChecker,
    CramMD5Credentials,
    DigestMD5Credentials,
    ExternalCredentials,
    IDigestMD5Credentials,
    IExternalCredentials,
    InMemoryDigestMD5Checker,
    InMemoryOTPDatabase,
    InMemorySCRAMChecker,
    IOTPCredentials,
    IOTPDatabase,
    ISCRAMCredentials,
    ISCRAMKeyStore,
    OTPCredentials,
    OTPState,
    SCRAMCredentials,
    SCRAMKeys,
    SCRAMPasswordCredentials,
    commonName,
    deriveSCRAMKeys,
    normaliseChecker,
)
from beepy.sasl.policy import (
    MECHANISMS,
    SASL_URI,
    Authentication,
    AuthenticationStatus,
    SASLPolicy,
    mechanismURI,
)
from beepy.sasl.server import SASLMind
from beepy.sasl.transport import isEncrypted, peerCertificate

__all__ = [
    "Authentication",
    "AuthenticationStatus",
    "Avatar",
    "AvatarIdRealm",
    "ClientCertificateChecker",
    "CramMD5Credentials",
    "DigestMD5Credentials",
    "ExternalCredentials",
    "IDigestMD5Credentials",
    "IExternalCredentials",
    "IOTPCredentials",
    "IOTPDatabase",
    "ISCRAMCredentials",
    "ISCRAMKeyStore",
    "InMemoryDigestMD5Checker",
    "InMemoryOTPDatabase",
    "InMemorySCRAMChecker",
    "MECHANISMS",
    "OTPCredentials",
    "OTPState",
    "SASLError",
    "SASLMind",
    "SASLPolicy",
    "SASL_URI",
    "SCRAMCredentials",
    "SCRAMKeys",
    "SCRAMPasswordCredentials",
    "authenticate",
    "commonName",
    "deriveSCRAMKeys",
    "isEncrypted",
    "mechanismURI",
    "normaliseChecker",
    "peerCertificate",
]
