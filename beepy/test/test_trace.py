"""
Tests for :mod:`beepy.trace`: frames decoded from a session's octets, both
ways, across a TLS tuning reset.
"""

from twisted.internet import defer, endpoints, reactor
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from beepy import BEEPClientFactory, BEEPServerFactory, Message, TLSPolicy, connectBEEP
from beepy.core.codec import encodeFrame
from beepy.core.frames import DataFrame, FrameType, SeqFrame
from beepy.profiles.echo import ECHO_URI, EchoFactory
from beepy.testing.certificates import CertificateAuthority
from beepy.trace import (
    RECEIVED,
    SENT,
    FramePrinter,
    FrameTracer,
    IFrameObserver,
    escapePayload,
    formatFrame,
    traceSession,
)

MSG = DataFrame(FrameType.MSG, 1, 0, False, 0, b"\r\nhello")
ANS = DataFrame(FrameType.ANS, 1, 0, True, 7, b"\r\nanswer", 3)


@implementer(IFrameObserver)
class RecordingObserver:
    """
    Records what a tracer reports, as ``(what, ...)`` tuples.
    """

    def __init__(self):
        self.reports = []

    def frameTraced(self, direction, frame):
        self.reports.append(("frame", direction, frame))

    def sessionReset(self):
        self.reports.append(("reset",))

    def traceFailed(self, direction, error):
        self.reports.append(("failed", direction, str(error)))

    def frames(self, direction=None):
        return [
            report[2]
            for report in self.reports
            if report[0] == "frame" and direction in (None, report[1])
        ]


class FrameTracerTests(SynchronousTestCase):
    """
    :class:`FrameTracer` decodes each direction on its own.
    """

    def setUp(self):
        self.observer = RecordingObserver()
        self.tracer = FrameTracer(self.observer)

    def test_interfaces(self):
        verifyObject(IFrameObserver, FramePrinter(lambda line: None))

    def test_framesInPieces(self):
        """
        A frame split across reads is reported once it is whole, with the
        direction it went; the two directions do not mix.
        """
        wire = encodeFrame(MSG) + encodeFrame(SeqFrame(1, 0, 4096))
        self.tracer.dataSent(wire[:5])
        self.tracer.dataReceived(encodeFrame(ANS))
        self.assertEqual(self.observer.reports, [("frame", RECEIVED, ANS)])
        self.tracer.dataSent(wire[5:])
        self.assertEqual(
            self.observer.frames(SENT), [MSG, SeqFrame(1, 0, 4096)]
        )

    def test_malformed(self):
        """
        Octets that are not frames are reported once, and tracing stops in
        that direction only.
        """
        self.tracer.dataReceived(b"HELLO there\r\n")
        self.tracer.dataReceived(encodeFrame(MSG))
        self.tracer.dataSent(encodeFrame(MSG))
        self.assertEqual(
            self.observer.reports,
            [
                ("failed", RECEIVED, "unknown frame keyword in header b'HELLO there'"),
                ("frame", SENT, MSG),
            ],
        )

    def test_reset(self):
        """
        After a tuning reset, decoding starts afresh: what was left of the
        old session is dropped, not glued to the new one.
        """
        self.tracer.dataReceived(encodeFrame(MSG)[:10])
        self.tracer.sessionReset()
        self.tracer.dataReceived(encodeFrame(ANS))
        self.assertEqual(self.observer.reports, [("reset",), ("frame", RECEIVED, ANS)])


    def test_observerFails(self):
        """
        What the observer raises is logged, and the next frame is still
        reported: tracing never breaks the session it traces.
        """

        class Failing(RecordingObserver):
            def frameTraced(self, direction, frame):
                super().frameTraced(direction, frame)
                raise ValueError("observer bug")

        observer = Failing()
        tracer = FrameTracer(observer)
        tracer.dataReceived(encodeFrame(MSG) + encodeFrame(ANS))
        self.assertEqual(observer.frames(), [MSG, ANS])
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 2)


