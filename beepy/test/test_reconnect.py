# -*- test-case-name: beepy.test.test_reconnect -*-
"""
Tests for the reconnecting client, over real loopback TCP: the server is
stopped and started again under the client.  The retry delays run on a
``Clock``; everything else waits on ``Deferred``\\ s.
"""

from twisted.internet import defer, endpoints, error, reactor
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import TestCase

from beepy import BEEPError, ReplyCode
from beepy.profiles.echo import ECHO_URI, EchoFactory
from beepy.reconnect import BEEPClientService
from beepy.test.test_tls import AUTHORITY, RecordingServerFactory, serverPolicy

RETRY_DELAY = 5.0


class Server:
    """
    An echo server on loopback TCP that can go away and come back on the
    same port.
    """

    def __init__(self):
        self.factory = RecordingServerFactory([EchoFactory()], clock=Clock())
        self.port = None
        self.portNumber = 0

    @defer.inlineCallbacks
    def start(self):
        endpoint = endpoints.TCP4ServerEndpoint(reactor, self.portNumber, interface="127.0.0.1")
        self.port = yield endpoint.listen(self.factory)
        self.portNumber = self.port.getHost().port

    def dropSessions(self):
        """
        Drop every session; fires once they have all ended.
        """
        live = [session for session in self.factory.sessions if session.transport.connected]
        ended = [session.notifyClose() for session in live]
        for session in live:
            session.disconnect()
        return defer.gatherResults(ended)

    @defer.inlineCallbacks
    def stop(self):
        yield self.port.stopListening()
        yield self.dropSessions()


