"""
The built-in chaos behaviours as ``IChaosBehaviour`` plugins, found the way
third-party ones are (see ``doc/chaos.rst``).
"""

from beepy.chaos.behaviours import blackout, corrupt, delay, dummy, hang, reset, slow, split

__all__ = ["blackout", "corrupt", "delay", "dummy", "hang", "reset", "slow", "split"]
