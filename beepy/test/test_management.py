# -*- test-case-name: beepy.test.test_management -*-
"""
Tests for :mod:`beepy.core.management`: the channel management XML of RFC
3080 section 2.3 and its DTD in section 7.1.
"""

import base64

from hypothesis import given, settings
from twisted.trial.unittest import SynchronousTestCase

from beepy.core.codes import ReplyCode
from beepy.core.errors import BEEPError
from beepy.core.management import (
    MAX_PIGGYBACK,
    Close,
    Greeting,
    Ok,
    Proceed,
    ProfileElement,
    Ready,
    Start,
    encodeManagement,
    parseManagement,
)
from beepy.test.strategies import managementElements, profileElements

_SETTINGS = settings(max_examples=100, deadline=None)

TLS = "http://iana.org/beep/TLS"


class ElementTests(SynchronousTestCase):
    """
    Each element is written as RFC 3080 shows it and read back.
    """

    def assertRoundTrip(self, element, wire):
        """
        Assert that ``element`` encodes to ``wire`` and ``wire`` parses to
        ``element``.
        """
        self.assertEqual(encodeManagement(element), wire)
        self.assertEqual(parseManagement(wire), element)

    def test_emptyGreeting(self):
        """
        A greeting without profiles is the empty element.
        """
        self.assertRoundTrip(Greeting(), b"<greeting />")

    def test_greeting(self):
        """
        A greeting lists its profiles and its optional ``features`` and
        ``localize`` attributes.
        """
        self.assertRoundTrip(
            Greeting((TLS, "urn:x"), "x-magic", "fr en-US"),
            b"<greeting features='x-magic' localize='fr en-US'>"
            b"<profile uri='http://iana.org/beep/TLS' /><profile uri='urn:x' /></greeting>",
        )

    def test_start(self):
        """
        A start carries its channel number, an optional ``serverName`` and one
        or more candidate profiles.
        """
        self.assertRoundTrip(
            Start(1, (ProfileElement("urn:a"), ProfileElement("urn:b")), "example.com"),
            b"<start number='1' serverName='example.com'>"
            b"<profile uri='urn:a' /><profile uri='urn:b' /></start>",
        )

    def test_startWithPiggyback(self):
        """
        The RFC 3080 section 2.3.1.2 TLS example: ``<ready />`` piggybacked in
        CDATA.
        """
        self.assertRoundTrip(
            Start(1, (ProfileElement(TLS, b"<ready />"),)),
            b"<start number='1'><profile uri='http://iana.org/beep/TLS'>"
            b"<![CDATA[<ready />]]></profile></start>",
        )

    def test_profile(self):
        """
        A start reply is a lone ``<profile>``, with or without content.
        """
        self.assertRoundTrip(ProfileElement("urn:a"), b"<profile uri='urn:a' />")
        self.assertRoundTrip(
            ProfileElement(TLS, b"<proceed />"),
            b"<profile uri='http://iana.org/beep/TLS'><![CDATA[<proceed />]]></profile>",
        )

    def test_close(self):
        """
        A close names its channel and code.
        """
        self.assertRoundTrip(Close(1, 200), b"<close number='1' code='200' />")

    def test_closeWithDiagnostic(self):
        """
        A close may carry a diagnostic and its language.
        """
        self.assertRoundTrip(
            Close(3, 550, "still <working> & busy", "en"),
            b"<close number='3' code='550' xml:lang='en'>still &lt;working&gt; &amp; busy</close>",
        )

    def test_ok(self):
        """
        ``<ok />`` is written with the space Vortex matches literally.
        """
        self.assertRoundTrip(Ok(), b"<ok />")

    def test_error(self):
        """
        An ``<error>`` becomes a :class:`BEEPError` with its code, text and
        language.
        """
        self.assertRoundTrip(
            BEEPError(550, "all requested profiles are unsupported", "en-US"),
            b"<error code='550' xml:lang='en-US'>all requested profiles are unsupported</error>",
        )
        parsed = parseManagement(b"<error code='421' />")
        self.assertEqual(parsed.code, ReplyCode.SERVICE_NOT_AVAILABLE)
        self.assertEqual(parsed.text, "")

    def test_errorWithUnlistedCode(self):
        """
        A code outside RFC 3080 section 8 is kept as a plain integer.
        """
        parsed = parseManagement(b"<error code='599'>odd</error>")
        self.assertEqual(int(parsed.code), 599)

    def test_attributeQuoting(self):
        """
        Quotes and markup in attribute values are escaped and come back.
        """
        start = Start(1, (ProfileElement("urn:'a\"<&>"),), 'it\'s "here"')
        self.assertEqual(parseManagement(encodeManagement(start)), start)

    def test_notAnElement(self):
        """
        Encoding something that is not a management element is a
        ``TypeError``.
        """
        self.assertRaises(TypeError, encodeManagement, "<ok />")

    @_SETTINGS
    @given(managementElements)
    def test_roundTripProperty(self, element):
        """
        Any generated element survives encoding and parsing.
        """
        self.assertEqual(parseManagement(encodeManagement(element)), element)


