# -*- test-case-name: beepy.test.test_protocol -*-
"""
The Twisted layer: a ``Protocol`` that runs a :class:`beepy.core.session.Session`
over a transport and turns its events into ``Deferred`` results and profile
calls.

All protocol rules live in the core; this module only moves bytes, keeps the
``Deferred``\\ s, calls application code and logs.
"""

import collections.abc

from twisted.internet import defer, error
from twisted.internet.interfaces import IHandshakeListener, IPushProducer, ITLSTransport
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from beepy.channel import Channel, ChannelStart, closeChannels
from beepy.core import events
from beepy.core.codes import ReplyCode
from beepy.core.errors import BEEPError, LocalProtocolError, SessionReset
from beepy.core.management import TLS_URI, ProfileElement, errorFromMessage
from beepy.core.mime import Message
from beepy.core.session import Session, SessionConfig
from beepy.interfaces import IFrameReceiver
from beepy.profile import Answers
from beepy.profiles.ping import DEFAULT_INTERVAL, DEFAULT_TIMEOUT, keepAlive
from beepy.tls import (
    DEFAULT_TLS_TIMEOUT,
    TLSProfileFactory,
    TLSRequest,
    answerRequest,
    isTLSTransport,
    requestTLS,
)
from beepy.stream import PayloadFeeder, asStreaming, isStreaming
from beepy.timeouts import SessionTimeouts

__all__ = ["BEEPProtocol"]

#: Payload octets framed per write: once the transport's buffer is full it
#: pauses us, and what is not yet framed waits in the core, where a small
#: message on another channel can still overtake it.
WRITE_BUDGET = 64 * 1024


def _asMessage(reply):
    """
    In the application API, ``bytes`` are always a body with the default
    headers, never a ready payload.
    """
    if isinstance(reply, (bytes, bytearray)):
        return Message(reply)
    if isinstance(reply, Message):
        return reply
    raise TypeError(f"a reply is a Message or bytes, not {reply!r}")


def _channelOf(event):
    """
    The number of the data channel ``event`` concerns, if any: a close
    request waits behind the events a paused channel holds.
    """
    if isinstance(event, events.ChannelCloseRequested):
        return event.number
    return getattr(event, "channel", None)


async def _asynchronous(iterable):
    """
    One path for answers: a plain iterable, walked without ever waiting.
    """
    for item in iterable:
        yield item


class _AnswerSink:
    """
    Sends the answers of one one-to-many reply, to the channel the ``MSG``
    came on: after a tuning reset a new channel may have taken its number
    (and a new ``MSG`` its msgno), so answers for the old one are dropped.
    """

    def __init__(self, session, channel, msgno):
        self._session = session
        self.channel = channel
        self._msgno = msgno

    @property
    def alive(self):
        return self.channel.isOpen and self._session._answerable(self.channel.number)

    def answer(self, message):
        message = _asMessage(message)
        if self.alive:
            number = self.channel.number
            self._session._send(lambda core: core.sendAnswer(number, self._msgno, message))

    def finish(self):
        if self.alive:
            number = self.channel.number
            self._session._send(lambda core: core.sendNul(number, self._msgno))


