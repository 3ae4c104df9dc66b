# -*- test-case-name: beepy.test.test_protocol -*-
"""
Two BEEP sessions wired together in memory, for tests of applications built
on beepy: no sockets, no reactor, every byte delivered when you ``flush()``.
"""

from twisted.test import iosim

from beepy.factory import BEEPClientFactory, BEEPServerFactory

__all__ = ["connectedSessions", "connectFactories"]


def connectedSessions(serverProfiles=(), clientProfiles=(), greet=True, **factoryArguments):
    """
    Connect an initiating session to a listening one in memory.

    :param serverProfiles: profile factories the listener offers.
    :param clientProfiles: profile factories the initiator offers.
    :param greet: exchange the greetings before returning.
    :param factoryArguments: passed to both factories (``config``, ...).
    :return: ``(client, server, pump)``: the two
        :class:`beepy.protocol.BEEPProtocol` sessions and the
        ``twisted.test.iosim.IOPump`` whose ``flush()`` moves the bytes.
    """
    return connectFactories(
        BEEPServerFactory(serverProfiles, **factoryArguments),
        BEEPClientFactory(clientProfiles, **factoryArguments),
        greet,
    )


def connectFactories(serverFactory, clientFactory, greet=True):
    """
    Connect a session of ``clientFactory`` to one of ``serverFactory`` in
    memory, for factories built with options of their own (a server's
    ``maxConnections``, say): each call is one more connection.

    :return: ``(client, server, pump)``, as :func:`connectedSessions`.
    """
    server = serverFactory.buildProtocol(None)
    client = clientFactory.buildProtocol(None)
    clientTransport = iosim.FakeTransport(client, isServer=False)
    serverTransport = iosim.FakeTransport(server, isServer=True)
    pump = iosim.connect(server, serverTransport, client, clientTransport, greet=greet)
    return client, server, pump
