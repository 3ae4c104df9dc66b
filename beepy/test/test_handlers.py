# -*- test-case-name: beepy.test.test_handlers -*-
"""
Each row of ``doc/handlers.rst``: a Vortex handler, exercised in the shape
the table gives its beepy equivalent.  Other modules test each mechanism in
depth; these tests keep the table honest.
"""

from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
from twisted.cred.portal import Portal
from twisted.internet import defer, endpoints, reactor
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.task import Clock
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import implementer

from beepy import (
    BEEPClientFactory,
    BEEPError,
    BEEPProtocol,
    BEEPServerFactory,
    IFrameReceiver,
    Message,
    Profile,
    ProfileFactory,
    RemoteProtocolError,
    SessionTimeout,
    TLSPolicy,
    connectBEEP,
)
from beepy.core.frames import FrameType
from beepy.pool import ChannelPool
from beepy.profiles.ping import PingFactory
from beepy.sasl import AvatarIdRealm, SASLPolicy
from beepy.testing.certificates import CertificateAuthority
from beepy.testing.loopback import connectedSessions

URI = "http://example.com/beep/accounts"


class Recorder(Profile):
    """
    Answers ``MSG`` with its body reversed; remembers how it was closed.
    """

    closedWith = None
    busy = False

    def messageReceived(self, message):
        return Message(message.body[::-1])

    def closeRequested(self, code, text):
        return not self.busy

    def channelClosed(self, reason):
        self.closedWith = reason


class Accounts(ProfileFactory):
    """
    The channel start handler of the table: denies starts for other server
    names, and may decide later.
    """

    uri = URI
    profile = Recorder

    def __init__(self):
        self.built = []
        self.decision = None  # a Deferred to decide later

    def buildProfile(self, channel, start):
        if start.serverName not in ("accounts.example", None):
            raise BEEPError(550, f"no accounts for {start.serverName}")
        profile = super().buildProfile(channel, start)
        self.built.append(profile)
        if self.decision is not None:
            return self.decision.addCallback(lambda _: profile)
        return profile


class ChannelHandlerTests(SynchronousTestCase):
    def setUp(self):
        self.accounts = Accounts()
        self.client, self.server, self.pump = connectedSessions([self.accounts])

    def open(self, **kwargs):
        opening = self.client.openChannel([URI], **kwargs)
        self.pump.flush()
        return opening

    def test_startDenied(self):
        """
        Channel start handler: ``BEEPError`` denies with its code, and the
        on-channel ``Deferred`` fails with it.
        """
        refusal = self.failureResultOf(self.open(serverName="other.example"), BEEPError)
        self.assertEqual((refusal.value.code, refusal.value.text), (550, "no accounts for other.example"))

    def test_startLater(self):
        """
        Channel start answered later: a ``Deferred`` from ``buildProfile``.
        """
        self.accounts.decision = defer.Deferred()
        opening = self.open(serverName="accounts.example")
        self.assertNoResult(opening)
        self.accounts.decision.callback(None)
        self.pump.flush()
        self.assertEqual(self.successResultOf(opening).profileURI, URI)

    def test_closeHandler(self):
        """
        Channel close handler: ``False`` denies with 550; then ``True``
        accepts, and ``channelClosed`` is told.
        """
        channel = self.successResultOf(self.open())
        [profile] = self.accounts.built
        profile.busy = True
        closing = channel.close()
        self.pump.flush()
        self.assertEqual(self.failureResultOf(closing, BEEPError).value.code, 550)
        profile.busy = False
        closing = channel.close()
        self.pump.flush()
        self.successResultOf(closing)
        profile.closedWith.trap(ConnectionDone)

    def test_releaseHandler(self):
        """
        The session's close handler is ``releaseRequested``.
        """

        class Keeper(BEEPProtocol):
            def releaseRequested(self, code, text):
                raise BEEPError(550, "stay")

        factory = BEEPServerFactory()
        factory.protocol = Keeper
        server = factory.buildProtocol(None)
        client = BEEPClientFactory().buildProtocol(None)
        pump = iosim.connect(
            server, iosim.FakeTransport(server, True), client, iosim.FakeTransport(client, False)
        )
        releasing = client.close()
        pump.flush()
        self.assertEqual(self.failureResultOf(releasing, BEEPError).value.text, "stay")

    def test_messageLevel(self):
        """
        Frame received, message level: ``messageReceived`` answers; the
        ``sendMessage`` ``Deferred`` fires with the reply.
        """
        channel = self.successResultOf(self.open())
        replying = channel.sendMessage(Message(b"abc"))
        self.pump.flush()
        self.assertEqual(self.successResultOf(replying).body, b"cba")

    def test_answers(self):
        """
        ``ANS`` replies arrive through ``answerReceived``, and the
        ``Deferred`` fires at ``NUL``.
        """

        class Feed(Profile):
            def messageReceived(self, message):
                return [Message(b"one"), Message(b"two")]

        class FeedFactory(ProfileFactory):
            uri = "http://example.com/beep/feed"
            profile = Feed

        client, server, pump = connectedSessions([FeedFactory()])
        opening = client.openChannel([FeedFactory.uri])
        pump.flush()
        answers = []
        done = self.successResultOf(opening).sendMessage(
            Message(b"go"), answerReceived=lambda message: answers.append(message.body)
        )
        pump.flush()
        self.successResultOf(done)
        self.assertEqual(answers, [b"one", b"two"])

    def test_frameLevel(self):
        """
        Frame received, frame level: an ``IFrameReceiver`` profile gets each
        frame and answers with the channel's ``sendReply``.
        """

        @implementer(IFrameReceiver)
        class Upload(Profile):
            def __init__(self):
                self.payloads = []

            def frameReceived(self, frame):
                self.payloads.append(frame.payload)
                if frame.type is FrameType.MSG and not frame.more:
                    self.channel.sendReply(frame.msgno, Message(b"stored"))

        class UploadFactory(ProfileFactory):
            uri = "http://example.com/beep/upload"
            profile = Upload

            def buildProfile(self, channel, start):
                self.built = super().buildProfile(channel, start)
                return self.built

        factory = UploadFactory()
        client, server, pump = connectedSessions([factory])
        opening = client.openChannel([factory.uri])
        pump.flush()
        replying = self.successResultOf(opening).sendMessage(Message(b"data"))
        pump.flush()
        self.assertEqual(self.successResultOf(replying).body, b"stored")
        self.assertTrue(b"".join(factory.built.payloads).endswith(b"data"))


