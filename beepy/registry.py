# -*- test-case-name: beepy.test.test_registry -*-
"""
The registry of profiles a server can be told to offer by name, as in
``twistd beep --profile echo --profile-option echo:delay=0.5``.

A profile joins the registry the way any Twisted plugin does: a module in a
``twisted/plugins`` directory on ``sys.path`` (beepy's own is
``twisted/plugins/beepy_profiles.py``) holds an object providing both
``twisted.plugin.IPlugin`` and :class:`IProfilePlugin`; usually a
:class:`ProfilePlugin`.  A third-party package ships such a module and its
profiles appear in ``twistd beep --help-profiles`` with no change here.

Each plugin declares its options (:class:`ProfileOption`): the command line
is checked against those declarations before the server starts, so a typo
is a usage error, not a profile quietly built with its defaults.
"""

from dataclasses import dataclass

from twisted.plugin import IPlugin, getPlugins
from zope.interface import Attribute, Interface, implementer

__all__ = [
    "IProfilePlugin",
    "ProfileOption",
    "ProfilePlugin",
    "RegistryError",
    "configureProfile",
    "profilePlugins",
]


class RegistryError(ValueError):
    """
    A profile or profile option that the registry does not have, or a value
    its option cannot take.  The message is one line, fit for a user.
    """


class IProfilePlugin(Interface):
    """
    A profile that servers can offer by name.
    """

    name = Attribute("The short name chosen on the command line, e.g. 'echo'.")
    uri = Attribute("The profile's URI, as offered in the greeting.")
    description = Attribute("One line saying what the profile does.")
    options = Attribute("The :class:`ProfileOption` declarations the profile takes.")

    def buildFactory(**options):
        """
        :param options: a value for every declared option, by ``key``,
            already converted by its ``type``.
        :return: the :class:`beepy.interfaces.IProfileFactory` to offer.
        """


@dataclass(frozen=True)
class ProfileOption:
    """
    One option a profile takes.

    :ivar key: its name on the command line (``name:key=value``).
    :ivar type: converts the command line's text to the value, raising
        ``ValueError`` for text it cannot take: ``int``, ``float``, ``str``,
        :func:`beepy.options.flag`,
        :func:`beepy.options.octets`, or any such callable.
    :ivar default: the value when the option is not given.
    :ivar description: one line for ``--help-profiles``.
    """

    key: str
    type: object
    default: object
    description: str

    def convert(self, profile, text):
        try:
            return self.type(text)
        except ValueError as e:
            raise RegistryError(
                f"profile option {profile}:{self.key} takes {self.typeName}, not {text!r}"
            ) from e

    @property
    def typeName(self):
        return getattr(self.type, "__name__", str(self.type))


@implementer(IPlugin, IProfilePlugin)
class ProfilePlugin:
    """
    An :class:`IProfilePlugin` built from a factory callable.

    :param factory: called with each option as a keyword argument; returns
        the profile's :class:`beepy.interfaces.IProfileFactory`.
    """

    def __init__(self, name, uri, description, factory, options=()):
        self.name = name
        self.uri = uri
        self.description = description
        self.options = tuple(options)
        self._factory = factory

    def buildFactory(self, **options):
        return self._factory(**options)


def configureProfile(plugin, given):
    """
    Build a profile's factory from the command line's options.

    :param plugin: the :class:`IProfilePlugin`.
    :param given: ``{key: text}`` as the command line gave them.
    :raises RegistryError: for a key the plugin does not declare, or a
        value its type refuses.
    """
    declared = {option.key: option for option in plugin.options}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise RegistryError(
            f"profile {plugin.name} has no option {unknown[0]!r} (its options: {known})"
        )
    values = {
        key: option.convert(plugin.name, given[key]) if key in given else option.default
        for key, option in declared.items()
    }
    return plugin.buildFactory(**values)


def profilePlugins(package=None):
    """
    Every registered profile, by name.

    :param package: the plugin package to search; ``twisted.plugins``, where
        installed distributions put theirs, by default.
    :return: a ``dict`` of name to :class:`IProfilePlugin`, sorted by name.
    :raises RegistryError: if two plugins claim one name.
    """
    found = {}
    arguments = () if package is None else (package,)
    for plugin in getPlugins(IProfilePlugin, *arguments):
        if plugin.name in found:
            raise RegistryError(
                f"two profile plugins are named {plugin.name!r}: "
                f"{found[plugin.name].uri} and {plugin.uri}"
            )
        found[plugin.name] = plugin
    return dict(sorted(found.items()))
