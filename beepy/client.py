# -*- test-case-name: beepy.test.test_integration -*-
"""
Opening a BEEP session from a Twisted client endpoint.
"""

from beepy.factory import BEEPClientFactory
from beepy.tls import TLSRequest, requestTLS

__all__ = ["connectBEEP"]


def connectBEEP(endpoint, profiles=(), startTLS=None, **factoryArguments):
    """
    Connect to a BEEP peer.

    :param endpoint: an ``IStreamClientEndpoint``, e.g. from
        ``twisted.internet.endpoints.clientFromString``.
    :param profiles: the :class:`beepy.interfaces.IProfileFactory` providers
        we offer the peer (for channels it starts).
    :param startTLS: connect and secure: a :class:`beepy.tls.TLSRequest`
        (or ``True`` for its defaults) to ask the peer for TLS before the
        session is handed over; see
        :meth:`beepy.protocol.BEEPProtocol.startTLS`.
    :param factoryArguments: ``config``, ``features``, ``localize``,
        ``tls``, ``clock``, ``greetingTimeout``, ``idleTimeout``,
        ``frameTimeout``, ``trace``: see
        :class:`beepy.factory.BEEPClientFactory`.
    :return: a ``Deferred`` that fires with the session (a
        :class:`beepy.protocol.BEEPProtocol`) once both greetings are
        exchanged (over TLS with ``startTLS``), or fails with the connection
        error, the peer's :class:`beepy.BEEPError` refusal, or why TLS
        failed; the connection is then closed.
    """
    connecting = endpoint.connect(BEEPClientFactory(profiles, **factoryArguments))
    connecting.addCallback(lambda session: session.whenGreeted())
    if startTLS:
        request = TLSRequest() if startTLS is True else startTLS
        connecting.addCallback(_secure, request)
    return connecting


def _secure(session, request):
    def failed(failure):
        session.disconnect()
        return failure

    return requestTLS(session, request).addErrback(failed)
