# -*- test-case-name: beepy.test.test_profiles -*-
"""
Base classes for writing profiles, in the manner of Twisted's ``Factory`` and
``Protocol``: subclass :class:`Profile` for what happens on a channel, and
:class:`ProfileFactory` to offer it under a URI.
"""

from zope.interface import implementer

from beepy.core.codes import ReplyCode
from beepy.core.errors import BEEPError
from beepy.interfaces import IProfile, IProfileFactory

__all__ = ["Profile", "ProfileFactory", "Answers"]


@implementer(IProfile)
class Profile:
    """
    A profile on one channel.  By default it refuses every message with 504,
    accepts every close, and ignores the end of the channel.

    :ivar channel: the :class:`beepy.channel.Channel` it runs on.
    :ivar factory: the :class:`ProfileFactory` that built it, if any.
    """

    channel = None
    factory = None

    def messageReceived(self, message):
        raise BEEPError(
            ReplyCode.PARAMETER_NOT_IMPLEMENTED, "this profile does not accept messages"
        )

    def closeRequested(self, code, text):
        return True

    def channelClosed(self, reason):
        pass


@implementer(IProfileFactory)
class ProfileFactory:
    """
    Offers :attr:`profile` under :attr:`uri` and builds one per channel.
    Override :meth:`buildProfile` to refuse starts, look at piggybacked
    content, or build asynchronously.
    """

    uri = None
    profile = Profile

    def buildProfile(self, channel, start):
        profile = self.profile()
        profile.channel = channel
        profile.factory = self
        return profile


class Answers:
    """
    A one-to-many reply (``ANS`` ... ``NUL``) that a profile fills as it goes.

    Return an ``Answers`` from :meth:`IProfile.messageReceived`, then call
    :meth:`send` for each answer and :meth:`finish` once; answers sent before
    the reply could start are held back, in order.
    """

    def __init__(self):
        self._held = []
        self._finished = False
        self._sink = None

    def send(self, message):
        """
        Send one answer (a :class:`beepy.Message` or ``bytes``).
        """
        if self._finished:
            raise ValueError("these answers are finished")
        if self._sink is None:
            self._held.append(message)
        else:
            self._sink.answer(message)

    def finish(self):
        """
        End the answers: the ``NUL`` frame.
        """
        if self._finished:
            raise ValueError("these answers are finished")
        self._finished = True
        if self._sink is not None:
            self._sink.finish()

    def _attach(self, sink):
        """
        Start sending through ``sink`` (an object with ``answer(message)`` and
        ``finish()``).
        """
        self._sink = sink
        held, self._held = self._held, []
        for message in held:
            sink.answer(message)
        if self._finished:
            sink.finish()
