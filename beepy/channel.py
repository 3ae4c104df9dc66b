# -*- test-case-name: beepy.test.test_protocol -*-
"""
The application's handle on one BEEP channel: send messages and get
``Deferred`` replies, close it.
"""

from collections import deque
from dataclasses import dataclass
from typing import Optional

from twisted.internet import defer
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from beepy.core.codes import ReplyCode
from beepy.core.errors import BEEPError, LocalProtocolError
from beepy.core.frames import FrameType
from beepy.core.mime import Message
from beepy.core.session import HELD_EVENT_COST
from beepy.stream import PayloadFeeder, asStreaming, isStreaming

__all__ = ["Channel", "ChannelStart", "closeChannels"]


@dataclass
class ChannelStart:
    """
    A channel start as a profile factory sees it.

    :ivar content: the piggybacked content of the ``<profile>`` the peer
        proposed, as ``bytes``, or ``None``.
    :ivar serverName: the ``serverName`` of the ``<start>``, or ``None``.
    :ivar replyContent: set this to piggyback content on our reply.
    """

    content: Optional[bytes] = None
    serverName: Optional[str] = None
    replyContent: Optional[bytes] = None


def closeChannels(channels):
    """
    Close ``channels`` together, each once the replies it awaits are in.

    :return: a ``Deferred`` that fires with ``None`` once all are closed,
        or fails with the first refusal (the peer's
        :class:`beepy.BEEPError`).
    """
    gathered = defer.gatherResults([channel.close() for channel in channels], consumeErrors=True)
    gathered.addErrback(lambda failure: failure.value.subFailure)
    return gathered.addCallback(lambda _: None)


class _PendingReply:
    __slots__ = ("deferred", "answerReceived", "answers", "collected")

    def __init__(self, answerReceived):
        self.deferred = defer.Deferred()
        self.answerReceived = answerReceived
        self.answers = []
        self.collected = 0  # octets of the answers in ``answers``


