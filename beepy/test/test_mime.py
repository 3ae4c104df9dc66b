# -*- test-case-name: beepy.test.test_mime -*-
"""
Tests for :mod:`beepy.core.mime`: BEEP messages as MIME entities (RFC 3080
section 2.2).
"""

from hypothesis import given, settings
from twisted.trial.unittest import SynchronousTestCase

from beepy.core.mime import DEFAULT_CONTENT_TYPE, DEFAULT_TRANSFER_ENCODING, Message
from beepy.test.strategies import messages


class DefaultsTests(SynchronousTestCase):
    """
    RFC 3080 section 2.2: missing entity headers take their defaults.
    """

    def test_defaultContentType(self):
        """
        Without a ``Content-Type`` header the type is
        ``application/octet-stream``.
        """
        self.assertEqual(DEFAULT_CONTENT_TYPE, "application/octet-stream")
        self.assertEqual(Message(b"x").contentType, "application/octet-stream")

    def test_defaultTransferEncoding(self):
        """
        Without a ``Content-Transfer-Encoding`` header the encoding is
        ``binary``.
        """
        self.assertEqual(DEFAULT_TRANSFER_ENCODING, "binary")
        self.assertEqual(Message(b"x").transferEncoding, "binary")

    def test_onlySomeHeaders(self):
        """
        A message with only a ``Content-Type`` still has the default
        transfer encoding.
        """
        message = Message.fromPayload(b"Content-Type: text/plain\r\n\r\nhi")
        self.assertEqual(message.contentType, "text/plain")
        self.assertEqual(message.transferEncoding, "binary")

    def test_emptyPayload(self):
        """
        An empty payload is an empty body with the default headers.
        """
        message = Message.fromPayload(b"")
        self.assertEqual(message.body, b"")
        self.assertEqual(message.headers, ())
        self.assertEqual(message.contentType, DEFAULT_CONTENT_TYPE)

    def test_bodyMustBeBytes(self):
        """
        A ``str`` body is refused: payloads are octets.
        """
        self.assertRaises(TypeError, Message, "text")

    def test_invalidHeaderRefused(self):
        """
        A header name with a space, or a value with a line break, is refused
        rather than sent as a broken header block.
        """
        self.assertRaises(ValueError, Message, b"", headers=[("Bad Name", "x")])
        self.assertRaises(ValueError, Message, b"", headers=[("X-A", "one\r\nX-B: two")])
        self.assertRaises(ValueError, Message, b"", contentType="text/plain\nX: y")


