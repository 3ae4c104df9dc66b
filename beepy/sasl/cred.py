# -*- test-case-name: beepy.test.test_sasl_cred -*-
"""
``twisted.cred`` for the SASL mechanisms: credentials, checker interfaces,
checkers and helpers.

The mechanisms that Twisted already has credentials for use them: PLAIN
gives ``UsernamePassword``, CRAM-MD5 ``CramMD5Credentials``, ANONYMOUS
``Anonymous``, so any checker a Twisted application has (in memory,
``FilePasswordDB``, ``twistd --auth`` plugins) works with them.  DIGEST-MD5
and SCRAM credentials provide ``IUsernameHashedPassword`` too, so checkers
that know passwords serve them as well; their own interfaces let a store
keep only derived secrets.  OTP and EXTERNAL need checkers of their own.

As in Twisted's protocols, user names and passwords reach checkers as UTF-8
``bytes``.
"""

import hashlib
import hmac

from twisted.cred import credentials
from twisted.cred.checkers import ICredentialsChecker, InMemoryUsernamePasswordDatabaseDontUse
from twisted.cred.error import UnauthorizedLogin
from twisted.cred.portal import IRealm
from zope.interface import Attribute, Interface, implementer

from beepy.core.sasl import digestmd5, scram
from beepy.core.sasl.crammd5 import digest as cramDigest
from beepy.core.sasl.otp import OTPState
from beepy.core.sasl.scram import SCRAMKeys, deriveKeys
from beepy.interfaces import IBEEPAvatar

__all__ = [
    "CramMD5Credentials",
    "IDigestMD5Credentials",
    "DigestMD5Credentials",
    "InMemoryDigestMD5Checker",
    "ISCRAMCredentials",
    "ISCRAMKeyStore",
    "SCRAMCredentials",
    "SCRAMPasswordCredentials",
    "InMemorySCRAMChecker",
    "SCRAMKeys",
    "deriveSCRAMKeys",
    "IOTPCredentials",
    "IOTPDatabase",
    "OTPCredentials",
    "InMemoryOTPDatabase",
    "OTPState",
    "IExternalCredentials",
    "ExternalCredentials",
    "ClientCertificateChecker",
    "commonName",
    "Avatar",
    "AvatarIdRealm",
    "normaliseChecker",
]


def _bytes(value):
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else value


#: Derive the keys a SCRAM server stores instead of a password:
#: ``deriveSCRAMKeys(password, salt=None, iterations=4096, hashName="sha256")``.
deriveSCRAMKeys = deriveKeys


class CramMD5Credentials(credentials.CramMD5Credentials):
    """
    Twisted's CRAM-MD5 credentials for a finished exchange, compared in
    constant time and taking ``str`` passwords too.
    """

    def __init__(self, claim):
        super().__init__()
        self.username = _bytes(claim.authenticationId)
        self.challenge = claim.challenge
        self.response = claim.response

    def checkPassword(self, password):
        return hmac.compare_digest(cramDigest(_bytes(password), self.challenge), self.response)


class _Remembering:
    """
    Credentials whose successful check leaves behind the secret the
    mechanism's final message is made from.
    """

    secret = None

    def _remember(self, ok, secret):
        if ok:
            self.secret = secret
        return ok


# -- DIGEST-MD5 -----------------------------------------------------------


class IDigestMD5Credentials(credentials.ICredentials):
    """
    A DIGEST-MD5 response, checkable without the password.
    """

    username = Attribute("The user name, UTF-8 bytes.")
    realm = Attribute("The realm, a str.")

    def checkUserHash(userHash):
        """
        :param userHash: ``MD5(username ":" realm ":" password)``, 16 bytes
            (:func:`beepy.core.sasl.digestmd5.userHash`).
        :return: whether the response was made with that password.
        """


@implementer(IDigestMD5Credentials, credentials.IUsernameHashedPassword)
class DigestMD5Credentials(_Remembering):
    def __init__(self, claim):
        self._claim = claim
        self.username = _bytes(claim.authenticationId)
        self.realm = claim.realm

    def checkPassword(self, password):
        userHash = self._claim.userHashFor(_text(password))
        return self.checkUserHash(userHash)

    def checkUserHash(self, userHash):
        return self._remember(self._claim.checkUserHash(userHash), userHash)


