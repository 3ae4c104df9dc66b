"""
Sphinx configuration for the beepy documentation.

Build with ``sphinx-build -W --keep-going -b html doc <outdir>`` from the
repository root.  The build works offline: links to Twisted's API through
intersphinx are only configured when ``BEEPY_DOCS_INTERSPHINX=1`` is set
(``-W`` would otherwise turn the failed inventory download into an error).
"""

import os
import sys

# Document this source tree, not whatever beepy happens to be installed.
sys.path.insert(0, os.path.abspath(".."))

project = "beepy"
author = "the beepy developers"
copyright = "the beepy developers"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
]

if os.environ.get("BEEPY_DOCS_INTERSPHINX") == "1":
    intersphinx_mapping = {
        "twisted": ("https://docs.twisted.org/en/stable/", None),
        "python": ("https://docs.python.org/3/", None),
    }

autodoc_member_order = "bysource"

exclude_patterns = ["_build"]

html_theme = "alabaster"
