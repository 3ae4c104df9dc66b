# -*- test-case-name: beepy.test.test_options -*-
"""
Command-line option groups for BEEP servers, mixed into ``usage.Options``
the way ``twisted.cred.strcred.AuthOptionMixin`` is: the profiles to offer
(from :mod:`beepy.registry`) and every limit a session enforces.

Each limit's option is made from one declaration in :data:`LIMITS`, and its
default is read from the class that enforces it, so ``--help`` cannot
disagree with the code.
"""

import inspect
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, fields

from twisted.python import usage

from beepy.core.session import SessionConfig
from beepy.registry import RegistryError, configureProfile, profilePlugins

__all__ = ["LIMITS", "OFF", "Limit", "LimitOptions", "ProfileOptions", "limitParameters", "count", "flag", "octets", "seconds", "secondsOrOff"]

_OCTETS = re.compile(r"\s*(\d+)\s*([KMG]?)(?:I?B)?\s*", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


def octets(text):
    """
    A size in octets, with an optional binary suffix: ``4096``, ``64K``,
    ``16M``, ``1G`` (also ``64KiB``, ``64KB``).

    :raises ValueError: for anything else.
    """
    match = _OCTETS.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size such as 4096, 64K or 16M")
    number, unit = match.groups()
    return int(number) * _UNITS[unit.upper()]


def flag(text):
    """
    The ``type`` of a yes/no option: ``yes``/``no``, ``true``/``false``,
    ``on``/``off`` or ``1``/``0``.

    :raises ValueError: for anything else.
    """
    value = text.strip().lower()
    if value in ("yes", "true", "on", "1"):
        return True
    if value in ("no", "false", "off", "0"):
        return False
    raise ValueError(f"{text!r} is not yes or no")


def seconds(text):
    """
    A duration in seconds, more than 0: ``30``, ``0.5``.

    :raises ValueError: for anything else.
    """
    value = float(text)
    if not value > 0:
        raise ValueError(f"{text} is not a positive number of seconds")
    return value


OFF = "off"
"""
What :func:`secondsOrOff` gives for a timer turned off: distinct from
``None``, which is an option not given.
"""


def secondsOrOff(text):
    """
    A duration in seconds, as :func:`seconds`, or ``off`` (or ``0``) for a
    timer that never fires: :data:`OFF`.

    :raises ValueError: for anything else.
    """
    if text.strip().lower() in ("off", "0"):
        return OFF
    return seconds(text)


def count(text):
    """
    A count of at least 1.

    :raises ValueError: for anything else.
    """
    value = int(text)
    if value < 1:
        raise ValueError(f"{text} is less than 1")
    return value


@dataclass(frozen=True)
class Limit:
    """
    One limit as an option.

    :ivar option: the long option's name.
    :ivar target: what enforces it: ``"session"`` (a
        :class:`~beepy.core.session.SessionConfig` field), ``"factory"``,
        ``"tls"`` or ``"sasl"`` (a keyword argument of the server factory,
        :class:`~beepy.tls.TLSPolicy` or :class:`~beepy.sasl.SASLPolicy`).
    :ivar attribute: the field or keyword argument's name.
    :ivar type: converts the option's text (:func:`octets`, :func:`count`,
        :func:`seconds`, :func:`secondsOrOff`).
    :ivar help: one line for ``--help``.
    :ivar unset: what a ``None`` default means, for ``--help``.
    """

    option: str
    target: str
    attribute: str
    type: object
    help: str
    unset: str = "off"

    def default(self, targets):
        if self.target == "session":
            return {field.name: field.default for field in fields(SessionConfig)}[self.attribute]
        signature = inspect.signature(targets[self.target])
        return signature.parameters[self.attribute].default


LIMITS = (
    Limit(
        "receive-window",
        "session",
        "receiveWindow",
        octets,
        "Window each channel advertises (RFC 3081); also the largest frame accepted.",
    ),
    Limit(
        "max-frame-size", "session", "maxFrameSize", octets, "Largest frame payload we send."
    ),
    Limit(
        "max-message-size",
        "session",
        "maxMessageSize",
        octets,
        "Largest message assembled; a larger MSG is answered with ERR 554.",
    ),
    Limit(
        "max-channels", "session", "maxChannels", count, "Channels open at once, channel 0 too."
    ),
    Limit(
        "max-header-length",
        "session",
        "maxHeaderLength",
        count,
        "Longest frame header line accepted; a longer one ends the session.",
    ),
    Limit(
        "max-xml-size",
        "session",
        "maxXMLSize",
        octets,
        "Largest channel-0 (greeting, start, close) message parsed.",
    ),
    Limit(
        "stream-buffer",
        "session",
        "streamBuffer",
        octets,
        "Octets of a streamed payload buffered before its writer waits.",
    ),
    Limit(
        "max-outstanding-messages",
        "session",
        "maxOutstandingMessages",
        count,
        "MSGs per channel awaiting our reply; more get ERR 421, and as many unread 421s end it.",
    ),
    Limit(
        "max-held-events",
        "session",
        "maxHeldEvents",
        count,
        "Messages or frames paused channels hold at once, all together; more end the session.",
    ),
    Limit(
        "max-buffered-octets",
        "session",
        "maxBufferedOctets",
        octets,
        "Octets a session holds for the application, all channels together; more end it.",
        "4 x the larger of --max-message-size and --receive-window",
    ),
    Limit(
        "max-connections",
        "factory",
        "maxConnections",
        count,
        "Sessions served at once; one more is refused with 421 and closed.",
    ),
    Limit(
        "greeting-timeout",
        "factory",
        "greetingTimeout",
        secondsOrOff,
        "Seconds from the connection to the peer's greeting.",
    ),
    Limit(
        "idle-timeout",
        "factory",
        "idleTimeout",
        secondsOrOff,
        "Seconds without an octet in or out, while no reply is owed, before a session is closed.",
    ),
    Limit(
        "frame-timeout",
        "factory",
        "frameTimeout",
        secondsOrOff,
        "Seconds a frame may take from its first octet to its last (slowloris).",
    ),
    Limit(
        "tls-timeout",
        "tls",
        "timeout",
        seconds,
        "Seconds from a TLS request to the new greeting over TLS, handshake included.",
    ),
    Limit(
        "sasl-max-failures",
        "sasl",
        "maxFailures",
        count,
        "Failed authentications a session gets before it is dropped.",
    ),
)
"""
Every limit the server options offer, in ``--help`` order.
"""


def limitParameters(targets, defaults={}):
    """
    :param targets: the callables behind the ``"factory"``, ``"tls"`` and
        ``"sasl"`` targets, whose signatures give the defaults.
    :param defaults: defaults the command line uses instead of those, by
        attribute.
    :return: ``optParameters`` rows for every limit.
    """
    rows = []
    for limit in LIMITS:
        default = defaults.get(limit.attribute, limit.default(targets))
        shown = limit.unset if default is None else default
        rows.append([limit.option, None, None, f"{limit.help} [default: {shown}]", limit.type])
    return rows


class LimitOptions:
    """
    The options of :data:`LIMITS`.  After :meth:`_checkLimitOptions`,
    ``self["limits"]`` maps each target to the keyword arguments given for
    it, and ``self["config"]`` is the session's :class:`SessionConfig`.

    :cvar limitDefaults: defaults this command line uses instead of the
        class's, by attribute (as given to :func:`limitParameters`).
    """

    limitDefaults = {}

    def _checkLimitOptions(self):
        limits = defaultdict(dict)
        for limit in LIMITS:
            value = self[limit.option]
            if value is None and limit.attribute in self.limitDefaults:
                value = self.limitDefaults[limit.attribute]
            if value is not None:
                limits[limit.target][limit.attribute] = None if value is OFF else value
        try:
            self["config"] = SessionConfig(**limits["session"])
        except ValueError as e:
            raise usage.UsageError(str(e)) from e
        self["limits"] = dict(limits)


class ProfileOptions:
    """
    ``--profile``, ``--profile-option`` and ``--help-profiles``.  After
    :meth:`_checkProfileOptions`, ``self["profiles"]`` holds the chosen
    profiles' :class:`~beepy.interfaces.IProfileFactory` providers, in the
    order chosen.

    :cvar defaultProfiles: the names offered when no ``--profile`` is given.
    :ivar profilePackage: the plugin package the registry is read from
        (``None``: ``twisted.plugins``).
    :ivar profilesOutput: where ``--help-profiles`` writes.
    """

    defaultProfiles = ("echo", "sink")
    profilePackage = None
    profilesOutput = sys.stdout

    def opt_profile(self, name):
        """
        Offer the registered profile NAME; may be repeated
        (default: echo and sink; see --help-profiles).
        """
        self.setdefault("profile", []).append(name)

    def opt_profile_option(self, text):
        """
        Set option KEY of profile NAME, as NAME:KEY=VALUE; may be repeated.
        """
        name, colon, setting = text.partition(":")
        key, equals, value = setting.partition("=")
        if not (colon and equals and name and key):
            raise usage.UsageError(f"--profile-option takes NAME:KEY=VALUE, not {text!r}")
        self.setdefault("profile-options", defaultdict(dict))[name][key] = value

    def opt_help_profiles(self):
        """
        List the registered profiles and their options, then exit.
        """
        write = self.profilesOutput.write
        for name, plugin in self._registry().items():
            write(f"{name}\n    {plugin.uri}\n    {plugin.description}\n")
            for option in plugin.options:
                default = "" if option.default is None else f" [default: {option.default}]"
                write(
                    f"    {name}:{option.key}={option.typeName.upper()}  "
                    f"{option.description}{default}\n"
                )
        raise SystemExit(0)

    def _registry(self):
        try:
            return profilePlugins(self.profilePackage)
        except RegistryError as e:
            raise usage.UsageError(str(e)) from e

    def _checkProfileOptions(self):
        chosen = self.get("profile") or list(self.defaultProfiles)
        given = self.get("profile-options", {})
        registry = self._registry()
        unknown = [name for name in chosen if name not in registry]
        if unknown:
            raise usage.UsageError(
                f"no profile named {unknown[0]!r}; registered: {', '.join(registry)}"
            )
        strays = sorted(set(given) - set(chosen))
        if strays:
            raise usage.UsageError(f"--profile-option for {strays[0]!r}, which is not offered")
        if len(set(chosen)) != len(chosen):
            raise usage.UsageError("a profile is chosen twice")
        try:
            self["profiles"] = [
                configureProfile(registry[name], given.get(name, {})) for name in chosen
            ]
        except (RegistryError, ValueError) as e:
            raise usage.UsageError(str(e)) from e
