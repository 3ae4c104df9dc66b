# -*- test-case-name: beepy.test.test_pool -*-
"""
Tests for channel pools, over two sessions in memory.
"""

from twisted.internet import defer, error
from twisted.trial.unittest import SynchronousTestCase

from beepy import BEEPError, ReplyCode
from beepy.pool import ChannelPool, PoolClosed
from beepy.profiles.echo import ECHO_URI, EchoFactory
from beepy.test.test_protocol import RecordingFactory
from beepy.testing.loopback import connectedSessions

RECORDING_URI = RecordingFactory.uri


class ChannelPoolTests(SynchronousTestCase):
    def setUp(self):
        self.recording = RecordingFactory()
        self.client, self.server, self.pump = connectedSessions([EchoFactory(), self.recording])
        self.pump.flush()

    def pool(self, uri=RECORDING_URI, **kwargs):
        pool = ChannelPool(self.client, uri, **kwargs)
        self.pump.flush()
        return pool

    def acquire(self, pool):
        acquiring = pool.acquire()
        self.pump.flush()
        return acquiring

    def answerAll(self):
        for profile in self.recording.built:
            for message, answer in profile.received:
                if not answer.called:
                    answer.callback(message)
        self.pump.flush()

    def test_whenReady(self):
        """
        The pool-created notification fires with the pool once its initial
        channels are open.
        """
        pool = ChannelPool(self.client, ECHO_URI, initial=3)
        ready = pool.whenReady()
        self.assertNoResult(ready)
        self.pump.flush()
        self.assertIs(self.successResultOf(ready), pool)
        self.assertEqual(len(pool.channels), 3)
        self.assertEqual({channel.profileURI for channel in pool.channels}, {ECHO_URI})
        self.assertIs(self.successResultOf(pool.whenReady()), pool)

    def test_acquireReady(self):
        """
        acquire gives an open channel of the pool that nobody holds.
        """
        pool = self.pool(initial=1)
        [channel] = pool.channels
        self.assertIs(self.successResultOf(self.acquire(pool)), channel)

    def test_growsOnDemand(self):
        """
        While every channel is held, acquire opens another, up to the
        maximum; beyond it callers wait their turn, first come first served.
        """
        pool = self.pool(initial=1, maximum=2)
        first = self.successResultOf(self.acquire(pool))
        second = self.successResultOf(self.acquire(pool))
        self.assertIsNot(first, second)
        self.assertEqual(len(pool.channels), 2)
        third, fourth = self.acquire(pool), self.acquire(pool)
        self.assertNoResult(third)
        self.assertEqual(len(self.client.channels), 2)
        pool.release(second)
        self.assertIs(self.successResultOf(third), second)
        self.assertNoResult(fourth)
        pool.release(first)
        self.assertIs(self.successResultOf(fourth), first)

    def test_busyChannelNotReady(self):
        """
        A channel given back while it awaits a reply is handed out again
        only once the reply is in: the next caller would wait behind it.
        """
        pool = self.pool(initial=1, maximum=1)
        channel = self.successResultOf(self.acquire(pool))
        reply = channel.sendMessage(b"slow")
        self.pump.flush()
        pool.release(channel)
        waiting = self.acquire(pool)
        self.assertNoResult(waiting)
        self.answerAll()
        self.assertEqual(self.successResultOf(reply).body, b"slow")
        self.assertIs(self.successResultOf(waiting), channel)

    def test_slowReplyDoesNotBlock(self):
        """
        A second caller gets a second channel while the first one's reply
        is pending, and its reply does not wait behind it.
        """
        pool = self.pool(initial=1)
        slow = self.successResultOf(self.acquire(pool))
        slowReply = slow.sendMessage(b"slow")
        pool.release(slow)
        fast = self.successResultOf(self.acquire(pool))
        self.assertIsNot(fast, slow)
        fastReply = fast.sendMessage(b"fast")
        self.pump.flush()
        [_, second] = self.recording.built
        [(_, answer)] = second.received
        answer.callback(b"done")
        self.pump.flush()
        self.assertEqual(self.successResultOf(fastReply).body, b"done")
        self.assertNoResult(slowReply)

    def test_closedChannelLeaves(self):
        """
        A channel the peer closes leaves the pool; the next caller gets a
        new one.
        """
        pool = self.pool(initial=1, maximum=1)
        [channel] = pool.channels
        [serverChannel] = self.server.channels.values()
        serverChannel.close()
        self.pump.flush()
        self.assertFalse(channel.isOpen)
        self.assertEqual(pool.channels, [])
        replacement = self.successResultOf(self.acquire(pool))
        self.assertIsNot(replacement, channel)
        self.assertTrue(replacement.isOpen)

    def test_releaseClosedChannel(self):
        """
        A held channel that closed is dropped on release, and a waiting
        caller gets a new channel in its place.
        """
        pool = self.pool(initial=1, maximum=1)
        channel = self.successResultOf(self.acquire(pool))
        waiting = self.acquire(pool)
        channel.close()
        self.pump.flush()
        pool.release(channel)
        self.pump.flush()
        replacement = self.successResultOf(waiting)
        self.assertIsNot(replacement, channel)
        self.assertEqual(pool.channels, [replacement])

    def test_releaseUnknown(self):
        """
        Only acquired channels can be released.
        """
        pool = self.pool(initial=1)
        [channel] = pool.channels
        self.assertRaises(ValueError, pool.release, channel)

    def test_cancelWaiting(self):
        """
        A caller that cancels its acquire leaves the queue.
        """
        pool = self.pool(initial=1, maximum=1)
        channel = self.successResultOf(self.acquire(pool))
        cancelled = self.acquire(pool)
        later = self.acquire(pool)
        cancelled.cancel()
        self.failureResultOf(cancelled, defer.CancelledError)
        pool.release(channel)
        self.assertIs(self.successResultOf(later), channel)

    def test_createHandler(self):
        """
        The pool grows through its create handler, called with the session
        and the profile URI.
        """
        calls = []

        def create(session, uri):
            calls.append((session, uri))
            return session.openChannel(uri, serverName="pool.example")

        pool = self.pool(initial=2, create=create)
        self.assertEqual(calls, [(self.client, RECORDING_URI)] * 2)
        self.assertEqual(
            [start.serverName for start in self.recording.starts], ["pool.example"] * 2
        )
        self.assertEqual(len(pool.channels), 2)

    def test_createFails(self):
        """
        A create handler that fails fails whenReady, and the acquire the new
        channel was for; the pool does not retry on its own.
        """
        self.recording.refusal = BEEPError(ReplyCode.REQUESTED_ACTION_NOT_TAKEN, "no")
        pool = self.pool(initial=1)
        self.failureResultOf(pool.whenReady(), BEEPError)
        failure = self.failureResultOf(self.acquire(pool), BEEPError)
        self.assertEqual(failure.value.code, ReplyCode.REQUESTED_ACTION_NOT_TAKEN)
        self.assertEqual(len(self.recording.starts), 2)

    def test_close(self):
        """
        close() closes every channel, each once its replies are in, and
        fails the waiting callers and later ones with PoolClosed.
        """
        pool = self.pool(initial=1, maximum=1)
        channel = self.successResultOf(self.acquire(pool))
        reply = channel.sendMessage(b"last")
        waiting = self.acquire(pool)
        closing = pool.close()
        self.pump.flush()
        self.failureResultOf(waiting, PoolClosed)
        self.assertNoResult(closing)
        self.answerAll()
        self.successResultOf(reply)
        self.assertIsNone(self.successResultOf(closing))
        self.assertEqual(self.client.channels, {})
        self.failureResultOf(pool.acquire(), PoolClosed)

    def test_closedBeforeCreated(self):
        """
        A channel still opening when the pool closes is closed once open.
        """
        pool = ChannelPool(self.client, RECORDING_URI, initial=1)
        self.successResultOf(pool.close())
        self.pump.flush()
        self.assertEqual(self.client.channels, {})

    def test_sessionEnds(self):
        """
        When the session ends, waiting callers fail with its reason.
        """
        pool = self.pool(initial=1, maximum=1)
        self.successResultOf(self.acquire(pool))
        waiting = self.acquire(pool)
        self.client.transport.loseConnection()
        self.pump.flush()
        self.failureResultOf(waiting, error.ConnectionLost)
        self.failureResultOf(pool.acquire(), error.ConnectionLost)
        self.assertEqual(pool.channels, [])

    def test_badSizes(self):
        """
        The initial size must be within 0..maximum, and maximum positive.
        """
        for initial, maximum in [(-1, 2), (3, 2), (0, 0)]:
            self.assertRaises(ValueError, ChannelPool, self.client, ECHO_URI, initial, maximum)
