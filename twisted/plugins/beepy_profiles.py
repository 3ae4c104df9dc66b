"""
beepy's own profiles in the profile registry (see :mod:`beepy.registry`):
what ``twistd beep --profile NAME`` can offer.
"""

from beepy.profiles.echo import ECHO_URI, EchoFactory
from beepy.profiles.ping import PING_URI, PingFactory
from beepy.profiles.sink import SINK_URI, SinkFactory
from beepy.options import octets
from beepy.registry import ProfileOption, ProfilePlugin

echo = ProfilePlugin(
    "echo",
    ECHO_URI,
    "Answers every MSG with an RPY carrying the same message (beepcore's ECHO).",
    EchoFactory,
    [ProfileOption("delay", float, 0.0, "Seconds each reply waits before it leaves.")],
)

sink = ProfilePlugin(
    "sink",
    SINK_URI,
    "Swallows every MSG, frame by frame, and answers with an empty RPY (beepcore's SINK).",
    lambda window: SinkFactory(receiveWindow=window),
    [
        ProfileOption(
            "window", octets, None, "Receive window of sink channels (default: the session's)."
        )
    ],
)

ping = ProfilePlugin(
    "ping",
    PING_URI,
    "Answers every MSG with an empty RPY: Vortex's ALIVE check, for keepalive.",
    PingFactory,
)
