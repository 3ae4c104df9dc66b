# -*- test-case-name: beepy.test.test_profiles -*-
"""
The sink profile beepcore uses for testing: every ``MSG`` is swallowed and
answered with an empty ``RPY``.

It takes frames, not messages, so that it holds nothing however large the
message: it is what throughput is measured against.
"""

from zope.interface import implementer

from beepy.core.frames import FrameType
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
    uri = SINK_URI
    profile = SinkProfile
