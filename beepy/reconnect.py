# -*- test-case-name: beepy.test.test_reconnect -*-
"""
A BEEP session that comes back: :class:`BEEPClientService` keeps one session
to a peer open through Twisted's ``ClientService``, reconnecting with its
backoff, and runs a ``sessionReady`` hook on each new session to put it back
in shape (open channels, secure it, authenticate) before handing it out.

Why not ``ClientService(prepareConnection=...)`` as it is: its state machine
only expects a connection to end once prepared (Twisted 26.10 raises
``NoTransition`` from ``connectionLost`` otherwise), and a BEEP session can
end while it is being prepared: a refusal, a greeting timeout, a failed
authentication.  So the preparation given to ``ClientService`` never fails:
it ends when the hook does, when the session does, or when the service
stops, and a session that did not get ready is dropped and counted in the
backoff here.  For the same reason (the machine refuses re-entrant calls,
which callbacks of its own ``whenConnected`` easily make),
:meth:`BEEPClientService.whenConnected` keeps its own waiters.
"""

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet import defer
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from beepy.factory import BEEPClientFactory

__all__ = ["BEEPClientService"]

_log = Logger()


class _SessionFactory(BEEPClientFactory):
    """
    Remembers the session of the current connection: ``ClientService``
    gives its preparation a proxy of it, and the hook wants the session.
    """

    session = None

    def buildProtocol(self, addr):
        self.session = super().buildProtocol(addr)
        return self.session


@implementer(IStreamClientEndpoint)
class _WatchedEndpoint:
    """
    Tells the service of each failed connection attempt, which
    ``ClientService`` keeps to itself.
    """

    def __init__(self, endpoint, failed):
        self._endpoint = endpoint
        self._failed = failed

    def connect(self, factory):
        connecting = self._endpoint.connect(factory)
        connecting.addErrback(self._failed)
        return connecting