class PiggybackTests(SynchronousTestCase):
    """
    Piggybacked profile content goes as CDATA when it can, base64 otherwise,
    and never exceeds 4096 octets (RFC 3080 section 2.3.1.2).
    """

    def assertEncoding(self, content, base64Expected):
        wire = encodeManagement(ProfileElement("urn:a", content))
        self.assertEqual(b"encoding='base64'" in wire, base64Expected, wire)
        self.assertEqual(b"<![CDATA[" in wire, not base64Expected, wire)
        self.assertEqual(parseManagement(wire), ProfileElement("urn:a", content))

    def test_textAsCDATA(self):
        """
        Printable UTF-8 text, newlines and tabs included, goes as CDATA.
        """
        self.assertEncoding("<blob>caf\u00e9\n\tok</blob>".encode("utf-8"), False)

    def test_carriageReturnAsBase64(self):
        """
        Content with CR goes as base64, since XML parsers turn CR into LF.
        """
        self.assertEncoding(b"line\r\nline", True)

    def test_binaryAsBase64(self):
        """
        Octets that are not UTF-8 go as base64.
        """
        self.assertEncoding(b"\x00\xff\xfe", True)

    def test_controlCharacterAsBase64(self):
        """
        A control character XML cannot carry goes as base64.
        """
        self.assertEncoding(b"a\x01b", True)

    def test_cDATAEndAsBase64(self):
        """
        Content containing ``]]>`` cannot be CDATA and goes as base64.
        """
        self.assertEncoding(b"x]]>y", True)

    def test_nonCharacterRoundTrips(self):
        """
        UTF-8 for U+FFFE or U+FFFF (not XML characters) still round-trips:
        it must not be put in CDATA, where the peer's parser rejects it.
        """
        for content in ["a\ufffeb".encode("utf-8"), "\uffff".encode("utf-8")]:
            wire = encodeManagement(ProfileElement("urn:a", content))
            self.assertEqual(parseManagement(wire), ProfileElement("urn:a", content))

    def test_whitespaceContentRoundTrips(self):
        """
        Content of only white space is content, not its absence.
        """
        for content in [b" ", b"\t", b"\n\n"]:
            wire = encodeManagement(ProfileElement("urn:a", content))
            self.assertEqual(parseManagement(wire), ProfileElement("urn:a", content))

    def test_base64WithLineBreaks(self):
        """
        Received base64 may be wrapped over several lines.
        """
        encoded = base64.encodebytes(b"x" * 200)
        parsed = parseManagement(
            b"<profile uri='urn:a' encoding='base64'>" + encoded + b"</profile>"
        )
        self.assertEqual(parsed.content, b"x" * 200)

    def test_invalidBase64(self):
        """
        Content declared base64 that is not base64 is a 501.
        """
        error = self.assertRaises(
            BEEPError,
            parseManagement,
            b"<profile uri='urn:a' encoding='base64'>!!notbase64</profile>",
        )
        self.assertEqual(error.code, ReplyCode.PARAMETER_SYNTAX_ERROR)

    def test_unknownEncoding(self):
        """
        An encoding other than ``none`` or ``base64`` is a 501.
        """
        error = self.assertRaises(
            BEEPError,
            parseManagement,
            b"<profile uri='urn:a' encoding='gzip'>x</profile>",
        )
        self.assertEqual(error.code, ReplyCode.PARAMETER_SYNTAX_ERROR)

    def test_plainText(self):
        """
        Content sent as plain character data, with entities, is decoded.
        """
        parsed = parseManagement(b"<profile uri='urn:a'>&lt;ready /&gt;</profile>")
        self.assertEqual(parsed.content, b"<ready />")

    def test_emptyProfileHasNoContent(self):
        """
        A profile with only white space between its tags has no content.
        """
        parsed = parseManagement(b"<profile uri='urn:a'>\n  </profile>")
        self.assertIsNone(parsed.content)

    def test_maximumSendable(self):
        """
        4096 octets of text or binary content is encoded and parsed back.
        """
        for content in [b"a" * MAX_PIGGYBACK, bytes(range(256)) * 16]:
            element = ProfileElement("urn:a", content)
            self.assertEqual(parseManagement(encodeManagement(element)), element)

    def test_overMaximumNotSent(self):
        """
        4097 octets of content are refused on encoding.
        """
        for content in [b"a" * (MAX_PIGGYBACK + 1), b"\x00" * (MAX_PIGGYBACK + 1)]:
            self.assertRaises(
                ValueError,
                encodeManagement,
                Start(1, (ProfileElement("urn:a", content),)),
            )

    def test_overMaximumNotAccepted(self):
        """
        4097 octets of received content, as CDATA or base64, is a 501.
        """
        wires = [
            b"<profile uri='urn:a'><![CDATA[" + b"a" * (MAX_PIGGYBACK + 1) + b"]]></profile>",
            b"<profile uri='urn:a' encoding='base64'>"
            + base64.b64encode(b"\x00" * (MAX_PIGGYBACK + 1))
            + b"</profile>",
        ]
        for wire in wires:
            error = self.assertRaises(BEEPError, parseManagement, wire)
            self.assertEqual(error.code, ReplyCode.PARAMETER_SYNTAX_ERROR)
            self.assertIn("4096", error.text)

    @_SETTINGS
    @given(profileElements)
    def test_piggybackProperty(self, element):
        """
        Any generated piggyback survives in a start.
        """
        start = Start(7, (element, ProfileElement("urn:other")))
        self.assertEqual(parseManagement(encodeManagement(start)), start)


