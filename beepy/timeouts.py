# -*- test-case-name: beepy.test.test_timeouts -*-
"""
Time limits on a session, so that a peer that stalls costs us a connection
for a bounded time only: the greeting must come, a session may not sit idle
for ever, and a frame, once begun, must finish.

The factories set the limits (``greetingTimeout``, ``idleTimeout``,
``frameTimeout``, and the ``clock`` they run on) on each
:class:`beepy.protocol.BEEPProtocol`; the protocol tells its
:class:`SessionTimeouts` when octets come and go.  When a limit runs out the
session is dropped and everything that waited on it fails with
:class:`SessionTimeout`.
"""

from twisted.logger import Logger
from twisted.python.failure import Failure

__all__ = [
    "DEFAULT_FRAME_TIMEOUT",
    "DEFAULT_GREETING_TIMEOUT",
    "SessionTimeout",
    "SessionTimeouts",
    "clockOf",
]

#: Seconds from the connection to the peer's greeting.
DEFAULT_GREETING_TIMEOUT = 30.0
#: Seconds from the first octet of a frame to its last.
DEFAULT_FRAME_TIMEOUT = 60.0

_log = Logger()


class SessionTimeout(Exception):
    """
    A session was closed because a time limit ran out.  Every ``Deferred``
    still pending on it fails with this, and ``notifyClose()`` fires with it.

    :ivar timeout: which limit: ``"greeting"``, ``"idle"``, ``"frame"`` or
        ``"keepalive"``.
    :ivar seconds: how long that limit was.
    """

    def __init__(self, timeout, seconds, what):
        super().__init__(f"{timeout}: {what} {seconds:g} s")
        self.timeout = timeout
        self.seconds = seconds


def clockOf(session):
    """
    :return: what keeps time for ``session``: its ``clock`` (set by the
        factory) or the global reactor.
    """
    if session.clock is not None:
        return session.clock
    from twisted.internet import reactor

    return reactor


class SessionTimeouts:
    """
    The timers of one :class:`beepy.protocol.BEEPProtocol`.

    Idle means no octet in or out while we owe the peer no reply.  A reply
    we owe stops the count: a slow answer of our own application is not the
    peer's silence, and closing on it would punish the peer for our delay.
    A reply we await does not: a peer that neither answers nor sends
    anything else for ``idleTimeout`` is taken to be gone (keepalive, see
    :mod:`beepy.profiles.ping`, is the way to tell a slow peer from a dead
    one).  This is Vortex's "no traffic" rule, less our own slowness.

    The idle count is kept lazily: octets only record the time, and the
    timer, when it fires, sleeps again for what is left, so busy sessions
    pay no timer work per read or write.
    """

    #: The :class:`SessionTimeout` that closed the session, if one did.
    expired = None
    # Set by start(): the clock, and the idle and frame limits that run.
    _clock = _idle = _frame = None
    _greetingCall = _idleCall = _frameCall = None
    _timedFrame = None  # the ordinal of the frame _frameCall times
    _lastActivity = 0.0

    def __init__(self, session):
        self._session = session

    def start(self):
        """
        The connection is made: read the limits the factory set and start.
        """
        session = self._session
        self._clock = clockOf(session)
        self._idle = session.idleTimeout
        self._frame = session.frameTimeout
        if session.greetingTimeout is not None:
            expiry = SessionTimeout("greeting", session.greetingTimeout, "no greeting within")
            self._greetingCall = self._clock.callLater(session.greetingTimeout, self.expire, expiry)
        if self._idle is not None:
            self._lastActivity = self._clock.seconds()
            self._idleCall = self._clock.callLater(self._idle, self._idleCheck)

    def greeted(self):
        if self._greetingCall is not None:
            self._greetingCall.cancel()
            self._greetingCall = None

    def received(self):
        """
        Octets arrived and were processed.
        """
        if self._idle is not None:
            self._lastActivity = self._clock.seconds()
        if self._frame is not None:
            self._checkFrame()

    def sent(self):
        """
        Octets were written.
        """
        if self._idle is not None:
            self._lastActivity = self._clock.seconds()

    def expire(self, error):
        """
        Close the session because of ``error`` (a :class:`SessionTimeout`):
        log it, and drop the connection without waiting on the peer, which
        is gone or stalling (a TLS close would wait for its ``close_notify``
        for ever).
        """
        session = self._session
        if self.expired is not None or session._lostReason is not None:
            return
        self.expired = error
        _log.warn(
            "Closing the BEEP session with {peer}: {error}",
            beepEvent="sessionTimeout",
            peer=session._peer(),
            error=error,
            timeout=error.timeout,
            seconds=error.seconds,
        )
        session.disconnect(abort=True)

    def connectionLost(self, reason):
        """
        :return: the reason to give everything that waited: the
            :class:`SessionTimeout`, if one closed the session.
        """
        for call in (self._greetingCall, self._idleCall, self._frameCall):
            if call is not None and call.active():
                call.cancel()
        self._greetingCall = self._idleCall = self._frameCall = None
        self._idle = self._frame = None
        if self.expired is not None:
            return Failure(self.expired)
        return reason

    def _idleCheck(self):
        now = self._clock.seconds()
        if self._session._session.repliesOwed:
            self._lastActivity = now
        quiet = now - self._lastActivity
        if quiet >= self._idle:
            self._idleCall = None
            self.expire(SessionTimeout("idle", self._idle, "no octet in or out for"))
        else:
            self._idleCall = self._clock.callLater(self._idle - quiet, self._idleCheck)

    def _checkFrame(self):
        frame = self._session._session.unfinishedFrame
        if frame == self._timedFrame:
            return
        if self._frameCall is not None:
            self._frameCall.cancel()
            self._frameCall = None
        self._timedFrame = frame
        if frame is not None:
            expiry = SessionTimeout("frame", self._frame, "a frame took longer than")
            self._frameCall = self._clock.callLater(self._frame, self.expire, expiry)
