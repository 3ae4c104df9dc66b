"""
A hand-driven peer that writes raw frames into one ``BEEPProtocol`` over a
``StringTransport``: for tests of what a hostile peer can make the Twisted
layer hold, which a well-behaved beepy peer would never send.
"""

from twisted.internet import task
from twisted.internet.testing import StringTransport

from beepy.core.codec import encodeFrame
from beepy.core.frames import DataFrame, FrameType, SEQNO_MODULUS
from beepy.core.management import BEEP_XML, Greeting, ProfileElement, encodeManagement
from beepy.core.mime import Message
from beepy.factory import BEEPClientFactory, BEEPServerFactory

MSG, RPY, ERR, ANS, NUL = (
    FrameType.MSG, FrameType.RPY, FrameType.ERR, FrameType.ANS, FrameType.NUL
)
URI = "urn:test:raw"


def managementPayload(element):
    return Message(encodeManagement(element), contentType=BEEP_XML).toPayload()


class RawPeer:
    """
    The remote end of ``protocol``, writing frames by hand.
    """

    def __init__(self, protocol):
        self.protocol = protocol
        self.transport = StringTransport()
        self.seqnos = {}
        self.closed = []
        protocol.notifyClose().addCallback(self.closed.append)
        protocol.makeConnection(self.transport)

    def frame(self, frameType, channel, msgno, payload=b"", more=False, ansno=None):
        seqno = self.seqnos.get(channel, 0)
        self.seqnos[channel] = (seqno + len(payload)) % SEQNO_MODULUS
        return encodeFrame(DataFrame(frameType, channel, msgno, more, seqno, payload, ansno))

    def send(self, *frames):
        self.protocol.dataReceived(b"".join(frames))

    def greet(self, profiles=(URI,)):
        self.send(self.frame(RPY, 0, 0, managementPayload(Greeting(tuple(profiles)))))


def clientWithOpenChannel(config=None, profile=None):
    """
    An initiator BEEPProtocol greeted by a RawPeer, with channel 1 open.

    :return: ``(protocol, peer, channel)``.
    """
    kwargs = {"clock": task.Clock()}
    if config is not None:
        kwargs["config"] = config
    protocol = BEEPClientFactory([], **kwargs).buildProtocol(None)
    peer = RawPeer(protocol)
    peer.greet()
    opening = protocol.openChannel(URI, profile=profile)
    # our <start> is MSG 0 1; the peer accepts it
    peer.send(peer.frame(RPY, 0, 1, managementPayload(ProfileElement(URI))))
    channels = []
    opening.addCallback(channels.append)
    assert channels, opening
    return protocol, peer, channels[0]


def serverWithStartedChannel(profileFactory, config=None, **factoryArguments):
    """
    A listener BEEPProtocol greeted by a RawPeer, which has started channel 1
    with ``profileFactory``'s profile.

    :return: ``(protocol, peer)``.
    """
    from beepy.core.management import Start

    factoryArguments.setdefault("clock", task.Clock())
    if config is not None:
        factoryArguments["config"] = config
    protocol = BEEPServerFactory([profileFactory], **factoryArguments).buildProtocol(None)
    peer = RawPeer(protocol)
    peer.greet(())
    peer.send(peer.frame(MSG, 0, 1, managementPayload(Start(1, (ProfileElement(profileFactory.uri),)))))
    assert 1 in protocol.channels, protocol.channels
    return protocol, peer
