# -*- test-case-name: beepy.test.test_sasl_interop -*-
"""
SASL replays of wire transcripts recorded between real peers (see
:mod:`beepy.test.test_interop` and ``interop/*/README.md``).

A beepy session, with the whole Twisted layer (the SASL policy, the cred
portal, ``authenticate``), takes the place of one recorded peer and is fed
the other peer's octets, recorded chunk by recorded chunk.  What beepy
writes is then compared with what the replaced peer wrote, message by
message, with XML parsed and blobs decoded: the other peer answered those
messages, so equal messages mean answers it expects.

Where beepy differs on purpose, the test says so: a failure after the start
is an ``ERR`` (Vortex sends its ``<error>`` in an ``RPY``; its client reads
either), and EXTERNAL needs a TLS client certificate (Vortex granted it over
plain TCP).
"""

from twisted.cred.checkers import AllowAnonymousAccess, InMemoryUsernamePasswordDatabaseDontUse
from twisted.cred.portal import Portal
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from beepy import BEEPClientFactory, BEEPError, BEEPServerFactory, ReplyCode
from beepy.core import events
from beepy.core.errors import BEEPError as CoreBEEPError
from beepy.core.management import Greeting, ProfileElement
from beepy.core.mime import Message
from beepy.core.sasl.blob import COMPLETE, Blob, parseBlob
from beepy.core.sasl.crammd5 import CramMD5Server
from beepy.core.sasl.digestmd5 import DigestMD5Server, _parse
from beepy.profile import Profile, ProfileFactory
from beepy.protocol import BEEPProtocol
from beepy.sasl import (
    AvatarIdRealm,
    ClientCertificateChecker,
    InMemoryOTPDatabase,
    SASLPolicy,
    mechanismURI,
)
from beepy.test.test_interop import (
    FROM_INITIATOR,
    FROM_LISTENER,
    REGRESSION,
    decodeAll,
    exchanged,
    loadTranscript,
    numberLikeVortex,
    numberMessagesFromOne,
    paddingFor,
    recordedFrames,
    through,
)

ECHO = "http://xml.resource.org/profiles/NULL/ECHO"
SINK = "http://xml.resource.org/profiles/NULL/SINK"


class _Echo(Profile):
    def messageReceived(self, message):
        return message


def _echoFactory(uri):
    factory = ProfileFactory()
    factory.uri = uri
    factory.profile = _Echo
    return factory


def _blobOrBody(body):
    try:
        return parseBlob(body)
    except BEEPError:
        return body


def meaning(frames):
    """
    :func:`exchanged` with what SASL puts in the messages decoded:
    piggybacked blobs parsed, SASL channel bodies parsed, errors reduced to
    their codes (texts differ between implementations), greetings left out.
    """

    def simplify(content):
        if isinstance(content, CoreBEEPError):
            return ("error", int(content.code))
        if isinstance(content, ProfileElement):
            return (
                content.uri,
                None if content.content is None else simplify(parseBlob(content.content)),
            )
        if isinstance(content, Message):
            return simplify(_blobOrBody(content.body))
        return content

    result = {}
    for channel, messages in exchanged(frames).items():
        result[channel] = [
            (keyword, msgno, simplify(content))
            for keyword, msgno, ansno, content in messages
            if not isinstance(content, Greeting)
        ]
    return result


class _ReplayingPolicy(SASLPolicy):
    """
    A policy whose CRAM-MD5 and DIGEST-MD5 challenges are the recorded
    ones, so that the recorded responses check out.
    """

    challenges = {}

    def buildMechanism(self, name):
        if name == "CRAM-MD5":
            return CramMD5Server(challenge=self.challenges[name])
        if name == "DIGEST-MD5":
            return DigestMD5Server(self.realm, nonce=self.challenges[name])
        return super().buildMechanism(name)


