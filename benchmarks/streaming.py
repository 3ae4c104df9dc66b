"""
Profiles only the benchmarks use: each answers a ``MSG`` whose body is a
decimal octet count with that many octets, generated as they are sent so
that the profile itself never holds them.

:class:`StreamProfile` uses the streaming-send API of issue 3: a profile's
``messageReceived`` may return an ``IBodyProducer`` and beepy sends what it
produces as the ``RPY`` body.  A beepy without it answers ``ERR`` (the
profile returned something it cannot send), which bench 5 reports as "n/a".

:class:`AnswerStreamProfile` sends the same octets as ``ANS`` messages of
64 KiB from an asynchronous iterable, which beepy already accepts: bench 5
measures it too, to show whether that path holds back or buffers.
"""

import io

from twisted.web.client import FileBodyProducer

from beepy import Profile, ProfileFactory

from common import STREAM_ANS_URI, STREAM_URI

#: One block of the pattern the generated body repeats.
_BLOCK = bytes(range(256)) * 256


def _fresh(size):
    """
    ``size`` octets of the pattern in a new object, as a real read returns:
    a slice of ``_BLOCK`` may be ``_BLOCK`` itself, and a library keeping
    every chunk would then hold one block, not the reply, hiding what it
    buffers.
    """
    return memoryview(_BLOCK)[:size].tobytes()


class GeneratedFile(io.RawIOBase):
    """
    A read-only file of ``size`` octets that exist only as they are read.
    """

    def __init__(self, size):
        self._size = size
        self._position = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def read(self, size=-1):
        left = self._size - self._position
        if size is None or size < 0 or size > left:
            size = left
        size = min(size, len(_BLOCK))
        self._position += size
        return _fresh(size)

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, min(self._size, base + offset))
        return self._position

    def tell(self):
        return self._position


class StreamProfile(Profile):
    def messageReceived(self, message):
        return FileBodyProducer(GeneratedFile(int(message.body)))


class StreamFactory(ProfileFactory):
    uri = STREAM_URI
    profile = StreamProfile


async def _answers(size):
    left = size
    while left:
        chunk = _fresh(min(left, len(_BLOCK)))
        left -= len(chunk)
        yield chunk


class AnswerStreamProfile(Profile):
    def messageReceived(self, message):
        return _answers(int(message.body))


class AnswerStreamFactory(ProfileFactory):
    uri = STREAM_ANS_URI
    profile = AnswerStreamProfile
