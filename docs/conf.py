"""Sphinx configuration of affordhand's documentation (`make docs`)."""

project = "affordhand"
author = "the affordhand developers"
copyright = "the affordhand developers, MIT licence"

extensions = ["myst_parser", "sphinxarg.ext", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "results/*.md"]  # the benchmarks' outputs, included by results.md
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_typehints = "description"
html_theme = "furo"
html_title = "affordhand"
