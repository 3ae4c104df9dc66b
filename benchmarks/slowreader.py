"""
Bench 5's deliberately slow reader: a minimal BEEP initiator written from
RFC 3080/3081 directly, not with beepy, so that its pace is its own.

It greets, starts channel 1 on the streamed-reply profile, asks for a reply
of ``size`` octets and reads it slowly: after every ``pauseEvery`` octets it
stops reading the socket for ``pauseFor`` seconds.  It acknowledges with
``SEQ`` only what it has read, advertising a window of ``window`` octets, so
a server that respects flow control can have no more than a window and the
socket buffers in flight.
"""

import time

from twisted.internet import defer, protocol

_BEEP_XML = b"Content-Type: application/beep+xml\r\n\r\n"


class StreamRefused(Exception):
    """
    The server answered the request with ``ERR`` (or refused the channel).
    """


def _frame(keyword, channel, msgno, seqno, payload):
    header = b"%s %d %d . %d %d\r\n" % (keyword, channel, msgno, seqno, len(payload))
    return header + payload + b"END\r\n"


class SlowReader(protocol.Protocol):
    """
    :ivar done: fires with ``(octets received, seconds)`` once the final
        frame of the reply has arrived, or fails with :class:`StreamRefused`
        or the reason the connection ended.
    """

    def __init__(self, reactor, uri, size, window, pauseEvery, pauseFor):
        self._reactor = reactor
        self._uri = uri.encode("ascii")
        self._size = size
        self._window = window
        self._pauseEvery = pauseEvery
        self._pauseFor = pauseFor
        self._buffer = bytearray()
        self._header = None  # (keyword, channel, msgno, more, size) awaiting its payload
        self._zeroSeqno = 0  # our octets sent on channel 0
        self._received = 0  # payload octets of the reply read so far
        self._acked = 0
        self._sincePause = 0
        self._started = None
        self.done = defer.Deferred()

    def connectionMade(self):
        self.transport.setTcpNoDelay(True)
        self._sendZero(b"RPY", 0, _BEEP_XML + b"<greeting />\r\n")

    def _sendZero(self, keyword, msgno, payload):
        self.transport.write(_frame(keyword, 0, msgno, self._zeroSeqno, payload))
        self._zeroSeqno += len(payload)

    def dataReceived(self, data):
        buffer = self._buffer
        buffer += data
        position = 0
        while True:
            if self._header is None:
                end = buffer.find(b"\r\n", position)
                if end < 0:
                    break
                fields = bytes(buffer[position:end]).split(b" ")
                position = end + 2
                if fields[0] == b"SEQ":
                    continue
                self._header = (fields[0], int(fields[1]), int(fields[2]), fields[3] == b"*", int(fields[5]))
            keyword, channel, msgno, more, size = self._header
            if len(buffer) - position < size + 5:
                break
            payload = buffer[position : position + size] if channel == 0 or keyword == b"ERR" else b""
            position += size + 5
            self._header = None
            self._frameReceived(keyword, channel, more, size, bytes(payload))
            if self.done.called:
                return
        del buffer[:position]
        self._acknowledge()

    def _frameReceived(self, keyword, channel, more, size, payload):
        if channel == 0:
            self._managementReceived(keyword, payload)
            return
        self._received += size
        self._sincePause += size
        if keyword == b"ERR":
            self._fail(StreamRefused(payload.decode("utf-8", "replace").strip()))
        elif not more and keyword in (b"RPY", b"NUL"):
            self.done.callback((self._received, time.perf_counter() - self._started))
            self.transport.loseConnection()

    def _managementReceived(self, keyword, payload):
        if keyword == b"ERR":
            self._fail(StreamRefused(payload.decode("utf-8", "replace").strip()))
        elif b"<greeting" in payload:
            start = b"<start number='1'><profile uri='%s'/></start>\r\n" % (self._uri,)
            self._sendZero(b"MSG", 1, _BEEP_XML + start)
        elif b"<profile" in payload:
            # Open our window at once, then ask for the reply.
            self.transport.write(b"SEQ 1 0 %d\r\n" % (self._window,))
            self._started = time.perf_counter()
            self.transport.write(_frame(b"MSG", 1, 0, 0, b"\r\n%d" % (self._size,)))

    def _acknowledge(self):
        """
        Advertise the window again for what was read, then pause if it is
        time to be slow.
        """
        if self._received - self._acked >= self._window // 2:
            self._acked = self._received
            self.transport.write(b"SEQ 1 %d %d\r\n" % (self._acked % 2**32, self._window))
        if self._sincePause >= self._pauseEvery:
            self._sincePause = 0
            self.transport.pauseProducing()
            self._reactor.callLater(self._pauseFor, self.transport.resumeProducing)

    def _fail(self, reason):
        if not self.done.called:
            self.done.errback(reason)
        self.transport.loseConnection()

    def connectionLost(self, reason):
        if not self.done.called:
            self.done.errback(reason)
