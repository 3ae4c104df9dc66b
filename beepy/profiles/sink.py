# -*- test-case-name: beepy.test.test_profiles -*-
"""
The sink profile beepcore uses for testing: every ``MSG`` is swallowed and
answered with an empty ``RPY``.
"""

from beepy.core.mime import Message
from beepy.profile import Profile, ProfileFactory

__all__ = ["SINK_URI", "SinkProfile", "SinkFactory"]

SINK_URI = "http://xml.resource.org/profiles/NULL/SINK"


class SinkProfile(Profile):
    def messageReceived(self, message):
        return Message()


class SinkFactory(ProfileFactory):
    uri = SINK_URI
    profile = SinkProfile
