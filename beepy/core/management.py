# -*- test-case-name: beepy.test.test_management -*-
"""
Channel management XML (RFC 3080 section 2.3, DTD in section 7.1).

Channel 0 carries ``application/beep+xml`` elements: ``greeting``, ``start``,
``profile``, ``close``, ``ok`` and ``error``.  This module turns them into
small values and back.

Parsing uses expat directly, with document type declarations, entity
declarations and external entities refused outright: channel-0 XML comes from
an unauthenticated peer, and ``xml.etree`` would happily expand internal
entities (the "billion laughs").  A size limit is checked before parsing.

What we send uses single-quoted attributes and the exact spellings peers
compare as strings (Vortex matches ``<ok />`` and friends literally).
"""

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Optional, Tuple
from xml.parsers import expat
from xml.sax.saxutils import escape

from beepy.core.codes import ReplyCode
from beepy.core.errors import BEEPError
from beepy.core.frames import MAX_CHANNEL

__all__ = [
    "Greeting",
    "ProfileElement",
    "Start",
    "Close",
    "Ok",
    "Ready",
    "Proceed",
    "parseManagement",
    "encodeManagement",
    "errorFromMessage",
    "parseElement",
    "errorFromElement",
    "BEEP_XML",
    "MAX_PIGGYBACK",
    "DEFAULT_MAX_XML_SIZE",
    "TLS_URI",
]

#: The content type of every channel-0 message.
BEEP_XML = "application/beep+xml"
#: RFC 3080 section 2.3.1.2: piggybacked content is at most 4K octets.
MAX_PIGGYBACK = 4096
#: The largest channel-0 message body we parse.  A greeting listing a few
#: hundred profiles fits easily.
DEFAULT_MAX_XML_SIZE = 64 * 1024
#: The TLS transport security profile (RFC 3080 section 3.1).
TLS_URI = "http://iana.org/beep/TLS"


@dataclass(frozen=True)
class ProfileElement:
    """
    A ``<profile>``: in a ``<greeting>`` (uri only), a ``<start>`` (a
    candidate, possibly with piggybacked content), or a start reply.

    :ivar content: the piggybacked content, decoded to ``bytes`` whatever its
        wire encoding, or ``None`` when there is none.
    """

    uri: str
    content: Optional[bytes] = None


@dataclass(frozen=True)
class Greeting:
    profiles: Tuple[str, ...] = ()
    features: Optional[str] = None
    localize: Optional[str] = None


@dataclass(frozen=True)
class Start:
    number: int
    profiles: Tuple[ProfileElement, ...]
    serverName: Optional[str] = None


@dataclass(frozen=True)
class Close:
    number: int
    code: int = ReplyCode.SUCCESS
    text: str = ""
    lang: Optional[str] = None


@dataclass(frozen=True)
class Ok:
    pass


@dataclass(frozen=True)
class Ready:
    """
    ``<ready />``: a request to negotiate TLS (RFC 3080 section 3.1, DTD in
    section 7.2), piggybacked on the ``<start>`` of the TLS profile or sent
    as a ``MSG`` on a TLS channel.
    """

    version: str = "1"


@dataclass(frozen=True)
class Proceed:
    """
    ``<proceed />``: the answer that starts the TLS negotiation.
    """


@dataclass
class _Node:
    name: str
    attributes: dict
    children: list = field(default_factory=list)
    text: list = field(default_factory=list)


class _TreeBuilder:
    """
    Builds a tree of :class:`_Node` from expat callbacks, refusing every
    construct that could make a small document expand or reach outside.
    """

    def __init__(self):
        self.root = None
        self._stack = []

    def start(self, name, attributes):
        node = _Node(name, attributes)
        if self._stack:
            self._stack[-1].children.append(node)
        elif self.root is None:
            self.root = node
        self._stack.append(node)

    def end(self, name):
        self._stack.pop()

    def characters(self, data):
        if self._stack:
            self._stack[-1].text.append(data)

    @staticmethod
    def forbidden(*args):
        raise BEEPError(
            ReplyCode.GENERAL_SYNTAX_ERROR,
            "document type and entity declarations are not allowed",
        )


