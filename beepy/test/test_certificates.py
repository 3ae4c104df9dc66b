# -*- test-case-name: beepy.test.test_certificates -*-
"""
Tests for :mod:`beepy.certificates` and :mod:`beepy.testing.certificates`.
"""

import ipaddress
import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from twisted.trial.unittest import SynchronousTestCase

from beepy.certificates import fingerprint, selfSignedCertificate
from beepy.testing.certificates import CertificateAuthority


def names(certificate):
    """
    The subject alternative names of a ``twisted.internet.ssl.Certificate``.
    """
    extension = certificate.original.to_cryptography().extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    return extension.value.get_values_for_type(x509.DNSName) + extension.value.get_values_for_type(
        x509.IPAddress
    )


class SelfSignedTests(SynchronousTestCase):
    def test_defaultNames(self):
        """
        By default the certificate is for this host, ``localhost`` and the
        loopback addresses, so that a local client can check it.
        """
        certificate = selfSignedCertificate()
        self.assertIn("localhost", names(certificate))
        self.assertIn(ipaddress.ip_address("127.0.0.1"), names(certificate))
        self.assertIn(ipaddress.ip_address("::1"), names(certificate))

    def test_selfSigned(self):
        certificate = selfSignedCertificate(["beep.example"]).original.to_cryptography()
        self.assertEqual(certificate.issuer, certificate.subject)
        certificate.verify_directly_issued_by(certificate)

    def test_fresh(self):
        """
        Each call makes a new key.
        """
        self.assertNotEqual(
            fingerprint(selfSignedCertificate(["a"])), fingerprint(selfSignedCertificate(["a"]))
        )

    def test_fingerprint(self):
        """
        The fingerprint is the SHA-256 of the DER certificate, as
        ``openssl x509 -fingerprint -sha256`` prints it.
        """
        certificate = selfSignedCertificate(["beep.example"])
        printed = fingerprint(certificate)
        self.assertRegex(printed, "^([0-9A-F]{2}:){31}[0-9A-F]{2}$")
        digest = certificate.original.to_cryptography().fingerprint(hashes.SHA256())
        self.assertEqual(bytes.fromhex(re.sub(":", "", printed)), digest)
        self.assertEqual(fingerprint(certificate.original.to_cryptography()), printed)


class AuthorityTests(SynchronousTestCase):
    def test_issue(self):
        """
        What an authority issues is signed by it and carries the names.
        """
        authority = CertificateAuthority()
        issued = authority.issue("beep.example", "127.0.0.1")
        issued.original.to_cryptography().verify_directly_issued_by(
            authority.certificate.original.to_cryptography()
        )
        self.assertEqual(names(issued), ["beep.example", ipaddress.ip_address("127.0.0.1")])
        self.assertTrue(issued.privateKey.matches(issued.getPublicKey()))

    def test_authoritiesDiffer(self):
        self.assertNotEqual(
            fingerprint(CertificateAuthority().certificate),
            fingerprint(CertificateAuthority().certificate),
        )
