# -*- test-case-name: beepy.test.test_protocol -*-
"""
Two BEEP sessions wired together in memory, for tests of applications built
on beepy: no sockets, no reactor, every byte delivered when you ``flush()``.
"""

from twisted.internet import task
from twisted.test import iosim

from beepy.factory import BEEPClientFactory, BEEPServerFactory

__all__ = ["connectedSessions"]


def connectedSessions(
    serverProfiles=(),
    clientProfiles=(),
    greet=True,
    serverArguments=None,
    clientArguments=None,
    **factoryArguments,
):
    """
    Connect an initiating session to a listening one in memory.

    :param serverProfiles: profile factories the listener offers.
    :param clientProfiles: profile factories the initiator offers.
    :param greet: exchange the greetings before returning.
    :param serverArguments: passed to the listener's factory only (a
        ``dict``: e.g. its ``idleTimeout``).
    :param clientArguments: passed to the initiator's factory only.
    :param factoryArguments: passed to both factories (``config``, ...);
        their ``clock`` is a ``twisted.internet.task.Clock`` unless given,
        so that no timer of theirs is left on the reactor.
    :return: ``(client, server, pump)``: the two
        :class:`beepy.protocol.BEEPProtocol` sessions and the
        ``twisted.test.iosim.IOPump`` whose ``flush()`` moves the bytes.
    """
    factoryArguments.setdefault("clock", task.Clock())
    serverFactory = BEEPServerFactory(serverProfiles, **factoryArguments, **(serverArguments or {}))
    clientFactory = BEEPClientFactory(clientProfiles, **factoryArguments, **(clientArguments or {}))
    server = serverFactory.buildProtocol(None)
    client = clientFactory.buildProtocol(None)
    clientTransport = iosim.FakeTransport(client, isServer=False)
    serverTransport = iosim.FakeTransport(server, isServer=True)
    pump = iosim.connect(server, serverTransport, client, clientTransport, greet=greet)
    return client, server, pump