def _portal():
    checker = InMemoryUsernamePasswordDatabaseDontUse()
    checker.addUser(b"bob", b"secret")
    otp = InMemoryOTPDatabase()
    # beepcore-java's test account: its client answers "otp-md5 1 alpha1"
    # with RFC 2289's password 0; a state at sequence 2 asks for 1.
    otp.addUser("IW_User", "AbCdEfGhIjK", "alpha1", sequence=2)
    return Portal(
        AvatarIdRealm(), [checker, AllowAnonymousAccess(), otp, ClientCertificateChecker()]
    )


def recordedChallenge(chunks):
    """
    The challenge the recorded listener piggybacked on its first start
    reply.
    """
    return meaning(recordedFrames(chunks, FROM_LISTENER))[0][0][2][1].data


class ServerReplayTests(SynchronousTestCase):
    """
    beepy as the listener, fed the recorded initiator's octets.
    """

    def replay(self, name, profiles, chunks=None, numbering=None, challenges=None, **policyOptions):
        chunks = chunks or loadTranscript(name)
        policy = _ReplayingPolicy(_portal(), allowPlaintext=True, **policyOptions)
        policy.challenges = challenges or {}
        factory = BEEPServerFactory([_echoFactory(uri) for uri in profiles], sasl=policy)
        offered = [p.uri for p in factory.profiles]
        factory.features = paddingFor(chunks, FROM_LISTENER, offered)
        server = factory.buildProtocol(None)
        transport = StringTransport()
        server.makeConnection(transport)
        if numbering is not None:
            numbering(server._session)
        for direction, data in chunks:
            if direction == FROM_INITIATOR:
                server.dataReceived(data)
        self.assertIsNone(server._violation)
        return (
            server,
            meaning(decodeAll(transport.value())),
            meaning(recordedFrames(chunks, FROM_LISTENER)),
        )

    def vortex(self, name, chunks=None, challenges=None):
        return self.replay(
            "vortex/" + name, [REGRESSION], chunks, numberLikeVortex, challenges, realm="aspl.es"
        )

    def vortexCramMD5(self, name):
        challenge = recordedChallenge(loadTranscript("vortex/" + name))
        return self.vortex(name, challenges={"CRAM-MD5": challenge})

    def test_vortexPlain(self):
        """
        PLAIN piggybacked: the same ``<blob status='complete' />`` in the
        start reply, then the echo channel and the closes, as Vortex.
        """
        server, ours, theirs = self.vortex("05-sasl-plain.c1.jsonl")
        self.assertEqual(ours, theirs)
        self.assertEqual(ours[0][0], ("RPY", 0, (mechanismURI("PLAIN"), Blob(b"", COMPLETE))))
        self.assertEqual(
            (server.authenticatedId, server.authentication.mechanism), ("bob", "PLAIN")
        )

    def test_vortexPlainWrongPassword(self):
        server, ours, theirs = self.vortex("05b-sasl-plain-wrong-password.c1.jsonl")
        self.assertEqual(ours, theirs)
        self.assertEqual(ours[0][0], ("ERR", 0, ("error", 535)))
        self.assertIsNone(server.authentication)

    def test_vortexAnonymous(self):
        server, ours, theirs = self.vortex("06-sasl-anonymous.c1.jsonl")
        self.assertEqual(ours, theirs)
        self.assertEqual(server.authentication.trace, "test@aspl.es")

    def test_vortexCramMD5(self):
        """
        The challenge piggybacked on the start reply, the response checked,
        ``<blob status='complete' />`` in the RPY.
        """
        server, ours, theirs = self.vortexCramMD5("07-sasl-cram-md5.c1.jsonl")
        self.assertEqual(ours, theirs)
        self.assertEqual(ours[3][0], ("RPY", 0, Blob(b"", COMPLETE)))
        self.assertEqual(server.authenticatedId, "bob")

    def test_vortexCramMD5WrongPassword(self):
        """
        beepy answers the wrong response with ``ERR`` where Vortex used an
        ``RPY``; both carry ``<error code='535'>``, which is what Vortex's
        client looks for.  The rest is the same.
        """
        server, ours, theirs = self.vortexCramMD5("07b-sasl-cram-md5-wrong-password.c1.jsonl")
        self.assertEqual(ours[3], [("ERR", 0, ("error", 535))])
        self.assertEqual(theirs[3], [("RPY", 0, ("error", 535))])
        self.assertEqual(ours[0], theirs[0])

    def test_vortexDigestMD5(self):
        """
        Vortex's response checks out against bob's password, and the
        ``rspauth`` beepy sends back is the one Vortex sent.
        """
        name = "08-sasl-digest-md5.c1.jsonl"
        challenge = recordedChallenge(loadTranscript("vortex/" + name))
        nonce = _parse(challenge.decode())["nonce"]
        server, ours, theirs = self.vortex(name, challenges={"DIGEST-MD5": nonce})
        # The same directives, written differently (Vortex puts spaces after
        # the commas):
        [(keyword, msgno, (uri, ourChallenge))] = ours[0][:1]
        self.assertEqual(_parse(ourChallenge.data.decode()), _parse(challenge.decode()))
        self.assertEqual(ours[0][1:], theirs[0][1:])
        self.assertEqual(
            {k: v for k, v in ours.items() if k}, {k: v for k, v in theirs.items() if k}
        )
        self.assertEqual(server.authenticatedId, "bob")

    def test_vortexExternalNeedsTLS(self):
        """
        Vortex granted EXTERNAL over plain TCP; beepy refuses it with 538.
        """
        chunks = through(loadTranscript("vortex/08b-sasl-external.c1.jsonl"), b"<start ")
        server, ours, theirs = self.vortex("08b", chunks)
        self.assertEqual(ours[0], [("ERR", 0, ("error", 538))])

    def beepcore(self, name):
        return self.replay("beepcore-java/" + name, [SINK, ECHO], numbering=None, beepcore=True)

    def test_beepcoreAnonymous(self):
        server, ours, theirs = self.beepcore("java-client_java-server_sasl-anonymous.jsonl")
        self.assertEqual(ours, theirs)
        self.assertEqual(server.authentication.trace, "trace@example.com")

    def test_beepcoreOTP(self):
        """
        OTP without piggybacking: beepy's challenge is beepcore's
        (``otp-md5 1 alpha1 ext``) and the answer, one hash short of RFC
        2289 as beepcore-java counts, is accepted by a policy told so.
        """
        server, ours, theirs = self.beepcore("java-client_java-server_sasl-otp.jsonl")
        self.assertEqual(ours, theirs)
        self.assertEqual(ours[1][0], ("RPY", 1, Blob(b"otp-md5 1 alpha1 ext")))
        self.assertEqual(server.authenticatedId, "IW_User")


