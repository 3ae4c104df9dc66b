# -*- test-case-name: beepy.test.test_tls -*-
"""
Tests for :mod:`beepy.tls` and the TLS side of
:class:`beepy.protocol.BEEPProtocol`.

The unit tests connect two sessions in memory (``iosim``, whose
``startTLS`` only records the TLS role) and keep time with a ``Clock``: what
is offered, who asks, what the policy decides, when ``<proceed />`` goes,
timeouts.  The integration tests negotiate real TLS over loopback TCP with
certificates made for the test.
"""

from OpenSSL import SSL
from service_identity import VerificationError
from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
from twisted.cred.portal import Portal
from twisted.internet import defer, endpoints, reactor, ssl
from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import formatEvent, globalLogPublisher
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import directlyProvides

from beepy import BEEPError, Profile, ProfileFactory, ReplyCode, connectBEEP
from beepy.core.codec import FrameDecoder, encodeFrame
from beepy.core.errors import LocalProtocolError, RemoteProtocolError, SessionReset
from beepy.core.frames import DataFrame, FrameType
from beepy.core.management import (
    BEEP_XML,
    TLS_URI,
    Greeting,
    ProfileElement,
    encodeManagement,
    parseManagement,
)
from beepy.core.mime import Message as MIMEMessage
from beepy.factory import BEEPClientFactory, BEEPServerFactory
from beepy.profiles.echo import ECHO_URI, EchoFactory
from beepy.sasl import AvatarIdRealm, ClientCertificateChecker, SASLPolicy, mechanismURI
from beepy.testing.certificates import CertificateAuthority
from beepy.tls import TLSPolicy, TLSRequest, TLSTimeout

AUTHORITY = CertificateAuthority()
SERVER_CERTIFICATE = AUTHORITY.issue("beep.example", "127.0.0.1")
CLIENT_CERTIFICATE = AUTHORITY.issue("client.example")


