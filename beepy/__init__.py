"""
beepy: the BEEP protocol (RFC 3080, RFC 3081) for Twisted.

The names below are imported when first used, not with the package:
Twisted's plugin cache imports ``beepy`` whenever any ``twistd`` command
starts, and the whole library would cost every one of them a third of a
second.
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "Answers": "beepy.profile",
    "BEEPClientFactory": "beepy.factory",
    "BEEPError": "beepy.core.errors",
    "BEEPProtocol": "beepy.protocol",
    "BEEPServerFactory": "beepy.factory",
    "Channel": "beepy.channel",
    "ChannelStart": "beepy.channel",
    "IFrameReceiver": "beepy.interfaces",
    "IProfile": "beepy.interfaces",
    "IProfileFactory": "beepy.interfaces",
    "LocalProtocolError": "beepy.core.errors",
    "Message": "beepy.core.mime",
    "Profile": "beepy.profile",
    "ProfileElement": "beepy.core.management",
    "ProfileFactory": "beepy.profile",
    "ProtocolError": "beepy.core.errors",
    "RemoteProtocolError": "beepy.core.errors",
    "ReplyCode": "beepy.core.codes",
    "SessionConfig": "beepy.core.session",
    "SessionReset": "beepy.core.errors",
    "SessionTimeout": "beepy.timeouts",
    "StreamingMessage": "beepy.stream",
    "TLSPolicy": "beepy.tls",
    "TLSRequest": "beepy.tls",
    "TLSTimeout": "beepy.tls",
    "connectBEEP": "beepy.client",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'beepy' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
