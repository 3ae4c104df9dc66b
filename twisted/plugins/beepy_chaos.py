"""
``twistd beep-chaos``.  This module imports almost nothing, so that
``twistd --help`` stays quick; the built-in behaviours are plugins of
``beepy_chaos_behaviours.py``, loaded only when behaviours are looked up.
"""

from twisted.application.service import ServiceMaker

BEEPChaos = ServiceMaker(
    "BEEP chaos proxy", "beepy.chaos.tap", "A TCP proxy that misbehaves on purpose", "beep-chaos"
)
