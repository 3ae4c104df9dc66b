# -*- test-case-name: beepy.test.test_profiles -*-
"""
The sink profile beepcore uses for testing: every ``MSG`` is swallowed and
answered with an empty ``RPY``.

It takes frames, not messages, so that it holds nothing however large the
message: it is what throughput is measured against.
"""

from zope.interface import implementer

from beepy.core.channel import DEFAULT_WINDOW
from beepy.core.frames import MAX_SIZE, FrameType
from beepy.core.mime import Message
from beepy.interfaces import IFrameReceiver
from beepy.profile import Profile, ProfileFactory

__all__ = ["SINK_URI", "SinkProfile", "SinkFactory"]

SINK_URI = "http://xml.resource.org/profiles/NULL/SINK"


@implementer(IFrameReceiver)
class SinkProfile(Profile):
    def frameReceived(self, frame):
        if frame.type is FrameType.MSG and not frame.more:
            self.channel.sendReply(frame.msgno, Message())


class SinkFactory(ProfileFactory):
    """
    :param receiveWindow: the window of each sink channel, if not the
        session's: how much a sender may have in flight, which is what bulk
        throughput over a long path depends on.
    """

    uri = SINK_URI
    profile = SinkProfile
    receiveWindow = None

    def __init__(self, receiveWindow=None):
        if receiveWindow is not None and not DEFAULT_WINDOW <= receiveWindow <= MAX_SIZE:
            raise ValueError(
                f"a sink window is {DEFAULT_WINDOW} to {MAX_SIZE} octets, not {receiveWindow}"
            )
        self.receiveWindow = receiveWindow

    def buildProfile(self, channel, start):
        if self.receiveWindow is not None:
            channel.setReceiveWindow(self.receiveWindow)
        return super().buildProfile(channel, start)
