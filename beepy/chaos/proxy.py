# -*- test-case-name: beepy.test.test_chaos -*-
"""
The chaos proxy: accepts connections, connects each to the backend, and
lets a behaviour chosen by weight stand between the two.

Each connection is a :class:`Pipe` with two :class:`Lane`\\ s, one per
direction.  A lane delivers octets in the order they were sent, each no
earlier than the time its behaviour asked for, and one write per reactor
turn, so that pieces a behaviour sent separately reach the socket
separately instead of being joined in the transport's buffer.
"""

import random as _random
import socket
import struct
from collections import deque

from twisted.internet import defer
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from zope.interface import implementer

__all__ = ["ChaosProxy", "Lane", "Pipe"]

_END = object()  # a lane item: close the destination
_NO_LINGER = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST


@implementer(IPushProducer)
class Lane:
    """
    One direction of a proxied connection: the octets one side sent, on
    their way to the other.

    It is the streaming producer of its destination's transport, and it
    pauses its source's transport while the destination cannot take more
    or while it holds more than :attr:`highWater` octets, so that a slow
    lane holds the sender back instead of growing without bound.

    :ivar name: ``"upstream"`` (client to backend) or ``"downstream"``.
    :ivar delivered: the octets written to the destination so far.
    """

    highWater = 256 * 1024

    def __init__(self, name, clock):
        self.name = name
        self.delivered = 0
        self._clock = clock
        self._queue = deque()  # (due, data or _END)
        self._held = 0  # octets in the queue
        self._lastDue = float("-inf")
        self._timer = None
        self._source = None
        self._destination = None
        self._destinationFull = False
        self._sourcePaused = False
        self._gone = False  # the destination's connection is lost

    def __repr__(self):
        return f"<Lane {self.name}>"

    def send(self, data, delay=0.0, gap=0.0):
        """
        Deliver ``data`` after everything sent before it.

        :param delay: seconds from now before it may be delivered.
        :param gap: seconds after the previous piece's delivery time before
            it may be delivered, for a steady rate.
        """
        if self._gone or not data:
            return
        due = max(self._clock.seconds() + delay, self._lastDue + gap)
        self._lastDue = due
        self._queue.append((due, data))
        self._held += len(data)
        self._throttle()
        self._schedule()

    def end(self):
        """
        Close the destination once everything sent before has been delivered.
        """
        if self._gone:
            return
        self._queue.append((max(self._lastDue, self._clock.seconds()), _END))
        self._schedule()

    # -- Wiring, by the pipe ------------------------------------------------

    def _attachSource(self, transport):
        self._source = transport
        self._throttle()

    def _attachDestination(self, transport):
        self._destination = transport
        transport.registerProducer(self, True)
        self._schedule()

    def _destinationLost(self):
        """
        The destination's connection is gone: drop what is held, deliver
        nothing more, and let the source read again so that it notices its
        own end.
        """
        self._gone = True
        self._queue.clear()
        self._held = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._throttle()

    # -- IPushProducer, for the destination's transport ----------------------

    def pauseProducing(self):
        self._destinationFull = True
        self._throttle()

    def resumeProducing(self):
        self._destinationFull = False
        self._throttle()
        self._schedule()

    def stopProducing(self):
        pass  # _destinationLost follows

    # -- Internals ----------------------------------------------------------

    def _writable(self):
        return self._destination is not None and not self._destinationFull and not self._gone

    def _schedule(self):
        if self._timer is not None or not self._queue or not self._writable():
            return
        wait = self._queue[0][0] - self._clock.seconds()
        if wait > 0:
            self._timer = self._clock.callLater(wait, self._nextTurn)
        else:
            self._release()

    def _nextTurn(self):
        self._timer = None
        self._schedule()

    def _release(self):
        _, item = self._queue.popleft()
        if item is _END:
            self._gone = True
            self._queue.clear()
            self._destination.unregisterProducer()
            self._destination.loseConnection()
            return
        self._held -= len(item)
        self.delivered += len(item)
        self._destination.write(item)
        self._throttle()
        # Whatever is due next waits for the next turn, so that it reaches
        # the socket as a write of its own.
        self._timer = self._clock.callLater(0, self._nextTurn)

    def _throttle(self):
        if self._source is None:
            return
        pause = not self._gone and (self._destinationFull or self._held > self.highWater)
        if pause != self._sourcePaused:
            self._sourcePaused = pause
            if pause:
                self._source.pauseProducing()
            else:
                self._source.resumeProducing()


