"""
Fuzz targets: every parser of what a peer sends, fed arbitrary input.

Each target must either parse its input or fail with the project's own
error for it (:class:`~beepy.core.errors.RemoteProtocolError` for frames,
:class:`~beepy.BEEPError` for channel-management XML,
:class:`~beepy.core.sasl.base.SASLError` for SASL); anything else that
escapes (``UnicodeDecodeError``, ``IndexError``, ...) is a bug, since the
caller would not turn it into a refusal or a clean termination.

The targets are Hypothesis tests, so the test suite runs each for a short
while (``beepy.test.test_hostile``), and this command runs one for as long
as you like, feeding it random buffers through Hypothesis'
``fuzz_one_input``::

    python -m beepy.testing.fuzz --list
    python -m beepy.testing.fuzz session --seconds 600

It needs Hypothesis (``pip install 'beepy[test]'``).  On a failure it prints
the traceback and the input (Hypothesis' choice buffer, in hex) and exits
with status 1; ``--replay HEX`` runs that input again.  An input that takes
longer than ``--input-timeout`` seconds (10) fails too, since a peer must
not be able to keep a parser busy (this uses ``SIGALRM``: Unix only).
"""

import argparse
import random
import signal
import sys
import time
import traceback

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beepy.core.codec import FrameDecoder, encodeFrame
from beepy.core.errors import BEEPError, RemoteProtocolError
from beepy.core import events, management
from beepy.core.events import ProtocolViolated
from beepy.core.frames import DataFrame, FrameType
from beepy.core.management import BEEP_XML, Close, Greeting, Ok, ProfileElement, Start, encodeManagement
from beepy.core.mime import Message
from beepy.core.sasl.anonymous import AnonymousClient, AnonymousServer
from beepy.core.sasl.base import Lookup, SASLError
from beepy.core.sasl.blob import Blob, parseBlob
from beepy.core.sasl.crammd5 import CramMD5Client, CramMD5Server
from beepy.core.sasl.digestmd5 import DigestMD5Client, DigestMD5Server
from beepy.core.sasl.external import ExternalClient, ExternalServer
from beepy.core.sasl.otp import OTPClient, OTPServer, OTPState, oneTimePassword
from beepy.core.sasl.plain import PlainClient, PlainServer
from beepy.core.sasl.scram import SCRAMClient, SCRAMServer, deriveKeys
from beepy.core.session import Role, Session, SessionConfig

__all__ = ["TARGETS", "main"]

RPY, ANS = FrameType.RPY, FrameType.ANS

#: name -> a Hypothesis test taking arbitrary input.
TARGETS = {}

#: ``max_examples`` is what the test suite runs; the command runs for as
#: long as it is asked to.
_SETTINGS = settings(
    deadline=None, database=None, suppress_health_check=list(HealthCheck), max_examples=100
)


def _target(name, *strategies):
    def register(function):
        TARGETS[name] = _SETTINGS(given(*strategies)(function))
        return function

    return register


# -- Wire input ---------------------------------------------------------------

#: Octets that reach further into the parsers than random ones do.
_FRAME_PIECES = [
    b"MSG 1 0 . 0 5\r\n",
    b"RPY 0 0 . 0 0\r\n",
    b"ANS 1 0 * 0 3 7\r\n",
    b"NUL 1 0 . 0 0\r\n",
    b"SEQ 1 0 4096\r\n",
    b"END\r\n",
    b"Content-Type: application/beep+xml\r\n\r\n",
    b"<start number='1'><profile uri='urn:x' /></start>",
    b"<close number='1' code='200' />",
    b"*",
    b".",
    b" ",
    b"\r\n",
]
_XML_PIECES = list("<>/='\" \n&;!-[]?xa1") + [
    "ok", "close", "start", "profile", "error", "greeting", "number", "code", "uri",
    "encoding", "base64", "CDATA", "DOCTYPE", "ENTITY", "&lt;",
    "<greeting>", "</greeting>", "<profile uri='urn:x'>", "</profile>", "<start number='1'>",
    "</start>", "<close code='200' />", "<error code='550'>", "</error>", "<ok />",
    "<ready />", "<proceed />", "<blob status='complete'>", "</blob>", "AGJvYgA=",
    "<![CDATA[", "]]>", "<!DOCTYPE x [", "<!ENTITY a 'b'>", "]>", "&a;", "&#0;", "&#x10FFFF;",
    "<?xml version='1.0' encoding='utf-16'?>", " encoding='base64'", "='", "'", "\x00", "\ud7ff",
]

