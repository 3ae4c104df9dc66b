# -*- test-case-name: beepy.test.test_flow -*-
"""
Streamed message bodies: a ``MSG`` or ``RPY`` whose body comes from a
Twisted body producer (a file, a generator, another connection) and leaves
frame by frame, without ever being held whole (Vortex's feeder).
"""

from twisted.internet import defer
from twisted.internet.interfaces import IConsumer
from twisted.logger import Logger
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

from beepy.core.mime import Message

__all__ = ["StreamingMessage", "isStreaming"]


class StreamingMessage:
    """
    A message whose body a producer writes.

    :param bodyProducer: an :class:`twisted.web.iweb.IBodyProducer`, such
        as ``twisted.web.client.FileBodyProducer(open(path, "rb"))``.
    :param contentType: and ``headers`` as for :class:`beepy.Message`.
    """

    def __init__(self, bodyProducer, contentType=None, headers=()):
        self.bodyProducer = bodyProducer
        self.head = Message(b"", contentType, headers).toPayload()


def isStreaming(message):
    """
    Whether ``message`` is to be streamed: a :class:`StreamingMessage` or a
    bare body producer (sent with the default headers).
    """
    return isinstance(message, StreamingMessage) or IBodyProducer.providedBy(message)


def asStreaming(message):
    if isinstance(message, StreamingMessage):
        return message
    return StreamingMessage(message)


@implementer(IConsumer)
class PayloadFeeder:
    """
    Feeds what a body producer writes into the core's
    :class:`~beepy.core.session.PayloadStream`, pausing the producer while
    more than the session's ``streamBuffer`` waits to be framed, so memory
    stays bounded however fast the producer and slow the peer.

    BEEP cannot abort a message once its first frame is out, so a producer
    that fails midway ends the session: the peer must not take a truncated
    body for a whole one.
    """

    _log = Logger()

    def __init__(self, session, stream, producer):
        self._session = session
        self._stream = stream
        self._producer = producer
        self._paused = False
        self._done = False

    def start(self):
        self._session._feeders.add(self)
        produced = defer.maybeDeferred(self._producer.startProducing, self)
        produced.addCallbacks(self._finished, self._failed)

    # -- IConsumer -----------------------------------------------------

    def registerProducer(self, producer, streaming):
        pass  # the body producer was given at creation

    def unregisterProducer(self):
        pass

    def write(self, data):
        if self._done:
            return
        self._session._send(lambda core: self._stream.write(data))
        if not self._stream.wanted:
            # The peer answered before the end (RFC 3080 section 2.6.3).
            self._stop()
        elif self._stream.buffered >= self._session._session.config.streamBuffer:
            self._paused = True
            self._producer.pauseProducing()

    # -- Called by BEEPProtocol ------------------------------------------

    def drained(self):
        """
        Frames have left: let the producer go on if the backlog is small.
        """
        limit = self._session._session.config.streamBuffer
        if self._paused and not self._done and self._stream.buffered < limit // 2:
            self._paused = False
            self._producer.resumeProducing()

    def sessionEnded(self):
        self._stop()

    # -- Internals -----------------------------------------------------

    def _stop(self):
        if not self._done:
            self._done = True
            self._session._feeders.discard(self)
            self._producer.stopProducing()

    def _finished(self, _):
        if self._done:
            return
        self._done = True
        self._session._feeders.discard(self)
        self._session._send(lambda core: self._stream.finish())

    def _failed(self, failure):
        if self._done:
            return
        self._done = True
        self._session._feeders.discard(self)
        self._log.failure(
            "A message body producer failed midway; ending the session, as BEEP "
            "cannot abort a message",
            failure,
        )
        self._session.disconnect()
