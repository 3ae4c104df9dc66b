# -*- test-case-name: beepy.test.test_pool -*-
"""
Channel pools (Vortex's ``vortex_channel_pool``): several channels of one
profile on a session, handed out one user at a time.

A channel answers its ``MSG``\\ s in order, so one slow reply holds up every
message behind it on the same channel.  A pool spreads requests over
channels: :meth:`ChannelPool.acquire` gives a channel that awaits no reply
and that no one else holds, opening another (up to ``maximum``) when none is
free, and queueing callers beyond that; :meth:`ChannelPool.release` gives it
back.
"""

from collections import deque

from twisted.internet import defer
from twisted.python.failure import Failure

from beepy.channel import closeChannels

__all__ = ["ChannelPool", "PoolClosed"]


class PoolClosed(Exception):
    """
    The pool was closed: no channel will come from it.
    """


def openChannel(session, profileURI):
    """
    The default create handler: start a channel of ``profileURI``.
    """
    return session.openChannel(profileURI)


class ChannelPool:
    """
    A pool of channels of one profile on one session.

    :param session: a :class:`beepy.protocol.BEEPProtocol`; the pool starts
        once it is greeted, and ends with it.
    :param profileURI: the profile of every channel.
    :param initial: channels to open at once.
    :param maximum: the most channels open (or opening) at once.
    :param create: the create handler (Vortex's
        ``VortexChannelPoolCreate``): called as ``create(session,
        profileURI)`` whenever the pool grows, it returns a
        :class:`beepy.channel.Channel` or a ``Deferred`` of one.  By
        default, ``session.openChannel(profileURI)``; give one to piggyback
        content, pass a ``profile`` for the peer's messages, or open the
        channel otherwise.
    """

    def __init__(self, session, profileURI, initial=1, maximum=8, create=None):
        if not 0 <= initial <= maximum or maximum < 1:
            raise ValueError("0 <= initial <= maximum, and maximum >= 1")
        self.session = session
        self.profileURI = profileURI
        self.maximum = maximum
        self._create = create if create is not None else openChannel
        self._channels = []  # open (or closed and not yet noticed), oldest first
        self._acquired = set()
        self._creating = 0
        self._waiters = deque()
        self._closedReason = None  # a Failure once closed
        self._readiness = None  # then self, or the Failure whenReady gives
        self._readyWaiters = []
        session.notifyClose().addCallback(self._sessionEnded)
        greeted = session.whenGreeted()
        greeted.addCallback(lambda _: self._start(initial))
        # A session that ends ungreeted is reported by notifyClose.
        greeted.addErrback(lambda _: None)

    @property
    def channels(self):
        """
        The pool's open channels, acquired or not.
        """
        return [channel for channel in self._channels if channel.isOpen]

    def whenReady(self):
        """
        The pool-created notification (Vortex's ``on_channel_pool_created``).

        :return: a ``Deferred`` that fires with the pool once its
            ``initial`` channels are open, or fails with the first error of
            the create handler (the channels that did open stay in the pool)
            or with the reason the session ended first.
        """
        if isinstance(self._readiness, Failure):
            return defer.fail(self._readiness)
        if self._readiness is not None:
            return defer.succeed(self)
        waiter = defer.Deferred()
        self._readyWaiters.append(waiter)
        return waiter

    def acquire(self):
        """
        :return: a ``Deferred`` that fires with the next ready channel: open,
            awaiting no reply, and held by no one else, until it is given
            back with :meth:`release`.  When none is ready the pool opens
            another, up to ``maximum``; beyond that the caller waits its
            turn.  It fails with the create handler's error if the channel
            opened for this caller could not be, with :class:`PoolClosed`
            after :meth:`close`, or with the reason the session ended.
            Cancel it to give up waiting.
        """
        if self._closedReason is not None:
            return defer.fail(self._closedReason)
        waiter = defer.Deferred(self._waiters.remove)
        self._waiters.append(waiter)
        self._dispatch()
        return waiter

    def release(self, channel):
        """
        Give back a channel from :meth:`acquire`.  It is handed out again
        once it awaits no reply; a closed channel leaves the pool.
        """
        if channel not in self._acquired:
            raise ValueError(f"{channel!r} is not acquired from this pool")
        self._acquired.remove(channel)
        if channel.isOpen and channel._pending:
            # Ready once its replies are in, or gone if it closes first.
            channel._whenIdle().addBoth(lambda _: self._dispatch())
        self._dispatch()

    def close(self):
        """
        Close every channel of the pool (each once its replies are in), and
        fail the callers still waiting with :class:`PoolClosed`.

        :return: a ``Deferred`` that fires with ``None`` once the channels
            are closed, or fails with the peer's :class:`beepy.BEEPError` if
            it declined a close.
        """
        self._end(Failure(PoolClosed("the channel pool was closed")))
        channels, self._channels = self.channels, []
        return closeChannels(channels)

    # Internals.

    def _start(self, initial):
        if self._closedReason is not None:
            return
        opening = [self._grow() for _ in range(initial)]
        gathered = defer.gatherResults(opening, consumeErrors=True)
        gathered.addCallbacks(lambda _: self._ready(self), lambda f: self._ready(f.value.subFailure))

    def _ready(self, readiness):
        """
        :param readiness: the pool, or a ``Failure``: a ``Deferred`` fired
            with a ``Failure`` runs its errbacks.
        """
        if self._readiness is not None:
            return
        self._readiness = readiness
        waiters, self._readyWaiters = self._readyWaiters, []
        for waiter in waiters:
            waiter.callback(readiness)

    def _grow(self):
        """
        Open one more channel through the create handler.

        :return: a ``Deferred`` of the channel, or of the failure.
        """
        self._creating += 1
        creating = defer.maybeDeferred(self._create, self.session, self.profileURI)
        creating.addBoth(self._created)
        return creating

    def _created(self, result):
        self._creating -= 1
        if isinstance(result, Failure):
            # The caller it was opened for hears why; the others may still
            # be served by channels released meanwhile.
            if self._waiters:
                self._waiters.popleft().errback(result)
        elif self._closedReason is not None:
            result.close().addErrback(lambda _: None)
        else:
            self._channels.append(result)
        self._dispatch()
        return result

    def _nextReady(self):
        for channel in self._channels:
            if channel not in self._acquired and not channel._pending:
                return channel
        return None

    def _dispatch(self):
        """
        Serve the waiting callers from the ready channels, and open channels
        for those left, up to the maximum.
        """
        if self._closedReason is not None:
            return
        self._channels = self.channels
        self._acquired.intersection_update(self._channels)
        while self._waiters:
            channel = self._nextReady()
            if channel is None:
                break
            self._acquired.add(channel)
            self._waiters.popleft().callback(channel)
        wanted = len(self._waiters) - self._creating
        while wanted > 0 and len(self._channels) + self._creating < self.maximum:
            wanted -= 1
            self._grow().addErrback(lambda _: None)  # _created told the caller

    def _sessionEnded(self, reason):
        self._end(Failure(reason))
        self._channels = []

    def _end(self, reason):
        if self._closedReason is not None:
            return
        self._closedReason = reason
        self._acquired.clear()
        self._ready(reason)
        waiters, self._waiters = self._waiters, deque()
        for waiter in waiters:
            waiter.errback(reason)