class ConnectionClosedTests(SynchronousTestCase):
    """
    The connection on-close handler: ``notifyClose`` says how it ended.
    """

    def test_released(self):
        client, server, pump = connectedSessions()
        closed = server.notifyClose()
        client.close()
        pump.flush()
        self.assertIsInstance(self.successResultOf(closed), ConnectionDone)

    def test_brokenPipe(self):
        """
        A transport that closes without a release is a broken session, even
        if TCP closed cleanly; open channels hear the same reason.
        """
        accounts = Accounts()
        client, server, pump = connectedSessions([accounts])
        client.openChannel([URI])
        pump.flush()
        closed = server.notifyClose()
        client.transport.loseConnection()
        pump.flush()
        reason = self.successResultOf(closed)
        self.assertIsInstance(reason, ConnectionLost)
        self.assertIn("without a release", str(reason))
        accounts.built[0].closedWith.trap(ConnectionLost)

    def test_violation(self):
        client, server, pump = connectedSessions()
        closed = server.notifyClose()
        client.transport.write(b"RPY 7 1 . 0 0\r\nEND\r\n")
        pump.flush()
        self.assertIsInstance(self.successResultOf(closed), RemoteProtocolError)


class ConnectionAcceptedTests(TestCase):
    @defer.inlineCallbacks
    def test_refused(self):
        """
        Connection accepted handler: ``buildProtocol`` returning ``None``
        refuses the connection, and the client's connect fails.
        """

        class Picky(BEEPServerFactory):
            def buildProtocol(self, addr):
                return None

        port = yield endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            Picky()
        )
        self.addCleanup(port.stopListening)
        client = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port)
        yield self.assertFailure(connectBEEP(client), ConnectionDone, ConnectionLost)


def _checker():
    checker = InMemoryUsernamePasswordDatabaseDontUse()
    checker.addUser(b"bob", b"secret")
    return checker