class RecordingPolicy(TLSPolicy):
    """
    A policy that remembers what it was asked and can decide later.

    :ivar asked: ``serverName`` of each request, in order.
    :ivar secured: each session it was told is secured.
    :ivar decision: what ``acceptTLS`` returns.
    """

    def __init__(self, *args, decision=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.asked = []
        self.secured = []
        self.serverNames = []
        self.decision = decision

    def acceptTLS(self, session, serverName):
        self.asked.append(serverName)
        if isinstance(self.decision, Exception):
            raise self.decision
        return self.decision

    def tlsStarted(self, session):
        self.secured.append(session)
        handle = session.transport.getHandle()
        self.serverNames.append(
            handle.get_servername() if hasattr(handle, "get_servername") else None
        )


class HeldProfile(Profile):
    """
    Answers each message when the test fires its Deferred.

    :ivar received: ``(body, Deferred)`` per message.
    """

    def __init__(self, arrivals=None):
        self.received = []
        self.closedWith = None
        self.arrivals = arrivals

    def messageReceived(self, message):
        answer = defer.Deferred()
        self.received.append((message.body, answer))
        if self.arrivals is not None:
            self.arrivals.put((message.body, answer))
        return answer

    def channelClosed(self, reason):
        self.closedWith = reason


class HeldFactory(ProfileFactory):
    uri = "urn:test:held"

    def __init__(self):
        self.built = []
        self.arrivals = defer.DeferredQueue()

    def buildProfile(self, channel, start):
        profile = HeldProfile(self.arrivals)
        profile.channel = channel
        self.built.append(profile)
        return profile


def serverPolicy(**kwargs):
    return RecordingPolicy(SERVER_CERTIFICATE, **kwargs)


class TLSRecordingTransport(iosim.FakeTransport):
    """
    An ``iosim`` transport whose ``startTLS`` only records the TLS role
    asked for: ``"client"`` or ``"server"``.
    """

    tlsRole = None

    def startTLS(self, contextFactory, beNormal=True):
        self.tlsRole = "server" if self.isServer == beNormal else "client"


class InMemory:
    """
    A client and a server session connected with ``iosim``, sharing a
    ``Clock``.
    """

    def __init__(
        self, serverTLS=None, clientTLS=None, serverProfiles=None, clientProfiles=(), greet=True
    ):
        self.clock = Clock()
        if serverProfiles is None:
            serverProfiles = [EchoFactory()]
        serverFactory = BEEPServerFactory(serverProfiles, tls=serverTLS, clock=self.clock)
        clientFactory = BEEPClientFactory(clientProfiles, tls=clientTLS, clock=self.clock)
        self.server = serverFactory.buildProtocol(None)
        self.client = clientFactory.buildProtocol(None)
        here = IPv4Address("TCP", "127.0.0.1", 54321)
        there = IPv4Address("TCP", "127.0.0.1", 10288)
        self.serverTransport = TLSRecordingTransport(self.server, True, there, here)
        self.clientTransport = TLSRecordingTransport(self.client, False, here, there)
        self.pump = iosim.connect(
            self.server, self.serverTransport, self.client, self.clientTransport, greet=greet
        )

    def tlsRoles(self):
        """
        ``(client's, server's)`` TLS role: ``"client"`` or ``"server"`` for a
        side that started TLS in that role, ``None`` for one that has not.
        """
        return (self.clientTransport.tlsRole, self.serverTransport.tlsRole)


class OfferTests(SynchronousTestCase):
    """
    Which greetings offer TLS.
    """

    def test_offeredWithPolicy(self):
        """
        A session with a policy offers TLS, after its profiles.
        """
        pair = InMemory(serverTLS=serverPolicy())
        self.assertEqual(pair.client.peerProfiles, (ECHO_URI, TLS_URI))
        self.assertFalse(pair.client.isSecure)

    def test_notOfferedWithoutPolicy(self):
        pair = InMemory()
        self.assertEqual(pair.client.peerProfiles, (ECHO_URI,))

    def test_requireTLS(self):
        """
        A policy requiring TLS offers TLS alone: no other profile can start.
        """
        pair = InMemory(serverTLS=serverPolicy(requireTLS=True))
        self.assertEqual(pair.client.peerProfiles, (TLS_URI,))
        opening = pair.client.openChannel([ECHO_URI])
        pair.pump.flush()
        self.assertEqual(self.failureResultOf(opening, BEEPError).value.code, 550)

    def greetingOver(self, transport):
        """
        The greeting a server with a policy sends over ``transport``.
        """
        server = BEEPServerFactory([EchoFactory()], tls=serverPolicy(), clock=Clock()).buildProtocol(
            None
        )
        server.makeConnection(transport)
        decoder = FrameDecoder(65536)
        decoder.receiveData(transport.value())
        return server, parseManagement(MIMEMessage.fromPayload(decoder.nextFrame().payload).body)

    def test_notOfferedWithoutStartTLS(self):
        """
        Over a transport that cannot start TLS, TLS is not offered.
        """
        server, greeting = self.greetingOver(StringTransport())
        self.assertEqual(greeting, Greeting((ECHO_URI,)))

    def test_notOfferedWhenSecure(self):
        """
        Over a transport that already runs TLS (an ``ssl:`` endpoint), TLS is
        not offered and the session is secure from the start.
        """
        transport = StringTransport()
        directlyProvides(transport, ISSLTransport)
        server, greeting = self.greetingOver(transport)
        self.assertEqual(greeting, Greeting((ECHO_URI,)))
        self.assertTrue(server.isSecure)

    def test_certificateFor(self):
        """
        By default the certificate is chosen by ``serverName``, else the
        default one.
        """
        other = AUTHORITY.issue("other.example")
        policy = TLSPolicy(SERVER_CERTIFICATE, certificates={"other.example": other})
        self.assertIs(policy.certificateFor(None, "other.example"), other)
        self.assertIs(policy.certificateFor(None, "beep.example"), SERVER_CERTIFICATE)
        self.assertIs(policy.certificateFor(None, None), SERVER_CERTIFICATE)


class RequestTests(SynchronousTestCase):
    """
    Asking for TLS and answering, up to the handshake.
    """

    def test_roles(self):
        """
        The initiator asks: once ``<proceed />`` has crossed, it starts TLS
        as the client, the listener as the server; the ``serverName`` of
        the start reaches the policy.
        """
        policy = serverPolicy()
        pair = InMemory(serverTLS=policy)
        securing = pair.client.startTLS(serverName="beep.example", trustRoot=AUTHORITY.certificate)
        pair.pump.flush()
        self.assertEqual(policy.asked, ["beep.example"])
        self.assertEqual(pair.tlsRoles(), ("client", "server"))
        self.assertNoResult(securing)

    def test_listenerAsks(self):
        """
        When the listener asks, it is the TLS client although it did not
        dial: Twisted's ``startTLS`` is told the direction is reversed.
        """
        policy = RecordingPolicy(CLIENT_CERTIFICATE)
        pair = InMemory(clientTLS=policy)
        pair.server.startTLS(serverName="client.example")
        pair.pump.flush()
        self.assertEqual(policy.asked, ["client.example"])
        self.assertEqual(pair.tlsRoles(), ("server", "client"))

    def test_defaultServerName(self):
        """
        Without a ``serverName``, the address of the peer is used.
        """
        policy = serverPolicy()
        pair = InMemory(serverTLS=policy)
        pair.client.startTLS()
        pair.pump.flush()
        self.assertEqual(policy.asked, ["127.0.0.1"])

    def test_waitsForGreeting(self):
        """
        Asked before the greetings are exchanged, the request waits for them.
        """
        policy = serverPolicy()
        pair = InMemory(serverTLS=policy, greet=False)
        pair.client.startTLS(serverName="beep.example")
        self.assertEqual(policy.asked, [])
        pair.pump.flush()
        self.assertEqual(policy.asked, ["beep.example"])

    def test_plainRequest(self):
        """
        ``piggyback=False`` starts a TLS channel (with the ``serverName``),
        then sends ``<ready />`` on it.
        """
        policy = serverPolicy()
        pair = InMemory(serverTLS=policy)
        pair.client.startTLS(serverName="beep.example", piggyback=False)
        pair.pump.flush()
        self.assertEqual(policy.asked, ["beep.example"])
        self.assertEqual(pair.tlsRoles(), ("client", "server"))

    def assertRefused(self, policy, code, serverName="beep.example", piggyback=True):
        """
        A request to a server with ``policy`` fails with ``code``; the
        session goes on in the clear, with no timer left.

        :return: the pair.
        """
        pair = InMemory(serverTLS=policy)
        securing = pair.client.startTLS(serverName=serverName, piggyback=piggyback)
        pair.pump.flush()
        self.assertEqual(self.failureResultOf(securing, BEEPError).value.code, code)
        self.assertEqual(pair.tlsRoles(), (None, None))
        self.assertEqual(pair.clock.getDelayedCalls(), [])
        channel = pair.client.openChannel([ECHO_URI])
        pair.pump.flush()
        replying = self.successResultOf(channel).sendMessage(b"still here")
        pair.pump.flush()
        self.assertEqual(self.successResultOf(replying).body, b"still here")
        return pair

    def test_denied(self):
        """
        ``acceptTLS`` returning false refuses with 421, as Vortex does.
        """
        self.assertRefused(serverPolicy(decision=False), ReplyCode.SERVICE_NOT_AVAILABLE)

    def test_deniedWithCode(self):
        """
        ``acceptTLS`` raising :class:`BEEPError` refuses with its code.
        """
        refusal = BEEPError(ReplyCode.ACTION_NOT_AUTHORISED, "not you")
        self.assertRefused(serverPolicy(decision=refusal), 537)

    def test_policyFails(self):
        """
        A policy that fails refuses with 451, and the failure is logged.
        """
        self.assertRefused(serverPolicy(decision=ZeroDivisionError()), 451)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_noCertificate(self):
        """
        No certificate for the ``serverName``: 550.
        """
        self.assertRefused(RecordingPolicy(), ReplyCode.REQUESTED_ACTION_NOT_TAKEN)

    def test_plainRequestRefused(self):
        """
        Refused on a TLS channel it opened, the requester closes it.
        """
        pair = self.assertRefused(serverPolicy(decision=False), 421, piggyback=False)
        self.assertEqual(pair.client.channels.keys(), {3})  # the echo channel

    def test_decidesLater(self):
        """
        The policy may decide later; nothing is answered meanwhile.
        """
        decision = defer.Deferred()
        pair = InMemory(serverTLS=serverPolicy(decision=decision))
        pair.client.startTLS(serverName="beep.example")
        pair.pump.flush()
        self.assertEqual(pair.tlsRoles(), (None, None))
        decision.callback(True)
        pair.pump.flush()
        self.assertEqual(pair.tlsRoles(), ("client", "server"))

    def test_proceedAfterOwedReplies(self):
        """
        ``<proceed />`` waits until every message received before the
        ``<ready />`` is answered (RFC 3080 section 3.1.3.1); that reply
        arrives.
        """
        held = HeldFactory()
        pair = InMemory(serverTLS=serverPolicy(), serverProfiles=[held])
        channel = pair.client.openChannel([HeldFactory.uri])
        pair.pump.flush()
        replying = self.successResultOf(channel).sendMessage(b"owed")
        pair.pump.flush()
        pair.client.startTLS(serverName="beep.example")
        pair.pump.flush()
        self.assertEqual(pair.tlsRoles(), (None, None))
        [(_, answer)] = held.built[0].received
        answer.callback(b"answer")
        pair.pump.flush()
        self.assertEqual(self.successResultOf(replying).body, b"answer")
        self.assertEqual(pair.tlsRoles(), ("client", "server"))

    def test_notOffered(self):
        pair = InMemory()
        securing = pair.client.startTLS(serverName="beep.example")
        self.assertIn(
            "does not offer TLS", str(self.failureResultOf(securing, LocalProtocolError).value)
        )

    def test_alreadyUnderWay(self):
        pair = InMemory(serverTLS=serverPolicy(decision=defer.Deferred()))
        pair.client.startTLS(serverName="beep.example")
        pair.pump.flush()
        self.failureResultOf(pair.client.startTLS(), LocalProtocolError)

    def test_startTLSFails(self):
        """
        If the transport cannot start TLS after all, the session is closed
        with that error.
        """
        pair = InMemory(serverTLS=serverPolicy())

        def startTLS(contextFactory, beNormal=True):
            raise RuntimeError("no TLS today")

        pair.clientTransport.startTLS = startTLS
        securing = pair.client.startTLS(serverName="beep.example")
        pair.pump.flush()
        self.failureResultOf(securing, RuntimeError)
        self.assertEqual(pair.clock.getDelayedCalls(), [])

    def test_noServerName(self):
        """
        With no ``serverName`` and a peer address without a host, there is
        nothing to check the certificate against.
        """
        pair = InMemory(serverTLS=serverPolicy())
        pair.clientTransport.peerAddress = iosim.FakeAddress()
        self.failureResultOf(pair.client.startTLS(), ValueError)

    def test_readyOptions(self):
        """
        ``certificateFor`` may return ready server TLS options, used as they
        are.
        """
        options = ssl.CertificateOptions()
        self.assertIs(TLSPolicy().serverOptions(options), options)

    def test_tlsChannelRefusesOtherMessages(self):
        """
        On a TLS channel, anything but ``<ready />`` is refused with 501; a
        TLS start carrying something else is refused the same way.
        """
        pair = InMemory(serverTLS=serverPolicy())
        opening = pair.client.openChannel([TLS_URI])
        pair.pump.flush()
        replying = self.successResultOf(opening).sendMessage(b"hello")
        pair.pump.flush()
        self.assertEqual(self.failureResultOf(replying, BEEPError).value.code, 501)
        opening = pair.client.openChannel([ProfileElement(TLS_URI, b"hello")])
        pair.pump.flush()
        self.assertEqual(self.failureResultOf(opening, BEEPError).value.code, 501)

    def test_transportWithoutTLS(self):
        """
        Over a transport that cannot start TLS, asking fails at once.
        """
        pair = InMemory(serverTLS=serverPolicy())
        pair.client.transport = StringTransport()
        securing = pair.client.startTLS(serverName="beep.example")
        self.assertIn("cannot start TLS", str(self.failureResultOf(securing).value))

    def test_notAfterSASL(self):
        """
        Once SASL has authenticated a session, TLS may not begin (RFC 3080
        section 4.1): asking fails, and a request is refused with 550.
        """
        pair = InMemory(serverTLS=serverPolicy())
        pair.client.authentication = pair.server.authentication = object()
        self.failureResultOf(pair.client.startTLS(), LocalProtocolError)
        pair.client.authentication = None
        securing = pair.client.startTLS(serverName="beep.example")
        pair.pump.flush()
        self.assertEqual(self.failureResultOf(securing, BEEPError).value.code, 550)

    def test_alreadySecure(self):
        pair = InMemory(serverTLS=serverPolicy())
        pair.client.isSecure = True
        self.failureResultOf(pair.client.startTLS(), LocalProtocolError)


class TimeoutTests(SynchronousTestCase):
    """
    A negotiation that stalls closes the session with :class:`TLSTimeout`
    after its timeout, and says so in the log.
    """

    def setUp(self):
        self.logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def failures(self):
        return [formatEvent(e) for e in self.logged if "TLS negotiation" in e.get("log_format", "")]

    def test_noAnswer(self):
        """
        A peer that never answers ``<ready />``.
        """
        pair = InMemory(serverTLS=serverPolicy(decision=defer.Deferred()))
        closed = pair.client.notifyClose()
        securing = pair.client.startTLS(serverName="beep.example", timeout=10)
        pair.pump.flush()
        pair.clock.advance(9.5)
        self.assertNoResult(securing)
        pair.clock.advance(0.5)
        pair.pump.flush()
        self.assertIn("after 10 seconds", str(self.failureResultOf(securing, TLSTimeout).value))
        self.assertIsInstance(self.successResultOf(closed), TLSTimeout)
        [line] = self.failures()
        self.assertIn("failed: no TLS session after 10 seconds", line)

    def test_crossingRequests(self):
        """
        Both peers ask at once: each may send nothing until its own request
        is answered (RFC 3080 section 3.1.3), so neither answers the other's.
        The timeouts end it; nothing hangs.
        """
        pair = InMemory(serverTLS=serverPolicy(), clientTLS=RecordingPolicy(CLIENT_CERTIFICATE))
        fromClient = pair.client.startTLS(serverName="beep.example", timeout=10)
        fromServer = pair.server.startTLS(serverName="client.example", timeout=10)
        pair.pump.flush()
        self.assertEqual(pair.tlsRoles(), (None, None))
        pair.clock.advance(10)
        pair.pump.flush()
        self.failureResultOf(fromClient, TLSTimeout)
        self.failureResultOf(fromServer, TLSTimeout)

    def test_noHandshake(self):
        """
        A peer that never shakes hands after ``<proceed />``: the listener
        gives up after its policy's timeout.
        """
        pair = InMemory(serverTLS=serverPolicy(timeout=5))
        securing = pair.client.startTLS(serverName="beep.example", timeout=60)
        pair.pump.flush()
        self.assertEqual(pair.tlsRoles(), ("client", "server"))
        closed = pair.server.notifyClose()
        pair.clock.advance(5)
        self.assertTrue(pair.serverTransport.disconnecting)
        pair.pump.flush()
        self.assertIsInstance(self.successResultOf(closed), TLSTimeout)
        self.failureResultOf(securing, iosim.error.ConnectionLost)
        # The initiator's own timer went with its connection.
        self.assertEqual(len(self.failures()), 2)
        self.assertEqual(pair.clock.getDelayedCalls(), [])


# -- Over loopback TCP, with real TLS ------------------------------------------


class RecordingServerFactory(BEEPServerFactory):
    """
    Keeps the sessions it builds.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sessions = []

    def buildProtocol(self, addr):
        session = super().buildProtocol(addr)
        self.sessions.append(session)
        return session


class LoopbackTestCase(TestCase):
    timeout = 30

    def setUp(self):
        self.sessions = []
        self.logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.addCleanup(self.closeAll)

    @defer.inlineCallbacks
    def listen(self, policy, profiles=None, endpoint=None, clock=None, sasl=None):
        """
        Listen on 127.0.0.1 with a BEEP server offering echo (by default).
        """
        if profiles is None:
            profiles = [EchoFactory()]
        self.factory = RecordingServerFactory(profiles, tls=policy, clock=clock, sasl=sasl)
        if endpoint is None:
            endpoint = endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
        self.port = yield endpoint.listen(self.factory)
        self.addCleanup(self.port.stopListening)

    def endpoint(self):
        return endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", self.port.getHost().port)

    @defer.inlineCallbacks
    def connect(self, endpoint=None, **kwargs):
        session = yield connectBEEP(endpoint or self.endpoint(), **kwargs)
        self.sessions.append(session)
        return session

    def server(self):
        [session] = self.factory.sessions
        return session

    def closeAll(self):
        sessions = list(self.sessions) + list(
            getattr(self, "factory", None) and self.factory.sessions or []
        )
        closing = [session.notifyClose() for session in sessions]
        for session in sessions:
            if session.transport is not None:
                session.transport.abortConnection()
        return defer.gatherResults(closing)

    def failureLines(self):
        return [formatEvent(e) for e in self.logged if "TLS negotiation" in e.get("log_format", "")]

    @defer.inlineCallbacks
    def echo(self, session, body=b"hello"):
        channel = yield session.openChannel([ECHO_URI])
        reply = yield channel.sendMessage(body)
        self.assertEqual(reply.body, body)
        return channel


class LoopbackTLSTests(LoopbackTestCase):
    """
    Real TLS over loopback TCP, certificates made for the test.
    """

    @defer.inlineCallbacks
    def test_secured(self):
        """
        The initiator secures the session: both sides are secure, TLS is no
        longer offered, the certificate was checked against ``serverName``
        (also sent as SNI), the policy heard of it, and the new session
        starts over at channel 1.
        """
        policy = serverPolicy()
        yield self.listen(policy)
        client = yield self.connect()
        self.assertEqual(client.peerProfiles, (ECHO_URI, TLS_URI))
        yield self.echo(client)
        secured = yield client.startTLS(serverName="beep.example", trustRoot=AUTHORITY.certificate)
        self.assertIs(secured, client)
        server = self.server()
        self.assertTrue(client.isSecure and server.isSecure)
        self.assertEqual(client.peerProfiles, (ECHO_URI,))
        self.assertEqual(server.peerGreeting, Greeting(()))
        self.assertEqual(client.peerCertificate.subject.rfc4514_string(), "CN=beep.example")
        self.assertIsNone(server.peerCertificate)
        self.assertEqual(policy.secured, [server])
        self.assertEqual(policy.serverNames, [b"beep.example"])
        channel = yield self.echo(client, b"over TLS")
        self.assertEqual(channel.number, 1)
        yield client.close()

    @defer.inlineCallbacks
    def test_violationOverTLS(self):
        """
        A poorly formed frame over TLS terminates the session: the TLS
        connection does close (it waits for its producer, the session, to
        unregister).
        """
        yield self.listen(serverPolicy())
        client = yield self.connect()
        yield client.startTLS(serverName="beep.example", trustRoot=AUTHORITY.certificate)
        closed = client.notifyClose()
        serverClosed = self.server().notifyClose()
        self.server().transport.write(b"NOT A FRAME\r\n")
        self.assertIsInstance((yield closed), RemoteProtocolError)
        yield serverClosed

    @defer.inlineCallbacks
    def test_plainRequest(self):
        """
        ``<ready />`` as a message on a TLS channel works as well.
        """
        yield self.listen(serverPolicy())
        client = yield self.connect()
        yield client.startTLS(
            serverName="beep.example", trustRoot=AUTHORITY.certificate, piggyback=False
        )
        self.assertTrue(client.isSecure)
        yield self.echo(client)

    @defer.inlineCallbacks
    def test_addressAsServerName(self):
        """
        By default the peer's address is checked, and no SNI is sent.
        """
        policy = serverPolicy()
        yield self.listen(policy)
        client = yield self.connect()
        yield client.startTLS(trustRoot=AUTHORITY.certificate)
        self.assertEqual(policy.asked, ["127.0.0.1"])
        self.assertEqual(policy.serverNames, [None])

    @defer.inlineCallbacks
    def test_channelsReset(self):
        """
        The reset closes every channel: its profile hears
        :class:`SessionReset`, and it takes no more messages.
        """
        yield self.listen(serverPolicy())
        client = yield self.connect()
        profile = HeldProfile()
        channel = yield client.openChannel([ECHO_URI], profile=profile)
        yield client.startTLS(serverName="beep.example", trustRoot=AUTHORITY.certificate)
        self.assertFalse(channel.isOpen)
        profile.closedWith.trap(SessionReset)
        yield self.assertFailure(channel.sendMessage(b"late"), SessionReset)
        self.assertEqual(client.channels, {})

    @defer.inlineCallbacks
    def test_startAfterReady(self):
        """
        A channel start asked for after ``<ready />`` waits, and the reset
        fails it.
        """
        yield self.listen(serverPolicy())
        client = yield self.connect()
        securing = client.startTLS(serverName="beep.example", trustRoot=AUTHORITY.certificate)
        opening = client.openChannel([ECHO_URI])
        yield securing
        yield self.assertFailure(opening, SessionReset)

    @defer.inlineCallbacks
    def test_staleReplyDropped(self):
        """
        A reply that the reset outlived goes nowhere, not even to a new
        channel that took the same number.
        """
        yield self.listen(serverPolicy())
        held = HeldFactory()
        client = yield self.connect(profiles=[held])
        server = self.server()
        channel = yield server.openChannel([HeldFactory.uri])
        asked = channel.sendMessage(b"before")
        yield client.startTLS(serverName="beep.example", trustRoot=AUTHORITY.certificate)
        yield self.assertFailure(asked, SessionReset)
        channel = yield server.openChannel([HeldFactory.uri])
        self.assertEqual(channel.number, 2)
        body, stale = yield held.arrivals.get()
        self.assertEqual(body, b"before")
        replying = channel.sendMessage(b"after")
        body, fresh = yield held.arrivals.get()
        self.assertEqual(body, b"after")
        stale.callback(b"stale")
        fresh.callback(b"fresh")
        reply = yield replying
        self.assertEqual(reply.body, b"fresh")

    @defer.inlineCallbacks
    def test_heldMessageDropped(self):
        """
        A message held on a paused channel when the reset comes is dropped:
        resuming the old channel delivers nothing, not even to a new channel
        that took its number.
        """
        yield self.listen(serverPolicy())
        held = HeldFactory()
        client = yield self.connect(profiles=[held])
        server = self.server()
        channel = yield server.openChannel([HeldFactory.uri])
        old = client.channels[channel.number]
        old.pauseProducing()
        server.channels[channel.number].sendMessage(b"before").addErrback(lambda _: None)
        yield self.echo(client)  # the message above has arrived, and waits
        yield client.startTLS(serverName="beep.example", trustRoot=AUTHORITY.certificate)
        channel = yield server.openChannel([HeldFactory.uri])
        self.assertEqual(channel.number, old.number)
        replying = channel.sendMessage(b"after")
        old.resumeProducing()
        body, answer = yield held.arrivals.get()
        self.assertEqual(body, b"after")
        answer.callback(b"fresh")
        self.assertEqual((yield replying).body, b"fresh")
        self.assertEqual(len(held.built), 2)
        self.assertEqual(held.built[0].received, [])

    @defer.inlineCallbacks
    def test_wrongName(self):
        """
        A certificate for another name fails the negotiation with
        ``service_identity``'s error, closes the session and logs why.
        """
        yield self.listen(serverPolicy())
        client = yield self.connect()
        closed = client.notifyClose()
        securing = client.startTLS(serverName="other.example", trustRoot=AUTHORITY.certificate)
        yield self.assertFailure(securing, VerificationError)
        yield closed
        self.assertTrue(any("other.example" in line for line in self.failureLines()))

    @defer.inlineCallbacks
    def test_untrustedAuthority(self):
        """
        A certificate from an authority not trusted fails the handshake; the
        server logs the failure too.
        """
        yield self.listen(serverPolicy())
        client = yield self.connect()
        serverClosed = self.server().notifyClose()
        securing = client.startTLS(
            serverName="beep.example", trustRoot=CertificateAuthority().certificate
        )
        yield self.assertFailure(securing, SSL.Error)
        yield serverClosed
        self.assertEqual(len(self.failureLines()), 2)

    @defer.inlineCallbacks
    def test_verifyOff(self):
        """
        ``verify=False`` takes any certificate, only when asked to.
        """
        yield self.listen(RecordingPolicy(AUTHORITY.issue("anything.example")))
        client = yield self.connect()
        yield client.startTLS(serverName="beep.example", verify=False)
        self.assertTrue(client.isSecure)

    @defer.inlineCallbacks
    def test_clientCertificate(self):
        """
        A client certificate is checked and handed to the application.
        """
        yield self.listen(serverPolicy(clientTrustRoot=AUTHORITY.certificate))
        client = yield self.connect()
        yield client.startTLS(
            serverName="beep.example",
            trustRoot=AUTHORITY.certificate,
            clientCertificate=CLIENT_CERTIFICATE,
        )
        yield self.echo(client)
        subject = self.server().peerCertificate.subject.rfc4514_string()
        self.assertEqual(subject, "CN=client.example")

    @defer.inlineCallbacks
    def test_clientCertificateRequired(self):
        """
        With a client trust root, a client without a certificate is turned
        away.
        """
        yield self.listen(serverPolicy(clientTrustRoot=AUTHORITY.certificate))
        client = yield self.connect()
        securing = client.startTLS(serverName="beep.example", trustRoot=AUTHORITY.certificate)
        failure = yield self.assertFailure(securing, SSL.Error)
        self.assertIn("certificate required", str(failure))
        self.assertFalse(self.server().isSecure)

    @defer.inlineCallbacks
    def test_deniedByServerName(self):
        """
        The accept hook sees the ``serverName``; a denial is a 421 and the
        session goes on in the clear.
        """

        class Policy(TLSPolicy):
            def acceptTLS(self, session, serverName):
                return serverName != "forbidden.example"

        yield self.listen(Policy(SERVER_CERTIFICATE))
        client = yield self.connect()
        failure = yield self.assertFailure(
            client.startTLS(serverName="forbidden.example"), BEEPError
        )
        self.assertEqual(failure.code, 421)
        self.assertFalse(client.isSecure)
        yield self.echo(client)

    @defer.inlineCallbacks
    def test_certificateByServerName(self):
        """
        Virtual hosting: each ``serverName`` gets its own certificate (each
        valid for its name only).
        """
        names = ["a.example", "b.example"]
        policy = TLSPolicy(certificates={name: AUTHORITY.issue(name) for name in names})
        yield self.listen(policy)
        for name in names:
            client = yield self.connect()
            yield client.startTLS(serverName=name, trustRoot=AUTHORITY.certificate)
            self.assertEqual(client.peerCertificate.subject.rfc4514_string(), f"CN={name}")
        client = yield self.connect()
        failure = yield self.assertFailure(client.startTLS(serverName="c.example"), BEEPError)
        self.assertEqual(failure.code, 550)

    @defer.inlineCallbacks
    def test_requireTLS(self):
        """
        Requiring TLS: only TLS is offered until the session is secured,
        then the profiles are.
        """
        yield self.listen(serverPolicy(requireTLS=True))
        client = yield self.connect()
        self.assertEqual(client.peerProfiles, (TLS_URI,))
        yield client.startTLS(serverName="beep.example", trustRoot=AUTHORITY.certificate)
        self.assertEqual(client.peerProfiles, (ECHO_URI,))
        yield self.echo(client)

    @defer.inlineCallbacks
    def test_saslAfterTLS(self):
        """
        With SASL, PLAIN (which needs encryption) is offered once the TLS
        profile has secured the session, and works; the profiles that need
        authentication start after it.
        """
        checker = InMemoryUsernamePasswordDatabaseDontUse()
        checker.addUser(b"bob", b"secret")
        sasl = SASLPolicy(Portal(AvatarIdRealm(), [checker]), requireAuthentication=[ECHO_URI])
        yield self.listen(serverPolicy(), sasl=sasl)
        client = yield self.connect()
        plain = mechanismURI("PLAIN")
        self.assertNotIn(plain, client.peerProfiles)
        self.assertIn(TLS_URI, client.peerProfiles)
        yield client.startTLS(serverName="beep.example", trustRoot=AUTHORITY.certificate)
        self.assertIn(plain, client.peerProfiles)
        self.assertNotIn(TLS_URI, client.peerProfiles)
        yield client.authenticate("PLAIN", username="bob", password="secret")
        yield self.echo(client)
        self.assertEqual(self.server().authenticatedId, "bob")

    @defer.inlineCallbacks
    def test_externalAfterTLS(self):
        """
        The client certificate checked in the TLS handshake is what SASL
        EXTERNAL authenticates.
        """
        sasl = SASLPolicy(Portal(AvatarIdRealm(), [ClientCertificateChecker()]))
        yield self.listen(serverPolicy(clientTrustRoot=AUTHORITY.certificate), sasl=sasl)
        client = yield self.connect()
        self.assertNotIn(mechanismURI("EXTERNAL"), client.peerProfiles)
        yield client.startTLS(
            serverName="beep.example",
            trustRoot=AUTHORITY.certificate,
            clientCertificate=CLIENT_CERTIFICATE,
        )
        result = yield client.authenticate("EXTERNAL")
        self.assertEqual(result.mechanism, "EXTERNAL")
        self.assertEqual(self.server().authenticatedId, "client.example")

    @defer.inlineCallbacks
    def test_listenerAsks(self):
        """
        The listener may secure the session: it is then the TLS client, and
        the initiator presents the certificate its policy chose.
        """
        yield self.listen(None)
        clientPolicy = RecordingPolicy(CLIENT_CERTIFICATE)
        client = yield self.connect(tls=clientPolicy)
        server = self.server()
        yield server.startTLS(serverName="client.example", trustRoot=AUTHORITY.certificate)
        self.assertEqual(server.peerCertificate.subject.rfc4514_string(), "CN=client.example")
        self.assertEqual(clientPolicy.secured, [client])
        yield client.whenGreeted()
        self.assertEqual(client.peerProfiles, (ECHO_URI,))
        yield self.echo(client)

    @defer.inlineCallbacks
    def test_connectAndSecure(self):
        """
        ``connectBEEP(startTLS=...)`` hands over a secured session.
        """
        yield self.listen(serverPolicy())
        request = TLSRequest(serverName="beep.example", trustRoot=AUTHORITY.certificate)
        client = yield self.connect(startTLS=request)
        self.assertTrue(client.isSecure)
        yield self.echo(client)

    @defer.inlineCallbacks
    def test_connectAndSecureRefused(self):
        """
        If TLS cannot be had, ``connectBEEP`` fails and closes the connection.
        """
        yield self.listen(serverPolicy(decision=False))
        yield self.assertFailure(
            connectBEEP(self.endpoint(), startTLS=TLSRequest(serverName="beep.example")), BEEPError
        )
        server = self.server()
        yield server.notifyClose()

    @defer.inlineCallbacks
    def test_tlsFromTheFirstByte(self):
        """
        Over a TLS endpoint the session is secure from the start: TLS is not
        offered, the policy hears of it, and asking again fails.
        """
        policy = serverPolicy()
        endpoint = endpoints.SSL4ServerEndpoint(
            reactor, 0, SERVER_CERTIFICATE.options(), interface="127.0.0.1"
        )
        yield self.listen(policy, endpoint=endpoint)
        tlsEndpoint = endpoints.wrapClientTLS(
            ssl.optionsForClientTLS("beep.example", AUTHORITY.certificate), self.endpoint()
        )
        client = yield self.connect(tlsEndpoint)
        self.assertTrue(client.isSecure)
        self.assertEqual(client.peerProfiles, (ECHO_URI,))
        yield self.echo(client)
        self.assertEqual(policy.secured, [self.server()])
        self.assertEqual(client.peerCertificate.subject.rfc4514_string(), "CN=beep.example")
        yield self.assertFailure(client.startTLS(), LocalProtocolError)


class ScriptedListener(Protocol):
    """
    A listener that greets offering TLS, then says only what the test
    scripts: for peers that misbehave.

    :ivar received: every octet received.
    """

    def __init__(self):
        self.received = b""
        self.waiting = []
        self.lost = defer.Deferred()

    def connectionMade(self):
        self.transport.write(self.frame(0, Greeting((TLS_URI,))))

    def frame(self, msgno, element, seqno=0):
        payload = MIMEMessage(encodeManagement(element), contentType=BEEP_XML).toPayload()
        return encodeFrame(DataFrame(FrameType.RPY, 0, msgno, False, seqno, payload))

    def proceed(self):
        """
        The ``<proceed />`` answering the initiator's first start.
        """
        greeting = MIMEMessage(encodeManagement(Greeting((TLS_URI,))), contentType=BEEP_XML)
        seqno = len(greeting.toPayload())
        return self.frame(1, ProfileElement(TLS_URI, b"<proceed />"), seqno)

    def dataReceived(self, data):
        self.received += data
        for marker, waiter in list(self.waiting):
            if marker in self.received:
                self.waiting.remove((marker, waiter))
                waiter.callback(None)

    def whenReceived(self, marker):
        waiter = defer.Deferred()
        self.waiting.append((marker, waiter))
        self.dataReceived(b"")
        return waiter

    def connectionLost(self, reason):
        self.lost.callback(None)


class MisbehavingPeerTests(LoopbackTestCase):
    """
    Peers that stall or cheat, over loopback TCP; time is a ``Clock``.
    """

    @defer.inlineCallbacks
    def listenScripted(self):
        self.listener = ScriptedListener()
        factory = Factory.forProtocol(lambda: self.listener)
        self.port = yield endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            factory
        )
        self.addCleanup(self.port.stopListening)
        self.addCleanup(lambda: self.listener.lost)
        self.clock = Clock()
        self.client = yield self.connect(clock=self.clock)
        self.closed = self.client.notifyClose()

    @defer.inlineCallbacks
    def test_noAnswer(self):
        """
        ``<ready />`` never answered: :class:`TLSTimeout` after the timeout,
        the connection closed, a log line.
        """
        yield self.listenScripted()
        securing = self.client.startTLS(serverName="beep.example", timeout=7)
        yield self.listener.whenReceived(b"<ready />")
        self.clock.advance(7)
        yield self.assertFailure(securing, TLSTimeout)
        self.assertIsInstance((yield self.closed), TLSTimeout)
        self.assertEqual(len(self.failureLines()), 1)

    @defer.inlineCallbacks
    def test_noHandshake(self):
        """
        ``<proceed />``, then nothing: the handshake times out.
        """
        yield self.listenScripted()
        securing = self.client.startTLS(serverName="beep.example", timeout=7)
        yield self.listener.whenReceived(b"<ready />")
        self.listener.transport.write(self.listener.proceed())
        yield self.listener.whenReceived(b"\x16\x03")  # the ClientHello
        self.clock.advance(7)
        yield self.assertFailure(securing, TLSTimeout)

    @defer.inlineCallbacks
    def test_handshakeFailure(self):
        """
        ``<proceed />``, then no TLS: the handshake fails at once.
        """
        yield self.listenScripted()
        securing = self.client.startTLS(serverName="beep.example")
        yield self.listener.whenReceived(b"<ready />")
        self.listener.transport.write(self.listener.proceed())
        yield self.listener.whenReceived(b"\x16\x03")
        self.listener.transport.write(b"RPY 0 0 . 0 0\r\nEND\r\n" * 20)
        yield self.assertFailure(securing, SSL.Error)
        yield self.closed
        self.assertEqual(len(self.failureLines()), 1)

    @defer.inlineCallbacks
    def test_clearTextAfterProceed(self):
        """
        A frame sent in the clear right after ``<proceed />`` terminates the
        session before any handshake.
        """
        yield self.listenScripted()
        securing = self.client.startTLS(serverName="beep.example")
        yield self.listener.whenReceived(b"<ready />")
        sneaky = encodeFrame(DataFrame(FrameType.MSG, 0, 7, False, 0, b"x"))
        self.listener.transport.write(self.listener.proceed() + sneaky)
        yield self.assertFailure(securing, RemoteProtocolError)
        yield self.listener.lost
        self.assertNotIn(b"\x16\x03", self.listener.received)
