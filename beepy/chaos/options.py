# -*- test-case-name: beepy.test.test_chaos -*-
"""
Behaviours by name, their options, and weighted mixes of them: the one
place that turns ``20:split`` and ``delay:seconds=0.5`` into settings, for
the library and for ``twistd beep-chaos`` alike.
"""

from dataclasses import dataclass, field

from twisted.plugin import getPlugins

from beepy.chaos.interfaces import IChaosBehaviour

__all__ = [
    "ConfiguredBehaviour",
    "Option",
    "availableBehaviours",
    "choice",
    "configure",
    "count",
    "findBehaviour",
    "limited",
    "number",
    "parseMix",
]


class _Type:
    """
    An option type: converts a command-line string (or checks a Python
    value) and says in help text what it accepts.
    """

    def __init__(self, description, convert):
        self.description = description
        self._convert = convert

    def __call__(self, value):
        converted = self._convert(value)
        if not isinstance(value, str) and converted != value:
            raise ValueError(f"{value!r} is not {self.description}")
        return converted

    def __str__(self):
        return self.description


def limited(kind, description, accept):
    """
    :return: an option type converting with ``kind`` (e.g. ``int``) and
        accepting the values for which ``accept`` is true; ``description``
        says which, in help text (e.g. ``"an integer >= 1"``).
    """

    def convert(value):
        converted = kind(value)
        if not accept(converted):
            raise ValueError(f"{value!r} is not {description}")
        return converted

    return _Type(description, convert)


#: An option type: a whole number of octets or times, 0 or more.
count = limited(int, "an integer >= 0", lambda n: n >= 0)
#: An option type: a duration in seconds, a rate or a chance, 0 or more.
number = limited(float, "a number >= 0", lambda n: n >= 0)


def choice(*values):
    """
    :return: an option type accepting one of ``values`` (strings).
    """

    def convert(value):
        if value not in values:
            raise ValueError(f"{value!r} is not one of {', '.join(values)}")
        return value

    return _Type("one of " + "|".join(values), convert)


@dataclass(frozen=True)
class Option:
    """
    The declaration of one setting of a behaviour.

    :ivar name: how it is spelled, in ``configure(..., name=value)`` and in
        ``--behavior-option behaviour:name=value``.
    :ivar type: converts a string to the value, or raises ``ValueError``:
        :data:`count`, :data:`number`, :func:`choice`, :func:`limited`, or
        any callable.
    :ivar default: the value when none is given.
    :ivar description: one sentence for the help text.
    """

    name: str
    type: object
    default: object
    description: str


@dataclass(frozen=True)
class ConfiguredBehaviour:
    """
    A behaviour with every option's value: what the proxy applies to the
    connections it chooses it for.
    """

    behaviour: object
    settings: dict = field(default_factory=dict)

    @property
    def name(self):
        return self.behaviour.name

    def __str__(self):
        settings = ",".join(f"{name}={value}" for name, value in sorted(self.settings.items()))
        return f"{self.name}({settings})"


def availableBehaviours():
    """
    Every behaviour by name: the built-in ones, then the
    ``IChaosBehaviour`` plugins found in ``twisted/plugins`` whose name is
    not taken yet.  Built-ins come first so that they work even where
    Twisted cannot see beepy's own plugin module (an editable install), and
    so that no plugin can quietly replace one.

    :return: a ``dict`` of ``IChaosBehaviour`` providers by name.
    """
    from beepy.chaos.behaviours import BUILTIN

    found = {behaviour.name: behaviour for behaviour in BUILTIN}
    for behaviour in getPlugins(IChaosBehaviour):
        found.setdefault(behaviour.name, behaviour)
    return found


def findBehaviour(name):
    """
    :return: the behaviour called ``name``.
    :raises ValueError: naming the behaviours there are, if none is.
    """
    behaviours = availableBehaviours()
    try:
        return behaviours[name]
    except KeyError:
        raise ValueError(
            f"no chaos behaviour {name!r}; there are {', '.join(sorted(behaviours))}"
        ) from None


def configure(behaviour, **settings):
    """
    Give a behaviour its settings.

    :param behaviour: an ``IChaosBehaviour`` provider, or its name.
    :param settings: option values by name: strings (as on the command
        line) are converted with the option's type, other values checked
        against it.  Options not given take their defaults.
    :return: a :class:`ConfiguredBehaviour`.
    :raises ValueError: for an unknown behaviour or option, or a bad value,
        with a message that says which.
    """
    if isinstance(behaviour, str):
        behaviour = findBehaviour(behaviour)
    options = {option.name: option for option in behaviour.options}
    unknown = sorted(set(settings) - set(options))
    if unknown:
        raise ValueError(
            f"chaos behaviour {behaviour.name!r} has no option {unknown[0]!r}; "
            f"its options: {', '.join(options) or 'none'}"
        )
    values = {}
    for name, option in options.items():
        if name not in settings:
            values[name] = option.default
            continue
        try:
            values[name] = option.type(settings[name])
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"bad value {settings[name]!r} for {behaviour.name}:{name} ({option.type}): {e}"
            ) from None
    return ConfiguredBehaviour(behaviour, values)


def parseMix(specifications, optionSpecifications=()):
    """
    Parse the command line's way of choosing behaviours.

    :param specifications: strings such as ``"20:split,10:delay"`` or
        ``"split"``: comma-separated ``WEIGHT:NAME`` pairs, the weight (a
        positive integer) defaulting to 1.  A name may appear once.
    :param optionSpecifications: strings such as ``"delay:seconds=0.5"``:
        ``NAME:OPTION=VALUE``, for behaviours of the mix.
    :return: a list of ``(weight, ConfiguredBehaviour)`` pairs, for
        :class:`beepy.chaos.ChaosProxy`.
    :raises ValueError: with one readable line, for any mistake.
    """
    weights = {}
    for specification in specifications:
        for item in specification.split(","):
            weight, _, name = item.strip().rpartition(":")
            try:
                weight = int(weight) if weight else 1
            except ValueError:
                weight = 0
            if weight < 1 or not name:
                raise ValueError(f"bad behavior {item!r}: expected WEIGHT:NAME, e.g. 20:split")
            if name in weights:
                raise ValueError(f"behavior {name!r} is given twice")
            findBehaviour(name)
            weights[name] = weight
    settings = {name: {} for name in weights}
    for specification in optionSpecifications:
        name, _, assignment = specification.partition(":")
        option, equals, value = assignment.partition("=")
        if not equals or not option:
            raise ValueError(
                f"bad behavior option {specification!r}: expected NAME:OPTION=VALUE, "
                f"e.g. delay:seconds=0.5"
            )
        if name not in settings:
            raise ValueError(f"behavior option {specification!r} is for {name!r}, not in the mix")
        settings[name][option] = value
    return [(weight, configure(name, **settings[name])) for name, weight in weights.items()]