@implementer(IPushProducer, IHandshakeListener)
class BEEPProtocol(Protocol):
    """
    One BEEP session over one connection.

    It is its transport's streaming producer: while the transport cannot
    write it frames nothing more, and sends no ``SEQ`` either, so peers
    that keep sending run into their windows.

    :ivar peerGreeting: the peer's :class:`beepy.core.management.Greeting`,
        once it has arrived.
    """

    _log = Logger()
    _producing = False  # registered with the transport as its producer
    #: A :class:`beepy.BEEPError` to send in place of our greeting (RFC 3080
    #: section 2.4), after which the connection is dropped: set by a server
    #: factory that is turning the connection away (421 when full).
    sessionRefusal = None

    #: The :class:`beepy.sasl.SASLPolicy` of a listener offering SASL (set by
    #: the factory), or ``None``.
    saslPolicy = None
    #: The :class:`beepy.sasl.Authentication` once SASL succeeded, or ``None``.
    authentication = None
    #: Seconds the peer's greeting may take, or ``None`` for no limit (set
    #: by the factory, like the two below; see :mod:`beepy.timeouts`).
    greetingTimeout = None
    #: Seconds without an octet in or out (while we owe no reply) before the
    #: session is closed, or ``None``.
    idleTimeout = None
    #: Seconds a frame may take from its first octet to its last, or ``None``.
    frameTimeout = None
    #: What sees every octet of the session in the clear, both ways (a
    #: :class:`beepy.trace.FrameTracer`: ``dataReceived``, ``dataSent``,
    #: ``sessionReset``), or ``None``; off, it costs a test per read and write.
    octetObserver = None

    def __init__(self, role, profiles=(), config=SessionConfig(), features=None, localize=None):
        self._profileFactories = {factory.uri: factory for factory in profiles}
        self._session = Session(role, list(self._profileFactories), config, features, localize)
        self._channels = {}
        self._opening = {}  # number -> (Deferred, local profile)
        self._greetingWaiters = []
        self._releaseWaiters = []
        self._closeNotifications = []
        self._violation = None
        self._refusal = None
        self._lostReason = None
        self._writePaused = False
        self._registered = False  # as the transport's producer
        self._dispatching = False
        self._feeders = set()  # PayloadFeeders of streamed bodies
        self._drainWaiters = []  # (_AnswerSink, Deferred) for _whenDrained
        self.peerGreeting = None
        self._timeouts = SessionTimeouts(self)

    # -- Public API -------------------------------------------------------

    @property
    def role(self):
        return self._session.role

    @property
    def channels(self):
        """
        The open channels (not channel 0), by number.
        """
        return dict(self._channels)

    @property
    def peerProfiles(self):
        """
        The profile URIs the peer offered in its greeting.
        """
        return self.peerGreeting.profiles if self.peerGreeting is not None else ()

    def whenGreeted(self):
        """
        :return: a ``Deferred`` that fires with this session once the peer's
            greeting has arrived, or fails with the peer's
            :class:`beepy.BEEPError` if it refused the session, or with the
            reason the connection ended first.
        """
        if self.peerGreeting is not None:
            return defer.succeed(self)
        if self._refusal is not None:
            return defer.fail(self._refusal)
        if self._lostReason is not None:
            return defer.fail(self._lostReason)
        waiter = defer.Deferred()
        self._greetingWaiters.append(waiter)
        return waiter

    def notifyClose(self):
        """
        :return: a ``Deferred`` that fires, once the connection has ended,
            with the exception that says why: ``ConnectionDone`` after a
            release, ``ConnectionLost``, or the
            :class:`beepy.RemoteProtocolError` that terminated the session.
            It never fails.
        """
        if self._lostReason is not None:
            return defer.succeed(self._lostReason.value)
        waiter = defer.Deferred()
        self._closeNotifications.append(waiter)
        return waiter

    def openChannel(self, profiles, serverName=None, profile=None, receiveWindow=None):
        """
        Start a channel.

        :param profiles: candidate profile URIs (or
            :class:`beepy.core.management.ProfileElement` values carrying
            piggybacked content), preferred first; the peer picks one.
        :param serverName: the ``serverName`` to send in the ``<start>``.
        :param profile: our :class:`beepy.interfaces.IProfile` for the
            ``MSG``\\ s the peer may send on the channel; without one they
            are refused with ``ERR`` 504.  If it provides
            :class:`beepy.interfaces.IFrameReceiver` it gets frames.
        :param receiveWindow: the channel's window in octets, if not the
            session's (see also :meth:`beepy.channel.Channel.setReceiveWindow`).
        :return: a ``Deferred`` firing with the :class:`beepy.channel.Channel`,
            or failing with the peer's :class:`beepy.BEEPError`.
        """
        if isinstance(profiles, (str, ProfileElement)):
            profiles = [profiles]
        try:
            number = self._send(
                lambda core: core.startChannel(
                    profiles, serverName, receiveWindow, IFrameReceiver.providedBy(profile)
                )
            )
        except LocalProtocolError as e:
            return defer.fail(e)
        opened = defer.Deferred()
        self._opening[number] = (opened, profile)
        return opened

    def close(self, code=ReplyCode.SUCCESS, text=""):
        """
        Release the session: close every channel, then channel 0.

        :return: a ``Deferred`` that fires with ``None`` once the peer agreed
            (the connection then closes; ``notifyClose`` tells when it has),
            or fails with the peer's :class:`beepy.BEEPError` if it declined
            a channel close or the release (the session goes on).
        """
        if self._lostReason is not None:
            return defer.succeed(None)
        closing = closeChannels(list(self._channels.values()))
        return closing.addCallback(lambda _: self._release(code, text))

    @property
    def authenticatedId(self):
        """
        Who the peer authenticated as with SASL (a ``str``), or ``None``.
        """
        return self.authentication.authenticatedId if self.authentication else None

    @property
    def authorizationId(self):
        """
        Who the peer acts as after SASL (a ``str``), or ``None``.
        """
        return self.authentication.authorizationId if self.authentication else None

    @property
    def avatar(self):
        """
        The ``twisted.cred`` avatar of the authenticated peer (listener
        side), or ``None``.
        """
        return self.authentication.avatar if self.authentication else None

    def authenticate(self, mechanism=None, **credentials):
        """
        Authenticate to the peer with SASL; see
        :func:`beepy.sasl.authenticate`.

        :return: a ``Deferred`` firing with the
            :class:`beepy.sasl.Authentication`, or failing with the peer's
            :class:`beepy.BEEPError`.
        """
        from beepy.sasl.client import authenticate

        return authenticate(self, mechanism, **credentials)

    def keepAlive(self, interval=DEFAULT_INTERVAL, timeout=DEFAULT_TIMEOUT):
        """
        Check that the peer is alive with pings (Vortex's ALIVE profile, which
        the peer must offer): if a ping goes unanswered for ``timeout``
        seconds the session is closed, and its pending ``Deferred``\\ s fail
        with :class:`beepy.SessionTimeout`.  See
        :class:`beepy.profiles.ping.KeepAlive`.

        :return: the running :class:`~beepy.profiles.ping.KeepAlive`: its
            ``stop()`` ends the checks.
        """
        return keepAlive(self, interval, timeout)

    def disconnect(self, abort=False):
        """
        Drop the connection without a release: after a refusal, a protocol
        violation, or too many failed authentications.  Pending frames are
        still written first.

        :param abort: drop what is not yet written and close at once, for a
            peer that is gone or stalling: waiting for it to read, or for
            its TLS ``close_notify``, could take for ever.

        Once the connection has ended it does nothing.
        """
        if self._lostReason is not None:
            return
        if self._registered:
            # TLS shuts down only once no producer is registered.
            self._registered = False
            self.transport.unregisterProducer()
        if abort:
            self.transport.abortConnection()
        else:
            self.transport.loseConnection()

    def releaseRequested(self, code, text):
        """
        The peer asks to release the session.  Override to decide otherwise.

        :return: like :meth:`beepy.interfaces.IProfile.closeRequested`:
            ``True``/``None`` to accept, ``False`` to refuse with 550, a
            :class:`beepy.BEEPError` raised to refuse with its code, or a
            ``Deferred`` of one of those.
        """
        return True

    # -- Protocol ---------------------------------------------------------

    def connectionMade(self):
        if self.sessionRefusal is not None:
            self._log.warn(
                "Refusing a BEEP session from {peer}: {error}", peer=self._peer(), error=self.sessionRefusal
            )
            self._session.refuseSession(self.sessionRefusal)
            self._flush()
            # A TLS transport closes only after its handshake, which the
            # peer may never do: the greeting timeout bounds that too.
            self._timeouts.start()
            self.disconnect()
            return
        setNoDelay = getattr(self.transport, "setTcpNoDelay", None)
        if setNoDelay is not None:
            setNoDelay(True)
        self.transport.registerProducer(self, True)
        self._registered = True
        self._timeouts.start()
        self._log.info(
            "BEEP session with {peer} opened ({role})",
            beepEvent="sessionOpened",
            peer=self._peer(),
            role=self.role.name.lower(),
        )
        self._prepareGreeting()
        self._session.greet()
        self._flush()

    def dataReceived(self, data):
        if self.octetObserver is not None:
            self.octetObserver.dataReceived(data)
        # Replies that profiles give at once are written together, after
        # the whole read is handled: one write, not one per message.
        self._dispatching = True
        try:
            for event in self._session.receiveData(data):
                channel = self._channels.get(_channelOf(event))
                if channel is not None and channel._holds():
                    channel._held.append(event)
                else:
                    self._dispatchEvent(event)
        finally:
            self._dispatching = False
        self._timeouts.received()
        self._flush()

    # -- IPushProducer: the transport's backpressure -----------------------

    def pauseProducing(self):
        self._writePaused = True

    def resumeProducing(self):
        self._writePaused = False
        if self._lostReason is None:
            self._flush()

    def stopProducing(self):
        pass  # connectionLost follows

    def connectionLost(self, reason=error.ConnectionDone()):
        # The transport has dropped its producer: a disconnect() called back
        # from below must not unregister from a TLS layer that is gone.
        self._registered = False
        if not isinstance(reason, Failure):
            reason = Failure(reason)
        if self._violation is not None:
            reason = Failure(self._violation)
        elif reason.check(error.ConnectionDone) and not self._session.released:
            # The transport closed cleanly, but a session that was not
            # released was broken off all the same (Vortex's broken pipe).
            reason = Failure(error.ConnectionLost("the connection ended without a release"))
        reason = self._timeouts.connectionLost(reason)
        reason = self._tlsConnectionLost(reason)
        self._lostReason = reason
        self._log.info(
            "BEEP session with {peer} closed: {reason}",
            beepEvent="sessionClosed",
            peer=self._peer(),
            reason=reason.value,
        )
        for waiters in (self._greetingWaiters, self._releaseWaiters):
            while waiters:
                waiters.pop().errback(reason)
        for opened, _ in self._opening.values():
            opened.errback(reason)
        self._opening.clear()
        for number in list(self._channels):
            self._channels.pop(number)._closed(reason, clean=False)
        for feeder in list(self._feeders):
            feeder.sessionEnded()
        self._checkDrained()
        while self._closeNotifications:
            self._closeNotifications.pop().callback(reason.value)

    # -- Internals: commands -----------------------------------------------

    def _send(self, command):
        """
        Run ``command`` on the core session, then write what it queued.
        """
        if self._lostReason is not None:
            raise LocalProtocolError(f"the session has ended: {self._lostReason.getErrorMessage()}")
        result = command(self._session)
        if not self._dispatching:
            self._flush()
        return result

    def _flush(self):
        while not self._writePaused:
            data = self._session.dataToSend(WRITE_BUDGET)
            if not data:
                break
            self.transport.write(data)
            self._timeouts.sent()
            if self.octetObserver is not None:
                self.octetObserver.dataSent(data)
        for feeder in list(self._feeders):
            feeder.drained()
        if self._drainWaiters:
            self._checkDrained()
        for number in self._session.takeClosed():
            # A profile's channelClosed may call back in here and get first.
            channel = self._channels.pop(number, None)
            if channel is not None:
                self._logChannel("closed", channel)
                channel._closed(Failure(error.ConnectionDone(f"channel {number} closed")), clean=True)
        if self._session.released:
            self.disconnect()
        self._tlsFlushed()

    def _release(self, code, text):
        try:
            self._send(lambda core: core.closeChannel(0, code, text))
        except LocalProtocolError as e:
            return defer.fail(e)
        waiter = defer.Deferred()
        self._releaseWaiters.append(waiter)
        return waiter

    def _callProfile(self, method, *args):
        """
        Call application code that is not expected to answer; log what it
        raises instead of letting it break the session.
        """
        try:
            method(*args)
        except Exception:
            self._log.failure("{method!r} raised", method=method)

    # -- Internals: events -------------------------------------------------

    def _dispatchEvent(self, event):
        self._dispatch[type(event)](self, event)

    def _greetingReceived(self, event):
        self.peerGreeting = event.greeting
        self._timeouts.greeted()
        waiters, self._greetingWaiters = self._greetingWaiters, []
        for waiter in waiters:
            waiter.callback(self)

    def _sessionRefused(self, event):
        self._log.warn("{peer} refused the session: {error}", peer=self._peer(), error=event.error)
        self._refusal = event.error
        waiters, self._greetingWaiters = self._greetingWaiters, []
        for waiter in waiters:
            waiter.errback(event.error)
        self.disconnect()

    def _channelStartRequested(self, event):
        answered = defer.Deferred.fromCoroutine(self._answerStart(event))
        answered.addErrback(
            lambda failure: self._log.failure("failed to answer a channel start", failure)
        )

    async def _answerStart(self, event):
        """
        Offer the start to the factory of each acceptable profile, in the
        peer's order of preference; the first that builds a profile wins.
        """
        refusal = None
        for candidate in event.profiles:
            channel = Channel(self, event.number, candidate.uri)
            start = ChannelStart(candidate.content, event.serverName)
            factory = self._profileFactories[candidate.uri]
            try:
                profile = await defer.maybeDeferred(factory.buildProfile, channel, start)
            except BEEPError as e:
                refusal = refusal or e
                continue
            except Exception:
                self._log.failure("{factory!r} failed to start a channel", factory=factory)
                refusal = refusal or BEEPError(ReplyCode.ACTION_ABORTED, "local error in processing")
                continue
            if self._lostReason is not None:
                return
            channel.profile = profile
            channel.startContent = candidate.content
            self._channels[event.number] = channel
            reply = ProfileElement(candidate.uri, start.replyContent)

            def accept(core):
                core.acceptStart(
                    event.number, reply, channel._requestedWindow, IFrameReceiver.providedBy(profile)
                )
                if channel._paused:  # by the profile factory, before the channel was open
                    core.pauseChannel(event.number)

            try:
                self._send(accept)
            except LocalProtocolError:
                # The profile asked for what the session cannot do (a window
                # out of range, say): the start must still be answered.
                del self._channels[event.number]
                self._log.failure("{factory!r} built a channel that cannot open", factory=factory)
                refusal = refusal or BEEPError(ReplyCode.ACTION_ABORTED, "local error in processing")
                continue
            self._logChannel("started by the peer", channel)
            return
        if self._lostReason is None:
            self._log.info(
                "Refused to start channel {channel} for {peer}: {error}",
                beepEvent="channelRefused",
                channel=event.number,
                peer=self._peer(),
                error=refusal,
            )
            self._send(lambda core: core.refuseStart(event.number, refusal))

    def _channelStarted(self, event):
        opened, profile = self._opening.pop(event.number)
        channel = Channel(self, event.number, event.profile.uri, event.profile.content)
        channel.profile = profile
        if profile is not None:
            profile.channel = channel
        self._channels[event.number] = channel
        self._logChannel("started", channel)
        opened.callback(channel)

    def _channelStartFailed(self, event):
        opened, _ = self._opening.pop(event.number)
        opened.errback(event.error)

    def _channelCloseRequested(self, event):
        if event.number == 0:
            if any(channel._holds() for channel in self._channels.values()):
                # Accepting would drop what paused channels still hold.
                held = BEEPError(
                    ReplyCode.REQUESTED_ACTION_NOT_TAKEN, "messages are still held by the application"
                )
                self._send(lambda core: core.refuseClose(0, held))
                return
            decide = self.releaseRequested
        else:
            # A channel the core opened on its own (a TLS refusal in a
            # positive reply, Vortex-style) has no Channel here.
            channel = self._channels.get(event.number)
            profile = channel.profile if channel is not None else None
            decide = profile.closeRequested if profile is not None else lambda code, text: True
        decision = defer.maybeDeferred(decide, event.code, event.text)
        decision.addCallbacks(
            self._answerClose,
            self._refuseClose,
            callbackArgs=(event.number,),
            errbackArgs=(event.number,),
        )
        decision.addErrback(
            lambda failure: self._log.failure("failed to answer a close", failure)
        )

    def _answerClose(self, accepted, number):
        if self._lostReason is not None:
            return
        if accepted is False:
            refusal = BEEPError(ReplyCode.REQUESTED_ACTION_NOT_TAKEN, "declined to close")
            self._send(lambda core: core.refuseClose(number, refusal))
        else:
            self._send(lambda core: core.acceptClose(number))

    def _refuseClose(self, failure, number):
        if self._lostReason is not None:
            return
        if not failure.check(BEEPError):
            self._log.failure("closeRequested failed", failure)
            refusal = BEEPError(ReplyCode.ACTION_ABORTED, "local error in processing")
        else:
            refusal = failure.value
        self._send(lambda core: core.refuseClose(number, refusal))

    def _channelClosed(self, event):
        # _flush notices the channel has gone from the core and settles it.
        pass

    def _channelCloseFailed(self, event):
        if event.number == 0:
            waiters, self._releaseWaiters = self._releaseWaiters, []
            for waiter in waiters:
                waiter.errback(event.error)
            return
        channel = self._channels.get(event.number)
        if channel is not None:
            channel._closeFailed(event.error)

    def _sessionReleased(self, event):
        waiters, self._releaseWaiters = self._releaseWaiters, []
        for waiter in waiters:
            waiter.callback(None)

    def _messageReceived(self, event):
        channel = self._channels.get(event.channel)
        if channel is None or channel.profile is None:
            refusal = BEEPError(ReplyCode.PARAMETER_NOT_IMPLEMENTED, "no profile handles messages here")
            self._session.sendError(event.channel, event.msgno, refusal)
            return
        try:
            reply = channel.profile.messageReceived(event.message)
            if not isinstance(reply, defer.Deferred):
                # The common case, a reply given at once, skips the
                # Deferred machinery; only a streamed answer returns one.
                reply = self._sendReply(reply, event.channel, event.msgno)
                if reply is None:
                    return
            else:
                reply = self._unlessReset(reply, channel)
                reply.addCallback(self._sendReply, event.channel, event.msgno)
        except Exception:
            reply = defer.fail()
        reply.addErrback(self._sendError, event.channel, event.msgno)
        reply.addErrback(
            lambda failure: self._log.failure(
                "failed to reply on channel {channel}", failure, channel=event.channel
            )
        )

    def _answerable(self, number):
        """
        Whether replies can still go out on channel ``number``.
        """
        return self._lostReason is None and self._session.isOpen(number)

    def _sendReply(self, result, number, msgno):
        if not self._answerable(number):
            return
        if isinstance(result, (Message, bytes, bytearray)):
            reply = _asMessage(result)
            self._send(lambda core: core.sendReply(number, msgno, reply))
        elif isStreaming(result):
            streaming = asStreaming(result)
            stream = self._send(lambda core: core.streamReply(number, msgno, streaming.head))
            PayloadFeeder(self, stream, streaming.bodyProducer).start()
        elif isinstance(result, Answers):
            result._attach(_AnswerSink(self, self._channels[number], msgno))
        elif isinstance(result, (str, collections.abc.Mapping)):
            raise TypeError(f"a profile replied with {result!r}, not a message or answers")
        elif isinstance(result, collections.abc.AsyncIterable):
            return defer.Deferred.fromCoroutine(self._streamAnswers(result, number, msgno))
        elif isinstance(result, collections.abc.Iterable):
            return defer.Deferred.fromCoroutine(
                self._streamAnswers(_asynchronous(result), number, msgno)
            )
        else:
            raise TypeError(f"a profile replied with {result!r}, not a message or answers")

    async def _streamAnswers(self, answers, number, msgno):
        """
        Send ``answers`` as ANS messages then NUL.  Whatever fails before the
        first answer is still answered with ERR (by the caller's errback);
        once an ANS has gone, a failure is logged and the answers end.
        """
        sink = _AnswerSink(self, self._channels[number], msgno)
        iterator = answers.__aiter__()
        try:
            first = await iterator.__anext__()
        except StopAsyncIteration:
            sink.finish()
            return
        first = _asMessage(first)
        try:
            sink.answer(first)
            # Take the next answer only once the peer has taken most of the
            # earlier ones, so a long stream is never held whole.
            while await self._whenDrained(sink):
                try:
                    answer = await iterator.__anext__()
                except StopAsyncIteration:
                    break
                sink.answer(answer)
        except Exception:
            self._log.failure("answers on channel {channel} failed midway", channel=number)
        sink.finish()

    def _whenDrained(self, sink):
        """
        :return: a ``Deferred`` firing with ``True`` once no more than the
            session's ``streamBuffer`` of our replies waits on the channel of
            ``sink`` (an :class:`_AnswerSink`), or with ``False`` if the
            channel or session ends first.
        """
        if not sink.alive:
            return defer.succeed(False)
        if self._session.releasedReplyOctets(sink.channel.number) <= self._session.config.streamBuffer:
            return defer.succeed(True)
        waiter = defer.Deferred()
        self._drainWaiters.append((sink, waiter))
        return waiter

    def _checkDrained(self):
        waiting, self._drainWaiters = self._drainWaiters, []
        limit = self._session.config.streamBuffer // 2
        for sink, waiter in waiting:
            if not sink.alive:
                waiter.callback(False)
            elif self._session.releasedReplyOctets(sink.channel.number) <= limit:
                waiter.callback(True)
            else:
                self._drainWaiters.append((sink, waiter))

    def _sendError(self, failure, number, msgno):
        if not self._answerable(number):
            return
        if failure.check(BEEPError):
            refusal = failure.value
        else:
            self._log.failure("profile failed on channel {channel}", failure, channel=number)
            refusal = BEEPError(ReplyCode.ACTION_ABORTED, "local error in processing")
        self._send(lambda core: core.sendError(number, msgno, refusal))

    def _replyReceived(self, event):
        self._channels[event.channel]._replyReceived(event.msgno, event.message)

    def _errorReceived(self, event):
        self._channels[event.channel]._errorReceived(event.msgno, errorFromMessage(event.message))

    def _answerReceived(self, event):
        channel = self._channels[event.channel]
        try:
            channel._answerReceived(event.msgno, event.message)
        except Exception:
            self._log.failure("answerReceived failed on channel {channel}", channel=event.channel)

    def _answersCompleted(self, event):
        self._channels[event.channel]._answersCompleted(event.msgno)

    def _frameReceived(self, event):
        self._channels[event.channel]._frameReceived(event.frame)

    def _messageDiscarded(self, event):
        self._log.warn(
            "{peer} sent a message of {size} octets on channel {channel}, over the limit",
            peer=self._peer(),
            size=event.size,
            channel=event.channel,
        )
        if event.isReply:
            refusal = BEEPError(ReplyCode.TRANSACTION_FAILED, f"reply of {event.size} octets is too large")
            self._channels[event.channel]._errorReceived(event.msgno, refusal)

    def _protocolViolated(self, event):
        self._violation = event.error
        self._log.error(
            "Terminating the BEEP session with {peer}: {error}",
            beepEvent="protocolViolation",
            peer=self._peer(),
            error=event.error,
        )
        self.disconnect()

    def _logChannel(self, what, channel):
        self._log.info(
            "Channel {channel} ({profile}) with {peer} {what}",
            beepEvent="channel" + what.split()[0].capitalize(),
            channel=channel.number,
            profile=channel.profileURI,
            peer=self._peer(),
            what=what,
        )

    def _peer(self):
        try:
            return self.transport.getPeer()
        except Exception:
            return "the peer"

    # -- TLS (RFC 3080 section 3.1); the decisions are in beepy.tls ----------

    #: The :class:`beepy.tls.TLSPolicy` that answers the peer's requests for
    #: TLS (set by the factory); without one, TLS is not offered.
    tlsPolicy = None
    #: What keeps time for TLS timeouts (an ``IReactorTime``, set by the
    #: factory); the global reactor if ``None``.
    clock = None
    #: Whether the session runs over TLS, negotiated or from the first byte.
    isSecure = False
    #: The peer's certificate once TLS is active (a ``cryptography``
    #: ``x509.Certificate``), or ``None`` if it sent none.
    peerCertificate = None
    _tlsNegotiation = None

    def startTLS(
        self,
        serverName=None,
        trustRoot=None,
        clientCertificate=None,
        verify=True,
        timeout=DEFAULT_TLS_TIMEOUT,
        piggyback=True,
    ):
        """
        Secure the session in place: ask the peer for TLS (``<ready />``),
        negotiate it as the TLS client, and start over with new greetings.
        Every open channel is closed by the reset; its pending ``Deferred``\\ s
        fail with :class:`beepy.core.errors.SessionReset`.

        :param serverName: the name the peer's certificate must carry, also
            sent in the ``<start>`` and as SNI; by default the address of the
            peer.
        :param trustRoot: the authorities to trust (a
            ``twisted.internet.ssl.Certificate``, or the default,
            ``platformTrust()``).
        :param clientCertificate: a ``twisted.internet.ssl.PrivateCertificate``
            to present if the peer asks for one.
        :param verify: ``False`` to accept any certificate (no
            authentication: tests and pinned setups only).
        :param timeout: seconds from ``<ready />`` to the peer's new greeting.
        :param piggyback: ``False`` starts a TLS channel first and sends
            ``<ready />`` on it.
        :return: a ``Deferred`` that fires with this session once the peer
            has greeted us over TLS; or fails with the peer's
            :class:`beepy.BEEPError` (the session goes on in the clear),
            with the handshake's error (an ``OpenSSL.SSL.Error``, or
            ``service_identity.VerificationError`` for a certificate that
            does not match ``serverName``), or with
            :class:`beepy.tls.TLSTimeout`; the session is closed after
            those two.
        """
        request = TLSRequest(serverName, trustRoot, clientCertificate, verify, timeout, piggyback)
        return requestTLS(self, request)

    def handshakeCompleted(self):
        """
        ``IHandshakeListener``: the TLS handshake is over.
        """
        if self._tlsNegotiation is not None:
            self._tlsNegotiation.handshakeCompleted()
        else:  # TLS from the first byte (an ssl: endpoint)
            self._tlsActive()

    def _prepareGreeting(self):
        """
        Choose what the greeting offers, at connection and after a tuning
        reset: TLS where it can start (alone while the TLS policy requires
        it), SASL mechanisms as the SASL policy says.
        """
        if isTLSTransport(self.transport):
            self.isSecure = True
        offered = self._offeredProfiles()
        if TLS_URI in offered:
            self._profileFactories.setdefault(TLS_URI, TLSProfileFactory())
        self._session.offerProfiles(offered)
        if self.saslPolicy is not None:
            self._session.withhold(self.saslPolicy.withheldProfiles(self, offered))

    def _offeredProfiles(self):
        """
        What the greeting offers: TLS only where it can start, and alone
        while the policy requires it.
        """
        profiles = [uri for uri in self._profileFactories if uri != TLS_URI]
        policy = self.tlsPolicy
        if policy is None or self.isSecure or not ITLSTransport.providedBy(self.transport):
            return profiles
        return [TLS_URI] if policy.requireTLS else profiles + [TLS_URI]

    def _tlsActive(self):
        self.isSecure = True
        getPeerCertificate = getattr(self.transport, "getPeerCertificate", None)
        certificate = getPeerCertificate() if getPeerCertificate is not None else None
        self.peerCertificate = certificate.to_cryptography() if certificate is not None else None
        self._log.info("TLS is active with {peer}", beepEvent="tlsStarted", peer=self._peer())
        if self.tlsPolicy is not None:
            self._callProfile(self.tlsPolicy.tlsStarted, self)

    def _tlsNegotiated(self):
        """
        The tuning reset: every channel is gone, and both peers greet again.
        The peer's greeting goes first: whoever hears of the reset and waits
        for a greeting to go on (a keepalive) must wait for the new one.
        """
        self.peerGreeting = None
        if self.octetObserver is not None:
            self.octetObserver.sessionReset()
        reset = Failure(SessionReset("TLS was negotiated: the session started over"))
        for opened, _ in self._opening.values():
            opened.errback(reset)
        self._opening.clear()
        for number in list(self._channels):
            self._channels.pop(number)._closed(reset, clean=False)
        waiters, self._releaseWaiters = self._releaseWaiters, []
        for waiter in waiters:
            waiter.errback(reset)
        for feeder in list(self._feeders):
            feeder.sessionEnded()
        self._tlsActive()
        self._session.reset()
        self._prepareGreeting()
        self._session.greet()
        self._flush()

    @staticmethod
    def _unlessReset(reply, channel):
        """
        A reply that outlived its channel, which only a reset does (a close
        waits for every reply), must not reach a new channel that took the
        same number.
        """
        surviving = defer.Deferred()

        def settle(result):
            if channel.isOpen:
                surviving.callback(result)

        reply.addBoth(settle)
        return surviving

    def _tlsFlushed(self):
        if self._tlsNegotiation is not None:
            self._tlsNegotiation.flushed()

    def _tlsConnectionLost(self, reason):
        if self._tlsNegotiation is None:
            return reason
        return self._tlsNegotiation.connectionLost(reason)

    def _tlsRequested(self, event):
        answerRequest(self, event)

    def _tlsAccepted(self, event):
        # The handshake starts once this read is processed (_tlsFlushed).
        pass

    def _tlsRefused(self, event):
        if self._tlsNegotiation is not None:
            self._tlsNegotiation.refused(event.error)

    _dispatch = {
        events.GreetingReceived: _greetingReceived,
        events.SessionRefused: _sessionRefused,
        events.ChannelStartRequested: _channelStartRequested,
        events.ChannelStarted: _channelStarted,
        events.ChannelStartFailed: _channelStartFailed,
        events.ChannelCloseRequested: _channelCloseRequested,
        events.ChannelClosed: _channelClosed,
        events.ChannelCloseFailed: _channelCloseFailed,
        events.SessionReleased: _sessionReleased,
        events.MessageReceived: _messageReceived,
        events.ReplyReceived: _replyReceived,
        events.ErrorReceived: _errorReceived,
        events.AnswerReceived: _answerReceived,
        events.AnswersCompleted: _answersCompleted,
        events.MessageDiscarded: _messageDiscarded,
        events.FrameReceived: _frameReceived,
        events.ProtocolViolated: _protocolViolated,
        events.TLSRequested: _tlsRequested,
        events.TLSAccepted: _tlsAccepted,
        events.TLSRefused: _tlsRefused,
    }
