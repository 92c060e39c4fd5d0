"""What ``_`` means, the one rule (README, "Conventions"): in models.py, fields.py, apps.py and
forms.py it is ``gettext_lazy`` (Django's convention: every string there is a declaration, read at
import time); in every other module it is ``gettext``, and a string declared at module or class
level (an attribute, a decorator's argument, a default) spells out ``gettext_lazy``.

The bug the rule keeps out: a non-lazy translation evaluated at import time freezes the label in
whatever language was active then, so this reads every module's source and finds any ``gettext``
(whatever it is called) evaluated outside a function body."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = (
    "config",
    "core",
    "partners",
    "jobs",
    "leads",
    "collision",
    "pushes",
    "reporting",
    "sandbox",
)
DECLARATIONS = {"models.py", "fields.py", "apps.py", "forms.py"}
EAGER = {"gettext", "ngettext", "pgettext", "npgettext"}


def _modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def _translation_names(tree: ast.Module) -> dict[str, str]:
    """Local name → the django.utils.translation function it is bound to."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "django.utils.translation":
            for alias in node.names:
                names[alias.asname or alias.name] = alias.name
    return names


def _calls_at_import_time(node: ast.AST):
    """Calls evaluated when the module is imported: everything but function and lambda bodies
    (decorators, defaults and class bodies run at import)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        for outer in [*node.decorator_list, node.args, node.returns]:
            if outer is not None:
                yield from _calls_at_import_time(outer)
        return
    if isinstance(node, ast.Lambda):
        yield from _calls_at_import_time(node.args)
        return
    if isinstance(node, ast.Call):
        yield node
    for child in ast.iter_child_nodes(node):
        yield from _calls_at_import_time(child)


def test_underscore_is_lazy_only_in_declaration_modules():
    wrong = []
    for path in _modules():
        meant = _translation_names(ast.parse(path.read_text())).get("_")
        expected = "gettext_lazy" if path.name in DECLARATIONS else "gettext"
        if meant is not None and meant != expected:
            wrong.append(f"{path.relative_to(ROOT)}: _ is {meant}, should be {expected}")
    assert wrong == []


def test_no_eager_translation_runs_at_import_time():
    frozen = []
    for path in _modules():
        tree = ast.parse(path.read_text())
        eager = {local for local, name in _translation_names(tree).items() if name in EAGER}
        for call in _calls_at_import_time(tree):
            if isinstance(call.func, ast.Name) and call.func.id in eager:
                frozen.append(f"{path.relative_to(ROOT)}:{call.lineno}")
    assert frozen == []


def test_the_check_sees_a_frozen_label():
    source = (
        "from django.utils.translation import gettext as _\n"
        "class A:\n"
        "    title = _('x')\n"
        "    @display(description=_('y'))\n"
        "    def f(self, a=_('z')):\n"
        "        return _('fine')\n"
    )
    tree = ast.parse(source)
    assert [c.lineno for c in _calls_at_import_time(tree) if getattr(c.func, "id", "") == "_"] == [
        3,
        4,
        5,
    ]