class BEEPClientService(ClientService):
    """
    Keeps a BEEP session to ``endpoint`` open: start it (it is an
    ``IService``), then ask :meth:`whenConnected` for the session.

    :param endpoint: an ``IStreamClientEndpoint``.
    :param profiles: the profile factories we offer the peer, as for
        :class:`beepy.BEEPClientFactory`.
    :param sessionReady: called with each new, greeted session (a
        :class:`beepy.protocol.BEEPProtocol`); it may return a ``Deferred``
        or be a coroutine function.
        Re-open channels, ``startTLS``, ``authenticate`` and start
        ``keepAlive`` here: :meth:`whenConnected` gives the session only
        once the hook is done.  If it fails, or the session ends first, the
        session is dropped and another is tried after the backoff, which
        such failures lengthen as failed connections do.
    :param retryPolicy: seconds to wait before attempt *n* (``ClientService``'s
        ``backoffPolicy()`` by default: 1 s growing by 1.5 to 60 s, plus up
        to 1 s of jitter).
    :param clock: keeps time for the retries and, unless
        ``factoryArguments`` says otherwise, for the sessions' timeouts.
    :param factoryArguments: ``config``, ``tls``, ``greetingTimeout``,
        ``idleTimeout``...: see :class:`beepy.BEEPClientFactory`.
    """

    def __init__(
        self,
        endpoint,
        profiles=(),
        sessionReady=None,
        retryPolicy=None,
        clock=None,
        **factoryArguments,
    ):
        factoryArguments.setdefault("clock", clock)
        self.sessionReady = sessionReady
        self._retryPolicy = retryPolicy if retryPolicy is not None else backoffPolicy()
        self._unready = 0  # sessions in a row that did not get ready
        self._current = None  # the session of the current connection
        self._readySession = None  # the same, once ready
        self._readyWaiters = []  # [Deferred, failures left or None]
        self._stopping = None  # fired by stopService to end a preparation
        self._factory = _SessionFactory(profiles, **factoryArguments)
        super().__init__(
            _WatchedEndpoint(endpoint, self._attemptFailed),
            self._factory,
            self._retryDelay,
            clock,
            prepareConnection=self._prepare,
        )

    def whenConnected(self, failAfterFailures=None):
        """
        :return: a ``Deferred`` that fires with the current session once it
            is greeted and ``sessionReady`` is done, or with the next such
            session.  It fails with ``CancelledError`` when the service
            stops, or, with ``failAfterFailures``, with the error of the
            last attempt once that many attempts in a row have failed
            (connections that failed and sessions that did not get ready
            alike).
        """
        if self._readySession is not None:
            return defer.succeed(self._readySession)
        if not self.running:
            return defer.fail(defer.CancelledError())
        waiter = defer.Deferred()
        self._readyWaiters.append([waiter, failAfterFailures])
        return waiter

    def stopService(self):
        """
        Stop reconnecting and drop the current session.

        :return: a ``Deferred`` that fires once the connection is closed.
        """
        if not self.running:
            return defer.succeed(None)
        waiters, self._readyWaiters = self._readyWaiters, []
        for waiter, _ in waiters:
            waiter.errback(defer.CancelledError())
        session = self._current
        if session is None:
            return super().stopService()
        if not self._stopping.called:
            # A preparation still running ends first, so that the state
            # machine is told of a prepared connection, never of a lost one.
            self._stopping.callback(None)
        # Drop the session first, through disconnect() (a TLS connection
        # closes no other way), and stop once it has ended: then the state
        # machine hears of the end in a state that expects it.
        ended = session.notifyClose()
        session.disconnect()
        return ended.addCallback(lambda _: super(BEEPClientService, self).stopService())

    # Internals.

    def _retryDelay(self, attempt):
        return self._retryPolicy(attempt + self._unready)

    def _attemptFailed(self, failure):
        """
        A connection failed, or a session did not get ready: the callers
        that allowed that many failures hear why.
        """
        waiting, self._readyWaiters = self._readyWaiters, []
        for entry in waiting:
            waiter, left = entry
            if left is not None and left <= 1:
                waiter.errback(failure)
            else:
                if left is not None:
                    entry[1] = left - 1
                self._readyWaiters.append(entry)
        return failure

    def _prepare(self, proxy):
        session = self._current = self._factory.session
        ended = session.notifyClose()
        ended.addCallback(self._sessionEnded, session)
        self._stopping = defer.Deferred()
        return defer.Deferred.fromCoroutine(self._getReady(session, ended))

    async def _getReady(self, session, ended):
        """
        Greet, then run the hook, until that is done, the session has ended
        or the service stops.  It never fails: ``ClientService`` must hear
        of the session's end only once it is prepared.
        """
        work = session.whenGreeted()
        if self.sessionReady is not None:
            work.addCallback(lambda _: defer.maybeDeferred(self.sessionReady, session))
        try:
            result, index = await defer.DeferredList(
                [work, ended, self._stopping],
                fireOnOneCallback=True,
                fireOnOneErrback=True,
                consumeErrors=True,
            )
        except defer.FirstError as e:
            self._notReady(session, e.subFailure)
            return
        if index == 1:
            self._notReady(session, Failure(result))
        elif index == 0:
            self._unready = 0
            self._readySession = session
            waiters, self._readyWaiters = self._readyWaiters, []
            for waiter, _ in waiters:
                waiter.callback(session)
        # Otherwise the service is stopping, and stopService drops the session.

    def _notReady(self, session, failure):
        self._unready += 1
        _log.warn(
            "The BEEP session with {peer} did not get ready ({error}); reconnecting",
            beepEvent="sessionNotReady",
            peer=session._peer(),
            error=failure.getErrorMessage(),
        )
        session.disconnect(abort=True)
        self._attemptFailed(failure)

    def _sessionEnded(self, reason, session):
        if self._current is session:
            self._current = None
        if self._readySession is session:
            self._readySession = None
        return reason