_octets = st.binary(max_size=600)
_frameStream = st.lists(st.sampled_from(_FRAME_PIECES) | st.binary(max_size=20), max_size=30).map(
    b"".join
)
_xml = st.lists(st.sampled_from(_XML_PIECES) | st.text(max_size=10), max_size=30).map(
    lambda pieces: "".join(pieces).encode("utf-8", "surrogatepass")
)


@_target("frames", _octets | _frameStream)
def framesTarget(data):
    decoder = FrameDecoder(4096)
    decoder.receiveData(data)
    try:
        while decoder.nextFrame() is not None:
            pass
    except RemoteProtocolError:
        pass


def _management(element):
    return Message(encodeManagement(element), contentType=BEEP_XML).toPayload()


_GREETING = _management(Greeting(("urn:x",)))


def _greeted(role):
    """
    A session that has sent its greeting and received the peer's.
    """
    session = Session(role, ["urn:x"], SessionConfig(receiveWindow=4096, maxFrameSize=4096))
    session.greet()
    session.dataToSend()
    session.receiveData(encodeFrame(DataFrame(RPY, 0, 0, False, 0, _GREETING)))
    return session


#: Payloads that mean something on channel 0 or to the application.
_PAYLOADS = [
    _management(Start(5, (ProfileElement("urn:x"),))),
    _management(Start(6, (ProfileElement("urn:x", b"<ready />"),))),
    _management(Close(1, 200)),
    _management(Close(0, 200)),
    _management(Ok()),
    _management(BEEPError(550, "no")),
    b"\r\nhello",
    b"",
    b"\r\n",
]


@st.composite
def _frameReads(draw, role):
    """
    Reads of mostly well-formed frames, numbered as RFC 3081 wants (with
    the odd wrong sequence number), most of them on channels the peer has
    started (and a session with ``role`` accepts), so that the input gets
    past the decoder and into the session's rules.
    """
    seqnos = {0: len(_GREETING)}
    starts = b""
    # The peer's numbers: odd if we listen (RFC 3080 section 2.3.1.2).
    first = 1 if role is Role.LISTENER else 2
    started = draw(st.lists(st.sampled_from([first, first + 2]), max_size=2, unique=True))
    for number in started:
        start = _management(Start(number, (ProfileElement("urn:x"),)))
        starts += encodeFrame(DataFrame(FrameType.MSG, 0, number, False, seqnos[0], start))
        seqnos[0] += len(start)
    frames = []
    for _ in range(draw(st.integers(0, 12))):
        channel = draw(st.sampled_from([0, 0, 5] + started * 4))
        if draw(st.integers(0, 9)) == 0:
            ackno = draw(st.just(0) | st.integers(0, 9000))
            frames.append(b"SEQ %d %d %d\r\n" % (channel, ackno, 4096))
            continue
        # The peer's MSGs are what a session may take most of.
        frameType = draw(st.sampled_from([FrameType.MSG] * 4 + list(FrameType)))
        payload = draw(st.sampled_from(_PAYLOADS) | st.binary(max_size=60))
        seqno = seqnos.get(channel, 0)
        if draw(st.integers(0, 19)) == 0:
            seqno = draw(st.integers(0, 9000))
        seqnos[channel] = seqno + len(payload)
        ansno = draw(st.integers(0, 2)) if frameType is ANS else None
        frame = DataFrame(
            frameType, channel, draw(st.integers(0, 3)), draw(st.booleans()), seqno, payload, ansno
        )
        frames.append(encodeFrame(frame))
    cuts = sorted(draw(st.lists(st.integers(0, len(frames)), max_size=3)))
    # The starts come alone: a peer waits for their replies.
    reads = [b"".join(frames[a:b]) for a, b in zip([0] + cuts, cuts + [len(frames)])]
    return [starts] + reads