class FormatTests(SynchronousTestCase):
    """
    :func:`formatFrame` shows the header as on the wire and the payload
    escaped on one line.
    """

    def test_dataFrame(self):
        self.assertEqual(formatFrame(SENT, MSG), '> MSG 1 0 . 0 7 "\\r\\nhello"')

    def test_answer(self):
        self.assertEqual(formatFrame(RECEIVED, ANS), '< ANS 1 0 * 7 8 3 "\\r\\nanswer"')

    def test_seq(self):
        self.assertEqual(formatFrame(RECEIVED, SeqFrame(3, 100, 4096)), "< SEQ 3 100 4096")

    def test_escapes(self):
        """
        Quotes, backslashes, tabs and octets outside printable ASCII are
        escaped, so a payload never breaks the line.
        """
        self.assertEqual(escapePayload(b'a"b\\c\td\x00\xff'), '"a\\"b\\\\c\\td\\x00\\xff"')

    def test_truncated(self):
        self.assertEqual(escapePayload(b"abcdef", 4), '"abcd"...')
        self.assertEqual(escapePayload(b"abcd", 4), '"abcd"')

    def test_printer(self):
        lines = []
        printer = FramePrinter(lines.append, width=2)
        printer.frameTraced(SENT, MSG)
        printer.sessionReset()
        printer.traceFailed(RECEIVED, ValueError("bad"))
        self.assertEqual(
            lines,
            [
                '> MSG 1 0 . 0 7 "\\r\\n"...\n',
                "-- tuning reset: the session starts over, both peers greet again\n",
                "< not a frame (bad): tracing stops in this direction\n",
            ],
        )


class SessionTracingTests(SynchronousTestCase):
    """
    A factory's ``trace`` sees its sessions from their first octet.
    """

    def test_bothWays(self):
        """
        Each session's observer sees its greeting go and the peer's arrive,
        and the frames of a message and its reply, as the other side sent
        them.
        """
        traces = {}

        def trace(name):
            return lambda session: traces.setdefault(name, RecordingObserver())

        server = BEEPServerFactory([EchoFactory()], trace=trace("server")).buildProtocol(None)
        client = BEEPClientFactory(trace=trace("client")).buildProtocol(None)
        pump = iosim.connect(
            server, iosim.FakeTransport(server, True), client, iosim.FakeTransport(client, False)
        )
        opened = client.openChannel([ECHO_URI])
        pump.flush()
        channel = self.successResultOf(opened)
        reply = channel.sendMessage(Message(b"traced"))
        pump.flush()
        self.assertEqual(self.successResultOf(reply).body, b"traced")

        clientTrace, serverTrace = traces["client"], traces["server"]
        self.assertEqual(clientTrace.frames(SENT), serverTrace.frames(RECEIVED))
        self.assertEqual(clientTrace.frames(RECEIVED), serverTrace.frames(SENT))
        sent = [(f.type, f.channel, f.msgno) for f in clientTrace.frames(SENT) if hasattr(f, "type")]
        self.assertEqual(
            sent,
            [
                (FrameType.RPY, 0, 0),  # the greeting
                (FrameType.MSG, 0, 1),  # <start>
                (FrameType.MSG, 1, 0),
            ],
        )
        self.assertIn(b"traced", clientTrace.frames(RECEIVED)[-1].payload)

    def test_attachedLater(self):
        """
        :func:`traceSession` traces a running session from then on.
        """
        server = BEEPServerFactory([EchoFactory()]).buildProtocol(None)
        client = BEEPClientFactory().buildProtocol(None)
        pump = iosim.connect(
            server, iosim.FakeTransport(server, True), client, iosim.FakeTransport(client, False)
        )
        observer = RecordingObserver()
        tracer = traceSession(client, observer)
        self.assertIs(client.octetObserver, tracer)
        opened = client.openChannel([ECHO_URI])
        pump.flush()
        self.successResultOf(opened)
        frames = [frame for frame in observer.frames() if hasattr(frame, "type")]
        self.assertEqual(
            [(frame.type, frame.msgno) for frame in frames],
            [(FrameType.MSG, 1), (FrameType.RPY, 1)],
        )


class TLSTracingTests(TestCase):
    """
    Over real TLS, the trace shows the cleartext and the tuning reset.
    """

    @defer.inlineCallbacks
    def test_reset(self):
        """
        The trace holds the ``<ready />`` exchange, the reset, then both
        greetings again, in the clear.
        """
        authority = CertificateAuthority()
        policy = TLSPolicy(authority.issue("beep.example", "127.0.0.1"))
        serverFactory = BEEPServerFactory([EchoFactory()], tls=policy)
        port = yield endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            serverFactory
        )
        self.addCleanup(port.stopListening)
        observer = RecordingObserver()
        endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port)
        session = yield connectBEEP(endpoint, trace=lambda session: observer)
        closed = session.notifyClose()
        yield session.startTLS(serverName="beep.example", trustRoot=authority.certificate)
        yield session.close()
        yield closed

        reset = observer.reports.index(("reset",))
        before, after = observer.reports[:reset], observer.reports[reset + 1 :]
        self.assertIn(b"<ready", before[-2][2].payload + before[-1][2].payload)
        greetings = [
            report[1]
            for report in after
            if report[0] == "frame" and getattr(report[2], "msgno", None) == 0
            and report[2].channel == 0 and b"<greeting" in report[2].payload
        ]
        self.assertEqual(sorted(greetings), sorted([SENT, RECEIVED]))
        self.assertNotIn("failed", [report[0] for report in observer.reports])
