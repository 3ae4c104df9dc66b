"""
Secure a BEEP session with TLS, then echo over it.

Run it from a checkout (with beepy installed): ``python doc/examples/secure_echo.py``.
It starts a server on a free loopback port, with a certificate from an
authority made up on the spot, connects a client, secures the session,
and echoes a message over TLS.
"""

from twisted.internet import defer, endpoints, task

from beepy import BEEPServerFactory, TLSPolicy, connectBEEP
from beepy.profiles.echo import ECHO_URI, EchoFactory
from beepy.testing.certificates import CertificateAuthority


class Policy(TLSPolicy):
    def acceptTLS(self, session, serverName):
        # Who may ask for TLS, for which name (Vortex: the TLS accept handler).
        return serverName == "beep.example"

    def tlsStarted(self, session):
        # Vortex: the TLS notify handler.
        print("server: TLS is active")


async def main(reactor):
    authority = CertificateAuthority()
    policy = Policy(authority.issue("beep.example"))
    factory = BEEPServerFactory([EchoFactory()], tls=policy)
    port = await endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(factory)
    try:
        endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port)
        session = await connectBEEP(endpoint)
        print("client: offered", session.peerProfiles)
        await session.startTLS(serverName="beep.example", trustRoot=authority.certificate)
        print("client: secured by", session.peerCertificate.subject.rfc4514_string())
        print("client: offered", session.peerProfiles)
        channel = await session.openChannel([ECHO_URI])
        reply = await channel.sendMessage(b"hello over TLS")
        print("client: echoed", reply.body)
        closed = session.notifyClose()
        await session.close()
        await closed
    finally:
        await port.stopListening()


if __name__ == "__main__":
    task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
