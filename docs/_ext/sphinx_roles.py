"""Griffe extension: render the Sphinx roles of actionzoo's docstrings.

The docstrings are NumPy style with Sphinx cross-reference roles
(``:class:`~actionzoo.data.ClipLoader```, ``:func:`make_dataset```,
``:meth:`transfer_from_2d```). mkdocstrings does not read roles, so this
extension, loaded by mkdocs.yml, rewrites each into an *optional*
mkdocs-autorefs reference: a link when the target is documented on the
site, plain code otherwise (never a warning, so ``mkdocs build --strict``
stays a check of the pages, not of every target's visibility).
"""
import re

import griffe

ROLE = re.compile(r":(?:py:)?(?P<role>class|func|meth|mod|data|attr|exc|obj)"
                  r":`(?P<tilde>~?)(?P<target>[\w.]+)(?:\(\))?`")


def _scope(obj):
    """The path a bare name in ``obj``'s docstring is relative to."""
    return obj.path if obj.kind in (griffe.Kind.CLASS, griffe.Kind.MODULE) else obj.parent.path


def _candidates(target, scope, module):
    """Where ``target`` may be documented: first choice and a fallback."""
    if "." not in target:  # a member of the scope, or a name of the module
        return f"{scope}.{target}", f"{module}.{target}"
    parts = target.split(".")
    if parts[0] == "actionzoo" and parts[1][:1].isupper():
        # actionzoo.STFN: the estimators are exported lazily (PEP 562).
        return target, ".".join(["actionzoo", "estimators", *parts[1:]])
    return target, None


def convert(text, scope, module):
    """Replace every role in ``text``; bare names resolve against ``scope``."""
    def replace(match):
        target = match["target"]
        identifier, fallback = _candidates(target, scope, module)
        title = target.rsplit(".", 1)[-1] if match["tilde"] else target
        if match["role"] in ("func", "meth"):
            title += "()"
        slug = f' slug="{fallback}"' if fallback and fallback != identifier else ""
        return f'<autoref identifier="{identifier}"{slug} optional><code>{title}</code></autoref>'
    return ROLE.sub(replace, text)


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring as it is loaded."""

    def on_instance(self, *, node, obj, agent, **kwargs):
        if obj.docstring is not None and ":" in obj.docstring.value:
            obj.docstring.value = convert(obj.docstring.value, _scope(obj), obj.module.path)
