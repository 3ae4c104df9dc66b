# -*- test-case-name: beepy.test.test_options -*-
"""
Tests for :mod:`beepy.options`: the option types and the limit options.
"""

import re
from dataclasses import fields

from twisted.trial.unittest import SynchronousTestCase

from beepy.core.session import SessionConfig
from beepy.factory import BEEPServerFactory
from beepy.options import LIMITS, OFF, count, flag, limitParameters, octets, seconds, secondsOrOff
from beepy.sasl import SASLPolicy
from beepy.tls import TLSPolicy


TARGETS = {"factory": BEEPServerFactory, "tls": TLSPolicy, "sasl": SASLPolicy}


class TypeTests(SynchronousTestCase):
    def test_octets(self):
        self.assertEqual(
            [octets(text) for text in ("4096", "64K", "16m", "1G", "2KiB", "3MB")],
            [4096, 65536, 16 * 1024**2, 1024**3, 2048, 3 * 1024**2],
        )
        for bad in ("", "K", "1.5M", "-1", "12Q"):
            self.assertRaises(ValueError, octets, bad)

    def test_seconds(self):
        self.assertEqual((seconds("30"), seconds("0.5")), (30.0, 0.5))
        for bad in ("0", "-1", "off", "soon", "nan"):
            self.assertRaises(ValueError, seconds, bad)

    def test_secondsOrOff(self):
        self.assertEqual([secondsOrOff(t) for t in ("off", "OFF", "0", "2.5")], [OFF, OFF, OFF, 2.5])
        self.assertRaises(ValueError, secondsOrOff, "-3")

    def test_count(self):
        self.assertEqual(count("7"), 7)
        for bad in ("0", "-2", "many"):
            self.assertRaises(ValueError, count, bad)


class FlagTests(SynchronousTestCase):
    def test_values(self):
        for text in ("yes", "TRUE", "on", "1"):
            self.assertIs(flag(text), True)
        for text in ("no", "False", "off", "0"):
            self.assertIs(flag(text), False)
        self.assertRaises(ValueError, flag, "maybe")


class LimitsTests(SynchronousTestCase):
    def test_everySessionLimit(self):
        """
        Every field of :class:`SessionConfig` is a limit option: a limit added
        to the core cannot be left out of ``twistd beep``.
        """
        exposed = {limit.attribute for limit in LIMITS if limit.target == "session"}
        self.assertEqual(exposed, {field.name for field in fields(SessionConfig)})

    def test_optionNames(self):
        """
        Options are the attributes in kebab case, prefixed by the policy
        they belong to when that is not the session or factory.
        """
        for limit in LIMITS:
            kebab = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", limit.attribute)
            prefix = "" if limit.target in ("session", "factory") else limit.target + "-"
            self.assertEqual(limit.option, prefix + kebab.lower())

    def test_defaultsFromTheCode(self):
        """
        The help shows each limit's default as the code has it, or the
        command line's own default where it gives one.
        """
        rows = {row[0]: row[3] for row in limitParameters(TARGETS)}
        self.assertIn(f"[default: {SessionConfig().maxChannels}]", rows["max-channels"])
        self.assertIn("[default: 3]", rows["sasl-max-failures"])
        self.assertIn("[default: off]", rows["max-connections"])
        self.assertIn("[default: 4 x the larger of", rows["max-buffered-octets"])
        overridden = {row[0]: row[3] for row in limitParameters(TARGETS, {"maxChannels": 9})}
        self.assertIn("[default: 9]", overridden["max-channels"])
