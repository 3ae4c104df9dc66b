# -*- test-case-name: beepy.test.test_sasl_blob -*-
"""
Tests for :mod:`beepy.core.sasl.blob`: the ``<blob>`` element.
"""

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from beepy.core.codes import ReplyCode
from beepy.core.errors import BEEPError
from beepy.core.sasl.base import SASLError
from beepy.core.sasl.blob import (
    ABORT,
    COMPLETE,
    CONTINUE,
    Blob,
    encodeBlob,
    encodeError,
    parseBlob,
)

_SETTINGS = settings(max_examples=200, deadline=None)


class ParseBlobTests(SynchronousTestCase):
    def test_vortexInitialResponse(self):
        """
        The PLAIN blob Vortex piggybacks decodes to authzid NUL authcid NUL
        password, status continue by default.
        """
        self.assertEqual(
            parseBlob(b"<blob>AGJvYgBzZWNyZXQ=</blob>"), Blob(b"\0bob\0secret", CONTINUE)
        )

    def test_statuses(self):
        """
        ``complete`` and ``abort`` are read, with or without content; the
        space beepcore-java writes before ``>`` is fine.
        """
        self.assertEqual(parseBlob(b"<blob status='complete' />"), Blob(b"", COMPLETE))
        self.assertEqual(parseBlob(b"<blob status='abort'/>"), Blob(b"", ABORT))
        self.assertEqual(parseBlob(b"<blob >AElXX1VzZXI=</blob>"), Blob(b"\0IW_User"))
        self.assertEqual(
            parseBlob(b"<blob status='complete'>cnNwYXV0aD0w</blob>"), Blob(b"rspauth=0", COMPLETE)
        )

    def test_whitespaceIgnored(self):
        """
        White space an XML writer may wrap base64 with is ignored.
        """
        self.assertEqual(
            parseBlob(b"<blob>\r\n  AGJv\r\n  YgBz ZWNyZXQ=\n</blob>"), Blob(b"\0bob\0secret")
        )

    def test_error(self):
        """
        A failure reported in place of a blob is the error it stands for.
        """
        error = parseBlob(b"<error code='535' >Authentication failure.</error>\r\n")
        self.assertEqual(error, BEEPError(535, "Authentication failure."))
        self.assertNotIsInstance(error, Blob)

    def assertRefused(self, data, code):
        error = self.assertRaises(SASLError, parseBlob, data)
        self.assertEqual(error.code, code)
        return error

    def test_malformedBase64(self):
        """
        Content outside the base64 alphabet, or badly padded, is refused
        with 501.
        """
        self.assertRefused(b"<blob>AGJvYgBzZWNyZXQ</blob>", ReplyCode.PARAMETER_SYNTAX_ERROR)
        self.assertRefused(b"<blob>AGJv!gBz</blob>", ReplyCode.PARAMETER_SYNTAX_ERROR)
        self.assertRefused(b"<blob>AG=Jv</blob>", ReplyCode.PARAMETER_SYNTAX_ERROR)

    def test_wrongStatus(self):
        """
        A status outside the DTD's three is refused with 501.
        """
        error = self.assertRefused(b"<blob status='done' />", ReplyCode.PARAMETER_SYNTAX_ERROR)
        self.assertIn("done", error.text)

    def test_notABlob(self):
        """
        Another element, or a blob with children, is refused with 501.
        """
        self.assertRefused(b"<ready />", ReplyCode.PARAMETER_SYNTAX_ERROR)
        self.assertRefused(b"<blob><x /></blob>", ReplyCode.PARAMETER_SYNTAX_ERROR)

    def test_malformedXML(self):
        """
        XML that is not well formed, or declares entities, is refused with
        500, as on channel 0.
        """
        self.assertRefused(b"<blob>AAAA", ReplyCode.GENERAL_SYNTAX_ERROR)
        self.assertRefused(
            b"<!DOCTYPE blob [<!ENTITY a 'AAAA'>]><blob>&a;</blob>", ReplyCode.GENERAL_SYNTAX_ERROR
        )

    def test_tooLarge(self):
        """
        A document over the limit is refused before it is parsed.
        """
        self.assertRefused(b"<blob>" + b"A" * 20000 + b"</blob>", ReplyCode.GENERAL_SYNTAX_ERROR)


class EncodeBlobTests(SynchronousTestCase):
    def test_likeVortex(self):
        """
        Blobs are written as Vortex writes them.
        """
        self.assertEqual(encodeBlob(Blob(b"\0bob\0secret")), b"<blob>AGJvYgBzZWNyZXQ=</blob>")
        self.assertEqual(encodeBlob(Blob(b"", COMPLETE)), b"<blob status='complete' />")
        self.assertEqual(encodeBlob(Blob()), b"<blob />")
        self.assertEqual(encodeBlob(Blob(status=ABORT)), b"<blob status='abort' />")

    def test_unknownStatus(self):
        self.assertRaises(ValueError, Blob, b"", "done")

    def test_error(self):
        self.assertEqual(
            encodeError(SASLError("authentication failure")),
            b"<error code='535'>authentication failure</error>",
        )

    @_SETTINGS
    @given(st.binary(max_size=500), st.sampled_from([CONTINUE, COMPLETE, ABORT]))
    def test_roundTrip(self, data, status):
        blob = Blob(data, status)
        self.assertEqual(parseBlob(encodeBlob(blob)), blob)