def _parseXML(data, maxSize):
    if len(data) > maxSize:
        raise BEEPError(
            ReplyCode.GENERAL_SYNTAX_ERROR,
            f"channel management message larger than {maxSize} octets",
        )
    builder = _TreeBuilder()
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.characters
    parser.StartDoctypeDeclHandler = builder.forbidden
    parser.EntityDeclHandler = builder.forbidden
    parser.UnparsedEntityDeclHandler = builder.forbidden
    parser.ExternalEntityRefHandler = builder.forbidden
    parser.SkippedEntityHandler = builder.forbidden
    try:
        parser.Parse(data, True)
    except expat.ExpatError as e:
        raise BEEPError(
            ReplyCode.GENERAL_SYNTAX_ERROR, f"malformed XML: {expat.errors.messages[e.code]}"
        ) from None
    except (LookupError, ValueError) as e:  # e.g. an unknown encoding declared
        raise BEEPError(ReplyCode.GENERAL_SYNTAX_ERROR, f"unreadable XML: {e}") from None
    return builder.root


def _invalid(text):
    return BEEPError(ReplyCode.PARAMETER_SYNTAX_ERROR, text)


def _attribute(node, name, required=True):
    value = node.attributes.get(name)
    if value is None and required:
        raise _invalid(f"<{node.name}> lacks the {name} attribute")
    return value


def _integer(node, name, maximum, required=True, default=None):
    value = _attribute(node, name, required)
    if value is None:
        return default
    value = value.strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 10) or int(value) > maximum:
        raise _invalid(f"<{node.name}> has an invalid {name} {value!r}")
    return int(value)


def _noChildren(node):
    if node.children:
        raise _invalid(f"<{node.name}> must not contain <{node.children[0].name}>")


def _profile(node, allowContent):
    if node.name != "profile":
        raise _invalid(f"<{node.name}> where <profile> was expected")
    _noChildren(node)
    uri = _attribute(node, "uri")
    text = "".join(node.text)
    encoding = node.attributes.get("encoding", "none")
    if encoding not in ("none", "base64"):
        raise _invalid(f"<profile> has an unknown encoding {encoding!r}")
    if not text.strip() and encoding == "none":
        return ProfileElement(uri)
    if not allowContent:
        raise _invalid("<profile> in a greeting has no content")
    if encoding == "base64":
        try:
            content = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise _invalid("<profile> content is not valid base64") from None
    else:
        content = text.encode("utf-8")
    if len(content) > MAX_PIGGYBACK:
        raise _invalid(f"piggybacked content over {MAX_PIGGYBACK} octets")
    return ProfileElement(uri, content)


def _greeting(node):
    return Greeting(
        tuple(_profile(child, False).uri for child in node.children),
        node.attributes.get("features"),
        node.attributes.get("localize"),
    )


def _start(node):
    profiles = tuple(_profile(child, True) for child in node.children)
    if not profiles:
        raise _invalid("<start> names no profile")
    return Start(
        _integer(node, "number", MAX_CHANNEL), profiles, node.attributes.get("serverName")
    )


def _close(node):
    _noChildren(node)
    # The DTD defaults the number to 0: a bare <close code='200' /> releases
    # the session (RFC 3080 section 2.4 uses exactly that).
    return Close(
        _integer(node, "number", MAX_CHANNEL, required=False, default=0),
        _integer(node, "code", 999),
        "".join(node.text).strip(),
        node.attributes.get("xml:lang"),
    )


def _ok(node):
    _noChildren(node)
    return Ok()


def _ready(node):
    # Lenient on purpose: any attributes, any white space, ``<ready/>``.
    _noChildren(node)
    return Ready(node.attributes.get("version", "1"))


def _proceed(node):
    _noChildren(node)
    return Proceed()


def _error(node):
    _noChildren(node)
    return BEEPError(
        _integer(node, "code", 999), "".join(node.text).strip(), node.attributes.get("xml:lang")
    )


_ELEMENTS = {
    "greeting": _greeting,
    "start": _start,
    "profile": lambda node: _profile(node, True),
    "close": _close,
    "ok": _ok,
    "error": _error,
    "ready": _ready,
    "proceed": _proceed,
}


def parseElement(data, maxSize=DEFAULT_MAX_XML_SIZE):
    """
    Parse XML from a peer with the same hardened parser as channel
    management, for profiles that carry XML of their own (SASL's
    ``<blob>``).

    :return: the root element, with ``name``, ``attributes``, ``children``
        and ``text`` (a list of character data pieces).
    :raises BEEPError: 500 for XML that is not well formed, too large, or
        uses declarations.
    """
    return _parseXML(data, maxSize)


def errorFromElement(element):
    """
    The :class:`BEEPError` an ``<error>`` element from :func:`parseElement`
    stands for.

    :raises BEEPError: 501 if it breaks the DTD.
    """
    return _error(element)


