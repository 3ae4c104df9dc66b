# -*- test-case-name: beepy.test.test_codec,beepy.test.test_mime,beepy.test.test_management -*-
"""
Hypothesis strategies for the values of the sans-I/O core: frames, MIME
messages and channel management elements.

Every strategy draws only values the core may legitimately send, so that a
round trip through the wire form is expected to be lossless.
"""

from hypothesis import strategies as st

from beepy.core.codes import ReplyCode
from beepy.core.errors import BEEPError
from beepy.core.frames import (
    MAX_ANSNO,
    MAX_CHANNEL,
    MAX_MSGNO,
    MAX_SEQNO,
    MAX_SIZE,
    DataFrame,
    FrameType,
    SeqFrame,
)
from beepy.core.management import MAX_PIGGYBACK, Close, Greeting, Ok, ProfileElement, Start
from beepy.core.mime import Message

__all__ = [
    "channels",
    "msgnos",
    "seqnos",
    "ansnos",
    "dataFrames",
    "seqFrames",
    "frames",
    "headerNames",
    "headerValues",
    "messages",
    "xmlText",
    "uris",
    "tokens",
    "piggybacks",
    "profileElements",
    "greetings",
    "starts",
    "closes",
    "oks",
    "beepErrors",
    "managementElements",
]

channels = st.integers(min_value=0, max_value=MAX_CHANNEL)
msgnos = st.integers(min_value=0, max_value=MAX_MSGNO)
seqnos = st.integers(min_value=0, max_value=MAX_SEQNO)
ansnos = st.integers(min_value=0, max_value=MAX_ANSNO)
windows = st.integers(min_value=0, max_value=MAX_SIZE)


@st.composite
def dataFrames(draw, maxPayload=512):
    """
    A :class:`DataFrame` with every field in its RFC 3080 range; the ``ansno``
    is present exactly on ``ANS`` frames.
    """
    frameType = draw(st.sampled_from(list(FrameType)))
    return DataFrame(
        frameType,
        draw(channels),
        draw(msgnos),
        draw(st.booleans()),
        draw(seqnos),
        draw(st.binary(max_size=maxPayload)),
        draw(ansnos) if frameType is FrameType.ANS else None,
    )


seqFrames = st.builds(SeqFrame, channels, seqnos, windows)


def frames(maxPayload=512):
    """
    Any frame: a data frame or an RFC 3081 ``SEQ``.
    """
    return st.one_of(dataFrames(maxPayload), seqFrames)


# A MIME field name: printable US-ASCII without colon or space (RFC 5322).
headerNames = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=":"),
    min_size=1,
    max_size=20,
)
# A header value as it survives a round trip: one line of Latin-1, without
# the surrounding whitespace a parser strips.
headerValues = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=30,
).map(lambda value: value.strip(" \t\x0b\x0c\x85\xa0"))


@st.composite
def messages(draw, maxBody=256):
    """
    A :class:`Message` with zero or more headers and any body.
    """
    headers = draw(st.lists(st.tuples(headerNames, headerValues), max_size=4))
    return Message(draw(st.binary(max_size=maxBody)), headers=headers)


def _xmlCharacters(extra=""):
    # Characters XML 1.0 allows in text and attribute values, without the
    # whitespace an XML parser normalizes in attributes or a reader strips.
    return st.characters(
        exclude_categories=("Cs", "Cc"),
        exclude_characters="\ufffe\uffff",
    ) | st.sampled_from(list(extra) or [" "])


xmlText = st.text(_xmlCharacters(), max_size=40).map(str.strip)
uris = st.text(_xmlCharacters(), min_size=1, max_size=40).map(str.strip).filter(bool)
tokens = st.from_regex(r"\A[a-z][a-z0-9-]{0,8}( [a-z][a-z0-9-]{0,8}){0,2}\Z")


@st.composite
def piggybacks(draw):
    """
    Piggybacked ``<profile>`` content: ``None``, or 1 to 4096 octets of
    printable text (sent as CDATA), of any Unicode text (white space only,
    CR, XML non-characters: whatever CDATA cannot carry goes as base64) or
    of binary.  Empty content is the same as none, so it is not drawn.
    """
    return draw(
        st.one_of(
            st.none(),
            st.text(_xmlCharacters("\n\t"), min_size=1, max_size=200).map(str.encode),
            st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=200)
            .map(str.encode)
            .filter(lambda octets: len(octets) <= MAX_PIGGYBACK),
            st.binary(min_size=1, max_size=MAX_PIGGYBACK),
        )
    )


profileElements = st.builds(ProfileElement, uris, piggybacks())

greetings = st.builds(
    Greeting,
    st.lists(uris, max_size=5).map(tuple),
    st.none() | tokens,
    st.none() | tokens,
)

starts = st.builds(
    Start,
    st.integers(min_value=1, max_value=MAX_CHANNEL),
    st.lists(profileElements, min_size=1, max_size=4).map(tuple),
    st.none() | xmlText,
)

_codes = st.sampled_from(list(ReplyCode)) | st.integers(min_value=100, max_value=599)
_langs = st.none() | st.from_regex(r"\A[a-z]{2}(-[A-Z]{2})?\Z")

closes = st.builds(Close, channels, _codes, xmlText, _langs)
oks = st.just(Ok())
beepErrors = st.builds(BEEPError, _codes, xmlText, _langs)

managementElements = st.one_of(greetings, starts, profileElements, closes, oks, beepErrors)
