# -*- test-case-name: beepy.test.test_chaos_tap -*-
"""
The ``twistd beep-chaos`` plugin: a chaos proxy in front of a BEEP server.

``twisted/plugins/beepy_chaos.py`` names this module::

    twistd -n beep-chaos --listen tcp:10289 --backend tcp:localhost:10288 \\
        --behavior 20:split,10:delay --behavior-option delay:seconds=0.5
"""

import random

from twisted.application import service, strports
from twisted.internet import endpoints
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.logger import Logger
from twisted.python import usage
from zope.interface import implementer

from beepy.chaos.options import availableBehaviours, parseMix
from beepy.chaos.proxy import ChaosProxy

__all__ = ["DEFAULT_LISTEN", "Options", "makeService"]

DEFAULT_LISTEN = "tcp:10289"
"""
The endpoint ``twistd beep-chaos`` listens on without ``--listen``: the
port after BEEP's 10288.
"""

_log = Logger()


def _describeBehaviours():
    """
    The text of ``--help-behaviors``: every behaviour, its options, their
    types and defaults.
    """
    lines = []
    for name, behaviour in sorted(availableBehaviours().items()):
        lines.append(f"{name}: {behaviour.description}")
        for option in behaviour.options:
            lines.append(f"    {name}:{option.name}={option.type} (default {option.default})")
            lines.append(f"        {option.description}")
    return "\n".join(lines)


class Options(usage.Options):
    """
    Command-line options for ``twistd beep-chaos``.

    After :meth:`parseOptions`, ``self["listen"]`` is the list of server
    endpoint descriptions, ``self["backend"]`` the client endpoint
    description, and ``self["mix"]`` the ``(weight, ConfiguredBehaviour)``
    pairs of :func:`beepy.chaos.parseMix`.
    """

    synopsis = (
        "--backend ENDPOINT [--listen ENDPOINT ...] [--behavior [WEIGHT:]NAME[,...] ...] "
        "[--behavior-option NAME:OPTION=VALUE ...] [--seed N]"
    )
    longdesc = (
        "Run a TCP proxy that forwards each connection to --backend through a behaviour "
        "chosen by weight, such as 20:split,10:delay (default: dummy, which forwards "
        "untouched). --help-behaviors lists the behaviours and their options."
    )
    optParameters = [
        ["backend", None, None, "Forward to this client endpoint, e.g. tcp:localhost:10288."],
        ["seed", None, None, "Seed the random choices, for a run that can be repeated.", int],
    ]

    def __init__(self):
        super().__init__()
        self["listen"] = []
        self["behaviors"] = []
        self["behavior-options"] = []

    def opt_listen(self, description):
        """
        Listen on this server endpoint; may be repeated (default: tcp:10289).
        """
        self["listen"].append(description)

    def opt_behavior(self, specification):
        """
        [WEIGHT:]NAME[,...]: behaviours to choose from, by weight (default 1);
        may be repeated.
        """
        self["behaviors"].append(specification)

    def opt_behavior_option(self, specification):
        """
        NAME:OPTION=VALUE: set an option of a behaviour; may be repeated.
        """
        self["behavior-options"].append(specification)

    def opt_help_behaviors(self):
        """
        List the behaviours and their options, then exit.
        """
        print(_describeBehaviours())
        raise SystemExit(0)

    def postOptions(self):
        if self["backend"] is None:
            raise usage.UsageError("--backend is required, e.g. --backend tcp:localhost:10288")
        if not self["listen"]:
            self["listen"] = [DEFAULT_LISTEN]
        for description in self["listen"]:
            _check(endpoints.serverFromString, "--listen", description)
        _check(endpoints.clientFromString, "--backend", self["backend"])
        try:
            self["mix"] = parseMix(self["behaviors"] or ["dummy"], self["behavior-options"])
        except ValueError as e:
            raise usage.UsageError(str(e)) from None


def _check(parse, option, description):
    """
    Parse an endpoint description without the reactor (which ``twist
    --reactor`` installs only after options are parsed), so a mistake is a
    usage error before twistd starts.
    """
    try:
        parse(None, description)
    except Exception as e:
        # Endpoint parsers report mistakes with whatever their argument
        # handling raises; any of them means "bad option".
        raise usage.UsageError(f"invalid {option} endpoint {description!r}: {e}") from None


@implementer(IStreamServerEndpoint)
class _ProxyEndpoint:
    """
    Listens through the proxy, so that it knows its ports, and logs the
    address once it does: the only way to learn the port of ``tcp:0``.
    """

    def __init__(self, proxy, endpoint):
        self._proxy = proxy
        self._endpoint = endpoint

    def listen(self, protocolFactory):
        return self._proxy.listen(self._endpoint).addCallback(self._announce)

    def _announce(self, port):
        _log.info("BEEP chaos proxy listening on {address}", address=port.getHost())
        return port


def makeService(options, reactor=None):
    """
    Build the ``twistd beep-chaos`` service.

    :param options: the parsed :class:`Options`.
    :param reactor: the reactor; the global one if ``None``.
    :return: a ``MultiService`` with one listening child per ``--listen``
        endpoint; a failure to listen is raised from ``startService``.
    """
    if reactor is None:
        from twisted.internet import reactor
    proxy = ChaosProxy(
        endpoints.clientFromString(reactor, options["backend"]),
        options["mix"],
        reactor=reactor,
        random=random.Random(options["seed"]),
    )
    _log.info(
        "BEEP chaos proxy to {backend}: {mix}",
        backend=options["backend"],
        mix=", ".join(f"{weight}:{configured}" for weight, configured in options["mix"]),
    )
    parent = service.MultiService()
    for description in options["listen"]:
        endpoint = _ProxyEndpoint(proxy, endpoints.serverFromString(reactor, description))
        child = strports.service(description, proxy.factory, reactor=reactor)
        child.endpoint = endpoint
        child.setServiceParent(parent)
    return parent