class LeniencyTests(SynchronousTestCase):
    """
    What other implementations send is accepted even where it differs from
    what beepy writes.
    """

    def test_doubleQuotes(self):
        """
        Double-quoted attributes are accepted.
        """
        self.assertEqual(parseManagement(b'<close number="1" code="200"/>'), Close(1, 200))

    def test_whitespace(self):
        """
        White space between elements and inside tags is ignored.
        """
        parsed = parseManagement(
            b"\r\n<start  number = '1' >\r\n  <profile uri='urn:a' />\r\n"
            b"  <profile uri='urn:b'/>\n</start>\r\n"
        )
        self.assertEqual(parsed, Start(1, (ProfileElement("urn:a"), ProfileElement("urn:b"))))

    def test_okSpellings(self):
        """
        ``<ok/>``, ``<ok />`` and ``<ok></ok>`` are the same element.
        """
        for wire in [b"<ok/>", b"<ok />", b"<ok></ok>", b"<ok\n/>"]:
            self.assertEqual(parseManagement(wire), Ok())

    def test_closeWithoutNumber(self):
        """
        ``<close code='200'/>`` has the DTD default number 0: release the
        session.
        """
        self.assertEqual(parseManagement(b"<close code='200'/>"), Close(0, 200))

    def test_numberWithSpaces(self):
        """
        Spaces around a number attribute are tolerated.
        """
        self.assertEqual(parseManagement(b"<close number=' 3 ' code='200'/>"), Close(3, 200))

    def test_diagnosticIsStripped(self):
        """
        White space around a diagnostic is not part of it; line breaks
        inside it are kept.
        """
        self.assertEqual(
            parseManagement(b"<error code='550'>\n  still\n working  \n</error>"),
            BEEPError(550, "still\n working"),
        )

    def test_entitiesInText(self):
        """
        The five predefined entities and character references are expanded.
        """
        self.assertEqual(
            parseManagement(
                b"<error code='501'>&lt;start&gt; &amp; &#65;&#x42;&apos;&quot;</error>"
            ),
            BEEPError(501, "<start> & AB'\""),
        )

    def test_xMLDeclaration(self):
        """
        An XML declaration, though RFC 3080 section 6.4 says not to send it,
        is tolerated.
        """
        self.assertEqual(parseManagement(b"<?xml version='1.0'?><ok />"), Ok())

    def test_unknownAttributesIgnored(self):
        """
        Unknown attributes do not make an element invalid.
        """
        self.assertEqual(parseManagement(b"<close code='200' x-extra='1'/>"), Close(0, 200))


