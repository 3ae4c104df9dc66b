# -*- test-case-name: beepy.test.test_tls_refusal -*-
"""
A TLS refusal inside a positive reply, as Vortex sends it, opens the TLS
channel in the core only; what the peer then does on that channel must not
break the session.
"""

from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import ITLSTransport
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import directlyProvides

from beepy.core.codec import FrameDecoder, encodeFrame
from beepy.core.errors import BEEPError
from beepy.core.frames import DataFrame, FrameType
from beepy.core.management import (
    BEEP_XML,
    TLS_URI,
    Close,
    Greeting,
    ProfileElement,
    encodeManagement,
)
from beepy.core.mime import Message
from beepy.factory import BEEPClientFactory


def management(element):
    return Message(encodeManagement(element), contentType=BEEP_XML).toPayload()


class VortexStyleRefusalTests(SynchronousTestCase):
    def setUp(self):
        self.client = BEEPClientFactory([]).buildProtocol(None)
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 10288))
        directlyProvides(self.transport, ITLSTransport)
        self.client.makeConnection(self.transport)
        greeting = management(Greeting((TLS_URI,)))
        self.client.dataReceived(encodeFrame(DataFrame(FrameType.RPY, 0, 0, False, 0, greeting)))
        self.seqno = len(greeting)
        self.transport.clear()
        self.securing = self.client.startTLS(serverName="beep.example")
        decoder = FrameDecoder(1 << 20)
        decoder.receiveData(self.transport.value())
        start = decoder.nextFrame()
        reply = management(ProfileElement(TLS_URI, encodeManagement(BEEPError(421, "rejected"))))
        self.refusal = encodeFrame(
            DataFrame(FrameType.RPY, 0, start.msgno, False, self.seqno, reply)
        )
        self.seqno += len(reply)

    def test_messageOnRefusedChannel(self):
        """
        A ``MSG`` on the channel the positive reply opened is refused with
        ``ERR``; the session goes on.
        """
        message = encodeFrame(DataFrame(FrameType.MSG, 1, 0, False, 0, b"\r\nhello"))
        self.client.dataReceived(self.refusal + message)
        self.assertEqual(self.failureResultOf(self.securing, BEEPError).value.code, 421)
        self.assertIn(b"ERR 1 0 . 0 ", self.transport.value())
        self.assertFalse(self.transport.disconnecting)

    def test_peerClosesRefusedChannel(self):
        """
        The peer's own close of that channel, crossing ours, is accepted.
        """
        close = management(Close(1, 200))
        request = encodeFrame(DataFrame(FrameType.MSG, 0, 1, False, self.seqno, close))
        self.client.dataReceived(self.refusal + request)
        self.assertEqual(self.failureResultOf(self.securing, BEEPError).value.code, 421)
        self.assertIn(b"<ok />", self.transport.value())
        self.assertFalse(self.transport.disconnecting)