@implementer(ICredentialsChecker)
class InMemoryDigestMD5Checker:
    """
    Checks DIGEST-MD5 responses against user hashes, so that no password is
    kept.
    """

    credentialInterfaces = (IDigestMD5Credentials,)

    def __init__(self):
        self._hashes = {}

    def addUser(self, username, realm, password):
        self._hashes[(_bytes(username), realm)] = digestmd5.userHash(
            _text(username), realm, password
        )

    def requestAvatarId(self, credentials):
        userHash = self._hashes.get((credentials.username, credentials.realm))
        if userHash is not None and credentials.checkUserHash(userHash):
            return credentials.username
        raise UnauthorizedLogin()


# -- SCRAM ----------------------------------------------------------------


class ISCRAMCredentials(credentials.ICredentials):
    """
    A SCRAM proof, checkable with the user's stored keys.
    """

    username = Attribute("The user name, UTF-8 bytes.")
    mechanism = Attribute('"SCRAM-SHA-1" or "SCRAM-SHA-256".')

    def checkKeys(keys):
        """
        :param keys: the user's :class:`SCRAMKeys` for this mechanism.
        :return: whether the client's proof matches them.
        """


class ISCRAMKeyStore(Interface):
    """
    A checker of :class:`ISCRAMCredentials` that tells the salt and
    iteration count a user's keys were made with: SCRAM needs them before it
    can send its first challenge.
    """

    def scramKeys(username, mechanism):
        """
        :param username: UTF-8 bytes.
        :return: the user's :class:`SCRAMKeys` for ``mechanism``, ``None``
            for an unknown user, or a ``Deferred`` of either.
        """


@implementer(ISCRAMCredentials)
class SCRAMCredentials(_Remembering):
    """
    A SCRAM proof for a store of keys.
    """

    def __init__(self, claim, mechanism):
        self._claim = claim
        self.username = _bytes(claim.authenticationId)
        self.mechanism = mechanism

    def checkKeys(self, keys):
        return self._remember(self._claim.checkKeys(keys), keys.serverKey)


@implementer(credentials.IUsernameHashedPassword)
class SCRAMPasswordCredentials(_Remembering):
    """
    A SCRAM proof for a checker that knows passwords: the keys are derived
    from the password with the salt the exchange used.
    """

    def __init__(self, claim):
        self._claim = claim
        self.username = _bytes(claim.authenticationId)

    def checkPassword(self, password):
        keys = self._claim.keysFor(_text(password))
        return self._remember(self._claim.checkKeys(keys), keys.serverKey)


@implementer(ICredentialsChecker, ISCRAMKeyStore)
class InMemorySCRAMChecker:
    """
    Keeps SCRAM keys (never passwords) in memory.
    """

    credentialInterfaces = (ISCRAMCredentials,)

    def __init__(self):
        self._keys = {}

    def addUser(self, username, password, mechanisms=tuple(scram.HASHES), iterations=4096):
        """
        Derive and keep the keys of ``password`` for each mechanism.
        """
        for mechanism in mechanisms:
            self.addKeys(
                username, mechanism, deriveKeys(password, None, iterations, scram.HASHES[mechanism])
            )

    def addKeys(self, username, mechanism, keys):
        self._keys[(_bytes(username), mechanism)] = keys

    def scramKeys(self, username, mechanism):
        return self._keys.get((_bytes(username), mechanism))

    def requestAvatarId(self, credentials):
        keys = self.scramKeys(credentials.username, credentials.mechanism)
        if keys is not None and credentials.checkKeys(keys):
            return credentials.username
        raise UnauthorizedLogin()


def _saltFor(key, username):
    """
    The salt offered for SCRAM when a checker knows passwords but no salt:
    the same for a user each time, as a store of keys would give.
    """
    return hmac.new(key, _bytes(username), hashlib.sha256).digest()[:16]


# -- OTP ------------------------------------------------------------------


class IOTPCredentials(credentials.ICredentials):
    """
    A one-time password given for a challenge.
    """

    username = Attribute("The user name, UTF-8 bytes.")

    def check(state):
        """
        :param state: the user's current :class:`OTPState`.
        :return: the state to store if the password is right, else ``None``.
        """


