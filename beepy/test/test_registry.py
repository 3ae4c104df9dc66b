# -*- test-case-name: beepy.test.test_registry -*-
"""
Tests for :mod:`beepy.registry`: profiles found as Twisted plugins and
built from their declared options.
"""

import importlib
import sys
import textwrap

from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from beepy.interfaces import IProfileFactory
from beepy.profiles.echo import ECHO_URI, EchoFactory
from beepy.profiles.sink import SINK_URI
from beepy.registry import (
    IProfilePlugin,
    ProfileOption,
    ProfilePlugin,
    RegistryError,
    configureProfile,
    profilePlugins,
)

_THIRD_PARTY = textwrap.dedent(
    """
    from beepy.profile import ProfileFactory
    from beepy.options import flag
    from beepy.registry import ProfileOption, ProfilePlugin

    class Feed(ProfileFactory):
        uri = "http://example.com/beep/feed"

        def __init__(self, topic, loud):
            self.topic, self.loud = topic, loud

    feed = ProfilePlugin(
        "feed",
        Feed.uri,
        "Sends a topic's news.",
        Feed,
        [
            ProfileOption("topic", str, "all", "Which topic."),
            ProfileOption("loud", flag, False, "Shout."),
        ],
    )
    """
)


def pluginPackage(testCase, *modules):
    """
    Make an importable plugin package holding ``modules`` (source texts),
    as a third-party distribution's ``twisted/plugins`` would.

    :return: the imported package, for :func:`profilePlugins`.
    """
    root = FilePath(testCase.mktemp())
    package = root.child(f"plugins_{id(testCase)}")
    package.makedirs()
    package.child("__init__.py").setContent(b"")
    for index, source in enumerate(modules):
        package.child(f"profile{index}.py").setContent(source.encode())
    sys.path.insert(0, root.path)
    testCase.addCleanup(sys.path.remove, root.path)
    testCase.addCleanup(sys.modules.pop, package.basename(), None)
    return importlib.import_module(package.basename())


class ProfilePluginsTests(SynchronousTestCase):
    def test_builtins(self):
        """
        beepy's own profiles are registered under ``twisted.plugins``, as an
        installed distribution's are.
        """
        plugins = profilePlugins()
        self.assertEqual((plugins["echo"].uri, plugins["sink"].uri), (ECHO_URI, SINK_URI))
        for plugin in plugins.values():
            verifyObject(IProfilePlugin, plugin)

    def test_thirdParty(self):
        """
        A plugin module in another package is found there, with its options.
        """
        plugins = profilePlugins(pluginPackage(self, _THIRD_PARTY))
        self.assertEqual(list(plugins), ["feed"])
        self.assertEqual([option.key for option in plugins["feed"].options], ["topic", "loud"])

    def test_duplicateName(self):
        """
        Two plugins claiming one name are an error naming both URIs, not a
        silent choice of one.
        """
        clash = _THIRD_PARTY.replace("http://example.com/beep/feed", "http://example.com/other")
        package = pluginPackage(self, _THIRD_PARTY, clash)
        error = self.assertRaises(RegistryError, profilePlugins, package)
        self.assertIn("'feed'", str(error))
        self.assertIn("http://example.com/other", str(error))


class ConfigureProfileTests(SynchronousTestCase):
    def setUp(self):
        self.plugin = profilePlugins(pluginPackage(self, _THIRD_PARTY))["feed"]

    def test_defaults(self):
        factory = configureProfile(self.plugin, {})
        verifyObject(IProfileFactory, factory)
        self.assertEqual((factory.topic, factory.loud), ("all", False))

    def test_converted(self):
        factory = configureProfile(self.plugin, {"topic": "beep", "loud": "yes"})
        self.assertEqual((factory.topic, factory.loud), ("beep", True))

    def test_unknownKey(self):
        error = self.assertRaises(RegistryError, configureProfile, self.plugin, {"colour": "red"})
        self.assertEqual(
            str(error), "profile feed has no option 'colour' (its options: loud, topic)"
        )

    def test_badValue(self):
        error = self.assertRaises(RegistryError, configureProfile, self.plugin, {"loud": "very"})
        self.assertEqual(str(error), "profile option feed:loud takes flag, not 'very'")

    def test_echoDelay(self):
        plugin = ProfilePlugin(
            "echo", ECHO_URI, "", EchoFactory, [ProfileOption("delay", float, 0.0, "")]
        )
        self.assertEqual(configureProfile(plugin, {"delay": "0.25"}).delay, 0.25)