class BEEPClientServiceTests(TestCase):
    timeout = 30

    @defer.inlineCallbacks
    def setUp(self):
        self.server = Server()
        yield self.server.start()
        self.addCleanup(self.server.stop)
        self.clock = Clock()
        self.attempts = []
        self.retryWaiters = []
        self.channels = []
        self.hooked = []
        self.hookWaiters = []
        self.hookResults = []

    def retryPolicy(self, attempt):
        self.attempts.append(attempt)
        waiters, self.retryWaiters = self.retryWaiters, []
        for waiter in waiters:
            # One turn later: ClientService schedules the retry after asking.
            reactor.callLater(0, waiter.callback, attempt)
        return RETRY_DELAY

    def nextRetry(self):
        """
        :return: a ``Deferred`` firing with the attempt number once the next
            retry is scheduled on the clock.
        """
        waiter = defer.Deferred()
        self.retryWaiters.append(waiter)
        return waiter

    def sessionReady(self, session):
        """
        The hook: re-open the echo channel; or, if the test queued one, give
        its result instead.
        """
        self.hooked.append(session)
        waiters, self.hookWaiters = self.hookWaiters, []
        for waiter in waiters:
            waiter.callback(session)
        if self.hookResults:
            return self.hookResults.pop(0)
        return session.openChannel(ECHO_URI).addCallback(self.channels.append)

    def nextHook(self):
        """
        :return: a ``Deferred`` firing with the next session the hook gets.
        """
        waiter = defer.Deferred()
        self.hookWaiters.append(waiter)
        return waiter

    def startService(self):
        endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", self.server.portNumber)
        self.service = BEEPClientService(
            endpoint,
            sessionReady=self.sessionReady,
            retryPolicy=self.retryPolicy,
            clock=self.clock,
        )
        self.service.startService()
        self.addCleanup(self.service.stopService)

    @defer.inlineCallbacks
    def assertEchoes(self, session):
        """
        The session is ready: the hook's channel on it answers.
        """
        channel = self.channels[-1]
        self.assertIs(channel.session, session)
        reply = yield channel.sendMessage(b"ping")
        self.assertEqual(reply.body, b"ping")

    @defer.inlineCallbacks
    def test_reconnectsAfterServerRestart(self):
        """
        When the server goes away the client retries with the retry policy,
        and once the server is back (same port) it has a new session, whose
        channel the hook re-opened.
        """
        self.startService()
        first = yield self.service.whenConnected()
        yield self.assertEchoes(first)
        retry = self.nextRetry()
        yield self.server.stop()
        self.assertEqual((yield retry), 1)

        refused = self.service.whenConnected(failAfterFailures=1)
        retry = self.nextRetry()
        self.clock.advance(RETRY_DELAY)
        yield self.assertFailure(refused, error.ConnectionRefusedError)
        self.assertEqual((yield retry), 2)

        yield self.server.start()
        self.clock.advance(RETRY_DELAY)
        second = yield self.service.whenConnected()
        self.assertIsNot(second, first)
        self.assertTrue(first.notifyClose().called)
        self.assertEqual(self.hooked, [first, second])
        yield self.assertEchoes(second)

    @defer.inlineCallbacks
    def test_currentSession(self):
        """
        whenConnected gives the ready session while it lasts.
        """
        self.startService()
        first = yield self.service.whenConnected()
        again = yield self.service.whenConnected()
        self.assertIs(again, first)

    @defer.inlineCallbacks
    def test_coroutineHook(self):
        """
        The hook may be a coroutine function: the session is handed out once
        it has returned.
        """
        readied = []

        async def sessionReady(session):
            self.channels.append(await session.openChannel(ECHO_URI))
            readied.append(session)

        self.sessionReady = sessionReady
        self.startService()
        session = yield self.service.whenConnected()
        self.assertEqual(readied, [session])
        yield self.assertEchoes(session)

    @defer.inlineCallbacks
    def test_tlsAgain(self):
        """
        A hook that secures the session secures each new one; stopping the
        service closes a TLS connection too.
        """
        self.server.factory.tls = serverPolicy()

        async def sessionReady(session):
            await session.startTLS(serverName="beep.example", trustRoot=AUTHORITY.certificate)
            self.channels.append(await session.openChannel(ECHO_URI))

        self.sessionReady = sessionReady
        self.startService()
        first = yield self.service.whenConnected()
        self.assertTrue(first.isSecure)
        yield self.assertEchoes(first)
        retry = self.nextRetry()
        yield self.server.stop()
        yield retry
        yield self.server.start()
        self.clock.advance(RETRY_DELAY)
        second = yield self.service.whenConnected()
        self.assertTrue(second.isSecure)
        yield self.assertEchoes(second)
        yield self.service.stopService()
        self.assertTrue(second.notifyClose().called)

    @defer.inlineCallbacks
    def test_hookFailureBacksOff(self):
        """
        A session whose hook fails is dropped and logged, and counts in the
        backoff like a failed connection; the next one is handed out.
        """
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        refusal = BEEPError(ReplyCode.AUTHENTICATION_FAILURE, "who are you?")
        self.hookResults.append(defer.fail(refusal))
        retry = self.nextRetry()
        self.startService()
        failed = self.service.whenConnected(failAfterFailures=1)
        caught = yield self.assertFailure(failed, BEEPError)
        self.assertIs(caught, refusal)
        # One failed connection, one session that did not get ready.
        self.assertEqual((yield retry), 2)
        self.assertTrue([e for e in observer if "did not get ready" in e["log_format"]])

        self.clock.advance(RETRY_DELAY)
        session = yield self.service.whenConnected()
        yield self.assertEchoes(session)
        self.assertEqual(len(self.server.factory.sessions), 2)

    @defer.inlineCallbacks
    def test_sessionEndsDuringHook(self):
        """
        A session that ends while the hook still runs is not handed out,
        and the client reconnects (nothing is logged as an error, which
        trial would report).
        """
        self.hookResults.append(defer.Deferred())
        hooked = self.nextHook()
        self.startService()
        waiting = self.service.whenConnected()
        yield hooked
        retry = self.nextRetry()
        yield self.server.dropSessions()
        yield retry
        self.assertNoResult(waiting)
        self.clock.advance(RETRY_DELAY)
        session = yield waiting
        self.assertEqual(len(self.hooked), 2)
        yield self.assertEchoes(session)

    @defer.inlineCallbacks
    def test_stopService(self):
        """
        Stopping the service closes the session and ends the retries.
        """
        self.startService()
        session = yield self.service.whenConnected()
        yield self.service.stopService()
        self.assertTrue(session.notifyClose().called)
        self.clock.advance(60 * RETRY_DELAY)
        self.assertEqual((self.attempts, len(self.server.factory.sessions)), ([], 1))
        yield self.assertFailure(self.service.whenConnected(), defer.CancelledError)

    @defer.inlineCallbacks
    def test_stopWhileHookRuns(self):
        """
        Stopping the service while the hook runs drops the session and
        stops cleanly, without a retry.
        """
        self.hookResults.append(defer.Deferred())
        hooked = self.nextHook()
        self.startService()
        session = yield hooked
        yield self.service.stopService()
        self.assertTrue(session.notifyClose().called)
        self.assertEqual(self.attempts, [])
