"""
SASL (RFC 4422) for BEEP, sans I/O: the ``<blob>`` element of RFC 3080
section 4.1 and each mechanism's client and server state machines.

The Twisted layer that runs them on a BEEP channel and checks credentials
with ``twisted.cred`` is :mod:`beepy.sasl`.
"""
