# -*- test-case-name: beepy.test.test_ping -*-
"""
Keepalive: tell a dead peer from a quiet one.

A TCP connection to a peer that lost power or network stays open for hours;
only traffic finds out.  The ping profile is Vortex's ALIVE profile
(``urn:aspl.es:beep:profiles:ALIVE``, ``vortex_alive_enable_check``), so
beepy and Vortex peers can check each other: the responder answers every
``MSG`` with an empty ``RPY``; the checking side opens a channel of the
profile and sends an empty ``MSG`` every so often.

Offer :class:`PingFactory` on a session to be checkable; call
:func:`keepAlive` on a session to check its peer.
"""

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from beepy.core.errors import BEEPError, SessionReset
from beepy.core.mime import Message
from beepy.profile import Profile, ProfileFactory
from beepy.timeouts import SessionTimeout, clockOf

__all__ = [
    "DEFAULT_INTERVAL",
    "DEFAULT_TIMEOUT",
    "PING_URI",
    "KeepAlive",
    "PingFactory",
    "PingProfile",
    "keepAlive",
]

#: Vortex's ALIVE profile.
PING_URI = "urn:aspl.es:beep:profiles:ALIVE"

#: Seconds between a reply and the next ping.
DEFAULT_INTERVAL = 30.0
#: Seconds a ping (or the start of the ping channel) may wait for its reply.
DEFAULT_TIMEOUT = 10.0

_log = Logger()


class PingProfile(Profile):
    """
    Answers every ``MSG`` with an empty ``RPY``, whatever it carries, as
    Vortex does.
    """

    def messageReceived(self, message):
        return Message(b"")


class PingFactory(ProfileFactory):
    """
    Lets the peer check that we are alive.
    """

    uri = PING_URI
    profile = PingProfile


class KeepAlive:
    """
    Checks the peer of a session with pings: the ping channel must open, and
    each ping be answered, within ``timeout`` seconds, else the session is
    closed and everything pending on it fails with
    :class:`beepy.SessionTimeout` (``"keepalive: no reply within 10 s"``).
    The next ping goes ``interval`` seconds after a reply, so a dead peer is
    found within ``interval + timeout`` seconds.

    Any answer counts, an ``ERR`` too: the peer is alive.  Once TLS has
    started the session over, pings go on, on a new channel.  Pings are traffic,
    so a checked session never reaches an idle timeout longer than
    ``interval``.

    :param session: a :class:`beepy.protocol.BEEPProtocol`.
    """

    def __init__(self, session, interval=DEFAULT_INTERVAL, timeout=DEFAULT_TIMEOUT):
        if interval <= 0 or timeout <= 0:
            raise ValueError("interval and timeout must be positive")
        self.session = session
        self.interval = interval
        self.timeout = timeout
        self._clock = clockOf(session)
        self._channel = None
        self._nextPing = None
        self._deadline = None
        self._running = False
        self._ended = False
        self._failure = None  # why it ended, if it ended badly
        self._doneWaiters = []

    def start(self):
        """
        Open the ping channel once the session is greeted, then ping.
        """
        if self._running or self._ended:
            raise RuntimeError("this KeepAlive has already been started")
        self._running = True
        self.session.notifyClose().addCallback(self._sessionEnded)
        greeted = self.session.whenGreeted()
        greeted.addCallback(lambda _: self._open())
        # A session that ends ungreeted is reported by notifyClose.
        greeted.addErrback(lambda _: None)

    def stop(self):
        """
        Stop pinging and close the ping channel (after the reply still
        awaited, if any).  :meth:`whenDone` fires with ``None``.
        """
        if not self._running:
            return
        channel = self._channel
        self._finish(None)
        if channel is not None and channel.isOpen:
            channel.close().addErrback(lambda _: None)

    def whenDone(self):
        """
        :return: a ``Deferred`` that fires with ``None`` once :meth:`stop` is
            called or the session has ended; or fails with the
            :class:`beepy.SessionTimeout` if the peer stopped answering, or
            with the peer's :class:`beepy.BEEPError` if it refused the ping
            channel (the session then goes on, unchecked).
        """
        if self._ended:
            return defer.succeed(None) if self._failure is None else defer.fail(self._failure)
        waiter = defer.Deferred()
        self._doneWaiters.append(waiter)
        return waiter

    # Internals.

    def _open(self):
        if not self._running:
            return
        self._await()
        opening = self.session.openChannel(PING_URI)
        opening.addCallbacks(self._opened, self._failed)

    def _opened(self, channel):
        if not self._running:
            channel.close().addErrback(lambda _: None)
            return
        self._cancelDeadline()
        self._channel = channel
        self._nextPing = self._clock.callLater(self.interval, self._ping)

    def _ping(self):
        self._nextPing = None
        self._await()
        reply = self._channel.sendMessage(Message(b""))
        reply.addCallbacks(self._answered, self._failed)

    def _answered(self, reply):
        if not self._running:
            return
        self._cancelDeadline()
        self._nextPing = self._clock.callLater(self.interval, self._ping)

    def _failed(self, failure):
        if not self._running:
            return
        if failure.check(BEEPError) and self._channel is not None:
            # An ERR to a ping is an answer all the same.
            self._answered(None)
        elif failure.check(SessionReset):
            # TLS started the session over: ping on a new channel once the
            # peer has greeted again.
            self._cancelDeadline()
            self._channel = None
            self.session.whenGreeted().addCallbacks(lambda _: self._open(), lambda _: None)
        elif self.session._lostReason is None:
            # The peer refused the channel, or closed it under us.
            _log.warn(
                "Keepalive of {peer} stopped: {error}",
                beepEvent="keepAliveStopped",
                peer=self.session._peer(),
                error=failure.getErrorMessage(),
            )
            self._finish(failure)
        # Otherwise the session has ended: _sessionEnded reports it.

    def _await(self):
        self._deadline = self._clock.callLater(self.timeout, self._noReply)

    def _noReply(self):
        self._deadline = None
        self.session._timeouts.expire(SessionTimeout("keepalive", self.timeout, "no reply within"))

    def _sessionEnded(self, reason):
        if not self._running:
            return
        if isinstance(reason, SessionTimeout) and reason.timeout == "keepalive":
            self._finish(Failure(reason))
        else:
            self._finish(None)

    def _cancelDeadline(self):
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _finish(self, failure):
        self._running = False
        self._cancelDeadline()
        if self._nextPing is not None:
            self._nextPing.cancel()
            self._nextPing = None
        self._channel = None
        self._ended = True
        self._failure = failure
        waiters, self._doneWaiters = self._doneWaiters, []
        for waiter in waiters:
            # None, or a Failure, which runs the errbacks.
            waiter.callback(failure)


def keepAlive(session, interval=DEFAULT_INTERVAL, timeout=DEFAULT_TIMEOUT):
    """
    Start checking the peer of ``session`` (which must offer
    :data:`PING_URI`); see :class:`KeepAlive`.

    :return: the running :class:`KeepAlive`: ``stop()`` ends it,
        ``whenDone()`` tells how it ended.
    """
    checker = KeepAlive(session, interval, timeout)
    checker.start()
    return checker
