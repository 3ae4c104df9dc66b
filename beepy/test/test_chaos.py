# -*- test-case-name: beepy.test.test_chaos -*-
"""
Tests for :mod:`beepy.chaos`: options and mixes, lanes, and each built-in
behaviour, driven through the proxy with in-memory transports and a
``task.Clock``, so every delay is exact and every run the same.
"""

import os
import random
import sys

from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.plugin import getPlugins
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from beepy.chaos import (
    ChaosProxy,
    IChaosBehaviour,
    IConnectionBehaviour,
    availableBehaviours,
    configure,
    findBehaviour,
    parseMix,
)
from beepy.chaos.behaviours import BUILTIN
from beepy.core.codec import TRAILER, encodeHeader
from beepy.core.frames import FrameType

BUILTIN_NAMES = {"dummy", "delay", "split", "slow", "blackout", "reset", "corrupt", "hang"}


def frame(channel, msgno, payload):
    """
    :return: the octets of a complete ``MSG`` frame.
    """
    return encodeHeader(FrameType.MSG, channel, msgno, False, 0, len(payload)) + payload + TRAILER


class Connection:
    """
    One connection through a :class:`ChaosProxy` whose backend connection
    is made in memory: ``client`` and ``backend`` are the two sides'
    ``StringTransport``\\ s, ``clock`` the proxy's time.
    """

    def __init__(self, name, seed=0, **settings):
        self.clock = MemoryReactorClock()
        backend = TCP4ClientEndpoint(self.clock, "127.0.0.1", 10288)
        self.proxy = ChaosProxy(
            backend, [(1, configure(name, **settings))], reactor=self.clock, random=random.Random(seed)
        )
        self.clientSide = self.proxy.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5000))
        self.client = RecordingTransport()
        self.clientSide.makeConnection(self.client)
        [(_, _, factory, _, _)] = self.clock.tcpClients
        self.backendSide = factory.buildProtocol(None)
        self.backend = RecordingTransport()
        self.backendSide.makeConnection(self.backend)
        [self.pipe] = self.proxy.pipes

    def fromClient(self, data):
        self.clientSide.dataReceived(data)

    def fromBackend(self, data):
        self.backendSide.dataReceived(data)

    def run(self, seconds=0.0, turns=10000):
        """
        Advance the clock by ``seconds``, then turn the reactor until no call
        is due (each lane writes once per turn).
        """
        self.clock.advance(seconds)
        for _ in range(turns):
            if not any(call.getTime() <= self.clock.seconds() for call in self.clock.getDelayedCalls()):
                return
            self.clock.advance(0)
        raise AssertionError(f"calls were still due after {turns} turns")

    def lose(self, side, transport):
        """
        End one side's connection, as the reactor would.
        """
        transport.disconnecting = True
        side.connectionLost(Failure(ConnectionDone()))


class RecordingTransport(StringTransport):
    """
    A ``StringTransport`` that keeps each write separately.
    """

    def __init__(self):
        super().__init__()
        self.chunks = []

    def write(self, data):
        super().write(data)
        self.chunks.append(data)