class SASLHandlerTests(SynchronousTestCase):
    def test_notifyAndCommonHandler(self):
        """
        SASL auth notify (the client's ``Deferred`` and the listener's
        ``statusChanged``) and the common auth handler (a cred portal whose
        avatar becomes the session's).
        """
        statuses = []
        policy = SASLPolicy(Portal(AvatarIdRealm(), [_checker()]), statusChanged=statuses.append)
        client, server, pump = connectedSessions(sasl=policy)
        failing = client.authenticate("SCRAM-SHA-256", username="bob", password="wrong")
        pump.flush()
        self.failureResultOf(failing, BEEPError)
        authenticating = client.authenticate("SCRAM-SHA-256", username="bob", password="secret")
        pump.flush()
        self.assertEqual(self.successResultOf(authenticating).authenticatedId, "bob")
        self.assertEqual([status.succeeded for status in statuses], [False, True])
        self.assertEqual(server.avatar.avatarId, b"bob")


AUTHORITY = CertificateAuthority()


class Certificates(TLSPolicy):
    """
    TLS accept and certificate handlers, and the status notification on the
    accepting side.
    """

    def __init__(self):
        super().__init__()
        self.certificates = {"a.example": AUTHORITY.issue("a.example")}
        self.started = []

    def acceptTLS(self, session, serverName):
        return serverName in self.certificates

    def certificateFor(self, session, serverName):
        return self.certificates[serverName]

    def tlsStarted(self, session):
        self.started.append(session)


class TLSHandlerTests(TestCase):
    timeout = 30

    @defer.inlineCallbacks
    def setUp(self):
        self.policy = Certificates()
        self.factory = BEEPServerFactory([Accounts()], tls=self.policy)
        self.port = yield endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            self.factory
        )
        self.addCleanup(self.port.stopListening)

    @defer.inlineCallbacks
    def connect(self):
        endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", self.port.getHost().port)
        session = yield connectBEEP(endpoint)
        self.addCleanup(lambda: session.close().addErrback(lambda _: None))
        return session

    @defer.inlineCallbacks
    def test_accepted(self):
        """
        The accept handler allows the name, the certificate handler picks its
        certificate, and both sides are told: the requester's ``Deferred``
        and the accepter's ``tlsStarted``.
        """
        session = yield self.connect()
        secured = yield session.startTLS("a.example", trustRoot=AUTHORITY.certificate)
        self.assertIs(secured, session)
        self.assertTrue(session.isSecure)
        self.assertEqual(len(self.policy.started), 1)
        self.assertTrue(self.policy.started[0].isSecure)

    @defer.inlineCallbacks
    def test_refused(self):
        """
        The accept handler's ``False`` refuses; the session goes on in the
        clear.
        """
        session = yield self.connect()
        refusal = yield self.assertFailure(session.startTLS("b.example"), BEEPError)
        self.assertEqual(refusal.code, 421)
        self.assertFalse(session.isSecure)
        self.assertEqual(self.policy.started, [])


class PoolAndAliveTests(SynchronousTestCase):
    def test_poolHandlers(self):
        """
        The pool's create handler opens each of its channels (here with
        piggybacked content), and the pool-created notification fires once
        the initial ones are open.
        """
        accounts = Accounts()
        client, server, pump = connectedSessions([accounts])
        created = []

        def openWithServerName(session, profileURI):
            created.append(profileURI)
            return session.openChannel([profileURI], serverName="accounts.example")

        pool = ChannelPool(client, URI, initial=2, maximum=3, create=openWithServerName)
        ready = pool.whenReady()
        pump.flush()
        self.assertIs(self.successResultOf(ready), pool)
        self.assertEqual(created, [URI, URI])
        self.assertEqual(len(accounts.built), 2)

    def test_aliveCheck(self):
        """
        The alive check closes a session whose peer stops answering pings.
        """
        clock = Clock()
        client, server, pump = connectedSessions([PingFactory()], clock=clock)
        checking = client.keepAlive(interval=30, timeout=10)
        closed = client.notifyClose()
        pump.flush()
        clock.advance(30)
        pump.flush()
        self.assertNoResult(closed)
        server.transport.write = lambda data: None  # the peer stops answering
        clock.advance(30)
        pump.flush()
        clock.advance(10)
        pump.flush()
        reason = self.successResultOf(closed)
        self.assertIsInstance(reason, SessionTimeout)
        self.assertEqual(reason.timeout, "keepalive")
        self.failureResultOf(checking.whenDone(), SessionTimeout)
