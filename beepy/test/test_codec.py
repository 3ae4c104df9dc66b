# -*- test-case-name: beepy.test.test_codec -*-
"""
Tests for :mod:`beepy.core.codec`: the frame syntax of RFC 3080 section
2.2.1 and the ``SEQ`` frame of RFC 3081 section 3.1.3.
"""

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from beepy.core.codec import DEFAULT_MAX_HEADER_LENGTH, FrameDecoder, encodeFrame
from beepy.core.errors import RemoteProtocolError
from beepy.core.frames import DataFrame, FrameType, SeqFrame
from beepy.test.strategies import frames

_SETTINGS = settings(max_examples=100, deadline=None)


def decodeAll(data, maxPayload=2**31 - 1, **kwargs):
    """
    Decode every complete frame in ``data``.

    :return: the list of frames.
    """
    decoder = FrameDecoder(maxPayload, **kwargs)
    decoder.receiveData(data)
    result = []
    while True:
        frame = decoder.nextFrame()
        if frame is None:
            return result
        result.append(frame)


def split(data, cuts):
    """
    Cut ``data`` at the offsets ``cuts`` (in any order, duplicates allowed).
    """
    offsets = [0] + sorted(set(cut for cut in cuts if 0 < cut < len(data))) + [len(data)]
    return [data[start:end] for start, end in zip(offsets, offsets[1:])]


def msg(channel=1, msgno=0, more=False, seqno=0, payload=b"", frameType=FrameType.MSG, ansno=None):
    return DataFrame(frameType, channel, msgno, more, seqno, payload, ansno)


class EncodeTests(SynchronousTestCase):
    """
    :func:`encodeFrame` writes exactly the ABNF of RFC 3080 and RFC 3081.
    """

    def test_dataFrame(self):
        """
        A data frame is its header line, the payload and ``END``.
        """
        self.assertEqual(
            encodeFrame(msg(1, 2, False, 3, b"hello")),
            b"MSG 1 2 . 3 5\r\nhelloEND\r\n",
        )

    def test_intermediateFrame(self):
        """
        An intermediate frame has ``*`` as its continuation indicator.
        """
        self.assertEqual(
            encodeFrame(msg(0, 1, True, 287, b"", FrameType.RPY)),
            b"RPY 0 1 * 287 0\r\nEND\r\n",
        )

    def test_answerFrame(self):
        """
        An ``ANS`` frame ends its header with the answer number.
        """
        self.assertEqual(
            encodeFrame(msg(1, 0, True, 20, b"x", FrameType.ANS, 7)),
            b"ANS 1 0 * 20 1 7\r\nxEND\r\n",
        )

    def test_seqFrame(self):
        """
        A ``SEQ`` frame is a header line alone, without payload or trailer.
        """
        self.assertEqual(encodeFrame(SeqFrame(3, 4096, 8192)), b"SEQ 3 4096 8192\r\n")