def _act(session, event):
    """
    What an application does with ``event``: accept every start and close,
    answer every message (with ``ANS``/``NUL`` when its body says so).
    """
    if isinstance(event, events.ChannelStartRequested):
        session.acceptStart(event.number, event.profiles[0])
    elif isinstance(event, events.ChannelCloseRequested):
        session.acceptClose(event.number)
    elif isinstance(event, events.MessageReceived):
        if event.message.body == b"hello":
            session.sendAnswer(event.channel, event.msgno, b"\r\nhi")
            session.sendNul(event.channel, event.msgno)
        else:
            session.sendReply(event.channel, event.msgno, b"\r\nok")


_roleAndReads = st.sampled_from(Role).flatmap(lambda role: st.tuples(st.just(role), _frameReads(role)))


@_target("session", _roleAndReads, st.lists(_octets | _frameStream, max_size=2))
def sessionTarget(roleAndReads, garbage):
    """
    A greeted session, driven by an application that accepts and answers
    everything, never raises on input: a broken peer is a
    :class:`ProtocolViolated` event, the last it reports.
    """
    role, reads = roleAndReads
    session = _greeted(role)
    violated = False
    for data in reads + garbage:
        received = session.receiveData(data)
        assert not violated or not received, received
        for event in received[:-1]:
            assert not isinstance(event, ProtocolViolated), received
        violated = bool(received) and isinstance(received[-1], ProtocolViolated)
        if not violated:
            for event in received:
                _act(session, event)
        session.dataToSend()


@_target("management", _octets | _xml)
def managementTarget(data):
    """
    Not well formed is 500, well formed but outside the DTD is 501.
    """
    try:
        management.parseManagement(data)
    except BEEPError as error:
        assert error.code in (500, 501), error


@_target("blob", _octets | _xml)
def blobTarget(data):
    try:
        result = parseBlob(data)
    except SASLError:
        return
    assert isinstance(result, (Blob, BEEPError)), result


# -- SASL mechanisms -----------------------------------------------------------

_SALT = b"0123456789abcdef"
_SERVERS = {
    "PLAIN": PlainServer,
    "ANONYMOUS": AnonymousServer,
    "EXTERNAL": ExternalServer,
    "CRAM-MD5": CramMD5Server,
    "DIGEST-MD5": lambda: DigestMD5Server("realm", nonce="nonce"),
    "OTP": OTPServer,
    "SCRAM-SHA-1": lambda: SCRAMServer("SCRAM-SHA-1", nonce="server"),
    "SCRAM-SHA-256": lambda: SCRAMServer(nonce="server"),
}
#: What a credential store could hand a server mechanism that asks for a
#: user's record; ``None`` is an unknown user.
_RECORDS = {
    "OTP": [None, OTPState("md5", 10, "ke1234", oneTimePassword("pass phrase", "ke1234", 10))],
    "SCRAM-SHA-1": [None, deriveKeys("pencil", _SALT, 16, "sha1")],
    "SCRAM-SHA-256": [None, deriveKeys("pencil", _SALT, 16)],
}
_CLIENTS = {
    "PLAIN": lambda: PlainClient("user", "pencil"),
    "ANONYMOUS": AnonymousClient,
    "EXTERNAL": ExternalClient,
    "CRAM-MD5": lambda: CramMD5Client("user", "pencil"),
    "DIGEST-MD5": lambda: DigestMD5Client("user", "pencil", "host"),
    "OTP": lambda: OTPClient("user", "pass phrase"),
    "SCRAM-SHA-1": lambda: SCRAMClient("user", "pencil", name="SCRAM-SHA-1", nonce="client"),
    "SCRAM-SHA-256": lambda: SCRAMClient("user", "pencil", nonce="client"),
}
#: Messages close enough to each mechanism's syntax to get past its first
#: checks.
_SASL_PIECES = [
    b"\0user\0pencil",
    b"\0user",
    b"n,,n=user,r=client",
    b"c=biws,r=clientserver,p=AAAA",
    b"r=clientserver,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=16",
    b"v=AAAA",
    b"word:FULL PEW DOWN ONCE MORT ARC",
    b"hex:0123456789abcdef",
    b"init-hex:0123456789abcdef:md5 9 ke1234:0123456789abcdef",
    b"otp-md5 9 ke1234 ext",
    b"otp-sha1 4294967296 ke1234 ext",
    b'realm="realm",nonce="nonce",qop="auth",charset=utf-8,algorithm=md5-sess',
    b'username="user",realm="realm",nonce="nonce",cnonce="c",nc=00000001,qop=auth,'
    b'digest-uri="beep/host",response=0123456789abcdef0123456789abcdef',
    b"rspauth=0123456789abcdef0123456789abcdef",
    b'username="u",nonce="n"',
    b"<1896.697170952@postoffice.example.net>",
]
_saslMessages = st.lists(st.sampled_from(_SASL_PIECES) | st.binary(max_size=200), max_size=4)