class MixTests(SynchronousTestCase):
    """
    Choosing behaviours by name, with weights and options.
    """

    def test_builtinsAvailable(self):
        """
        Every built-in behaviour is available by name and provides
        ``IChaosBehaviour`` with options that have a type, a default and a
        description.
        """
        behaviours = availableBehaviours()
        self.assertTrue(BUILTIN_NAMES <= set(behaviours))
        for behaviour in behaviours.values():
            verifyObject(IChaosBehaviour, behaviour)
            for option in behaviour.options:
                self.assertTrue(option.description)
                self.assertEqual(option.type(option.default), option.default)

    def test_builtinsArePlugins(self):
        """
        The built-ins are found by Twisted's plugin scan, the way a
        third-party behaviour is.
        """
        found = {behaviour.name for behaviour in getPlugins(IChaosBehaviour)}
        self.assertTrue(BUILTIN_NAMES <= found, found)

    def test_thirdPartyPlugin(self):
        """
        An ``IChaosBehaviour`` plugin in a ``twisted/plugins`` directory is
        found by name, and cannot replace a built-in.
        """
        directory = self.mktemp()
        os.makedirs(directory)
        with open(os.path.join(directory, "beepy_chaos_extra.py"), "w") as module:
            module.write(
                "from beepy.chaos import BehaviourPlugin, PassThrough\n"
                "class Extra(PassThrough):\n"
                "    description = 'A test behaviour.'\n"
                "extra = BehaviourPlugin('extra', Extra)\n"
                "impostor = BehaviourPlugin('delay', Extra)\n"
            )
        import twisted.plugins

        twisted.plugins.__path__.append(directory)
        self.addCleanup(twisted.plugins.__path__.remove, directory)
        self.addCleanup(sys.modules.pop, "twisted.plugins.beepy_chaos_extra", None)
        self.assertEqual(findBehaviour("extra").description, "A test behaviour.")
        self.assertIn(findBehaviour("delay"), BUILTIN)

    def test_configureConverts(self):
        """
        String values are converted with the option's type, and options not
        given take their defaults.
        """
        configured = configure("delay", seconds="0.25")
        self.assertEqual(configured.settings, {"seconds": 0.25, "direction": "both"})
        self.assertEqual(str(configured), "delay(direction=both,seconds=0.25)")

    def test_configureRefuses(self):
        """
        An unknown behaviour or option, or a value of the wrong type, is a
        ``ValueError`` that names it.
        """
        for name, settings, message in [
            ("nosuch", {}, "no chaos behaviour 'nosuch'; there are blackout, corrupt"),
            ("delay", {"secs": 1}, "has no option 'secs'; its options: seconds, direction"),
            ("delay", {"seconds": "-1"}, "bad value '-1' for delay:seconds"),
            ("split", {"size": 2.5}, "bad value 2.5 for split:size"),
            ("split", {"size": "0"}, "'0' is not an integer >= 1"),
            ("slow", {"rate": 0}, "0 is not a number > 0"),
            ("corrupt", {"target": "trailer"}, "'trailer' is not one of any, header, payload"),
        ]:
            error = self.assertRaises(ValueError, configure, name, **settings)
            self.assertIn(message, str(error))

    def test_parseMix(self):
        """
        ``WEIGHT:NAME`` pairs, comma-separated or repeated, with a weight of
        1 by default, and ``NAME:OPTION=VALUE`` settings.
        """
        mix = parseMix(["20:split,10:delay", "reset"], ["delay:seconds=0.5", "reset:after=7"])
        self.assertEqual(
            [(weight, configured.name) for weight, configured in mix],
            [(20, "split"), (10, "delay"), (1, "reset")],
        )
        self.assertEqual(mix[1][1].settings["seconds"], 0.5)
        self.assertEqual(mix[2][1].settings["after"], 7)

    def test_parseMixRefuses(self):
        """
        Each mistake in a mix is one readable ``ValueError``.
        """
        for specifications, options, message in [
            (["0:split"], [], "bad behavior '0:split': expected WEIGHT:NAME"),
            (["x:split"], [], "bad behavior 'x:split'"),
            (["split,split"], [], "behavior 'split' is given twice"),
            (["split"], ["delay:seconds=1"], "is for 'delay', not in the mix"),
            (["split"], ["split:size"], "expected NAME:OPTION=VALUE"),
            (["split"], ["split:size=big"], "bad value 'big' for split:size"),
        ]:
            error = self.assertRaises(ValueError, parseMix, specifications, options)
            self.assertIn(message, str(error))

    def test_choiceByWeight(self):
        """
        Connections get behaviours in proportion to their weights, and the
        same seed gives the same choices.
        """

        def choices(seed):
            proxy = ChaosProxy(
                None, parseMix(["3:split,1:delay"]), reactor=MemoryReactorClock(),
                random=random.Random(seed),
            )
            return [proxy._choose().name for _ in range(400)]

        chosen = choices(7)
        self.assertEqual(chosen, choices(7))
        self.assertTrue(250 < chosen.count("split") < 350, chosen.count("split"))

    def test_emptyMix(self):
        """
        A proxy needs at least one behaviour with a positive weight.
        """
        self.assertRaises(ValueError, ChaosProxy, None, [], reactor=MemoryReactorClock())
        self.assertRaises(
            ValueError, ChaosProxy, None, [(0, configure("dummy"))], reactor=MemoryReactorClock()
        )