@implementer(IPushProducer)
class Channel:
    """
    An open channel.

    It is a push producer of what the peer sends on it: while paused, what
    arrives is held back from the profile and not credited to the peer's
    window, so the peer stops within one window.

    :ivar number: the channel number.
    :ivar profileURI: the URI of the profile it runs.
    :ivar profile: our :class:`beepy.interfaces.IProfile` for the ``MSG``\\ s
        the peer sends on it, or ``None``.
    :ivar startContent: content the peer piggybacked when the channel
        started (its reply to our start, or its start), or ``None``.
    :ivar session: the :class:`beepy.protocol.BEEPProtocol` it belongs to.
    """

    def __init__(self, session, number, profileURI, startContent=None):
        self.session = session
        self.number = number
        self.profileURI = profileURI
        self.startContent = startContent
        self.profile = None
        self._pending = {}
        self._idleWaiters = []
        self._closeWaiters = []
        self._closedReason = None
        self._requestedWindow = None  # set before the channel is open
        self._paused = False
        self._held = deque()  # events that arrived while paused

    def __repr__(self):
        return f"<Channel {self.number} {self.profileURI}>"

    @property
    def isOpen(self):
        return self._closedReason is None

    def sendMessage(self, message, answerReceived=None):
        """
        Send a ``MSG``.

        :param message: a :class:`beepy.Message`, or ``bytes`` sent as the
            body of one with the default headers; or, for a body too large
            to hold, a :class:`beepy.stream.StreamingMessage` or a bare
            :class:`twisted.web.iweb.IBodyProducer`, streamed as it
            produces.
        :param answerReceived: for a one-to-many reply, called with each
            ``ANS`` :class:`beepy.Message` as it arrives.
        :return: a ``Deferred`` that fires with the ``RPY``
            :class:`beepy.Message`; or, when the peer answers with ``ANS``
            ... ``NUL``, with the list of answers (empty if
            ``answerReceived`` took them).  It fails with
            :class:`beepy.BEEPError` for an ``ERR``, and with the reason the
            session or channel ended if that happens first.
        """
        if self._closedReason is not None:
            return defer.fail(self._closedReason)
        if isinstance(message, (bytes, bytearray)):
            message = Message(message)
        streaming = asStreaming(message) if isStreaming(message) else None
        try:
            if streaming is None:
                msgno = self.session._send(lambda core: core.sendMessage(self.number, message))
            else:
                stream = self.session._send(
                    lambda core: core.streamMessage(self.number, streaming.head)
                )
                msgno = stream.msgno
        except LocalProtocolError as e:
            return defer.fail(e)
        pending = self._pending[msgno] = _PendingReply(answerReceived)
        if streaming is not None:
            PayloadFeeder(self.session, stream, streaming.bodyProducer).start()
        return pending.deferred

    def sendReply(self, msgno, message):
        """
        Answer ``MSG`` ``msgno`` with ``RPY`` (for profiles that take frames,
        :class:`beepy.interfaces.IFrameReceiver`, and so reply themselves).

        :param message: as for :meth:`sendMessage`, streamed bodies included.
        """
        if isStreaming(message):
            streaming = asStreaming(message)
            stream = self._command(lambda core: core.streamReply(self.number, msgno, streaming.head))
            PayloadFeeder(self.session, stream, streaming.bodyProducer).start()
        else:
            reply = Message(message) if isinstance(message, (bytes, bytearray)) else message
            self._command(lambda core: core.sendReply(self.number, msgno, reply))

    def sendError(self, msgno, error):
        """
        Answer ``MSG`` ``msgno`` with ``ERR``.

        :param error: a :class:`beepy.BEEPError`.
        """
        if not isinstance(error, BEEPError):
            raise TypeError(f"an error reply is a BEEPError, not {error!r}")
        self._command(lambda core: core.sendError(self.number, msgno, error))

    def sendAnswer(self, msgno, message):
        """
        Send one ``ANS`` to ``MSG`` ``msgno``; :meth:`sendNul` ends them.
        """
        answer = Message(message) if isinstance(message, (bytes, bytearray)) else message
        self._command(lambda core: core.sendAnswer(self.number, msgno, answer))

    def sendNul(self, msgno):
        self._command(lambda core: core.sendNul(self.number, msgno))

    def setReceiveWindow(self, size):
        """
        Change the window the peer may fill on this channel before we
        acknowledge (Vortex's ``vortex_channel_set_window_size``): larger
        for throughput, smaller to keep a slow reader's buffer small.  A
        profile factory may call it before the channel opens; a shrink takes
        effect as the peer uses what it was already granted.
        """
        if self.session._session.isOpen(self.number):
            self._command(lambda core: core.setReceiveWindow(self.number, size))
        else:
            self._requestedWindow = size

    # -- IPushProducer ---------------------------------------------------

    def pauseProducing(self):
        """
        Hold back what arrives on the channel until :meth:`resumeProducing`.
        A profile factory may call it before the channel opens: it takes
        effect as the channel does.
        """
        if self._paused or self._closedReason is not None:
            return
        self._paused = True
        if self._isOpenInSession():
            self._command(lambda core: core.pauseChannel(self.number))

    def resumeProducing(self):
        """
        Deliver what was held back, then let the peer send again.
        """
        if not self._paused:
            return
        self._paused = False
        while self._held and not self._paused:
            self.session._dispatchEvent(self._held.popleft())
        if not self._paused and self._isOpenInSession():
            self._command(lambda core: core.resumeChannel(self.number))

    def stopProducing(self):
        """
        Nothing more is wanted from this channel: close it.
        """
        self.close()

    def close(self, code=ReplyCode.SUCCESS, text=""):
        """
        Ask the peer to close the channel, once every reply we await on it
        has arrived.

        :return: a ``Deferred`` that fires with ``None`` when the channel is
            closed, or fails with the peer's :class:`beepy.BEEPError`.
        """
        if self._closedReason is not None:
            return defer.succeed(None)
        closed = defer.Deferred()
        self._closeWaiters.append(closed)
        if len(self._closeWaiters) == 1:
            idle = self._whenIdle()
            idle.addCallback(lambda _: self._requestClose(code, text))
            # If the channel ends first, _closed settles the close waiters.
            idle.addErrback(lambda _: None)
        return closed

    # -- Called by BEEPProtocol -------------------------------------------

    def _command(self, command):
        """
        Run a core command about this channel; misuse raises
        :class:`beepy.LocalProtocolError` at once, as in the core.
        """
        if self._closedReason is not None:
            raise LocalProtocolError(f"channel {self.number} is closed")
        return self.session._send(command)

    def _isOpenInSession(self):
        return self._closedReason is None and self.session._session.isOpen(self.number)

    def _holds(self):
        """
        Whether an event for this channel must wait: it is paused, or
        earlier events still wait.
        """
        return self._paused or bool(self._held)

    def _frameReceived(self, frame):
        self.session._callProfile(self.profile.frameReceived, frame)
        if frame.more or frame.type in (FrameType.MSG, FrameType.ANS):
            return
        pending = self._settle(frame.msgno)
        if pending is not None:
            pending.deferred.callback(None)

    def _requestClose(self, code, text):
        if not self._isOpenInSession():
            # Already closed in the core, and about to be settled: _closed
            # answers the close waiters then.
            return
        try:
            self.session._send(lambda core: core.closeChannel(self.number, code, text))
        except LocalProtocolError as error:
            self._closeFailed(error)

    def _closeFailed(self, error):
        waiters, self._closeWaiters = self._closeWaiters, []
        for waiter in waiters:
            waiter.errback(error)

    def _whenIdle(self):
        if not self._pending:
            return defer.succeed(None)
        waiter = defer.Deferred()
        self._idleWaiters.append(waiter)
        return waiter

    def _settle(self, msgno):
        pending = self._pending.pop(msgno, None)
        if not self._pending:
            waiters, self._idleWaiters = self._idleWaiters, []
            for waiter in waiters:
                waiter.callback(None)
        return pending

    def _replyReceived(self, msgno, message):
        pending = self._settle(msgno)
        if pending is not None:
            pending.deferred.callback(message)

    def _errorReceived(self, msgno, error):
        pending = self._settle(msgno)
        if pending is not None:
            pending.deferred.errback(error)

    def _answerReceived(self, msgno, message):
        pending = self._pending.get(msgno)
        if pending is None:
            return
        if pending.answerReceived is not None:
            pending.answerReceived(message)
        elif not pending.deferred.called:
            self._collect(pending, message)

    def _collect(self, pending, message):
        """
        Keep an answer for the ``Deferred``: their bodies up to
        ``maxMessageSize`` together (each is bounded by it, but their number
        is the peer's to choose), and their number up to what
        ``maxBufferedOctets`` allows at ``HELD_EVENT_COST`` each (empty
        answers cost the peer nothing, but not us).  Past either the
        ``Deferred`` fails with 554 and the rest are dropped as they come.
        """
        config = self.session._session.config
        pending.collected += len(message.body)
        pending.answers.append(message)
        if pending.collected > config.maxMessageSize:
            too = f"the answers exceed {config.maxMessageSize} octets together"
        elif len(pending.answers) > config.bufferedOctetsLimit // HELD_EVENT_COST:
            too = f"more than {config.bufferedOctetsLimit // HELD_EVENT_COST} answers"
        else:
            return
        pending.answers = None
        pending.deferred.errback(
            BEEPError(
                ReplyCode.TRANSACTION_FAILED,
                f"{too}: take them one by one with answerReceived",
            )
        )

    def _answersCompleted(self, msgno):
        pending = self._settle(msgno)
        if pending is not None and not pending.deferred.called:
            pending.deferred.callback(pending.answers)

    def _closed(self, reason, clean):
        """
        The channel is gone: settle everything that waited on it.

        :param reason: a ``Failure`` for what still awaited a reply.
        :param clean: whether the close was negotiated; if not, ``close()``
            callers hear ``reason`` too.
        """
        if self._closedReason is not None:
            return
        self._closedReason = reason
        self._held.clear()  # for a channel that is gone; its number may be reused
        pending, self._pending = self._pending, {}
        for entry in pending.values():
            if not entry.deferred.called:  # answers over the limit failed it already
                entry.deferred.errback(reason)
        waiters, self._idleWaiters = self._idleWaiters, []
        for waiter in waiters:
            waiter.errback(reason)
        closers, self._closeWaiters = self._closeWaiters, []
        for closer in closers:
            if clean:
                closer.callback(None)
            else:
                closer.errback(reason)
        if self.profile is not None:
            self.session._callProfile(self.profile.channelClosed, reason)