class DecodeTests(SynchronousTestCase):
    """
    :class:`FrameDecoder` turns well-formed bytes into frames.
    """

    def test_everyKeyword(self):
        """
        Each of the five keywords round-trips through encode and decode.
        """
        for frameType in FrameType:
            ansno = 4 if frameType is FrameType.ANS else None
            frame = msg(
                5, 6, False, 7, b"" if frameType is FrameType.NUL else b"abc", frameType, ansno
            )
            self.assertEqual(decodeAll(encodeFrame(frame)), [frame])

    def test_maximumFields(self):
        """
        Every field at the top of its RFC 3080 range is accepted.
        """
        frame = msg(2147483647, 2147483647, True, 4294967295, b"", FrameType.ANS, 2147483647)
        self.assertEqual(decodeAll(encodeFrame(frame)), [frame])
        seq = SeqFrame(2147483647, 4294967295, 2147483647)
        self.assertEqual(decodeAll(encodeFrame(seq)), [seq])

    def test_receivedAnsnoUpToSeqnoRange(self):
        """
        An ``ansno`` up to 4294967295 (the prose range of RFC 3080 section
        2.2.1.1) is accepted on receipt.
        """
        self.assertEqual(
            decodeAll(b"ANS 1 0 . 0 0 4294967295\r\nEND\r\n"),
            [msg(1, 0, False, 0, b"", FrameType.ANS, 4294967295)],
        )

    def test_payloadWithCRLFAndEND(self):
        """
        The payload is counted, not scanned: CRLF and ``END`` inside it are data.
        """
        payload = b"END\r\nMSG 1 2 . 3 4\r\n\r\n"
        self.assertEqual(decodeAll(encodeFrame(msg(payload=payload))), [msg(payload=payload)])

    def test_incrementalBytes(self):
        """
        A frame fed one octet at a time comes out once, when its trailer is in.
        """
        data = encodeFrame(msg(payload=b"abc"))
        decoder = FrameDecoder(4096)
        for octet in data[:-1]:
            decoder.receiveData(bytes([octet]))
            self.assertIsNone(decoder.nextFrame())
        decoder.receiveData(data[-1:])
        self.assertEqual(decoder.nextFrame(), msg(payload=b"abc"))
        self.assertIsNone(decoder.nextFrame())
        self.assertEqual(decoder.bufferedBytes, 0)

    def test_severalFramesInOneRead(self):
        """
        Several frames delivered at once come out one by one, in order.
        """
        sent = [msg(payload=b"a"), SeqFrame(1, 10, 4096), msg(msgno=1, seqno=1, payload=b"b")]
        self.assertEqual(decodeAll(b"".join(map(encodeFrame, sent))), sent)

    def test_framesBeforeAnErrorAreDelivered(self):
        """
        Frames before a poorly formed one are still returned; the error
        comes only when the bad frame is reached.
        """
        decoder = FrameDecoder(4096)
        decoder.receiveData(encodeFrame(msg(payload=b"ok")) + b"XYZ 1 2 3\r\n")
        self.assertEqual(decoder.nextFrame(), msg(payload=b"ok"))
        self.assertRaises(RemoteProtocolError, decoder.nextFrame)

    def test_payloadAtTheLimit(self):
        """
        A payload of exactly ``maxPayload`` octets is accepted.
        """
        frame = msg(payload=b"x" * 100)
        self.assertEqual(decodeAll(encodeFrame(frame), maxPayload=100), [frame])

    @_SETTINGS
    @given(st.lists(frames(), max_size=8))
    def test_roundTrip(self, sent):
        """
        Any list of frames serializes and parses back to the same frames.
        """
        self.assertEqual(decodeAll(b"".join(map(encodeFrame, sent))), sent)

    @_SETTINGS
    @given(st.lists(frames(), min_size=1, max_size=6), st.data())
    def test_anySplit(self, sent, data):
        """
        However the concatenated stream is cut into chunks, the decoder
        returns the same frames.
        """
        stream = b"".join(map(encodeFrame, sent))
        cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=20))
        decoder = FrameDecoder(2**31 - 1)
        received = []
        for chunk in split(stream, cuts):
            decoder.receiveData(chunk)
            while (frame := decoder.nextFrame()) is not None:
                received.append(frame)
        self.assertEqual(received, sent)
        self.assertEqual(decoder.bufferedBytes, 0)

    @_SETTINGS
    @given(
        st.lists(frames(), min_size=1, max_size=3), st.binary(min_size=1, max_size=40), st.data()
    )
    def test_corruptedStream(self, sent, garbage, data):
        """
        A valid stream with bytes overwritten somewhere still only yields
        frames or :class:`RemoteProtocolError`.
        """
        stream = bytearray(b"".join(map(encodeFrame, sent)))
        at = data.draw(st.integers(0, len(stream)))
        stream[at : at + len(garbage)] = garbage
        decoder = FrameDecoder(4096)
        decoder.receiveData(bytes(stream))
        try:
            while decoder.nextFrame() is not None:
                pass
        except RemoteProtocolError:
            pass


