# -*- test-case-name: beepy.test.test_session_tls -*-
"""
Tests for the TLS section of :mod:`beepy.core.session`: the ``<ready />`` /
``<proceed />`` exchange of RFC 3080 section 3.1, the silence it imposes on
both peers, and the tuning reset.  No TLS here: the core only says when the
transport must negotiate it.
"""

from beepy.core.codec import encodeFrame
from beepy.core.codes import ReplyCode
from beepy.core.errors import BEEPError, LocalProtocolError
from beepy.core.events import (
    ChannelStartRequested,
    GreetingReceived,
    MessageReceived,
    TLSAccepted,
    TLSRefused,
    TLSRequested,
)
from beepy.core.frames import DataFrame, FrameType
from beepy.core.management import (
    BEEP_XML,
    TLS_URI,
    Greeting,
    ProfileElement,
    Start,
    encodeManagement,
    parseManagement,
)
from beepy.core.mime import Message
from beepy.core.session import Role, Session
from beepy.test.test_session import (
    OTHER,
    URI,
    ScriptedPeer,
    SessionPair,
    SessionTestCase,
    dataFramesOn,
    decodeFrames,
    seqFramesOn,
)

MSG, RPY, ERR = FrameType.MSG, FrameType.RPY, FrameType.ERR
INITIATOR, LISTENER = Role.INITIATOR, Role.LISTENER


def tlsPair(**arguments):
    """
    Two greeted sessions that both offer :data:`URI` and TLS.
    """
    return SessionPair(
        initiatorProfiles=(URI, TLS_URI), listenerProfiles=(URI, TLS_URI), **arguments
    )


def body(frame):
    return Message.fromPayload(frame.payload).body


