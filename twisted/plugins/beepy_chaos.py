"""
``twistd beep-chaos``, and the built-in chaos behaviours as
``IChaosBehaviour`` plugins, found the way third-party ones are.
"""

from twisted.application.service import ServiceMaker

from beepy.chaos.behaviours import blackout, corrupt, delay, dummy, hang, reset, slow, split

BEEPChaos = ServiceMaker(
    "BEEP chaos proxy", "beepy.chaos.tap", "A TCP proxy that misbehaves on purpose", "beep-chaos"
)

__all__ = ["BEEPChaos", "blackout", "corrupt", "delay", "dummy", "hang", "reset", "slow", "split"]
