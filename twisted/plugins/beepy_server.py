from twisted.application.service import ServiceMaker

BEEPServer = ServiceMaker("BEEP server", "beepy.tap", "A BEEP (RFC 3080) peer", "beep")