class Pipe:
    """
    One accepted connection and its connection to the backend, with the
    behaviour chosen for them.

    :ivar upstream: the :class:`Lane` from the client to the backend.
    :ivar downstream: the :class:`Lane` from the backend to the client.
    :ivar clock: the ``IReactorTime`` behaviours time themselves with.
    :ivar random: the ``random.Random`` behaviours draw from.
    :ivar configured: the :class:`beepy.chaos.ConfiguredBehaviour` chosen.
    :ivar behaviour: the :class:`beepy.chaos.IConnectionBehaviour` it built.
    :ivar ended: a ``Deferred`` firing with ``None`` once both connections
        are gone (or the backend could not be reached and the client's is).
    """

    _log = Logger()

    def __init__(self, configured, clock, random):
        self.configured = configured
        self.clock = clock
        self.random = random
        self.upstream = Lane("upstream", clock)
        self.downstream = Lane("downstream", clock)
        self.behaviour = configured.behaviour.buildBehaviour(self, configured.settings)
        self.ended = defer.Deferred()
        self._transports = []
        self._connecting = None

    def abort(self):
        """
        Reset both connections at once, dropping whatever the lanes still
        hold.  A socket closed with nothing unread would end with an
        orderly FIN, so lingering is turned off first: the peers get a
        TCP RST, as from a crashed host or a middlebox.
        """
        if self._connecting is not None:
            self._connecting.cancel()
        for transport in list(self._transports):
            handle = getattr(transport, "getHandle", lambda: None)()
            if hasattr(handle, "setsockopt"):
                try:
                    handle.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _NO_LINGER)
                except OSError:
                    pass  # a socket that already failed: closing it is all there is
            transport.abortConnection()

    def _connectBackend(self, endpoint):
        self._connecting = endpoint.connect(_BackendFactory(self))
        self._connecting.addCallbacks(self._backendConnected, self._backendFailed)

    def _backendConnected(self, protocol):
        self._connecting = None

    def _backendFailed(self, failure):
        self._connecting = None
        if not failure.check(defer.CancelledError):
            self._log.warn("Chaos: cannot reach the backend: {error}", error=failure.getErrorMessage())
        # Nobody to forward to: the client's connection ends as if the
        # backend had closed it at once.
        self.behaviour.endReceived(self.downstream)
        self._checkEnded()

    def _connected(self, transport, inbound, outbound):
        self._transports.append(transport)
        inbound._attachSource(transport)
        outbound._attachDestination(transport)

    def _lost(self, transport, inbound, outbound):
        if self._connecting is not None:
            self._connecting.cancel()  # the client left before the backend answered
        self._transports.remove(transport)
        outbound._destinationLost()
        self.behaviour.endReceived(inbound)
        self._checkEnded()

    def _checkEnded(self):
        if not self._transports and self._connecting is None and not self.ended.called:
            self.ended.callback(None)


class _Side(Protocol):
    """
    One of the two connections of a pipe: what it receives goes to the
    behaviour along ``inbound``; ``outbound`` writes to it.
    """

    def __init__(self, pipe, inbound, outbound):
        self.pipe = pipe
        self._inbound = inbound
        self._outbound = outbound

    def connectionMade(self):
        self.pipe._connected(self.transport, self._inbound, self._outbound)

    def dataReceived(self, data):
        self.pipe.behaviour.dataReceived(self._inbound, data)

    def connectionLost(self, reason):
        self.pipe._lost(self.transport, self._inbound, self._outbound)


