# -*- test-case-name: beepy.test.test_integration -*-
"""
Opening a BEEP session from a Twisted client endpoint.
"""

from beepy.factory import BEEPClientFactory

__all__ = ["connectBEEP"]


def connectBEEP(endpoint, profiles=(), **factoryArguments):
    """
    Connect to a BEEP peer.

    :param endpoint: an ``IStreamClientEndpoint``, e.g. from
        ``twisted.internet.endpoints.clientFromString``.
    :param profiles: the :class:`beepy.interfaces.IProfileFactory` providers
        we offer the peer (for channels it starts).
    :param factoryArguments: ``config``, ``features``, ``localize``: see
        :class:`beepy.factory.BEEPClientFactory`.
    :return: a ``Deferred`` that fires with the session (a
        :class:`beepy.protocol.BEEPProtocol`) once both greetings are
        exchanged, or fails with the connection error or the peer's
        :class:`beepy.BEEPError` refusal.
    """
    connecting = endpoint.connect(BEEPClientFactory(profiles, **factoryArguments))
    return connecting.addCallback(lambda session: session.whenGreeted())
