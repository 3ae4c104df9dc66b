# -*- test-case-name: beepy.test.test_management -*-
"""
The reply codes of RFC 3080 section 8.

They travel in the ``code`` attribute of ``<error>`` and ``<close>`` and, for
the tuning profiles, in their own error elements.  An ``IntEnum`` keeps them
comparable with the plain integers a peer sends.
"""

import enum

__all__ = ["ReplyCode"]


class ReplyCode(enum.IntEnum):
    """
    Every code RFC 3080 section 8 defines, named by what it says.
    """

    SUCCESS = 200
    SERVICE_NOT_AVAILABLE = 421
    ACTION_NOT_TAKEN = 450  # e.g. a lock already in use
    ACTION_ABORTED = 451  # local error in processing
    TEMPORARY_AUTHENTICATION_FAILURE = 454
    GENERAL_SYNTAX_ERROR = 500  # e.g. poorly formed XML
    PARAMETER_SYNTAX_ERROR = 501  # e.g. valid XML that breaks the DTD
    PARAMETER_NOT_IMPLEMENTED = 504
    AUTHENTICATION_REQUIRED = 530
    AUTHENTICATION_MECHANISM_TOO_WEAK = 534
    AUTHENTICATION_FAILURE = 535
    ACTION_NOT_AUTHORISED = 537
    AUTHENTICATION_MECHANISM_REQUIRES_ENCRYPTION = 538
    REQUESTED_ACTION_NOT_TAKEN = 550  # e.g. no requested profile acceptable
    PARAMETER_INVALID = 553
    TRANSACTION_FAILED = 554  # e.g. policy violation