class ErrorTests(SynchronousTestCase):
    """
    Bad channel management XML raises :class:`BEEPError`: 500 for what is not
    well formed, 501 for what breaks the DTD.
    """

    def assertCode(self, data, code, *fragments, **kwargs):
        error = self.assertRaises(BEEPError, parseManagement, data, **kwargs)
        self.assertEqual(error.code, code, error)
        for fragment in fragments:
            self.assertIn(fragment, error.text)
        return error

    def test_malformed(self):
        """
        XML that is not well formed is a 500.
        """
        for data in [b"<close code='200'", b"<ok>", b"<ok/><ok/>", b"", b"not xml", b"<a></b>"]:
            self.assertCode(data, ReplyCode.GENERAL_SYNTAX_ERROR, "malformed XML")

    def test_notUTF8(self):
        """
        Octets that are not the declared encoding are a 500.
        """
        self.assertCode(b"<error code='500'>\xff\xfe</error>", ReplyCode.GENERAL_SYNTAX_ERROR)

    def test_undefinedEntity(self):
        """
        An entity reference other than the predefined five is a 500.
        """
        self.assertCode(b"<close code='200'>&foo;</close>", ReplyCode.GENERAL_SYNTAX_ERROR)

    def test_doctype(self):
        """
        A ``DOCTYPE`` declaration is refused with 500 (RFC 3080 section 6.4).
        """
        self.assertCode(
            b"<!DOCTYPE close><close code='200'/>",
            ReplyCode.GENERAL_SYNTAX_ERROR,
            "not allowed",
        )

    def test_billionLaughs(self):
        """
        Nested internal entities are refused with 500 before any expansion.
        """
        entities = b'<!ENTITY lol0 "lol">' + b"".join(
            b'<!ENTITY lol%d "%s">' % (level, b"&lol%d;" % (level - 1) * 10)
            for level in range(1, 10)
        )
        data = b"<!DOCTYPE close [" + entities + b"]><close code='200'>&lol9;</close>"
        error = self.assertCode(data, ReplyCode.GENERAL_SYNTAX_ERROR, "not allowed")
        self.assertNotIn("lol", error.text)

    def test_externalEntity(self):
        """
        An external entity is refused with 500 and never read.
        """
        data = (
            b'<!DOCTYPE close [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b"<close code='200'>&e;</close>"
        )
        error = self.assertCode(data, ReplyCode.GENERAL_SYNTAX_ERROR, "not allowed")
        self.assertNotIn("root", error.text)

    def test_parameterEntity(self):
        """
        An external parameter entity is refused with 500.
        """
        data = b'<!DOCTYPE ok [<!ENTITY % p SYSTEM "http://example.com/x.dtd"> %p;]><ok/>'
        self.assertCode(data, ReplyCode.GENERAL_SYNTAX_ERROR)

    def test_unknownElement(self):
        """
        A well-formed root element outside the DTD is a 501.
        """
        self.assertCode(b"<foo/>", ReplyCode.PARAMETER_SYNTAX_ERROR, "foo")
        self.assertCode(b"<x:ok xmlns:x='urn:x'/>", ReplyCode.PARAMETER_SYNTAX_ERROR)

    def test_unexpectedChild(self):
        """
        A child element the DTD does not allow is a 501.
        """
        self.assertCode(b"<close code='200'><ok/></close>", ReplyCode.PARAMETER_SYNTAX_ERROR)
        self.assertCode(
            b"<start number='1'><profile uri='a'/><foo/></start>",
            ReplyCode.PARAMETER_SYNTAX_ERROR,
            "foo",
        )
        self.assertCode(
            b"<greeting><start number='1'/></greeting>", ReplyCode.PARAMETER_SYNTAX_ERROR
        )

    def test_missingAttribute(self):
        """
        A required attribute that is missing is a 501 naming it.
        """
        cases = [
            (b"<start><profile uri='x'/></start>", "number"),
            (b"<profile/>", "uri"),
            (b"<close number='1'/>", "code"),
            (b"<error/>", "code"),
            (b"<greeting><profile/></greeting>", "uri"),
        ]
        for data, attribute in cases:
            self.assertCode(data, ReplyCode.PARAMETER_SYNTAX_ERROR, attribute)

    def test_startWithoutProfile(self):
        """
        A start needs at least one profile.
        """
        self.assertCode(b"<start number='1'/>", ReplyCode.PARAMETER_SYNTAX_ERROR, "profile")

    def test_invalidNumbers(self):
        """
        A number that is signed, not decimal or out of range is a 501.
        """
        for data in [
            b"<close number='-1' code='200'/>",
            b"<close number='2147483648' code='200'/>",
            b"<close number='1' code='20x'/>",
            b"<close number='1' code='1000'/>",
            b"<start number='one'><profile uri='x'/></start>",
        ]:
            self.assertCode(data, ReplyCode.PARAMETER_SYNTAX_ERROR, "invalid")

    def test_greetingProfileWithContent(self):
        """
        A greeting's profiles may not carry content (RFC 3080 section 2.3.1.1).
        """
        self.assertCode(
            b"<greeting><profile uri='a'>x</profile></greeting>",
            ReplyCode.PARAMETER_SYNTAX_ERROR,
        )

    def test_oversized(self):
        """
        A document over the size limit is a 500, refused before parsing.
        """
        self.assertCode(b"<ok/>" + b" " * (64 * 1024), ReplyCode.GENERAL_SYNTAX_ERROR, "larger")
        self.assertCode(b"<ok/>" + b" " * 100, ReplyCode.GENERAL_SYNTAX_ERROR, maxSize=100)
        self.assertEqual(parseManagement(b"<ok/>" + b" " * 95, maxSize=100), Ok())


