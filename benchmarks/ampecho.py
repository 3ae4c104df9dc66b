"""
The AMP baseline: an echo ``Command`` and the server that answers it.
"""

from twisted.protocols import amp

from common import setNoDelay


class Echo(amp.Command):
    arguments = [(b"data", amp.String())]
    response = [(b"data", amp.String())]


class EchoServer(amp.AMP):
    def connectionMade(self):
        super().connectionMade()
        setNoDelay(self)

    @Echo.responder
    def echo(self, data):
        return {"data": data}


class EchoClient(amp.AMP):
    def connectionMade(self):
        super().connectionMade()
        setNoDelay(self)
