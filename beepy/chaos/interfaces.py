# -*- test-case-name: beepy.test.test_chaos -*-
"""
The two interfaces of a chaos behaviour: the plugin that names it and
declares its options, and what it builds for each proxied connection.
"""

from zope.interface import Attribute, Interface

__all__ = ["IChaosBehaviour", "IConnectionBehaviour"]


class IChaosBehaviour(Interface):
    """
    A kind of misbehaviour the chaos proxy can apply to a connection.

    Providers that also provide ``twisted.plugin.IPlugin`` and live in a
    ``twisted/plugins`` module are found by name with
    :func:`beepy.chaos.findBehaviour`, so ``twistd beep-chaos --behavior``
    can choose them like the built-in ones.
    """

    name = Attribute("The name a run chooses it by, e.g. ``'delay'``.")
    description = Attribute("One sentence for ``--help-behaviors``.")
    options = Attribute(
        "The :class:`beepy.chaos.Option` declarations of its settings, each "
        "with a name, a type, a default and a description."
    )

    def buildBehaviour(pipe, settings):
        """
        Build the behaviour of one accepted connection.

        :param pipe: the :class:`beepy.chaos.Pipe` between the client and the
            backend, with its two lanes, clock and random generator.
        :param settings: a ``dict`` of every option's value, by name,
            converted and defaults filled in.
        :return: an :class:`IConnectionBehaviour` provider.
        """


class IConnectionBehaviour(Interface):
    """
    What stands between one client and the backend: it gets the octets
    each side sends and decides when, and in what shape, the other side
    gets them.
    """

    def dataReceived(lane, data):
        """
        One side sent ``data``, which is to go along ``lane``
        (``pipe.upstream`` towards the backend, ``pipe.downstream``
        towards the client).  Pass-through is ``lane.send(data)``.
        """

    def endReceived(lane):
        """
        The side that feeds ``lane`` closed its connection.  Pass-through is
        ``lane.end()``: close the other side once what ``lane`` holds has
        been delivered.
        """