class PiggybackedTests(SessionTestCase):
    """
    ``<ready />`` piggybacked on the ``<start>`` of the TLS profile, as
    Vortex and beepcore send it.
    """

    def test_proceed(self):
        """
        The requester's ``<start>`` carries exactly ``<ready />`` and its
        ``serverName``; the other side is told with :class:`TLSRequested`,
        and its ``<proceed />`` is reported as :class:`TLSAccepted`.  Then
        both must negotiate TLS.
        """
        pair = tlsPair()
        number = pair.initiator.requestTLS(serverName="beep.example")
        requested = pair.pump()
        self.assertEqual(requested.listener, [TLSRequested(number, "beep.example")])
        [start] = dataFramesOn(pair.framesSentBy(pair.initiator), 0)[1:]
        self.assertIn(b"<![CDATA[<ready />]]>", start.payload)
        self.assertEqual(
            parseManagement(body(start)),
            Start(number, (ProfileElement(TLS_URI, b"<ready />"),), "beep.example"),
        )
        self.assertFalse(pair.listener.tlsProceeding)

        pair.listener.acceptTLS()
        accepted = pair.pump()
        self.assertEqual(accepted.initiator, [TLSAccepted()])
        [reply] = dataFramesOn(pair.framesSentBy(pair.listener), 0)[1:]
        self.assertEqual(reply.type, RPY)
        self.assertIn(b"<![CDATA[<proceed />]]>", reply.payload)
        self.assertTrue(pair.initiator.tlsProceeding)
        self.assertTrue(pair.listener.tlsProceeding)

    def test_refusedWithErr(self):
        """
        A refusal leaves as an ``ERR`` with the error, reported as
        :class:`TLSRefused`; no channel is left open and the session goes
        on.
        """
        pair = tlsPair()
        pair.initiator.requestTLS()
        pair.pump()
        refusal = BEEPError(ReplyCode.SERVICE_NOT_AVAILABLE, "not today")
        pair.listener.refuseTLS(refusal)
        refused = pair.pump()
        self.assertEqual(refused.initiator, [TLSRefused(refusal)])
        self.assertEqual(dataFramesOn(pair.framesSentBy(pair.listener), 0)[-1].type, ERR)
        self.assertEqual(pair.initiator.channels, {0})
        self.assertFalse(pair.initiator.tlsProceeding)
        self.assertEqual(pair.openChannel(), 3)

    def test_refusedInPositiveReply(self):
        """
        Vortex refuses inside a positive reply, which opens the TLS channel:
        the refusal is reported, and the requester closes that channel.
        """
        peer = ScriptedPeer(role=INITIATOR)
        number = peer.session.requestTLS()
        peer.read()
        refusal = BEEPError(421, "rejected")
        events = peer.deliver(
            peer.management(RPY, 1, ProfileElement(TLS_URI, encodeManagement(refusal)))
        )
        self.assertEqual(events, [TLSRefused(refusal)])
        [close] = dataFramesOn(peer.read(), 0)
        self.assertIn(b"<close number='%d'" % number, close.payload)

    def test_positiveReplyWithoutAnswer(self):
        """
        A positive reply carrying neither ``<proceed />`` nor ``<error>`` is
        a refusal too (500), not an invitation to negotiate.
        """
        peer = ScriptedPeer(role=INITIATOR)
        peer.session.requestTLS()
        peer.read()
        [event] = peer.deliver(peer.management(RPY, 1, ProfileElement(TLS_URI)))
        self.assertIsInstance(event, TLSRefused)
        self.assertEqual(event.error.code, ReplyCode.GENERAL_SYNTAX_ERROR)
        self.assertFalse(peer.session.tlsProceeding)

    def test_unparseableReply(self):
        peer = ScriptedPeer(role=INITIATOR)
        peer.session.requestTLS()
        peer.read()
        payload = Message(b"<profile", contentType=BEEP_XML).toPayload()
        events = peer.deliver(peer.frame(RPY, 0, 1, payload))
        self.assertViolated(peer, events, "unparseable reply")

    def test_replyForAnotherProfile(self):
        """
        Answering a TLS start with another profile's ``<profile>`` is a
        poorly formed reply.
        """
        peer = ScriptedPeer(role=INITIATOR)
        peer.session.requestTLS()
        peer.read()
        events = peer.deliver(peer.management(RPY, 1, ProfileElement(URI)))
        self.assertViolated(peer, events, "not a TLS <profile>")

    def test_lenientReady(self):
        """
        ``<ready />`` is recognised however the peer writes it: with a
        ``version``, without the space, surrounded by white space.
        """
        for content in [
            b"<ready/>",
            b"<ready version='1' />",
            b'<ready version="1"></ready>',
            b"\r\n  <ready />\r\n",
        ]:
            peer = ScriptedPeer(profiles=(URI, TLS_URI))
            events = peer.deliver(peer.request(Start(1, (ProfileElement(TLS_URI, content),))))
            self.assertEqual(events, [TLSRequested(1, None)], content)

    def test_lenientProceed(self):
        """
        So is ``<proceed />``.
        """
        for content in [b"<proceed/>", b" <proceed></proceed>\r\n"]:
            peer = ScriptedPeer(role=INITIATOR)
            peer.session.requestTLS()
            peer.read()
            events = peer.deliver(peer.management(RPY, 1, ProfileElement(TLS_URI, content)))
            self.assertEqual(events, [TLSAccepted()], content)

    def test_otherContentIsAStart(self):
        """
        A TLS start without ``<ready />`` (empty, or some other content) is
        an ordinary start, for the TLS profile to answer.
        """
        for content in [None, b"<proceed />", b"hello"]:
            peer = ScriptedPeer(profiles=(URI, TLS_URI))
            candidate = ProfileElement(TLS_URI, content)
            events = peer.deliver(peer.request(Start(1, (candidate,))))
            self.assertEqual(events, [ChannelStartRequested(1, (candidate,))], content)

    def test_notOffered(self):
        """
        ``<ready />`` for a TLS profile we do not offer (or no longer offer,
        once secured) is refused with 550 like any start.
        """
        pair = SessionPair()
        pair.initiator.requestTLS()
        pumped = pair.pump()
        self.assertEqual(pumped.listener, [])
        [event] = pumped.initiator
        self.assertIsInstance(event, TLSRefused)
        self.assertEqual(event.error.code, ReplyCode.REQUESTED_ACTION_NOT_TAKEN)

    def test_listenerAsks(self):
        """
        The listener may ask too; the initiator then answers.
        """
        pair = tlsPair()
        number = pair.listener.requestTLS()
        self.assertEqual(number, 2)
        self.assertEqual(pair.pump().initiator, [TLSRequested(2, None)])
        pair.initiator.acceptTLS()
        self.assertEqual(pair.pump().listener, [TLSAccepted()])


