"""Small Sphinx helpers for the logobrand docs (local extension, no dependencies).

``if-exists`` / ``if-missing``
    Parse the directive's content only when a file exists (or is missing). The docs use it
    for things that other people or later steps produce: ``CHANGELOG.md``, the
    ``examples/*.py`` scripts, the figures written by ``docs/make_figures.py`` and modules
    that are still being written. A ``literalinclude`` or ``image`` of a missing file would
    otherwise be a warning, and the build runs with ``-W``::

        .. if-exists:: ../examples/01_prepare_split.py

           .. literalinclude:: ../examples/01_prepare_split.py

        .. if-missing:: ../examples/01_prepare_split.py

           The script ``examples/01_prepare_split.py`` is not written yet.

    The path is relative to the current document (an absolute path starts at the docs
    folder, as for ``literalinclude``). The file is recorded as a dependency, so the page is
    rebuilt when it appears, changes or disappears.

``autodata-reexports``
    A package such as :mod:`logobrand.data` re-exports constants and type aliases defined in
    its submodules (``NO_LOGO``, ``FLICKRLOGOS32_CLASSES``, ``Transform``, ...). ``automodule``
    skips module data that has no attribute docstring in the package's own source, so they
    would be missing from the API reference. ``.. autodata-reexports:: logobrand.data`` emits
    an ``autodata`` for every name of the package's ``__all__`` that is not a class, a routine
    or a module, and an ``autodoc-process-docstring`` handler replaces their docstrings
    (empty, or the builtin type's documentation) with the attribute docstring in the
    submodule that defines the very same object.

Prose docstrings for data, attributes and properties
    napoleon reads the first line of a data, attribute or property docstring as
    ``type: description`` (a Google-style convention), so prose such as
    the docstring ``A seed: an int, ...`` would render as "Type: A seed". logobrand writes these
    docstrings as plain reST prose and gets their types from annotations, so for those three
    kinds the docstring is stashed before napoleon runs and put back after it.

Public-name cross-references
    Docstrings often refer to a name through its defining module
    (``logobrand.inference.config.ModelConfig``), or by a short name that only resolves in
    the defining module's namespace (``DatasetLayoutError``), while the API page documents it
    where users import it from (``logobrand.inference.ModelConfig``). A
    ``missing-reference`` handler retries such a Python reference without one module segment,
    or, for a short name, with the one documented logobrand object of that name (when there
    is exactly one), so the link resolves instead of silently rendering as plain text.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.errors import PycodeError
from sphinx.ext.autodoc.mock import mock  # type: ignore[attr-defined]  # re-export, Sphinx 9
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.docutils import SphinxDirective

_PY_ROLES = {"class", "func", "meth", "attr", "data", "exc", "obj", "const", "mod", "type"}


class IfExists(SphinxDirective):
    """Parse the content when the file named by the argument exists."""

    required_arguments = 1
    final_argument_whitespace = True
    has_content = True
    want_present = True

    def run(self) -> list[nodes.Node]:
        relative, absolute = self.env.relfn2path(self.arguments[0], self.env.docname)
        self.env.note_dependency(relative)
        if Path(absolute).exists() != self.want_present:
            return []
        return self.parse_content_to_nodes(allow_section_headings=True)


class IfMissing(IfExists):
    """Parse the content when the file named by the argument does not exist."""

    want_present = False


class AutodataReexports(SphinxDirective):
    """Document the data (constants, type aliases) that a package lists in ``__all__``."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        package = self.arguments[0]
        with mock(self.config.autodoc_mock_imports):
            module = importlib.import_module(package)
        lines: list[str] = []
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            if inspect.ismodule(value) or inspect.isclass(value) or inspect.isroutine(value):
                continue
            lines += [f".. autodata:: {package}.{name}", ""]
        if not lines:
            return []
        return self.parse_text_to_nodes("\n".join(lines))


_MISSING = object()