class HostileXMLTests(SynchronousTestCase):
    """
    Inputs a review found escaping as exceptions other than BEEPError.
    """

    def test_hugeNumber(self):
        """
        A number attribute thousands of digits long is invalid, not a crash.
        """
        error = self.assertRaises(
            BEEPError, parseManagement, b"<close number='" + b"1" * 5000 + b"' code='200' />"
        )
        self.assertEqual(error.code, 501)

    def test_unknownEncoding(self):
        """
        An XML declaration naming an unknown encoding is a 500.
        """
        error = self.assertRaises(
            BEEPError, parseManagement, b"<?xml version='1.0' encoding='x-bogus'?><ok />"
        )
        self.assertEqual(error.code, 500)

    def test_nonXMLCharactersInText(self):
        """
        Characters XML cannot carry become U+FFFD in close and error text.
        """
        for element in (BEEPError(550, "a\x00b"), Close(1, 200, "a\x1bb")):
            self.assertEqual(parseManagement(encodeManagement(element)).text, "a\ufffdb")


class TLSElementTests(SynchronousTestCase):
    """
    ``<ready />`` and ``<proceed />`` (RFC 3080 section 7.2): written exactly
    as Vortex compares them, read however peers write them.
    """

    def test_encode(self):
        self.assertEqual(encodeManagement(Ready()), b"<ready />")
        self.assertEqual(encodeManagement(Proceed()), b"<proceed />")
        self.assertEqual(encodeManagement(Ready("2")), b"<ready version='2' />")

    def test_parseReady(self):
        for wire in [
            b"<ready />",
            b"<ready/>",
            b"<ready version='1' />",
            b'<ready version="1"></ready>',
            b"\r\n  <ready />\r\n",
        ]:
            self.assertEqual(parseManagement(wire), Ready(), wire)
        self.assertEqual(parseManagement(b"<ready version='2'/>"), Ready("2"))

    def test_parseProceed(self):
        for wire in [b"<proceed />", b"<proceed/>", b"<proceed></proceed>\n"]:
            self.assertEqual(parseManagement(wire), Proceed(), wire)

    def test_noChildren(self):
        for wire in [b"<ready><ok /></ready>", b"<proceed><ready /></proceed>"]:
            error = self.assertRaises(BEEPError, parseManagement, wire)
            self.assertEqual(error.code, ReplyCode.PARAMETER_SYNTAX_ERROR)
