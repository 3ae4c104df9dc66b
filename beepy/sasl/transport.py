# -*- test-case-name: beepy.test.test_sasl_tls -*-
"""
What SASL needs to know about the transport under a session: whether it is
encrypted (PLAIN and EXTERNAL depend on it) and the client certificate
(EXTERNAL's identity).

Both are read from the transport (:func:`beepy.tls.isTLSTransport`), so TLS
from the first byte (``ssl:`` endpoints, ``listenSSL``, ``wrapClientTLS``)
and TLS negotiated with the TLS profile are seen alike.
"""

from beepy.tls import isTLSTransport

__all__ = ["isEncrypted", "peerCertificate"]


def isEncrypted(session):
    """
    Whether ``session`` (a :class:`beepy.protocol.BEEPProtocol`) runs over
    TLS.
    """
    return isTLSTransport(session.transport)


def peerCertificate(session):
    """
    The certificate the peer of ``session`` presented (an
    ``OpenSSL.crypto.X509``), or ``None``.
    """
    if not isEncrypted(session):
        return None
    return session.transport.getPeerCertificate()