class LaneTests(SynchronousTestCase):
    """
    A lane delivers in order, when told, one write per turn, and holds the
    sender back rather than its octets without bound.
    """

    def test_passThrough(self):
        """
        ``dummy`` forwards each chunk at once, both ways, and a side that
        closes closes the other.
        """
        connection = Connection("dummy")
        connection.fromClient(b"hello")
        connection.fromBackend(b"world")
        self.assertEqual(connection.backend.chunks, [b"hello"])
        self.assertEqual(connection.client.chunks, [b"world"])
        connection.lose(connection.clientSide, connection.client)
        connection.run()
        self.assertTrue(connection.backend.disconnecting)

    def test_endAfterHeld(self):
        """
        A close waits for what the lane still holds.
        """
        connection = Connection("delay", seconds=2.0)
        connection.fromClient(b"late")
        connection.lose(connection.clientSide, connection.client)
        connection.run(1.9)
        self.assertFalse(connection.backend.disconnecting)
        connection.run(0.1)
        self.assertEqual(connection.backend.value(), b"late")
        self.assertTrue(connection.backend.disconnecting)

    def test_holdsSourceBack(self):
        """
        A lane holding more than its high-water mark pauses the sending
        side's transport, and resumes it once it has delivered.
        """
        connection = Connection("delay", seconds=1.0)
        connection.fromClient(b"x" * (connection.pipe.upstream.highWater + 1))
        self.assertEqual(connection.client.producerState, "paused")
        connection.run(1.0)
        self.assertEqual(connection.client.producerState, "producing")

    def test_destinationFull(self):
        """
        While the destination's transport cannot take more, the lane
        delivers nothing and pauses the source.
        """
        connection = Connection("dummy")
        connection.backend.producer.pauseProducing()
        connection.fromClient(b"held")
        self.assertEqual(connection.backend.value(), b"")
        self.assertEqual(connection.client.producerState, "paused")
        connection.backend.producer.resumeProducing()
        connection.run()
        self.assertEqual(connection.backend.value(), b"held")
        self.assertEqual(connection.client.producerState, "producing")

    def test_destinationLost(self):
        """
        Once the destination is gone, what was held is dropped, and the
        proxy closes the other side.
        """
        connection = Connection("delay", seconds=1.0)
        connection.fromClient(b"never")
        connection.lose(connection.backendSide, connection.backend)
        connection.run(1.0)
        self.assertEqual(connection.backend.value(), b"")
        self.assertTrue(connection.client.disconnecting)
        self.assertEqual(connection.clock.getDelayedCalls(), [])

    def test_backendUnreachable(self):
        """
        If the backend cannot be reached, the client's connection is closed.
        """
        clock = MemoryReactorClock()
        proxy = ChaosProxy(
            TCP4ClientEndpoint(clock, "127.0.0.1", 1), parseMix(["dummy"]), reactor=clock
        )
        client = StringTransport()
        proxy.factory.buildProtocol(None).makeConnection(client)
        [(_, _, factory, _, _)] = clock.tcpClients
        factory.clientConnectionFailed(None, Failure(ConnectionDone("refused")))
        self.assertTrue(client.disconnecting)


