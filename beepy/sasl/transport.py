# -*- test-case-name: beepy.test.test_sasl_tls -*-
"""
What SASL needs to know about the transport under a session: whether it is
encrypted (PLAIN and EXTERNAL depend on it) and the client certificate
(EXTERNAL's identity).

Both are read from the transport with Twisted's own interfaces, so TLS from
the first byte (``ssl:`` endpoints, ``listenSSL``, ``wrapClientTLS``) and a
later ``startTLS`` are seen alike.  This is the one place to point at the
state of a BEEP TLS tuning profile instead, should it keep its own.
"""

from twisted.internet.interfaces import ISSLTransport
from twisted.protocols.tls import TLSMemoryBIOProtocol

__all__ = ["isEncrypted", "peerCertificate"]


def isEncrypted(session):
    """
    Whether ``session`` (a :class:`beepy.protocol.BEEPProtocol`) runs over
    TLS.
    """
    transport = session.transport
    return ISSLTransport.providedBy(transport) or isinstance(transport, TLSMemoryBIOProtocol)


def peerCertificate(session):
    """
    The certificate the peer of ``session`` presented (an
    ``OpenSSL.crypto.X509``), or ``None``.
    """
    if not isEncrypted(session):
        return None
    return session.transport.getPeerCertificate()