def _inherit_attribute_docs(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    # For data without an attribute docstring autodoc falls back to the value's own __doc__,
    # which for a re-exported dict or tuple is the builtin type's documentation: drop it, and
    # use the attribute docstring of the submodule that defines the object when there is one.
    if what != "data":
        return
    package, _, attr = name.rpartition(".")
    if not package.startswith("logobrand"):
        return
    type_doc = " ".join((type(obj).__doc__ or "").split())
    shown = " ".join(" ".join(lines).split())
    builtin_doc = bool(shown) and bool(type_doc) and type_doc.startswith(shown[:60])
    if shown and not builtin_doc:
        return
    if builtin_doc:
        lines[:] = []
    for module_name in sorted(m for m in sys.modules if m.startswith(package + ".")):
        if getattr(sys.modules[module_name], attr, _MISSING) is not obj:
            continue
        try:
            docs = ModuleAnalyzer.for_module(module_name).find_attr_docs()
        except PycodeError:
            continue
        doc = docs.get(("", attr))
        if doc:
            lines[:] = doc
            return


_PROSE_KINDS = frozenset({"data", "attribute", "property"})
_stash: dict[tuple[str, str], list[str]] = {}


def _stash_prose(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    if what in _PROSE_KINDS:
        _stash[what, name] = list(lines)


def _restore_prose(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    saved = _stash.pop((what, name), None) if what in _PROSE_KINDS else None
    if saved is not None:
        lines[:] = saved


def _resolve_public_name(
    app: Sphinx, env: BuildEnvironment, node: Any, contnode: nodes.Element
) -> nodes.Element | None:
    if node.get("refdomain") != "py" or node.get("reftype") not in _PY_ROLES:
        return None
    target = str(node.get("reftarget", ""))
    domain = env.get_domain("py")
    candidates: list[str] = []
    if target.startswith("logobrand."):
        # logobrand.inference.config.ModelConfig -> logobrand.inference.ModelConfig
        parts = target.split(".")
        candidates = [
            ".".join(parts[:drop] + parts[drop + 1 :]) for drop in range(len(parts) - 2, 0, -1)
        ]
    if not candidates or target.count(".") == 1:
        # A short name written for the defining module's namespace (``DatasetLayoutError``,
        # ``logobrand.LogoClassifier``): accept it only when exactly one documented
        # logobrand object has that name.
        short = target.rpartition(".")[2] if target.startswith("logobrand.") else target
        suffix = "." + short
        objects = domain.objects  # type: ignore[attr-defined]
        names = [
            name
            for name, entry in objects.items()
            if name.startswith("logobrand.") and name.endswith(suffix) and not entry.aliased
        ]
        if len(names) == 1:
            candidates.append(names[0])
    for candidate in candidates:
        resolved = domain.resolve_xref(
            env, node.get("refdoc", ""), app.builder, node["reftype"], candidate, node, contnode
        )
        if resolved is not None:
            return resolved
    return None
    target = str(node.get("reftarget", ""))
    if not target.startswith("logobrand."):
        return None
    parts = target.split(".")
    domain = env.get_domain("py")
    for drop in range(len(parts) - 2, 0, -1):
        candidate = ".".join(parts[:drop] + parts[drop + 1 :])
        resolved = domain.resolve_xref(
            env, node.get("refdoc", ""), app.builder, node["reftype"], candidate, node, contnode
        )
        if resolved is not None:
            return resolved
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("if-exists", IfExists)
    app.add_directive("if-missing", IfMissing)
    app.add_directive("autodata-reexports", AutodataReexports)
    app.connect("missing-reference", _resolve_public_name)
    # before napoleon (priority 500), so the filled-in text is converted like any docstring
    app.connect("autodoc-process-docstring", _inherit_attribute_docs, priority=400)
    app.connect("autodoc-process-docstring", _stash_prose, priority=450)
    app.connect("autodoc-process-docstring", _restore_prose, priority=600)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
