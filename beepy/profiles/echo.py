# -*- test-case-name: beepy.test.test_profiles -*-
"""
The echo profile beepcore uses for testing and interoperability: every
``MSG`` is answered with an ``RPY`` carrying the same message.
"""

from twisted.internet import task

from beepy.profile import Profile, ProfileFactory

__all__ = ["ECHO_URI", "EchoProfile", "EchoFactory"]

ECHO_URI = "http://xml.resource.org/profiles/NULL/ECHO"


class EchoProfile(Profile):
    def messageReceived(self, message):
        delay = self.factory.delay
        if not delay:
            return message
        return task.deferLater(self.factory.clock, delay, lambda: message)


class EchoFactory(ProfileFactory):
    """
    :param delay: seconds each reply waits before it leaves: a slow peer to
        test clients, timeouts and channel pools against.
    :param clock: what keeps time for ``delay``; the global reactor by
        default.
    """

    uri = ECHO_URI
    profile = EchoProfile

    def __init__(self, delay=0, clock=None):
        if delay < 0:
            raise ValueError("delay must not be negative")
        if clock is None:
            from twisted.internet import reactor as clock
        self.delay = delay
        self.clock = clock
