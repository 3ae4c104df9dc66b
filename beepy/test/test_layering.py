# -*- test-case-name: beepy.test.test_layering -*-
"""
The protocol core stays free of I/O frameworks.
"""

import ast
import pathlib

from twisted.trial.unittest import SynchronousTestCase

import beepy.core

_FORBIDDEN = ("twisted", "zope", "socket", "asyncio", "logging", "time", "select")


class CoreLayeringTests(SynchronousTestCase):
    def test_coreImportsNoFramework(self):
        """
        No module of beepy.core imports Twisted, zope, sockets, clocks or a
        logging framework: the core is sans-I/O and deterministic.
        """
        offenders = []
        for path in pathlib.Path(beepy.core.__file__).parent.glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                for name in names:
                    if name.split(".")[0] in _FORBIDDEN:
                        offenders.append(f"{path.name}: {name}")
        self.assertEqual(offenders, [])