class PlainRequestTests(SessionTestCase):
    """
    ``<ready />`` as a ``MSG`` on a channel already running the TLS profile.
    """

    def test_proceed(self):
        pair = tlsPair()
        number = pair.openChannel(TLS_URI)
        self.assertEqual(pair.initiator.requestTLS(number=number), number)
        self.assertEqual(pair.pump().listener, [TLSRequested(number, None)])
        [ready] = dataFramesOn(pair.framesSentBy(pair.initiator), number)
        self.assertEqual((ready.type, body(ready)), (MSG, b"<ready />"))
        pair.listener.acceptTLS()
        self.assertEqual(pair.pump().initiator, [TLSAccepted()])
        [proceed] = dataFramesOn(pair.framesSentBy(pair.listener), number)
        self.assertEqual((proceed.type, body(proceed)), (RPY, b"<proceed />"))
        self.assertEqual(Message.fromPayload(proceed.payload).contentType, BEEP_XML)
        self.assertTrue(pair.initiator.tlsProceeding and pair.listener.tlsProceeding)

    def test_refused(self):
        """
        The refusal is an ``ERR`` on the channel; the channel stays open.
        """
        pair = tlsPair()
        number = pair.openChannel(TLS_URI)
        pair.initiator.requestTLS(number=number)
        pair.pump()
        pair.listener.refuseTLS(BEEPError(ReplyCode.REQUESTED_ACTION_NOT_TAKEN, "no"))
        self.assertEqual(pair.pump().initiator, [TLSRefused(BEEPError(550, "no"))])
        self.assertIn(number, pair.initiator.channels)

    def test_errorInReply(self):
        """
        An ``<error>`` in an ``RPY`` is a refusal too.
        """
        peer = ScriptedPeer(role=INITIATOR, profiles=(TLS_URI,))
        number = peer.session.startChannel([TLS_URI])
        peer.read()
        peer.deliver(peer.management(RPY, 1, ProfileElement(TLS_URI)))
        peer.session.requestTLS(number=number)
        peer.read()
        payload = Message(b"<error code='421'>busy</error>", contentType=BEEP_XML).toPayload()
        events = peer.deliver(peer.frame(RPY, number, 0, payload))
        self.assertEqual(events, [TLSRefused(BEEPError(421, "busy"))])

    def test_otherMessagesAreMessages(self):
        """
        Anything but ``<ready />`` on a TLS channel goes to the application
        (the TLS profile refuses it).
        """
        pair = tlsPair()
        number = pair.openChannel(TLS_URI)
        pair.initiator.sendMessage(number, Message(b"<proceed />", contentType=BEEP_XML))
        [event] = pair.pump().listener
        self.assertIsInstance(event, MessageReceived)

    def test_readyElsewhereIsAMessage(self):
        """
        ``<ready />`` on a channel of another profile is just a message.
        """
        pair = tlsPair()
        number = pair.openChannel(URI)
        pair.initiator.sendMessage(number, Message(b"<ready />", contentType=BEEP_XML))
        [event] = pair.pump().listener
        self.assertIsInstance(event, MessageReceived)

    def test_notATLSChannel(self):
        pair = tlsPair()
        number = pair.openChannel(URI)
        self.assertRaises(LocalProtocolError, pair.initiator.requestTLS, number=number)