class IOTPDatabase(Interface):
    """
    A checker of :class:`IOTPCredentials` that tells a user's OTP state:
    the challenge is made from it.
    """

    def otpState(username):
        """
        :return: the user's :class:`OTPState`, ``None`` for an unknown user,
            or a ``Deferred`` of either.
        """


@implementer(IOTPCredentials)
class OTPCredentials:
    def __init__(self, claim):
        self._claim = claim
        self.username = _bytes(claim.authenticationId)

    def check(self, state):
        return self._claim.check(state)


@implementer(ICredentialsChecker, IOTPDatabase)
class InMemoryOTPDatabase:
    """
    OTP states in memory.  A successful check replaces the user's state at
    once, so a one-time password is never accepted twice.
    """

    credentialInterfaces = (IOTPCredentials,)

    def __init__(self):
        self._states = {}

    def addUser(self, username, passphrase, seed, sequence=500, algorithm="md5"):
        """
        Register ``username``; the first challenge asks for ``sequence - 1``.
        """
        self.setState(username, OTPState.create(passphrase, seed, sequence, algorithm))

    def setState(self, username, state):
        self._states[_bytes(username)] = state

    def otpState(self, username):
        return self._states.get(_bytes(username))

    def requestAvatarId(self, credentials):
        new = credentials.check(self._states.get(credentials.username))
        if new is None:
            raise UnauthorizedLogin()
        self._states[credentials.username] = new
        return credentials.username


# -- EXTERNAL -------------------------------------------------------------


class IExternalCredentials(credentials.ICredentials):
    """
    The identity the TLS layer established: the client's certificate.
    """

    certificate = Attribute("The peer's certificate (an OpenSSL.crypto.X509), or None.")
    authorizationId = Attribute("The authorization identity asked for, a str, or None.")


@implementer(IExternalCredentials)
class ExternalCredentials:
    def __init__(self, certificate, authorizationId=None):
        self.certificate = certificate
        self.authorizationId = authorizationId


def commonName(certificate):
    """
    The subject common name of a certificate, as UTF-8 bytes.
    """
    name = certificate.get_subject().commonName
    if not name:
        raise UnauthorizedLogin("the client certificate has no common name")
    return _bytes(name)


@implementer(ICredentialsChecker)
class ClientCertificateChecker:
    """
    Authenticates a client by its TLS certificate (which the TLS layer
    verified against its trust roots).

    :param identify: maps the certificate to the avatar id (UTF-8 bytes);
        the subject common name by default.
    """

    credentialInterfaces = (IExternalCredentials,)

    def __init__(self, identify=commonName):
        self._identify = identify

    def requestAvatarId(self, credentials):
        if credentials.certificate is None:
            raise UnauthorizedLogin("no client certificate")
        return self._identify(credentials.certificate)


# -- Realm and normalising ------------------------------------------------


@implementer(IBEEPAvatar)
class Avatar:
    """
    The simplest avatar: the avatar id and nothing else.
    """

    def __init__(self, avatarId):
        self.avatarId = avatarId

    def __repr__(self):
        return f"Avatar({self.avatarId!r})"


@implementer(IRealm)
class AvatarIdRealm:
    """
    A realm for servers that need nothing but the identity (``twistd
    beep``): every avatar is an :class:`Avatar`.
    """

    def requestAvatar(self, avatarId, mind, *interfaces):
        if IBEEPAvatar not in interfaces:
            raise NotImplementedError("AvatarIdRealm only makes IBEEPAvatar")
        return IBEEPAvatar, Avatar(avatarId), lambda: None


def normaliseChecker(checker):
    """
    Make a checker built from text work with the ``bytes`` credentials
    protocols build.

    ``twistd --auth memory:bob:secret`` gives an
    ``InMemoryUsernamePasswordDatabaseDontUse`` whose user names and
    passwords are ``str``: it would refuse every ``bytes`` user name.  This
    returns a copy keyed by UTF-8 ``bytes``; any other checker is returned
    as it is.
    """
    if isinstance(checker, InMemoryUsernamePasswordDatabaseDontUse):
        normalised = InMemoryUsernamePasswordDatabaseDontUse()
        for username, password in checker.users.items():
            normalised.addUser(_bytes(username), _bytes(password))
        return normalised
    return checker
