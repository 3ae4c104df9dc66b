# -*- test-case-name: beepy.test.test_examples -*-
"""
The examples in ``doc/examples`` run, and say what the documentation shows.
"""

import runpy

from twisted.internet import defer, reactor
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SkipTest, TestCase

import beepy

EXAMPLES = FilePath(beepy.__file__).parent().parent().child("doc").child("examples")


def loadExample(name, output):
    """
    The globals of an example, with ``print`` writing to ``output``.
    """
    path = EXAMPLES.child(name)
    if not path.exists():
        raise SkipTest(f"{path.path} is not here: run the tests from a checkout")
    return runpy.run_path(path.path, {"print": lambda *words: output.append(words)})


class SecureEchoTests(TestCase):
    timeout = 30

    @defer.inlineCallbacks
    def test_runs(self):
        """
        ``secure_echo.py`` secures its session and echoes over TLS.
        """
        output = []
        example = loadExample("secure_echo.py", output)
        yield defer.Deferred.fromCoroutine(example["main"](reactor))
        self.assertIn(("server: TLS is active",), output)
        self.assertIn(("client: secured by", "CN=beep.example"), output)
        self.assertEqual(output[-1], ("client: echoed", b"hello over TLS"))