def parseManagement(data, maxSize=DEFAULT_MAX_XML_SIZE):
    """
    Parse the body of a channel-0 message.

    :return: a :class:`Greeting`, :class:`Start`, :class:`ProfileElement`,
        :class:`Close`, :class:`Ok`, :class:`Ready`, :class:`Proceed` or
        :class:`~beepy.core.errors.BEEPError` (for ``<error>``).
    :raises BEEPError: 500 for XML that is not well formed (or too large, or
        uses declarations), 501 for well-formed XML that breaks the DTD.
    """
    root = _parseXML(data, maxSize)
    parse = _ELEMENTS.get(root.name)
    if parse is None:
        raise _invalid(f"unknown channel management element <{root.name}>")
    return parse(root)


# Text that survives a CDATA section unchanged: XML characters other than CR
# (parsers fold CR and CRLF to LF), no "]]>", and not only white space (which
# reads back as no content at all).
_CDATA_SAFE = re.compile("(?:(?!]]>)[\t\n\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff])*")


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(text):
    """
    Escape ``text`` for element content; characters XML cannot carry at all
    become U+FFFD rather than making the whole element unreadable.
    """
    return escape(_NOT_XML.sub("\ufffd", str(text)))


def _quote(text):
    # Single quotes, as Vortex and beepcore write them.
    return "'" + _text(text).replace("'", "&apos;").replace('"', "&quot;") + "'"


def _encodeProfile(profile):
    if profile.content is None:
        return f"<profile uri={_quote(profile.uri)} />"
    if len(profile.content) > MAX_PIGGYBACK:
        raise ValueError(f"piggybacked content over {MAX_PIGGYBACK} octets")
    if not profile.content:
        return f"<profile uri={_quote(profile.uri)} />"
    try:
        text = profile.content.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and _CDATA_SAFE.fullmatch(text) and text.strip():
        return f"<profile uri={_quote(profile.uri)}><![CDATA[{text}]]></profile>"
    encoded = base64.b64encode(profile.content).decode("ascii")
    return f"<profile uri={_quote(profile.uri)} encoding='base64'>{encoded}</profile>"


def _encodeAttributes(pairs):
    return "".join(f" {name}={_quote(str(value))}" for name, value in pairs if value is not None)


def encodeManagement(element):
    """
    Serialize a management value (or a :class:`BEEPError`) to the body of a
    channel-0 message, as UTF-8 bytes.
    """
    if isinstance(element, Greeting):
        attributes = _encodeAttributes(
            [("features", element.features), ("localize", element.localize)]
        )
        if not element.profiles:
            text = f"<greeting{attributes} />"
        else:
            profiles = "".join(_encodeProfile(ProfileElement(uri)) for uri in element.profiles)
            text = f"<greeting{attributes}>{profiles}</greeting>"
    elif isinstance(element, Start):
        attributes = _encodeAttributes(
            [("number", element.number), ("serverName", element.serverName)]
        )
        profiles = "".join(_encodeProfile(profile) for profile in element.profiles)
        text = f"<start{attributes}>{profiles}</start>"
    elif isinstance(element, ProfileElement):
        text = _encodeProfile(element)
    elif isinstance(element, Close):
        attributes = _encodeAttributes(
            [("number", element.number), ("code", int(element.code)), ("xml:lang", element.lang)]
        )
        text = (
            f"<close{attributes}>{_text(element.text)}</close>"
            if element.text
            else f"<close{attributes} />"
        )
    elif isinstance(element, Ok):
        text = "<ok />"
    elif isinstance(element, BEEPError):
        attributes = _encodeAttributes([("code", int(element.code)), ("xml:lang", element.lang)])
        text = f"<error{attributes}>{_text(element.text)}</error>"
    elif isinstance(element, Ready):
        # Exactly "<ready />" for the default version: Vortex compares strings.
        version = None if element.version == "1" else element.version
        text = f"<ready{_encodeAttributes([('version', version)])} />"
    elif isinstance(element, Proceed):
        text = "<proceed />"
    else:
        raise TypeError(f"not a channel management element: {element!r}")
    return text.encode("utf-8")


def errorFromMessage(message):
    """
    The :class:`BEEPError` an ``ERR`` reply on a data channel stands for.

    An ``application/beep+xml`` ``<error>`` element (what beepy and beepcore
    send) gives its code and text; any other payload gives 554 with the body
    as text.  Either way the error's ``message`` attribute is the reply.
    """
    error = None
    if message.contentType.split(";")[0].strip().lower() == BEEP_XML:
        try:
            element = parseManagement(message.body)
        except BEEPError:
            element = None
        if isinstance(element, BEEPError):
            error = element
    if error is None:
        error = BEEPError(ReplyCode.TRANSACTION_FAILED, message.body.decode("utf-8", "replace"))
    error.message = message
    return error