class _ClientSide(_Side):
    """
    The accepted connection: connects to the backend once made.
    """

    def connectionMade(self):
        super().connectionMade()
        self.factory.proxy._accepted(self)


class _BackendFactory(Factory):
    def __init__(self, pipe):
        self.pipe = pipe

    def buildProtocol(self, addr):
        return _Side(self.pipe, self.pipe.downstream, self.pipe.upstream)


class _ProxyFactory(Factory):
    def __init__(self, proxy):
        self.proxy = proxy

    def buildProtocol(self, addr):
        pipe = Pipe(self.proxy._choose(), self.proxy.clock, self.proxy.random)
        protocol = _ClientSide(pipe, pipe.upstream, pipe.downstream)
        protocol.factory = self
        return protocol


class ChaosProxy:
    """
    A TCP proxy that misbehaves on purpose.

    Each accepted connection gets one behaviour, drawn by weight from the
    mix, and a connection to the backend::

        proxy = ChaosProxy(backend, parseMix(["20:split,10:delay"]))
        port = yield proxy.listen(serverEndpoint)
        ...
        yield proxy.close()

    :param backend: the ``IStreamClientEndpoint`` every connection is
        forwarded to.
    :param mix: ``(weight, ConfiguredBehaviour)`` pairs, from
        :func:`beepy.chaos.parseMix` or built with
        :func:`beepy.chaos.configure`.
    :param reactor: the reactor, used for time too; the global one if
        ``None``.
    :param random: the ``random.Random`` that chooses behaviours and that
        behaviours draw from; seed it for a run that can be repeated.

    :ivar factory: the server factory that accepts connections, for
        listening some other way than :meth:`listen`.
    :ivar chosen: how many connections got each behaviour, by name.
    :ivar pipes: the :class:`Pipe` of every connection still open.
    """

    _log = Logger()

    def __init__(self, backend, mix, reactor=None, random=None):
        if reactor is None:
            from twisted.internet import reactor
        self.mix = list(mix)
        if not self.mix or any(weight <= 0 for weight, _ in self.mix):
            raise ValueError("a chaos mix needs at least one behaviour, each with a weight > 0")
        self.backend = backend
        self.clock = reactor
        self.random = random if random is not None else _random.Random()
        self.factory = _ProxyFactory(self)
        self.chosen = {}
        self.pipes = set()
        self._ports = []

    def listen(self, endpoint):
        """
        Accept connections on ``endpoint`` (an ``IStreamServerEndpoint``).

        :return: a ``Deferred`` firing with the ``IListeningPort``.
        """
        return endpoint.listen(self.factory).addCallback(self._listening)

    def close(self):
        """
        Stop listening and abort every connection.

        :return: a ``Deferred`` firing once every port has stopped and
            every connection has ended, so a test leaves a clean reactor.
        """
        waits = [defer.maybeDeferred(port.stopListening) for port in self._ports]
        self._ports = []
        for pipe in list(self.pipes):
            waits.append(pipe.ended)
            pipe.abort()
        return defer.gatherResults(waits, consumeErrors=True).addCallback(lambda _: None)

    def _listening(self, port):
        self._ports.append(port)
        return port

    def _choose(self):
        weights = [weight for weight, _ in self.mix]
        [(_, configured)] = self.random.choices(self.mix, weights)
        self.chosen[configured.name] = self.chosen.get(configured.name, 0) + 1
        return configured

    def _accepted(self, client):
        pipe = client.pipe
        self.pipes.add(pipe)
        pipe.ended.addCallback(lambda _: self.pipes.discard(pipe))
        self._log.info(
            "Chaos: {peer} gets {behaviour}",
            peer=client.transport.getPeer(),
            behaviour=str(pipe.configured),
        )
        pipe._connectBackend(self.backend)
