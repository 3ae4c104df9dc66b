# -*- test-case-name: beepy.test.test_certificates -*-
"""
Certificate authorities made up for a test, so that TLS tests need no files
and no network: one authority per test, certificates for whatever names the
test needs.

::

    authority = CertificateAuthority()
    serverCertificate = authority.issue("beep.example", "127.0.0.1")
    session.startTLS(serverName="beep.example", trustRoot=authority.certificate)
"""

from OpenSSL import crypto
from twisted.internet import ssl

from beepy.certificates import issueCertificate, privateCertificate

__all__ = ["CertificateAuthority"]


class CertificateAuthority:
    """
    A certificate authority with a fresh key.

    :ivar certificate: its ``twisted.internet.ssl.Certificate``, to trust
        (``trustRoot``) what it issues.
    """

    def __init__(self, name="beepy test authority"):
        self._issuer = issueCertificate([name], authority=True)
        self.certificate = ssl.Certificate(crypto.X509.from_cryptography(self._issuer[1]))

    def issue(self, *names):
        """
        A certificate signed by this authority, usable by a TLS server or
        client.

        :param names: the host names and IP addresses it is for.
        :return: a ``twisted.internet.ssl.PrivateCertificate``.
        """
        return privateCertificate(*issueCertificate(list(names), issuer=self._issuer))