class HoldTests(SessionTestCase):
    """
    RFC 3080 section 3.1.3: after ``<ready />`` the requester sends nothing
    until the answer; after ``<proceed />`` neither peer sends anything.
    """

    def test_requesterHolds(self):
        """
        What the requester queues after its ``<ready />`` (messages, the SEQ
        that what it reads calls for) waits; if TLS is refused it leaves, in
        order.
        """
        pair = tlsPair()
        number = pair.openChannel()
        pair.listener.sendMessage(number, b"x" * 3000)
        crossing = pair.listener.dataToSend()
        pair.initiator.requestTLS()
        ready = pair.initiator.dataToSend()
        pair.initiator.sendMessage(number, b"first")
        pair.initiator.sendMessage(number, b"second")
        self.assertEqual([type(e) for e in pair.initiator.receiveData(crossing)], [MessageReceived])
        self.assertEqual(pair.initiator.dataToSend(), b"")
        self.assertEqual(pair.listener.receiveData(ready), [TLSRequested(3, None)])
        pair.listener.refuseTLS(BEEPError(421, "no"))
        pumped = pair.pump()
        self.assertEqual(pumped.initiator, [TLSRefused(BEEPError(421, "no"))])
        self.assertEqual(
            [e.message.body for e in pumped.listener if isinstance(e, MessageReceived)],
            [b"first", b"second"],
        )
        self.assertTrue(seqFramesOn(pair.framesSentBy(pair.initiator), number))

    def test_readyLastOfItsBatch(self):
        """
        Frames queued before the ``<ready />`` may leave with it, but never
        after it.
        """
        pair = tlsPair()
        number = pair.openChannel()
        pair.initiator.sendMessage(number, b"before")
        pair.initiator.requestTLS()
        frames = decodeFrames(pair.initiator.dataToSend())
        self.assertEqual(frames[-1].channel, 0)
        self.assertIn(b"<ready />", frames[-1].payload)

    def test_nothingAfterProceed(self):
        """
        The listener may send what it owes before ``<proceed />`` (RFC 3080
        section 3.1.3.1), but nothing after it: not its pending replies, not
        a SEQ, not its own messages.
        """
        pair = tlsPair()
        number = pair.openChannel()
        pair.initiator.sendMessage(number, b"owed")
        pair.pump()
        pair.initiator.requestTLS()
        pair.pump()
        pair.listener.acceptTLS()
        sent = decodeFrames(pair.listener.dataToSend())
        self.assertEqual(len(sent), 1)
        self.assertIn(b"<proceed />", sent[0].payload)
        pair.listener.sendReply(number, 0, Message(b"late"))
        pair.listener.sendMessage(number, b"mine")
        self.assertEqual(pair.listener.dataToSend(), b"")

    def test_repliesBeforeProceed(self):
        """
        A reply the listener owed and sends before answering ``<ready />``
        leaves before the ``<proceed />`` (RFC 3080 section 3.1.3.1); a
        reply generated after it never leaves.
        """
        pair = tlsPair()
        number = pair.openChannel()
        pair.initiator.sendMessage(number, b"owed")
        pair.initiator.sendMessage(number, b"too late")
        pair.pump()
        pair.initiator.requestTLS()
        pair.pump()
        pair.listener.sendReply(number, 0, Message(b"answer"))
        sent = decodeFrames(pair.listener.dataToSend())
        pair.listener.acceptTLS()
        sent += decodeFrames(pair.listener.dataToSend())
        pair.listener.sendReply(number, 1, Message(b"answer"))
        sent += decodeFrames(pair.listener.dataToSend())
        self.assertEqual(
            [(f.channel, f.type, f.msgno) for f in sent if isinstance(f, DataFrame)],
            [(number, RPY, 0), (0, RPY, 2)],
        )

    def test_proceedBehindEarlierReply(self):
        """
        ``<proceed />`` answers its ``MSG`` in order on channel 0: while an
        earlier start awaits its answer, the negotiation has not begun.
        """
        peer = ScriptedPeer(profiles=(URI, TLS_URI))
        events = peer.deliver(
            peer.request(Start(1, (ProfileElement(URI),))),
            peer.request(Start(3, (ProfileElement(TLS_URI, b"<ready />"),))),
        )
        self.assertEqual([type(e) for e in events], [ChannelStartRequested, TLSRequested])
        peer.session.acceptTLS()
        self.assertEqual(peer.read(), [])
        self.assertFalse(peer.session.tlsProceeding)
        peer.session.acceptStart(1, URI)
        replies = [body(f) for f in dataFramesOn(peer.read(), 0)]
        self.assertEqual(len(replies), 2)
        self.assertIn(b"<proceed />", replies[1])
        self.assertTrue(peer.session.tlsProceeding)


