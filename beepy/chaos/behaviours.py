# -*- test-case-name: beepy.test.test_chaos -*-
"""
The built-in chaos behaviours.

Each is a :class:`BehaviourPlugin` (the ``IChaosBehaviour`` and ``IPlugin``
provider ``twisted/plugins/beepy_chaos_behaviours.py`` exports) around a
:class:`PassThrough` subclass, built afresh for every connection.  They
take time from ``pipe.clock`` and chance from ``pipe.random`` only, so a
run with a seeded ``random.Random`` and a ``task.Clock`` repeats exactly.
"""

import re

from twisted.plugin import IPlugin
from zope.interface import implementer

from beepy.chaos.interfaces import IChaosBehaviour, IConnectionBehaviour
from beepy.chaos.options import Option, choice, count, limited, number

__all__ = [
    "BUILTIN",
    "BehaviourPlugin",
    "PassThrough",
    "blackout",
    "corrupt",
    "delay",
    "dummy",
    "hang",
    "reset",
    "slow",
    "split",
]

_DIRECTION = Option(
    "direction",
    choice("both", "upstream", "downstream"),
    "both",
    "Which way to misbehave: upstream (client to backend), downstream, or both.",
)

_PIECE = limited(int, "an integer >= 1", lambda n: n >= 1)
_RATE = limited(float, "a number > 0", lambda n: n > 0)

_SPREAD = Option("spread", count, 0, "Up to this many octets more, drawn at random per connection.")


@implementer(IPlugin, IChaosBehaviour)
class BehaviourPlugin:
    """
    An ``IChaosBehaviour`` named ``name`` whose connections get a
    ``connectionBehaviour``: the easiest way to write one, since the class
    declares everything about it in one place.

    :param connectionBehaviour: called as
        ``connectionBehaviour(pipe, **settings)``; usually a
        :class:`PassThrough` subclass.  Its ``description`` and ``options``
        attributes are the plugin's.
    """

    def __init__(self, name, connectionBehaviour):
        self.name = name
        self.description = connectionBehaviour.description
        self.options = tuple(connectionBehaviour.options)
        self._connectionBehaviour = connectionBehaviour

    def __repr__(self):
        return f"<chaos behaviour {self.name}>"

    def buildBehaviour(self, pipe, settings):
        return self._connectionBehaviour(pipe, **settings)


@implementer(IConnectionBehaviour)
class PassThrough:
    """
    Forwards everything at once, in both directions: the ``dummy``
    behaviour, and the base of the others, which misbehave only on the
    lanes their ``direction`` setting names.

    :cvar description: one sentence for ``--help-behaviors``.
    :cvar options: the :class:`beepy.chaos.Option` declarations of the
        keyword arguments it takes besides ``pipe``.
    """

    description = "Forward everything at once, untouched."
    options = ()

    def __init__(self, pipe, direction="both"):
        self.pipe = pipe
        self._lanes = {
            "both": {pipe.upstream, pipe.downstream},
            "upstream": {pipe.upstream},
            "downstream": {pipe.downstream},
        }[direction]

    def applies(self, lane):
        """
        :return: whether this behaviour misbehaves on ``lane``.
        """
        return lane in self._lanes

    def dataReceived(self, lane, data):
        if self.applies(lane):
            self.misbehave(lane, data)
        else:
            lane.send(data)

    def misbehave(self, lane, data):
        """
        Send ``data`` along ``lane``, the way this behaviour does.
        """
        lane.send(data)

    def endReceived(self, lane):
        lane.end()


class _Delay(PassThrough):
    description = "Hold every chunk for a time before forwarding it."
    options = (Option("seconds", number, 1.0, "How long each chunk is held, in seconds."), _DIRECTION)

    def __init__(self, pipe, seconds, direction):
        super().__init__(pipe, direction)
        self._seconds = seconds

    def misbehave(self, lane, data):
        lane.send(data, delay=self._seconds)


