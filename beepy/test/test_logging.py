# -*- test-case-name: beepy.test.test_logging -*-
"""
The structured log events of a session: each carries a ``beepEvent`` name
and the fields a log pipeline filters on (``peer``, ``channel``,
``profile``, ``reason``, ``error``), so operators need not parse the text.
"""

import io
import json
import sys

from twisted.cred import strcred
from twisted.cred.portal import Portal
from twisted.internet.address import IPv4Address
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import Logger, formatEvent, globalLogPublisher
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase

from beepy.core.errors import BEEPError
from beepy.factory import BEEPClientFactory, BEEPServerFactory
from beepy.profile import ProfileFactory
from beepy.profiles.echo import ECHO_URI, EchoFactory
from beepy.sasl import AvatarIdRealm, SASLPolicy, normaliseChecker
from beepy.tap import jsonLogObserver

SERVER_ADDRESS = IPv4Address("TCP", "127.0.0.1", 10288)
CLIENT_ADDRESS = IPv4Address("TCP", "127.0.0.1", 54321)


class Refusing(ProfileFactory):
    uri = "http://example.com/refusing"

    def buildProfile(self, channel, start):
        raise BEEPError(550, "not today")


def connect(**serverArguments):
    server = BEEPServerFactory([EchoFactory(), Refusing()], **serverArguments).buildProtocol(None)
    client = BEEPClientFactory().buildProtocol(None)
    pump = iosim.connect(
        server,
        iosim.FakeTransport(server, True, hostAddress=SERVER_ADDRESS, peerAddress=CLIENT_ADDRESS),
        client,
        iosim.FakeTransport(client, False, hostAddress=CLIENT_ADDRESS, peerAddress=SERVER_ADDRESS),
    )
    return client, server, pump


class SessionLogTests(SynchronousTestCase):
    def setUp(self):
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def logged(self, name):
        return [event for event in self.events if event.get("beepEvent") == name]

    def test_lifecycle(self):
        """
        A session's opening, its channels' starts, refusals and closes, and
        its end are each one event, on the side they happened.
        """
        client, server, pump = connect()
        opening = client.openChannel([ECHO_URI])
        pump.flush()
        channel = self.successResultOf(opening)
        refused = client.openChannel(["http://example.com/refusing"])
        pump.flush()
        self.failureResultOf(refused, BEEPError)
        closing = channel.close()
        pump.flush()
        self.successResultOf(closing)
        client.close()
        pump.flush()

        opened = self.logged("sessionOpened")
        self.assertEqual(
            [(event["role"], str(event["peer"])) for event in opened],
            [("listener", str(CLIENT_ADDRESS)), ("initiator", str(SERVER_ADDRESS))],
        )
        started = self.logged("channelStarted")
        self.assertEqual(
            [(event["channel"], event["profile"], event["what"]) for event in started],
            [(1, ECHO_URI, "started by the peer"), (1, ECHO_URI, "started")],
        )
        [refused] = self.logged("channelRefused")
        self.assertEqual((refused["channel"], refused["error"].code), (3, 550))
        closed = self.logged("channelClosed")
        self.assertEqual([event["channel"] for event in closed], [1, 1])
        self.assertEqual(len(self.logged("sessionClosed")), 2)
        self.assertIn("closed cleanly", formatEvent(self.logged("sessionClosed")[0]))

    def test_protocolViolation(self):
        """
        A peer terminated for a malformed frame is logged as an error with
        the violation, and the session's end gives it as the reason.
        """
        client, server, pump = connect()
        client.transport.write(b"MSG 0 x . 0 0\r\nEND\r\n")
        pump.flush()
        [violation] = self.logged("protocolViolation")
        self.assertEqual(violation["log_level"].name, "error")
        self.assertEqual(str(violation["peer"]), str(CLIENT_ADDRESS))
        [ended] = [e for e in self.logged("sessionClosed") if e["peer"] == CLIENT_ADDRESS]
        self.assertIs(ended["reason"], violation["error"])

    def test_authentication(self):
        """
        SASL successes and failures are events with the mechanism.
        """
        checker = normaliseChecker(strcred.makeChecker("memory:bob:secret"))
        policy = SASLPolicy(Portal(AvatarIdRealm(), [checker]))
        client, server, pump = connect(sasl=policy)
        failing = client.authenticate("CRAM-MD5", username="bob", password="wrong")
        pump.flush()
        self.failureResultOf(failing)
        succeeding = client.authenticate("CRAM-MD5", username="bob", password="secret")
        pump.flush()
        self.successResultOf(succeeding)
        [failed] = self.logged("authenticationFailed")
        [succeeded] = self.logged("authenticated")
        self.assertEqual((failed["mechanism"], succeeded["mechanism"]), ("CRAM-MD5", "CRAM-MD5"))
        self.assertEqual(succeeded["identity"], "bob")


class JSONLogObserverTests(SynchronousTestCase):
    def test_oneLinePerEvent(self):
        """
        ``twistd --logger beepy.tap.jsonLogObserver`` writes each event as a
        line of JSON whose fields survive.
        """
        output = io.StringIO()
        self.patch(sys, "stdout", output)
        observer = jsonLogObserver()
        Logger(observer=observer).info(
            "Channel {channel} started", beepEvent="channelStarted", channel=3
        )
        # Each record is RS, the JSON text, LF (RFC 7464).
        [record] = output.getvalue().split("\n")[:-1]
        event = json.loads(record.lstrip("\x1e"))
        self.assertEqual((event["beepEvent"], event["channel"]), ("channelStarted", 3))