class SilenceTests(SessionTestCase):
    """
    Octets in the clear where the RFC allows none terminate the session,
    unread.
    """

    def readyFrom(self, peer):
        return peer.request(Start(1, (ProfileElement(TLS_URI, b"<ready />"),)))

    def test_frameAfterReady(self):
        """
        A frame after ``<ready />``, in the same read, before we answer.
        """
        peer = ScriptedPeer(profiles=(URI, TLS_URI))
        events = peer.deliver(self.readyFrom(peer), peer.request(Start(3, (ProfileElement(URI),))))
        self.assertViolated(peer, events, "after its <ready />", before=[TLSRequested])

    def test_partialFrameAfterReady(self):
        """
        Even a few octets that make no frame yet.
        """
        peer = ScriptedPeer(profiles=(URI, TLS_URI))
        events = peer.deliver(self.readyFrom(peer), b"MS")
        self.assertViolated(peer, events, "after its <ready />", before=[TLSRequested])

    def test_laterReadAfterReady(self):
        """
        Or in a later read, while the answer is still being decided.
        """
        peer = ScriptedPeer(profiles=(URI, TLS_URI))
        peer.deliver(self.readyFrom(peer))
        events = peer.deliver(b"SEQ 0 0 4096\r\n")
        self.assertViolated(peer, events, "after its <ready />")

    def test_afterOurProceed(self):
        peer = ScriptedPeer(profiles=(URI, TLS_URI))
        peer.deliver(self.readyFrom(peer))
        peer.session.acceptTLS()
        peer.read()
        events = peer.deliver(b"\x16\x03\x01\x00")
        self.assertViolated(peer, events, "after <proceed />")

    def test_afterTheirProceed(self):
        """
        The requester reads nothing after the ``<proceed />`` in the clear.
        """
        peer = ScriptedPeer(role=INITIATOR)
        peer.session.requestTLS()
        peer.read()
        proceed = peer.management(RPY, 1, ProfileElement(TLS_URI, b"<proceed />"))
        events = peer.deliver(proceed, peer.request(Start(2, (ProfileElement(URI),))))
        self.assertViolated(peer, events, "after <proceed />", before=[TLSAccepted])

    def test_speakAfterRefusal(self):
        """
        Once our refusal has left, the peer may speak again, even with the
        message number of its ``<ready />``.
        """
        peer = ScriptedPeer(profiles=(URI, TLS_URI))
        peer.deliver(peer.management(MSG, 1, Start(1, (ProfileElement(TLS_URI, b"<ready />"),))))
        peer.session.refuseTLS(BEEPError(421, "no"))
        peer.read()
        events = peer.deliver(peer.management(MSG, 1, Start(1, (ProfileElement(URI),))))
        self.assertEqual([type(e) for e in events], [ChannelStartRequested])

    def test_requesterMayReceive(self):
        """
        Until the answer, the requester still reads what the peer sent
        before it saw the ``<ready />``.
        """
        pair = tlsPair()
        number = pair.openChannel()
        pair.listener.sendMessage(number, b"crossing")
        pair.initiator.requestTLS()
        pair.initiator.dataToSend()
        events = pair.initiator.receiveData(pair.listener.dataToSend())
        self.assertEqual([type(e) for e in events], [MessageReceived])


