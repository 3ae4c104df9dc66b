"""
A chaos proxy for testing BEEP applications (and any TCP protocol): it
sits between clients and a server and misbehaves on purpose, in ways
chosen per connection by weight.  See ``doc/chaos.rst``.
"""

from beepy.chaos import options
from beepy.chaos.behaviours import BehaviourPlugin, PassThrough
from beepy.chaos.interfaces import IChaosBehaviour, IConnectionBehaviour
from beepy.chaos.options import (
    ConfiguredBehaviour,
    Option,
    availableBehaviours,
    choice,
    configure,
    count,
    findBehaviour,
    limited,
    number,
    parseMix,
)
from beepy.chaos.proxy import ChaosProxy, Lane, Pipe

__all__ = [
    "BehaviourPlugin",
    "ChaosProxy",
    "IChaosBehaviour",
    "IConnectionBehaviour",
    "Lane",
    "PassThrough",
    "Pipe",
    *options.__all__,
]
