# -*- test-case-name: beepy.test.test_certificates -*-
"""
X.509 certificates made on the spot, with the ``cryptography`` package.

``twistd beep`` run without ``--tls-cert`` offers TLS with a self-signed
certificate from :func:`selfSignedCertificate`, so that TLS works out of
the box; clients check it by its :func:`fingerprint`, which the server logs.
:mod:`beepy.testing.certificates` builds test authorities from
:func:`issueCertificate`.
"""

import datetime
import ipaddress
import socket

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from OpenSSL import crypto
from twisted.internet import ssl

__all__ = [
    "issueCertificate",
    "privateCertificate",
    "selfSignedCertificate",
    "fingerprint",
    "trustRootFromPEM",
]

#: How long a generated certificate is valid.
DEFAULT_VALIDITY = datetime.timedelta(days=365)


def _subjectAlternativeName(name):
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def issueCertificate(names, issuer=None, authority=False, validity=DEFAULT_VALIDITY):
    """
    Make a key and a certificate for it.

    :param names: the host names and IP addresses the certificate is for
        (subject alternative names); the first is also the common name.  For
        an authority, the first is its name.
    :param issuer: the ``(key, certificate)`` of the authority that signs
        it; ``None`` for a self-signed certificate.
    :param authority: whether it may sign other certificates.
    :param validity: how long it is valid, from a minute ago.
    :return: ``(key, certificate)``, ``cryptography`` objects.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    issuerKey, issuerCertificate = issuer if issuer is not None else (key, None)
    issuerName = issuerCertificate.subject if issuerCertificate is not None else subject
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuerName)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=authority, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuerKey.public_key()),
            critical=False,
        )
    )
    if authority:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_subjectAlternativeName(n) for n in names]),
            critical=False,
        ).add_extension(
            # Either end of a BEEP session may be the TLS server.
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    return key, builder.sign(issuerKey, hashes.SHA256())


def privateCertificate(key, certificate):
    """
    :return: the ``twisted.internet.ssl.PrivateCertificate`` of
        ``cryptography`` objects, as Twisted's TLS options take it.
    """
    return ssl.PrivateCertificate.fromCertificateAndKeyPair(
        ssl.Certificate(crypto.X509.from_cryptography(certificate)),
        ssl.KeyPair(crypto.PKey.from_cryptography_key(key)),
    )


def selfSignedCertificate(names=None):
    """
    A self-signed certificate, for a server given none.

    :param names: what it is for; by default this host's name,
        ``localhost`` and the loopback addresses.
    :return: a ``twisted.internet.ssl.PrivateCertificate``.
    """
    if names is None:
        names = list(dict.fromkeys([socket.gethostname(), "localhost", "127.0.0.1", "::1"]))
    return privateCertificate(*issueCertificate(names))


def fingerprint(certificate):
    """
    The SHA-256 fingerprint of ``certificate`` (a
    ``twisted.internet.ssl.Certificate``, or a ``cryptography`` one), as
    ``AB:CD:...``, the way ``openssl x509 -fingerprint -sha256`` prints it.
    """
    if isinstance(certificate, ssl.Certificate):
        certificate = certificate.original.to_cryptography()
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()


def trustRootFromPEM(pem):
    """
    The authorities of a PEM file (one or several certificates), as the
    ``trustRoot`` of TLS options.

    :raises ValueError: if ``pem`` holds no certificate.
    """
    authorities = x509.load_pem_x509_certificates(pem)
    return ssl.trustRootFromCertificates(
        [ssl.Certificate(crypto.X509.from_cryptography(authority)) for authority in authorities]
    )