class ParseTests(SynchronousTestCase):
    """
    :meth:`Message.fromPayload` reads a header block when there is one and
    tolerates its absence.
    """

    def test_headers(self):
        """
        Headers before the blank line are parsed; the body is the rest.
        """
        message = Message.fromPayload(
            b"Content-Type: application/beep+xml\r\nX-Extra:  v \r\n\r\n<ok />\r\n"
        )
        self.assertEqual(
            message.headers, (("Content-Type", "application/beep+xml"), ("X-Extra", "v"))
        )
        self.assertEqual(message.body, b"<ok />\r\n")

    def test_headerLookupIsCaseInsensitive(self):
        """
        ``getHeader`` and ``contentType`` ignore the case of header names.
        """
        message = Message.fromPayload(b"content-TYPE:text/x\r\n\r\n")
        self.assertEqual(message.contentType, "text/x")
        self.assertEqual(message.getHeader("CONTENT-type"), "text/x")
        self.assertIsNone(message.getHeader("X-Missing"))
        self.assertEqual(message.getHeader("X-Missing", "d"), "d")

    def test_firstHeaderWins(self):
        """
        With a repeated header, ``getHeader`` returns the first value and
        ``headers`` keeps both in order.
        """
        message = Message.fromPayload(b"X-A: 1\r\nX-A: 2\r\n\r\n")
        self.assertEqual(message.getHeader("x-a"), "1")
        self.assertEqual(message.headers, (("X-A", "1"), ("X-A", "2")))

    def test_folding(self):
        """
        A line starting with white space continues the previous header.
        """
        message = Message.fromPayload(
            b"Content-Type: text/plain;\r\n charset=utf-8\r\nX-B: b\r\n\r\nbody"
        )
        self.assertEqual(message.contentType, "text/plain; charset=utf-8")
        self.assertEqual(message.getHeader("X-B"), "b")
        self.assertEqual(message.body, b"body")

    def test_foldingWithTab(self):
        """
        A tab also starts a continuation line.
        """
        message = Message.fromPayload(b"X-A: one\r\n\ttwo\r\n\r\n")
        self.assertEqual(message.getHeader("X-A"), "one two")

    def test_blankLineOnly(self):
        """
        A payload starting with CRLF has an empty header block: all the rest
        is body, even if it looks like headers.
        """
        message = Message.fromPayload(b"\r\nX-A: b\r\n\r\nbody")
        self.assertEqual(message.headers, ())
        self.assertEqual(message.body, b"X-A: b\r\n\r\nbody")

    def test_latin1Value(self):
        """
        Header values are read as Latin-1, so any octet survives.
        """
        message = Message.fromPayload(b"X-A: caf\xe9\r\n\r\n")
        self.assertEqual(message.getHeader("X-A"), "caf\xe9")

    def test_headerlessBody(self):
        """
        A Net::BEEP::Lite style payload with no header block at all is taken
        as all body, with the default headers.
        """
        message = Message.fromPayload(b"<greeting />")
        self.assertEqual(message.body, b"<greeting />")
        self.assertEqual(message.headers, ())
        self.assertEqual(message.contentType, DEFAULT_CONTENT_TYPE)

    def test_headerlessMultiLineBody(self):
        """
        A header-less body with CRLFs and an empty line is kept whole.
        """
        payload = b"line one\r\nline two\r\n\r\nline four"
        self.assertEqual(Message.fromPayload(payload).body, payload)

    def test_looksLikeHeaderWithoutBlankLine(self):
        """
        ``key: value`` with no blank line after it is a body, not a header.
        """
        message = Message.fromPayload(b"key: value")
        self.assertEqual(message.body, b"key: value")
        self.assertEqual(message.headers, ())

    def test_headerThenNonHeaderLine(self):
        """
        If any line before the first blank line is not a header, nothing is
        taken as a header: the whole payload is body.
        """
        payload = b"Subject: hi\r\nnot a header\r\n\r\nbody"
        message = Message.fromPayload(payload)
        self.assertEqual(message.body, payload)
        self.assertEqual(message.headers, ())

    def test_mboxFromLineIsBody(self):
        """
        A ``From x`` line (a space in the field name) is not a header.
        """
        payload = b"From someone\r\n\r\nbody"
        self.assertEqual(Message.fromPayload(payload).body, payload)

    def test_leadingContinuationIsBody(self):
        """
        A continuation line with no header before it is body.
        """
        payload = b" folded\r\n\r\nbody"
        self.assertEqual(Message.fromPayload(payload).body, payload)

    def test_binaryBody(self):
        """
        The body after the header block is kept octet for octet.
        """
        body = bytes(range(256)) * 2
        message = Message.fromPayload(b"Content-Type: x/y\r\n\r\n" + body)
        self.assertEqual(message.body, body)


class SerializeTests(SynchronousTestCase):
    """
    :meth:`Message.toPayload` always writes a header block.
    """

    def test_noHeaders(self):
        """
        A message without headers starts with the empty line that ends an
        empty header block.
        """
        self.assertEqual(Message(b"body").toPayload(), b"\r\nbody")
        self.assertEqual(Message().toPayload(), b"\r\n")

    def test_headerlookingBodyKeptAsBody(self):
        """
        A body that looks like headers is protected by the empty header block.
        """
        message = Message(b"X-A: b\r\n\r\nrest")
        self.assertEqual(Message.fromPayload(message.toPayload()), message)

    def test_contentType(self):
        """
        ``contentType`` becomes the first header.
        """
        message = Message(b"<ok />", contentType="application/beep+xml", headers=[("X-A", "b")])
        self.assertEqual(
            message.toPayload(),
            b"Content-Type: application/beep+xml\r\nX-A: b\r\n\r\n<ok />",
        )

    def test_equality(self):
        """
        Messages with the same headers and body are equal and hash alike.
        """
        self.assertEqual(Message(b"a", "t/x"), Message(b"a", headers=[("Content-Type", "t/x")]))
        self.assertEqual(hash(Message(b"a", "t/x")), hash(Message(b"a", "t/x")))
        self.assertNotEqual(Message(b"a"), Message(b"b"))
        self.assertNotEqual(Message(b"a"), b"a")

    @settings(max_examples=100, deadline=None)
    @given(messages())
    def test_roundTrip(self, message):
        """
        Any message survives ``toPayload`` then ``fromPayload``.
        """
        self.assertEqual(Message.fromPayload(message.toPayload()), message)