def _registerSASL(name):
    @_target(
        f"sasl-server-{name}",
        st.none() | st.sampled_from(_SASL_PIECES) | st.binary(max_size=200),
        _saslMessages,
        st.sampled_from(_RECORDS.get(name, [None])),
    )
    def server(first, rest, record):
        """
        The server side fed the client's messages; a lookup is answered with
        ``record``; the run ends at a claim, which the driver would check.
        """
        mechanism = _SERVERS[name]()
        try:
            outcome = mechanism.start(first)
            for message in rest:
                if isinstance(outcome, Lookup):
                    outcome = mechanism.found(record)
                outcome = mechanism.respond(message)
        except SASLError:
            pass

    @_target(f"sasl-client-{name}", _saslMessages, st.booleans())
    def client(challenges, completes):
        """
        The client side fed the server's challenges, and optionally its
        final data.
        """
        mechanism = _CLIENTS[name]()
        try:
            mechanism.initialResponse()
            if completes and challenges:
                *challenges, final = challenges
            else:
                final = None
            for challenge in challenges:
                mechanism.challenge(challenge)
            if completes:
                mechanism.complete(final)
        except SASLError:
            pass


for _name in _SERVERS:
    _registerSASL(_name)


# -- The command -----------------------------------------------------------------


class InputTimeout(Exception):
    """
    One input took longer than ``--input-timeout``: a parser that a peer
    can keep busy (a loop bounded only by a number it sends) is a bug too.
    """


def _timedOut(signum, frame):
    raise InputTimeout("the input took longer than --input-timeout")


def _run(name, seconds, seed, inputTimeout, out):
    test = TARGETS[name]
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    runs = 0
    previous = signal.signal(signal.SIGALRM, _timedOut)
    try:
        while time.monotonic() < deadline:
            buffer = rng.randbytes(rng.randrange(1, 8192))
            try:
                signal.setitimer(signal.ITIMER_REAL, inputTimeout)
                try:
                    test.hypothesis.fuzz_one_input(buffer)
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            except Exception:
                traceback.print_exc(file=out)
                print(f"{name}: failed after {runs} inputs; input: {buffer.hex()}", file=out)
                return 1
            runs += 1
    finally:
        signal.signal(signal.SIGALRM, previous)
    print(f"{name}: {runs} inputs in {seconds:g} s, no failure", file=out)
    return 0


def main(argv=None, out=sys.stdout):
    parser = argparse.ArgumentParser(
        prog="python -m beepy.testing.fuzz", description="Fuzz one of beepy's parsers."
    )
    parser.add_argument("target", nargs="?", choices=sorted(TARGETS), metavar="TARGET")
    parser.add_argument("--list", action="store_true", help="list the targets")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to run (60)")
    parser.add_argument("--seed", type=int, default=None, help="seed for the random inputs")
    parser.add_argument("--replay", metavar="HEX", help="run one input a failure printed")
    parser.add_argument(
        "--input-timeout",
        type=float,
        default=10.0,
        help="seconds one input may take before it counts as a failure (10)",
    )
    options = parser.parse_args(argv)
    if options.list:
        print("\n".join(sorted(TARGETS)), file=out)
        return 0
    if options.target is None:
        parser.error("name a TARGET (--list lists them)")
    if options.replay is not None:
        TARGETS[options.target].hypothesis.fuzz_one_input(bytes.fromhex(options.replay))
        print(f"{options.target}: the input passes", file=out)
        return 0
    return _run(options.target, options.seconds, options.seed, options.input_timeout, out)


if __name__ == "__main__":
    sys.exit(main())
