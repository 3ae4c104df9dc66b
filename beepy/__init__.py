"""
beepy: the BEEP protocol (RFC 3080, RFC 3081) for Twisted.
"""

from beepy.channel import Channel, ChannelStart
from beepy.client import connectBEEP
from beepy.core.codes import ReplyCode
from beepy.core.errors import (
    BEEPError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    SessionReset,
)
from beepy.core.management import ProfileElement
from beepy.core.mime import Message
from beepy.core.session import SessionConfig
from beepy.factory import BEEPClientFactory, BEEPServerFactory
from beepy.interfaces import IFrameReceiver, IProfile, IProfileFactory
from beepy.profile import Answers, Profile, ProfileFactory
from beepy.protocol import BEEPProtocol
from beepy.stream import StreamingMessage
from beepy.timeouts import SessionTimeout
from beepy.tls import TLSPolicy, TLSRequest, TLSTimeout

__version__ = "0.1.0"

__all__ = [
    "Answers",
    "BEEPClientFactory",
    "BEEPError",
    "BEEPProtocol",
    "BEEPServerFactory",
    "Channel",
    "ChannelStart",
    "IFrameReceiver",
    "IProfile",
    "IProfileFactory",
    "LocalProtocolError",
    "Message",
    "Profile",
    "ProfileElement",
    "ProfileFactory",
    "ProtocolError",
    "RemoteProtocolError",
    "ReplyCode",
    "SessionConfig",
    "SessionReset",
    "SessionTimeout",
    "StreamingMessage",
    "TLSPolicy",
    "TLSRequest",
    "TLSTimeout",
    "connectBEEP",
]
