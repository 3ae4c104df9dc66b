# -*- test-case-name: beepy.test.test_profiles -*-
"""
The echo profile beepcore uses for testing and interoperability: every
``MSG`` is answered with an ``RPY`` carrying the same message.
"""

from beepy.profile import Profile, ProfileFactory

__all__ = ["ECHO_URI", "EchoProfile", "EchoFactory"]

ECHO_URI = "http://xml.resource.org/profiles/NULL/ECHO"


class EchoProfile(Profile):
    def messageReceived(self, message):
        return message


class EchoFactory(ProfileFactory):
    uri = ECHO_URI
    profile = EchoProfile
