"""
``python -m beepy.cli``: the ``beepy`` console script.
"""

from beepy.cli import main

main()
