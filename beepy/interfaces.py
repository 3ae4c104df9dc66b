# -*- test-case-name: beepy.test.test_profiles -*-
"""
The interfaces an application implements to run a profile on BEEP channels.

The split mirrors Twisted's factory and protocol: an :class:`IProfileFactory`
is registered once, under its URI, and decides whether a channel may start;
for each channel it accepts it builds an :class:`IProfile`, which answers the
messages that arrive on that channel.
"""

from zope.interface import Attribute, Interface

__all__ = ["IBEEPAvatar", "IFrameReceiver", "IProfileFactory", "IProfile"]


class IProfileFactory(Interface):
    """
    A profile as a session offers it: a URI and the decision to start a
    channel running it.
    """

    uri = Attribute("The profile's URI, as a str; it is offered in the greeting.")

    def buildProfile(channel, start):
        """
        The peer asks to start ``channel`` with this profile (or we open one).

        :param channel: the :class:`beepy.channel.Channel` about to open.
        :param start: a :class:`beepy.channel.ChannelStart` with the peer's
            piggybacked ``content`` and ``serverName``; set its
            ``replyContent`` to piggyback content on the reply.
        :return: an :class:`IProfile` for the channel, or a ``Deferred`` of
            one.  Raise (or fail with) :class:`beepy.BEEPError` to refuse the
            start with that code; any other exception refuses it with 451.
        """


class IProfile(Interface):
    """
    A profile running on one channel.
    """

    def messageReceived(message):
        """
        A ``MSG`` arrived on the channel.

        :param message: the :class:`beepy.Message`.
        :return: the reply: a :class:`beepy.Message` or ``bytes`` (the body
            of one, sent as ``RPY``); a :class:`beepy.Answers`, or any other
            iterable (but not a ``str``) or
            asynchronous iterable of messages (sent as ``ANS`` frames, then
            ``NUL``); or a ``Deferred`` of one of those.  Raise (or fail with)
            :class:`beepy.BEEPError` to answer with ``ERR``; any other
            exception is logged and answered with ``ERR`` 451.  Replies leave
            in the order the messages arrived, however long each takes.
        """

    def closeRequested(code, text):
        """
        The peer asks to close the channel.

        :return: ``None`` or ``True`` to accept, ``False`` to refuse with 550,
            or a ``Deferred`` of one of those; raise :class:`beepy.BEEPError`
            to refuse with its code.
        """

    def channelClosed(reason):
        """
        The channel is closed, by either peer, or the session ended.

        :param reason: a :class:`twisted.python.failure.Failure`.
        """


class IFrameReceiver(Interface):
    """
    A profile that takes its channel's data frames one by one as they
    arrive, instead of whole messages: Vortex's frame-received handler, for
    messages too large to hold.  A profile providing this interface gets no
    ``messageReceived`` calls; it answers each ``MSG`` itself with the
    channel's ``sendReply``, ``sendError``, ``sendAnswer`` and ``sendNul``,
    and the ``Deferred`` of each of its own ``sendMessage`` calls fires with
    ``None`` once the last frame of the reply has been delivered here.

    To hold the peer back while it catches up, it pauses its channel
    (``channel.pauseProducing()``); the peer stops within one window.
    """

    def frameReceived(frame):
        """
        A data frame arrived on the channel.

        :param frame: a :class:`beepy.core.frames.DataFrame`: its ``type``
            (``MSG``, ``RPY``, ``ERR``, ``ANS`` or ``NUL``), ``msgno``,
            ``ansno``, ``more`` (another frame of the same message follows)
            and ``payload``.  The first frame of a message starts with its
            MIME headers.
        """


class IBEEPAvatar(Interface):
    """
    What a ``twisted.cred`` realm returns for a session that authenticated
    with SASL (see :mod:`beepy.sasl`); it becomes the session's ``avatar``.
    Realms may return any object providing it.
    """
