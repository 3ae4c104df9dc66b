"""
The server side of a benchmark, run by ``run.py`` in a child process of its
own so that its memory can be read from ``/proc``:

    python server.py KIND [--config NAME] [--files N] [--profile PATH]

KIND is ``beep`` (echo, sink and the streamed-reply profiles), ``amp`` (the
AMP echo baseline) or ``raw`` (the raw TCP baseline: a discarding peer).
It listens on an ephemeral loopback port, prints ``PORT <n>``, and runs
until its standard input closes.
"""

import argparse
import cProfile
import os
import struct
import sys

from common import FD_SLACK, raiseFileLimit, sessionConfig


class RawSink:
    """
    The raw TCP baseline's peer: each transfer is an 8-octet big-endian
    length, then that many octets, which it discards before answering one
    octet so the sender can stop its clock.
    """

    @staticmethod
    def build():
        from twisted.internet.protocol import Protocol

        class RawSinkProtocol(Protocol):
            def connectionMade(self):
                self._header = b""
                self._remaining = None

            def dataReceived(self, data):
                while data:
                    if self._remaining is None:
                        need = 8 - len(self._header)
                        self._header += data[:need]
                        data = data[need:]
                        if len(self._header) == 8:
                            (self._remaining,) = struct.unpack(">Q", self._header)
                            self._header = b""
                        continue
                    taken = min(self._remaining, len(data))
                    self._remaining -= taken
                    data = data[taken:] if taken < len(data) else b""
                    if self._remaining == 0:
                        self._remaining = None
                        self.transport.write(b"k")

        return RawSinkProtocol


def buildFactory(kind, configName):
    from twisted.internet.protocol import Factory

    if kind == "beep":
        from beepy import BEEPServerFactory
        from beepy.profiles.echo import EchoFactory
        from beepy.profiles.sink import SinkFactory
        from streaming import AnswerStreamFactory, StreamFactory

        profiles = [EchoFactory(), SinkFactory(), StreamFactory(), AnswerStreamFactory()]
        return BEEPServerFactory(profiles, config=sessionConfig(configName))
    if kind == "amp":
        from ampecho import EchoServer

        return Factory.forProtocol(EchoServer)
    if kind == "raw":
        return Factory.forProtocol(RawSink.build())
    raise SystemExit(f"unknown server kind {kind!r}")


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["beep", "amp", "raw"])
    parser.add_argument("--config", default="tuned")
    parser.add_argument("--files", type=int, default=0, help="sessions to expect")
    parser.add_argument("--profile", help="write cProfile statistics here")
    options = parser.parse_args(argv)
    raiseFileLimit(options.files + FD_SLACK)

    from twisted.internet import reactor, stdio
    from twisted.internet.endpoints import TCP4ServerEndpoint
    from twisted.internet.protocol import Protocol

    class StopOnClose(Protocol):
        """
        ``run.py`` ends the server by closing its standard input.
        """

        def connectionLost(self, reason):
            if reactor.running:
                reactor.stop()

    def listening(port):
        sys.stdout.write(f"PORT {port.getHost().port}\n")
        sys.stdout.flush()

    def failed(failure):
        sys.stderr.write(f"cannot listen: {failure.getErrorMessage()}\n")
        reactor.stop()

    endpoint = TCP4ServerEndpoint(reactor, 0, backlog=4096, interface="127.0.0.1")
    endpoint.listen(buildFactory(options.kind, options.config)).addCallbacks(listening, failed)
    # Our stdout is for the PORT line only: the stdin watcher writes nowhere.
    stdio.StandardIO(StopOnClose(), stdout=os.open(os.devnull, os.O_WRONLY))
    if options.profile:
        profiler = cProfile.Profile()
        profiler.runcall(reactor.run)
        profiler.dump_stats(options.profile)
    else:
        reactor.run()


if __name__ == "__main__":
    main()
