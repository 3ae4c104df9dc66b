# -*- test-case-name: beepy.test.test_cli -*-
"""
A progress line on a terminal for transfers that take more than a moment.
"""

__all__ = ["ProgressMeter", "formatSize"]

#: Seconds a transfer runs before its progress is shown: a quick one never
#: flickers a line onto the terminal.
DELAY = 1.0
#: Seconds between redraws.
INTERVAL = 0.25

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def formatSize(octets):
    """
    ``octets`` for a person: ``512 B``, ``1.5 MiB``.
    """
    size = float(octets)
    for unit in _UNITS:
        if size < 1024 or unit == _UNITS[-1]:
            break
        size /= 1024
    return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"


class ProgressMeter:
    """
    Counts the octets of a transfer, and once it has run for :data:`DELAY`
    seconds, redraws one line on ``stream`` every :data:`INTERVAL` seconds:
    octets sent (of how many, if known), received, and the rate.

    :param clock: an ``IReactorTime``.
    :param stream: a text stream, normally ``sys.stderr``; nothing is drawn
        unless it is a terminal.
    :param total: octets to send, if known.
    """

    def __init__(self, clock, stream, total=None):
        self._clock = clock
        self._stream = stream
        self._total = total
        self._started = clock.seconds()
        self._shown = False
        self._call = None
        self.sent = 0
        self.received = 0

    def start(self):
        if self._stream.isatty():
            self._call = self._clock.callLater(DELAY, self._redraw)

    def countSent(self, octets):
        self.sent += octets

    def countReceived(self, octets):
        self.received += octets

    def stop(self):
        """
        The transfer is over: draw its final state, once a line was shown,
        and end the line.
        """
        if self._call is not None:
            self._call.cancel()
            self._call = None
        if self._shown:
            self._draw()
            self._stream.write("\n")
            self._stream.flush()

    def line(self):
        """
        The progress line, without the carriage return that redraws it.
        """
        sent = formatSize(self.sent)
        if self._total:
            sent += f" of {formatSize(self._total)} ({100 * self.sent // self._total}%)"
        elapsed = max(self._clock.seconds() - self._started, 1e-9)
        rate = formatSize((self.sent + self.received) / elapsed)
        return f"sent {sent}, received {formatSize(self.received)}, {rate}/s"

    def _redraw(self):
        self._shown = True
        self._draw()
        self._call = self._clock.callLater(INTERVAL, self._redraw)

    def _draw(self):
        # Carriage return and erase-to-end-of-line: the line is drawn over.
        self._stream.write("\r" + self.line() + "\x1b[K")
        self._stream.flush()
