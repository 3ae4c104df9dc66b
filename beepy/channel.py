# -*- test-case-name: beepy.test.test_protocol -*-
"""
The application's handle on one BEEP channel: send messages and get
``Deferred`` replies, close it.
"""

from dataclasses import dataclass
from typing import Optional

from twisted.internet import defer

from beepy.core.codes import ReplyCode
from beepy.core.errors import LocalProtocolError
from beepy.core.mime import Message

__all__ = ["Channel", "ChannelStart"]


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


class _PendingReply:
    __slots__ = ("deferred", "answerReceived", "answers")

    def __init__(self, answerReceived):
        self.deferred = defer.Deferred()
        self.answerReceived = answerReceived
        self.answers = []


class Channel:
    """
    An open channel.

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

    def __repr__(self):
        return f"<Channel {self.number} {self.profileURI}>"

    @property
    def isOpen(self):
        return self._closedReason is None

    def sendMessage(self, message, answerReceived=None):
        """
        Send a ``MSG``.

        :param message: a :class:`beepy.Message`, or ``bytes`` sent as the
            body of one with the default headers.
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
        try:
            msgno = self.session._send(lambda core: core.sendMessage(self.number, message))
        except LocalProtocolError as e:
            return defer.fail(e)
        pending = self._pending[msgno] = _PendingReply(answerReceived)
        return pending.deferred

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

    def _requestClose(self, code, text):
        if self._closedReason is not None:
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
        if pending.answerReceived is None:
            pending.answers.append(message)
        else:
            pending.answerReceived(message)

    def _answersCompleted(self, msgno):
        pending = self._settle(msgno)
        if pending is not None:
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
        pending, self._pending = self._pending, {}
        for entry in pending.values():
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
