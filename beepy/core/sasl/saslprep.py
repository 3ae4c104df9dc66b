# -*- test-case-name: beepy.test.test_sasl_mechanisms -*-
"""
SASLprep (RFC 4013): the stringprep profile that makes user names and
passwords comparable, for PLAIN and SCRAM.

Built on the standard library's :mod:`stringprep` tables (RFC 3454), so no
dependency is needed: the profile is a short list of those tables.
"""

import stringprep
import unicodedata

from beepy.core.sasl.base import malformed

__all__ = ["saslprep"]

_PROHIBITED = (
    stringprep.in_table_c12,  # non-ASCII space
    stringprep.in_table_c21_c22,  # control characters
    stringprep.in_table_c3,  # private use
    stringprep.in_table_c4,  # non-character code points
    stringprep.in_table_c5,  # surrogates
    stringprep.in_table_c6,  # inappropriate for plain text
    stringprep.in_table_c7,  # inappropriate for canonical representation
    stringprep.in_table_c8,  # change display properties, deprecated
    stringprep.in_table_c9,  # tagging characters
)


def saslprep(text, allowUnassigned=True):
    """
    Prepare ``text`` (a ``str``) with SASLprep.

    :param allowUnassigned: ``True`` for a query (a string a client sent,
        compared against a stored one), ``False`` for a stored string (RFC
        3454 section 7).
    :raises SASLError: 501 if ``text`` holds a prohibited character or
        breaks the bidirectional rules.
    """
    # RFC 4013 section 2.1: non-ASCII spaces map to SPACE, the "commonly
    # mapped to nothing" characters are removed; then NFKC (section 2.2).
    mapped = "".join(
        " " if stringprep.in_table_c12(c) else c for c in text if not stringprep.in_table_b1(c)
    )
    prepared = unicodedata.normalize("NFKC", mapped)
    for c in prepared:
        if any(inTable(c) for inTable in _PROHIBITED):
            raise malformed(f"prohibited character U+{ord(c):04X}")
        if not allowUnassigned and stringprep.in_table_a1(c):
            raise malformed(f"unassigned code point U+{ord(c):04X}")
    # RFC 3454 section 6: a string with right-to-left characters has no
    # left-to-right ones, and starts and ends with right-to-left ones.
    rightToLeft = [stringprep.in_table_d1(c) for c in prepared]
    if any(rightToLeft):
        if any(stringprep.in_table_d2(c) for c in prepared):
            raise malformed("mixed left-to-right and right-to-left text")
        if not (rightToLeft[0] and rightToLeft[-1]):
            raise malformed("right-to-left text must start and end with right-to-left characters")
    return prepared