class ResetTests(SessionTestCase):
    """
    The tuning reset: a new session on the same connection.
    """

    def negotiated(self):
        pair = tlsPair()
        number = pair.openChannel()
        pair.initiator.sendMessage(number, b"lost")
        pair.pump()
        pair.initiator.requestTLS()
        pair.pump()
        pair.listener.acceptTLS()
        pair.pump()
        return pair

    def test_newGreetings(self):
        """
        After the reset both sides greet again from scratch (``RPY 0 0 . 0``),
        by default without the TLS profile, and each reads the other's new
        greeting; every channel is gone.
        """
        pair = self.negotiated()
        for session in (pair.initiator, pair.listener):
            session.reset()
            self.assertEqual(session.dataToSend(), b"")
            session.greet()
            self.assertIsNone(session.peerGreeting)
            self.assertEqual(session.channels, {0})
            self.assertFalse(session.tlsProceeding)
        greetings = {
            s: dataFramesOn(decodeFrames(s.dataToSend()), 0) for s in (pair.initiator, pair.listener)
        }
        for session, [greeting] in greetings.items():
            self.assertEqual((greeting.type, greeting.msgno, greeting.seqno), (RPY, 0, 0))
            self.assertEqual(parseManagement(body(greeting)), Greeting((URI,)))
            events = pair.peerOf(session).receiveData(encodeFrame(greeting))
            self.assertEqual(events, [GreetingReceived(Greeting((URI,)))])

    def test_startOver(self):
        """
        Reset sessions talk as new ones, with the profiles given: channel
        numbers, message numbers and sequence numbers start again.
        """
        pair = self.negotiated()
        pair.initiator.reset([URI])
        pair.listener.reset([URI, OTHER])
        pair.initiator.greet()
        pair.listener.greet()
        pair.sent = {pair.initiator: bytearray(), pair.listener: bytearray()}
        pumped = pair.pump()
        self.assertEqual(pumped.initiator, [GreetingReceived(Greeting((URI, OTHER)))])
        self.assertEqual(pumped.listener, [GreetingReceived(Greeting((URI,)))])
        self.assertEqual(pair.openChannel(), 1)
        greeting, start = dataFramesOn(pair.framesSentBy(pair.initiator), 0)
        self.assertEqual((start.type, start.msgno), (MSG, 1))
        self.assertEqual(start.seqno, len(greeting.payload))

    def test_onlyAfterProceed(self):
        pair = tlsPair()
        self.assertRaises(LocalProtocolError, pair.initiator.reset)
        pair.initiator.requestTLS()
        pair.pump()
        self.assertRaises(LocalProtocolError, pair.initiator.reset)


class CommandErrorTests(SessionTestCase):
    def test_secondRequest(self):
        pair = tlsPair()
        pair.initiator.requestTLS()
        self.assertRaises(LocalProtocolError, pair.initiator.requestTLS)

    def test_whilePeerAsks(self):
        """
        Asking while the peer's request awaits our answer would only cross
        it: answer first.
        """
        pair = tlsPair()
        pair.initiator.requestTLS()
        pair.pump()
        self.assertRaises(LocalProtocolError, pair.listener.requestTLS)

    def test_beforeGreeting(self):
        session = Session(INITIATOR, (URI,))
        self.assertRaises(LocalProtocolError, session.requestTLS)

    def test_answerWithoutRequest(self):
        pair = tlsPair()
        self.assertRaises(LocalProtocolError, pair.listener.acceptTLS)
        self.assertRaises(LocalProtocolError, pair.listener.refuseTLS, BEEPError(421))

    def test_answerTwice(self):
        pair = tlsPair()
        pair.initiator.requestTLS()
        pair.pump()
        pair.listener.acceptTLS()
        self.assertRaises(LocalProtocolError, pair.listener.refuseTLS, BEEPError(421))

    def test_offerProfiles(self):
        """
        The profiles offered can change until the greeting is queued.
        """
        session = Session(LISTENER, (URI, TLS_URI))
        session.offerProfiles([TLS_URI])
        session.greet()
        self.assertRaises(LocalProtocolError, session.offerProfiles, [URI])
        [greeting] = dataFramesOn(decodeFrames(session.dataToSend()), 0)
        self.assertEqual(parseManagement(body(greeting)), Greeting((TLS_URI,)))
