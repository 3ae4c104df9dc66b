# -*- test-case-name: beepy.test.test_cli -*-
"""
The two ends of ``beepy send``'s transfer: a body producer that counts what
it sends, and the profile that writes the reply out frame by frame, so that
neither a large file nor a large reply is ever held whole.
"""

import os
import threading

from twisted.internet import defer
from twisted.internet.interfaces import IConsumer
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

from beepy.core.codes import ReplyCode
from beepy.core.errors import BEEPError, RemoteProtocolError
from beepy.core.frames import FrameType
from beepy.core.management import errorFromMessage
from beepy.core.mime import Message
from beepy.interfaces import IFrameReceiver
from beepy.profile import Profile

__all__ = ["CountingProducer", "PipeProducer", "ReplyWriter"]

#: The longest MIME header block of a streamed reply we look for the end
#: of; a reply whose first octets hold no header end is all body.
MAX_HEADER_BLOCK = 64 * 1024


#: Octets read from a pipe at a time, at most.
READ_SIZE = 64 * 1024


@implementer(IBodyProducer)
class PipeProducer:
    """
    An ``IBodyProducer`` of what a pipe or terminal (stdin) delivers until
    its end, read in a thread of its own.

    A read from a pipe blocks until a writer sends something, and in the
    reactor's thread it would stop everything, Ctrl-C included.  The
    thread is a daemon, so a read still blocked does not keep the process
    alive once beepy is done; not a thread of the reactor's pool, whose
    shutdown waits for it.  It reads the file descriptor itself, not a
    Python file object, whose lock a blocked read would hold while the
    interpreter exits (a fatal error).  What it reads is handed to the
    reactor thread in order, and while the consumer has paused it reads
    nothing more.

    :param reactor: an ``IReactorThreads``.
    :param fileno: the file descriptor to read, e.g. 0.
    """

    length = UNKNOWN_LENGTH

    def __init__(self, reactor, fileno):
        self._reactor = reactor
        self._fileno = fileno
        self._reading = threading.Event()  # clear while paused
        self._stopped = False
        self._consumer = None
        self._finished = None

    def startProducing(self, consumer):
        self._consumer = consumer
        self._finished = defer.Deferred()
        self._reading.set()
        threading.Thread(target=self._read, name="beepy stdin", daemon=True).start()
        return self._finished

    def pauseProducing(self):
        self._reading.clear()

    def resumeProducing(self):
        self._reading.set()

    def stopProducing(self):
        # The Deferred of startProducing must not fire after this.
        self._stopped = True
        self._reading.set()

    def _read(self):
        """
        The thread: read until the end, an error, or a stop.
        """
        while True:
            self._reading.wait()
            if self._stopped:
                return
            try:
                data = os.read(self._fileno, READ_SIZE)
            except OSError as e:
                self._reactor.callFromThread(self._end, e)
                return
            if not data:
                self._reactor.callFromThread(self._end, None)
                return
            self._reactor.callFromThread(self._deliver, data)

    def _deliver(self, data):
        if not self._stopped:
            self._consumer.write(data)

    def _end(self, error):
        if self._stopped:
            return
        if error is None:
            self._finished.callback(None)
        else:
            self._finished.errback(error)


@implementer(IBodyProducer)
class CountingProducer:
    """
    An ``IBodyProducer`` that passes on what ``producer`` writes, counting
    the octets with ``counted(octets)`` (for the progress line).
    """

    def __init__(self, producer, counted):
        self._producer = producer
        self._counted = counted
        self.length = producer.length

    def startProducing(self, consumer):
        return self._producer.startProducing(_CountingConsumer(consumer, self._counted))

    def pauseProducing(self):
        self._producer.pauseProducing()

    def resumeProducing(self):
        self._producer.resumeProducing()

    def stopProducing(self):
        self._producer.stopProducing()


@implementer(IConsumer)
class _CountingConsumer:
    def __init__(self, consumer, counted):
        self._consumer = consumer
        self._counted = counted

    def registerProducer(self, producer, streaming):
        self._consumer.registerProducer(producer, streaming)

    def unregisterProducer(self):
        self._consumer.unregisterProducer()

    def write(self, data):
        self._counted(len(data))
        self._consumer.write(data)


class _BodyWriter:
    """
    Writes the body of one streamed payload: its MIME header block is held
    until it ends (or :data:`MAX_HEADER_BLOCK` octets came without an end),
    and everything after goes straight out.
    """

    def __init__(self, output):
        self._output = output
        self._head = bytearray()  # None once the headers are past

    def write(self, payload):
        if self._head is None:
            self._output.write(payload)
            return
        self._head += payload
        if (
            self._head.startswith(b"\r\n")
            or b"\r\n\r\n" in self._head
            or len(self._head) > MAX_HEADER_BLOCK
        ):
            self.finish()

    def finish(self):
        if self._head is not None:
            body = Message.fromPayload(self._head).body
            self._head = None
            self._output.write(body)


@implementer(IFrameReceiver)
class ReplyWriter(Profile):
    """
    Our profile on ``beepy send``'s channel, taking the reply to our
    ``MSG`` frame by frame: an ``RPY`` body is written to ``output`` as its
    frames arrive; each ``ANS`` body once its last frame has arrived (the
    peer may interleave answers, and their bodies must not be); an ``ERR``
    becomes :attr:`error`.

    :param output: a binary stream, normally stdout.
    :param counted: called with the payload octets of each frame (for the
        progress line).
    :param maxAnswerOctets: the most octets of unfinished ``ANS`` messages
        held; a peer that sends more is a protocol violation.
    :ivar error: the :class:`beepy.BEEPError` of an ``ERR`` reply, or
        ``None``.
    """

    def __init__(self, output, counted, maxAnswerOctets):
        self._output = output
        self._counted = counted
        self._maxAnswerOctets = maxAnswerOctets
        self._body = _BodyWriter(output)
        self._answers = {}  # ansno -> bytearray of an unfinished ANS
        self._errorPayload = bytearray()
        self.error = None

    def frameReceived(self, frame):
        self._counted(len(frame.payload))
        if frame.type is FrameType.RPY:
            self._body.write(frame.payload)
            if not frame.more:
                self._body.finish()
        elif frame.type is FrameType.ANS:
            self._answerFrame(frame)
        elif frame.type is FrameType.ERR:
            self._errorPayload += frame.payload
            if not frame.more:
                self.error = errorFromMessage(Message.fromPayload(self._errorPayload))
        elif frame.type is FrameType.MSG and not frame.more:
            self.channel.sendError(
                frame.msgno,
                BEEPError(ReplyCode.PARAMETER_NOT_IMPLEMENTED, "beepy send takes no messages"),
            )
        self._output.flush()

    def _answerFrame(self, frame):
        answer = self._answers.setdefault(frame.ansno, bytearray())
        answer += frame.payload
        if not frame.more:
            del self._answers[frame.ansno]
            self._output.write(Message.fromPayload(answer).body)
        elif sum(map(len, self._answers.values())) > self._maxAnswerOctets:
            self._answers.clear()
            self.error = RemoteProtocolError(
                f"the peer's unfinished answers exceed {self._maxAnswerOctets} octets"
            )
            self.channel.session.disconnect()