class RejectionTests(SynchronousTestCase):
    """
    Each poorly formed header or trailer of RFC 3080 section 2.2.1 raises
    :class:`RemoteProtocolError` with a message saying what was wrong.
    """

    def assertRejected(self, data, *fragments, **kwargs):
        """
        Assert that decoding ``data`` raises :class:`RemoteProtocolError`
        whose message contains each of ``fragments``.
        """
        decoder = FrameDecoder(kwargs.pop("maxPayload", 4096), **kwargs)
        decoder.receiveData(data)
        error = self.assertRaises(RemoteProtocolError, decoder.nextFrame)
        for fragment in fragments:
            self.assertIn(fragment, str(error))
        return error

    def test_unknownKeyword(self):
        """
        A header that starts with no known keyword is refused.
        """
        self.assertRejected(b"FOO 1 0 . 0 0\r\nEND\r\n", "unknown frame keyword", "FOO")

    def test_lowerCaseKeyword(self):
        """
        Keywords are case-sensitive: ``msg`` is not ``MSG``.
        """
        self.assertRejected(b"msg 1 0 . 0 0\r\nEND\r\n", "unknown frame keyword")

    def test_tooFewFields(self):
        """
        A ``MSG`` header with a field missing is refused.
        """
        self.assertRejected(b"MSG 1 0 . 0\r\nEND\r\n", "malformed MSG header")

    def test_tooManyFields(self):
        """
        A ``RPY`` header with an ``ansno`` is refused.
        """
        self.assertRejected(b"RPY 1 0 . 0 0 3\r\nEND\r\n", "malformed RPY header")

    def test_answerWithoutAnsno(self):
        """
        An ``ANS`` header without its answer number is refused.
        """
        self.assertRejected(b"ANS 1 0 . 0 0\r\nEND\r\n", "malformed ANS header")

    def test_doubleSpace(self):
        """
        Fields are separated by exactly one space.
        """
        self.assertRejected(b"MSG 1  0 . 0 0\r\nEND\r\n", "MSG")

    def test_trailingSpace(self):
        """
        A space before the CRLF is an extra, empty field.
        """
        self.assertRejected(b"MSG 1 0 . 0 0 \r\nEND\r\n", "malformed MSG header")

    def test_nonDigit(self):
        """
        A number with a non-digit in it is refused, naming the field.
        """
        self.assertRejected(b"MSG 1x 0 . 0 0\r\nEND\r\n", "bad channel")

    def test_hexNumber(self):
        """
        Numbers are decimal only.
        """
        self.assertRejected(b"MSG 1 0x1 . 0 0\r\nEND\r\n", "bad msgno")

    def test_signedNumber(self):
        """
        A sign is not part of the ABNF: ``+1`` and ``-1`` are refused.
        """
        self.assertRejected(b"MSG +1 0 . 0 0\r\nEND\r\n", "bad channel")
        self.assertRejected(b"MSG 1 -1 . 0 0\r\nEND\r\n", "bad msgno")

    def test_nonASCIIDigit(self):
        """
        Unicode digits are not ASCII digits.
        """
        self.assertRejected("MSG \u0661 0 . 0 0\r\nEND\r\n".encode("utf-8"), "bad channel")

    def test_tooLongNumber(self):
        """
        A number with more than ten digits is refused even with leading zeros.
        """
        self.assertRejected(b"MSG 00000000001 0 . 0 0\r\nEND\r\n", "bad channel")

    def test_channelOutOfRange(self):
        """
        Channel 2147483648 is one past the top of the range.
        """
        self.assertRejected(b"MSG 2147483648 0 . 0 0\r\nEND\r\n", "channel 2147483648 out of range")

    def test_msgnoOutOfRange(self):
        """
        Message number 2147483648 is one past the top of the range.
        """
        self.assertRejected(b"MSG 1 2147483648 . 0 0\r\nEND\r\n", "msgno 2147483648 out of range")

    def test_seqnoOutOfRange(self):
        """
        Sequence number 4294967296 is one past the top of the range.
        """
        self.assertRejected(b"MSG 1 0 . 4294967296 0\r\nEND\r\n", "seqno 4294967296 out of range")

    def test_sizeOutOfRange(self):
        """
        Size 2147483648 is one past the top of the range.
        """
        self.assertRejected(b"MSG 1 0 . 0 2147483648\r\nEND\r\n", "size 2147483648 out of range")

    def test_ansnoOutOfRange(self):
        """
        An ``ansno`` past 4294967295 is refused.
        """
        self.assertRejected(b"ANS 1 0 . 0 0 4294967296\r\nEND\r\n", "ansno 4294967296 out of range")

    def test_sizeOverMaxPayload(self):
        """
        A size over the decoder's ``maxPayload`` is refused as soon as the
        header arrives, before any payload is buffered.
        """
        self.assertRejected(b"MSG 1 0 . 0 4097\r\n", "4097", "4096", maxPayload=4096)

    def test_badMore(self):
        """
        The continuation indicator is ``*`` or ``.``, nothing else.
        """
        for more in [b"+", b"x", b"**", b""]:
            self.assertRejected(b"MSG 1 0 " + more + b" 0 0\r\nEND\r\n", "continuation indicator")

    def test_bareLF(self):
        """
        A header ended by LF alone is refused.
        """
        self.assertRejected(b"MSG 1 0 . 0 0\nEND\r\n", "CRLF")

    def test_emptyLine(self):
        """
        A stream starting with a bare LF is refused.
        """
        self.assertRejected(b"\nMSG 1 0 . 0 0\r\nEND\r\n", "CRLF")

    def test_headerTooLong(self):
        """
        A header line of ``maxHeaderLength`` octets without its LF is refused
        without waiting for more data.
        """
        self.assertRejected(b"MSG " + b"1" * (DEFAULT_MAX_HEADER_LENGTH - 4), "longer than")

    def test_headerTooLongCustomLimit(self):
        """
        ``maxHeaderLength`` is configurable.
        """
        self.assertRejected(b"MSG 1 0 . 0 0", "longer than 10", maxHeaderLength=10)

    def test_shortGarbageWaits(self):
        """
        An incomplete header shorter than the limit is neither accepted nor
        refused yet.
        """
        decoder = FrameDecoder(4096)
        decoder.receiveData(b"MSG 1 0 . 0")
        self.assertIsNone(decoder.nextFrame())

    def test_missingTrailer(self):
        """
        Bytes after the payload that are not ``END`` CRLF are refused.
        """
        self.assertRejected(b"MSG 1 0 . 0 3\r\nabcMSG 1 1 . 3 0\r\nEND\r\n", "not followed by END")

    def test_incorrectTrailer(self):
        """
        A trailer with the wrong line end is refused.
        """
        self.assertRejected(b"MSG 1 0 . 0 3\r\nabcEND\n\r", "not followed by END")

    def test_wrongSizeMakesBadTrailer(self):
        """
        A size one short of the payload leaves a byte where the trailer
        should start.
        """
        self.assertRejected(b"MSG 1 0 . 0 2\r\nabcEND\r\n", "not followed by END")

    def test_trailerDetectedEarly(self):
        """
        A wrong first trailer byte is refused at once, without waiting for
        the rest of the trailer.
        """
        self.assertRejected(b"MSG 1 0 . 0 3\r\nabcX", "not followed by END")
        self.assertRejected(b"MSG 1 0 . 0 3\r\nabcEN\n", "not followed by END")

    def test_partialTrailerWaits(self):
        """
        A correct but incomplete trailer waits for more data.
        """
        decoder = FrameDecoder(4096)
        decoder.receiveData(b"MSG 1 0 . 0 3\r\nabcEND\r")
        self.assertIsNone(decoder.nextFrame())
        decoder.receiveData(b"\n")
        self.assertEqual(decoder.nextFrame(), msg(payload=b"abc"))

    def test_seqWrongFieldCount(self):
        """
        A ``SEQ`` header with two or four parameters is refused.
        """
        self.assertRejected(b"SEQ 1 0\r\n", "malformed SEQ header")
        self.assertRejected(b"SEQ 1 0 4096 1\r\n", "malformed SEQ header")

    def test_seqBadNumbers(self):
        """
        ``SEQ`` fields follow the ranges of channel, seqno and size.
        """
        self.assertRejected(b"SEQ 2147483648 0 4096\r\n", "channel")
        self.assertRejected(b"SEQ 1 4294967296 4096\r\n", "ackno")
        self.assertRejected(b"SEQ 1 0 2147483648\r\n", "window")
        self.assertRejected(b"SEQ 1 0 -1\r\n", "window")

    def test_rejectionIsARemoteError(self):
        """
        Every rejection is a :class:`RemoteProtocolError`, the error a
        session turns into its termination.
        """
        error = self.assertRejected(b"FOO\r\n")
        self.assertIsInstance(error, RemoteProtocolError)