class _Split(PassThrough):
    description = (
        "Re-chunk the stream at random octet boundaries (inside frame headers too), "
        "one write per piece."
    )
    options = (
        Option("size", _PIECE, 16, "The largest piece, in octets (pieces are 1 to size)."),
        Option("interval", number, 0.0, "Seconds between pieces."),
        _DIRECTION,
    )

    def __init__(self, pipe, size, interval, direction):
        super().__init__(pipe, direction)
        self._size = size
        self._interval = interval

    def misbehave(self, lane, data):
        randint = self.pipe.random.randint
        start = 0
        while start < len(data):
            end = start + randint(1, self._size)
            lane.send(data[start:end], gap=self._interval)
            start = end


class _Slow(PassThrough):
    description = "Trickle octets at a steady rate."
    options = (Option("rate", _RATE, 1024.0, "Octets per second."),
               Option("size", _PIECE, 1, "Octets per write."), _DIRECTION)

    def __init__(self, pipe, rate, size, direction):
        super().__init__(pipe, direction)
        self._rate = rate
        self._size = size

    def misbehave(self, lane, data):
        for start in range(0, len(data), self._size):
            piece = data[start : start + self._size]
            lane.send(piece, gap=len(piece) / self._rate)


class _Blackout(PassThrough):
    """
    Holds what arrives during each blackout until it ends.  The windows
    are computed from the time of arrival, so no timer outlives the
    connection.
    """

    description = "Stop forwarding for a while, then deliver what was held."
    options = (
        Option("after", number, 1.0, "Seconds from the connection to the blackout."),
        Option("seconds", number, 5.0, "How long the blackout lasts."),
        Option("every", number, 0.0, "Repeat it with this period, in seconds (0: once)."),
        _DIRECTION,
    )

    def __init__(self, pipe, after, seconds, every, direction):
        super().__init__(pipe, direction)
        self._start = pipe.clock.seconds() + after
        self._seconds = seconds
        self._every = every

    def misbehave(self, lane, data):
        elapsed = self.pipe.clock.seconds() - self._start
        if elapsed >= 0 and self._every > 0:
            elapsed %= self._every
        if 0 <= elapsed < self._seconds:
            lane.send(data, delay=self._seconds - elapsed)
        else:
            lane.send(data)


class _Budget(PassThrough):
    """
    Forwards ``after`` octets and up to ``spread`` more (drawn per
    connection), both ways together, then calls :meth:`spent` once and
    drops everything after.
    """

    def __init__(self, pipe, after, spread, direction="both"):
        super().__init__(pipe, direction)
        self._remaining = after + pipe.random.randint(0, spread)

    def misbehave(self, lane, data):
        if self._remaining is None:
            return
        lane.send(data[: self._remaining])
        if len(data) < self._remaining:
            self._remaining -= len(data)
        else:
            self._remaining = None
            self.spent()

    def spent(self):
        pass


class _Reset(_Budget):
    description = "Reset both connections after some octets; what the proxy held is lost."
    options = (
        Option("after", count, 1024, "Octets forwarded, both ways together, before the reset."),
        _SPREAD,
        _DIRECTION,
    )

    def spent(self):
        self.pipe.abort()


class _Hang(_Budget):
    """
    Once its octets are spent it takes everything and gives nothing; a
    backend that gives up is not passed on either, so the client waits
    until it gives up itself.
    """

    description = "Accept, then never forward or answer anything (after some octets, if asked)."
    options = (
        Option("after", count, 0, "Octets forwarded, both ways together, before the hang."),
        _SPREAD,
    )

    def endReceived(self, lane):
        if lane is self.pipe.upstream or self._remaining is not None:
            lane.end()


