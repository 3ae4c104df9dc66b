# -*- test-case-name: beepy.test.test_profiles -*-
"""
The echo profile beepcore uses for testing and interoperability: every
``MSG`` is answered with an ``RPY`` carrying the same message.
"""

from twisted.internet import task

from beepy.profile import Profile, ProfileFactory
from beepy.timeouts import clockOf

__all__ = ["ECHO_URI", "EchoProfile", "EchoFactory"]

ECHO_URI = "http://xml.resource.org/profiles/NULL/ECHO"


class EchoProfile(Profile):
    def messageReceived(self, message):
        delay = self.factory.delay
        if not delay:
            return message
        clock = self.factory.clock or clockOf(self.channel.session)
        return task.deferLater(clock, delay, lambda: message)


class EchoFactory(ProfileFactory):
    """
    :param delay: seconds each reply waits before it leaves: a slow peer to
        test clients, timeouts and channel pools against.
    :param clock: what keeps time for ``delay``; by default the session's
        (its factory's ``clock``, or the reactor).
    """

    uri = ECHO_URI
    profile = EchoProfile

    def __init__(self, delay=0, clock=None):
        if delay < 0:
            raise ValueError("delay must not be negative")
        self.delay = delay
        self.clock = clock