class BehaviourTests(SynchronousTestCase):
    """
    Each built-in behaviour, as the two sides see it.
    """

    def test_delay(self):
        """
        ``delay`` holds each chunk for its seconds, in order, in the
        directions it is told.
        """
        connection = Connection("delay", seconds=0.5, direction="upstream")
        connection.fromClient(b"one")
        connection.run(0.25)
        connection.fromClient(b"two")
        connection.fromBackend(b"back")
        self.assertEqual(connection.client.chunks, [b"back"])
        connection.run(0.2499)
        self.assertEqual(connection.backend.chunks, [])
        connection.run(0.0001)
        self.assertEqual(connection.backend.chunks, [b"one"])
        connection.run(0.25)
        self.assertEqual(connection.backend.chunks, [b"one", b"two"])

    def test_split(self):
        """
        ``split`` cuts the stream into pieces of 1 to ``size`` octets at
        seeded random places, frame headers included, one write per turn.
        """
        data = frame(1, 0, b"Content-Type: text/plain\r\n\r\nhello") * 3
        pieces = []
        for seed in (1, 2):
            connection = Connection("split", seed=seed, size=5)
            connection.fromClient(data)
            self.assertEqual(len(connection.backend.chunks), 1)
            connection.run()
            pieces.append(connection.backend.chunks)
            self.assertEqual(b"".join(connection.backend.chunks), data)
            self.assertTrue(all(1 <= len(piece) <= 5 for piece in connection.backend.chunks))
            self.assertGreater(len(set(map(len, connection.backend.chunks))), 1)
        self.assertNotEqual(pieces[0], pieces[1])

    def test_splitRepeats(self):
        """
        The same seed splits the same way.
        """

        def pieces():
            connection = Connection("split", seed=3, size=4)
            connection.fromClient(b"x" * 100)
            connection.run()
            return [len(piece) for piece in connection.backend.chunks]

        self.assertEqual(pieces(), pieces())

    def test_slow(self):
        """
        ``slow`` delivers ``size`` octets at a time at ``rate`` octets per
        second.
        """
        connection = Connection("slow", rate=8.0, size=2)
        connection.fromClient(b"abcdefgh")
        self.assertEqual(connection.backend.chunks, [b"ab"])
        connection.run(0.125)
        self.assertEqual(connection.backend.chunks, [b"ab"])
        connection.run(0.125)
        self.assertEqual(connection.backend.chunks, [b"ab", b"cd"])
        connection.run(0.5)
        self.assertEqual(connection.backend.value(), b"abcdefgh")

    def test_blackout(self):
        """
        ``blackout`` forwards at once until ``after`` seconds, then holds
        everything for ``seconds``, then forwards at once again.
        """
        connection = Connection("blackout", after=1.0, seconds=2.0)
        connection.fromClient(b"before ")
        connection.run(1.5)
        connection.fromClient(b"during ")
        connection.fromBackend(b"back")
        connection.run(1.4999)
        self.assertEqual(connection.backend.value(), b"before ")
        self.assertEqual(connection.client.value(), b"")
        connection.run(0.0001)
        connection.fromClient(b"after")
        self.assertEqual(connection.backend.value(), b"before during after")
        self.assertEqual(connection.client.value(), b"back")

    def test_blackoutRepeats(self):
        """
        With ``every``, the blackout comes back with that period.
        """
        connection = Connection("blackout", after=0.0, seconds=1.0, every=3.0)
        connection.run(3.5)
        connection.fromClient(b"held")
        self.assertEqual(connection.backend.value(), b"")
        connection.run(0.5)
        self.assertEqual(connection.backend.value(), b"held")
        connection.run(1.0)
        connection.fromClient(b"!")
        self.assertEqual(connection.backend.value(), b"held!")

    def test_reset(self):
        """
        ``reset`` forwards ``after`` octets, then aborts both connections
        and forwards nothing more.
        """
        connection = Connection("reset", after=6)
        connection.fromClient(b"abcd")
        connection.fromBackend(b"efghij")
        self.assertEqual(connection.backend.value(), b"abcd")
        self.assertEqual(connection.client.value(), b"ef")
        self.assertTrue(connection.client.disconnected)
        self.assertTrue(connection.backend.disconnected)
        connection.fromClient(b"more")
        self.assertEqual(connection.backend.value(), b"abcd")

    def test_resetSpread(self):
        """
        ``spread`` adds a random number of octets, up to itself, per
        connection.
        """
        forwarded = set()
        for seed in range(20):
            connection = Connection("reset", seed=seed, after=10, spread=5)
            connection.fromClient(b"x" * 100)
            forwarded.add(len(connection.backend.value()))
        self.assertTrue(forwarded <= set(range(10, 16)), forwarded)
        self.assertGreater(len(forwarded), 2)

    def test_hang(self):
        """
        ``hang`` forwards nothing either way and does not pass on the
        backend's close; the client's close still closes the backend.
        """
        connection = Connection("hang")
        connection.fromClient(b"hello")
        connection.fromBackend(b"greeting")
        connection.lose(connection.backendSide, connection.backend)
        connection.run(3600)
        self.assertEqual((connection.backend.value(), connection.client.value()), (b"", b""))
        self.assertFalse(connection.client.disconnecting)

        connection = Connection("hang")
        connection.lose(connection.clientSide, connection.client)
        connection.run()
        self.assertTrue(connection.backend.disconnecting)

    def test_hangAfter(self):
        """
        With ``after``, ``hang`` forwards that many octets, both ways
        together, and passes on closes until then.
        """
        connection = Connection("hang", after=10)
        connection.fromBackend(b"greeting")
        connection.fromClient(b"hello")
        connection.fromBackend(b"more")
        self.assertEqual((connection.client.value(), connection.backend.value()), (b"greeting", b"he"))
        connection.lose(connection.backendSide, connection.backend)
        connection.run()
        self.assertFalse(connection.client.disconnecting)

        connection = Connection("hang", after=10)
        connection.lose(connection.backendSide, connection.backend)
        connection.run()
        self.assertTrue(connection.client.disconnecting)

    def flipped(self, original, damaged):
        """
        :return: the offsets where ``damaged`` differs from ``original``,
            checking that each differs by the top bit only.
        """
        self.assertEqual(len(original), len(damaged))
        offsets = [i for i, (a, b) in enumerate(zip(original, damaged)) if a != b]
        for i in offsets:
            self.assertEqual(original[i] ^ damaged[i], 0x80)
        return offsets

    def test_corruptHeader(self):
        """
        ``corrupt`` with ``target=header`` flips octets of header lines
        only, never their CRLF, after ``after`` octets, ``count`` of them,
        even when the stream arrives split inside a header.
        """
        payload = b"Content-Type: text/plain\r\n\r\n" + b"p" * 40
        data = b"".join(frame(1, n, payload) for n in range(20))
        headerOffsets = set()
        position = 0
        for n in range(20):
            header = encodeHeader(FrameType.MSG, 1, n, False, 0, len(payload))
            headerOffsets.update(range(position, position + len(header) - 2))
            position += len(header) + len(payload) + len(TRAILER)
        for seed in range(10):
            connection = Connection("corrupt", seed=seed, after=100, count=3, target="header")
            for start in range(0, len(data), 7):
                connection.fromClient(data[start : start + 7])
            connection.fromBackend(data)
            connection.run()
            offsets = self.flipped(data, connection.backend.value())
            self.assertEqual(len(offsets), 3)
            self.assertTrue(set(offsets) <= headerOffsets, (offsets, seed))
            self.assertGreaterEqual(min(offsets), 100)
            self.assertEqual(len(self.flipped(data, connection.client.value())), 3)

    def test_corruptPayload(self):
        """
        With ``target=payload``, only payload octets are flipped, in the
        directions asked for.
        """
        payload = b"q" * 50
        data = frame(3, 0, payload) + b"SEQ 3 0 4096\r\n" + frame(3, 1, payload)
        connection = Connection(
            "corrupt", seed=5, count=100, target="payload", gap=0, direction="downstream"
        )
        connection.fromBackend(data)
        connection.fromClient(data)
        self.assertEqual(connection.backend.value(), data)
        damaged = connection.client.value()
        self.assertEqual(damaged.count(b"q"), 0)
        self.assertEqual(damaged.replace(bytes([ord("q") ^ 0x80]), b"q"), data)

    def test_corruptUnreadable(self):
        """
        Once the stream cannot be read as frames (TLS, say), ``header`` and
        ``payload`` targets flip nothing more; ``any`` still does.
        """
        data = b"\x16\x03\x01" + bytes(range(256)) * 2
        for target, expected in [("header", 0), ("payload", 0), ("any", 4)]:
            connection = Connection("corrupt", seed=1, count=4, target=target, gap=0)
            connection.fromClient(data)
            self.assertEqual(len(self.flipped(data, connection.backend.value())), expected)

    def test_connectionBehaviours(self):
        """
        What each built-in builds for a connection provides
        ``IConnectionBehaviour``.
        """
        for behaviour in BUILTIN:
            connection = Connection(behaviour.name)
            verifyObject(IConnectionBehaviour, connection.pipe.behaviour)