class _FrameScanner:
    """
    Follows the BEEP framing of one direction, only as far as telling the
    octets of header lines from those of payloads, so ``corrupt`` can aim.
    What cannot be read as a frame (after TLS starts, say) is ``other``.
    """

    _KEYWORDS = {b"MSG", b"RPY", b"ERR", b"ANS", b"NUL"}
    _HEADER = re.compile(rb"[A-Z0-9 .*]*\r?\n?")  # what a header line may hold so far

    def __init__(self):
        self._line = bytearray()
        self._payload = 0  # payload octets still to come
        self._trailer = 0  # then these many trailer octets
        self._lost = False

    def segments(self, data):
        """
        :return: ``(start, end, kind)`` ranges covering ``data``, ``kind``
            being ``"header"`` (a header line's octets before its CRLF),
            ``"payload"`` or ``"other"``.
        """
        position, segments = 0, []
        while position < len(data):
            if self._lost:
                segments.append((position, len(data), "other"))
                break
            for remaining, kind in (("_payload", "payload"), ("_trailer", "other")):
                left = getattr(self, remaining)
                if left:
                    end = min(len(data), position + left)
                    segments.append((position, end, kind))
                    setattr(self, remaining, left - (end - position))
                    position = end
                    break
            else:
                newline = data.find(b"\n", position)
                end = len(data) if newline < 0 else newline + 1
                self._line += data[position:end]
                if len(self._line) > 128 or not self._HEADER.fullmatch(self._line):
                    self._lost = True
                    continue
                segments.append((position, end, "header"))
                position = end
                if newline >= 0:
                    self._headerEnded()
        return segments

    def _headerEnded(self):
        fields = bytes(self._line).rstrip(b"\r\n").split(b" ")
        self._line.clear()
        if fields[0] == b"SEQ":
            return
        if fields[0] in self._KEYWORDS and len(fields) >= 6 and fields[5].isdigit():
            self._payload, self._trailer = int(fields[5]), 5
        else:
            self._lost = True


class _Corrupt(PassThrough):
    """
    Inverts the top bit of chosen octets: never a no-op, and in a header
    line never a valid header character, so the peer must see a malformed
    frame (a header line's CR and LF are left alone, so the damage is
    seen at once instead of the line running on).
    """

    description = "Flip the top bit of octets in frame headers, payloads, or anywhere."
    options = (
        Option("after", count, 0, "Octets passed untouched first, per direction."),
        Option("count", count, 1, "Octets to flip, per direction."),
        Option("target", choice("any", "header", "payload"), "any", "Which octets may be flipped."),
        Option(
            "gap",
            count,
            64,
            "At most this many octets that could be flipped are skipped before each flip "
            "(chosen at random).",
        ),
        _DIRECTION,
    )

    def __init__(self, pipe, after, count, target, gap, direction):
        super().__init__(pipe, direction)
        self._after, self._count, self._target, self._gap = after, count, target, gap
        self._state = {}  # lane -> [scanner, octets seen, flips left, octets to skip]

    def misbehave(self, lane, data):
        state = self._state.get(lane)
        if state is None:
            state = self._state[lane] = [_FrameScanner(), 0, self._count, self._skip()]
        scanner, seen, left, skip = state
        if not left:
            lane.send(data)
            return
        damaged = bytearray(data)
        for start, end, kind in scanner.segments(data):
            if kind == "header":
                end = start + len(data[start:end].rstrip(b"\r\n"))
            start = max(start, self._after - seen)
            if not left or start >= end or self._target not in (kind, "any"):
                continue
            while left and start + skip < end:
                damaged[start + skip] ^= 0x80
                start, left, skip = start + skip + 1, left - 1, self._skip()
            if left:
                skip -= end - start
        state[1:] = [seen + len(data), left, skip]
        lane.send(bytes(damaged))

    def _skip(self):
        return self.pipe.random.randint(0, self._gap)


dummy = BehaviourPlugin("dummy", PassThrough)
delay = BehaviourPlugin("delay", _Delay)
split = BehaviourPlugin("split", _Split)
slow = BehaviourPlugin("slow", _Slow)
blackout = BehaviourPlugin("blackout", _Blackout)
reset = BehaviourPlugin("reset", _Reset)
corrupt = BehaviourPlugin("corrupt", _Corrupt)
hang = BehaviourPlugin("hang", _Hang)

#: The built-in behaviours, found by name even where Twisted's plugin
#: scan cannot see ``twisted/plugins/beepy_chaos_behaviours.py``.
BUILTIN = (dummy, delay, split, slow, blackout, reset, corrupt, hang)