class _NumberingClient(BEEPProtocol):
    """
    A client that numbers the MSGs of each new channel from 1, as
    beepcore-java does (private state, as in :mod:`test_interop`).
    """

    def _channelStartedFromOne(self, event):
        numberMessagesFromOne(self._session, event.number)
        BEEPProtocol._channelStarted(self, event)

    _dispatch = {**BEEPProtocol._dispatch, events.ChannelStarted: _channelStartedFromOne}


class ClientReplayTests(SynchronousTestCase):
    """
    beepy's ``authenticate`` as the initiator, fed the recorded listener's
    octets.
    """

    def replay(self, name, stop, numbering, protocol=BEEPProtocol, **credentials):
        chunks = through(loadTranscript(name), stop)
        factory = BEEPClientFactory()
        factory.protocol = protocol
        factory.features = paddingFor(chunks, FROM_INITIATOR, ())
        client = factory.buildProtocol(None)
        transport = StringTransport()
        client.makeConnection(transport)
        numbering(client._session)
        results = []
        listener = [data for direction, data in chunks if direction == FROM_LISTENER]
        client.dataReceived(listener[0])  # the greeting
        client.authenticate(**credentials).addBoth(results.append)
        for data in listener[1:]:
            client.dataReceived(data)
        self.assertIsNone(client._violation)
        ours = meaning(decodeAll(transport.value()))
        theirs = meaning(recordedFrames(chunks, FROM_INITIATOR))
        return client, results[0] if results else None, ours, theirs

    def test_vortexPlain(self):
        client, result, ours, theirs = self.replay(
            "vortex/05-sasl-plain.c1.jsonl",
            b"status='complete'",
            numberLikeVortex,
            mechanism="PLAIN",
            serverName="127.0.0.1",
            username="bob",
            password="secret",
        )
        self.assertEqual(ours, theirs)
        self.assertEqual((result.mechanism, client.authenticatedId), ("PLAIN", "bob"))

    def test_vortexPlainWrongPassword(self):
        client, result, ours, theirs = self.replay(
            "vortex/05b-sasl-plain-wrong-password.c1.jsonl",
            b"<error",
            numberLikeVortex,
            mechanism="PLAIN",
            serverName="127.0.0.1",
            username="bob",
            password="wrong",
        )
        self.assertEqual(ours, theirs)
        result.trap(BEEPError)
        self.assertEqual(result.value.code, ReplyCode.AUTHENTICATION_FAILURE)
        self.assertIn("Authentication failure", result.value.text)
        self.assertIsNone(client.authentication)

    def test_vortexCramMD5(self):
        """
        beepy's response to Vortex's challenge is the one vxprobe sent.
        """
        client, result, ours, theirs = self.replay(
            "vortex/07-sasl-cram-md5.c1.jsonl",
            b"<blob status='complete' />",
            numberLikeVortex,
            mechanism="CRAM-MD5",
            serverName="127.0.0.1",
            username="bob",
            password="secret",
        )
        self.assertEqual(ours, theirs)
        self.assertEqual(result.mechanism, "CRAM-MD5")

    def test_vortexCramMD5Refused(self):
        """
        Vortex's ``RPY`` carrying ``<error code='535'>`` fails
        ``authenticate`` with that code and text, and beepy closes the SASL
        channel as vxprobe did.
        """
        client, result, ours, theirs = self.replay(
            "vortex/07b-sasl-cram-md5-wrong-password.c1.jsonl",
            b"<ok />",
            numberLikeVortex,
            mechanism="CRAM-MD5",
            serverName="127.0.0.1",
            username="bob",
            password="wrong",
        )
        result.trap(BEEPError)
        self.assertEqual(result.value.code, ReplyCode.AUTHENTICATION_FAILURE)
        self.assertEqual(ours, theirs)
        self.assertEqual(ours[0][1][:2], ("MSG", 1))

    def test_beepcoreOTP(self):
        """
        beepy answers beepcore-java's OTP challenge as its own client did,
        message for message.
        """
        client, result, ours, theirs = self.replay(
            "beepcore-java/java-client_java-server_sasl-otp.jsonl",
            b"<blob status='complete'/>",
            lambda session: numberMessagesFromOne(session, 0),
            protocol=_NumberingClient,
            mechanism="OTP",
            piggyback=False,
            username="IW_User",
            passphrase="AbCdEfGhIjK",
            beepcore=True,
        )
        self.assertEqual(ours, theirs)
        self.assertEqual(ours[1][1], ("MSG", 2, Blob(b"word:FULL PEW DOWN ONCE MORT ARC")))
        self.assertEqual(result.authenticatedId, "IW_User")

    def test_beepcoreAnonymous(self):
        client, result, ours, theirs = self.replay(
            "beepcore-java/java-client_java-server_sasl-anonymous.jsonl",
            b"<blob status='complete'/>",
            lambda session: numberMessagesFromOne(session, 0),
            protocol=_NumberingClient,
            mechanism="ANONYMOUS",
            piggyback=False,
            trace="trace@example.com",
        )
        self.assertEqual(ours, theirs)
        self.assertEqual(result.mechanism, "ANONYMOUS")
