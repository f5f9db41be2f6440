"""The direction of dependencies written in docs/architecture.md, held by the code itself.

Imports are read with `ast`, including those made inside functions: an import that only runs
late still ties the two modules together.
"""

from __future__ import annotations

from .imports import cycles, graph

# The project layer's wiring files: the only ones that may name an app.
WIRING = {"waha_project.urls", "waha_project.asgi", "waha_project.celery"}
APPS = ("sessions_app", "webhooks_app")


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_no_product_module_takes_part_in_an_import_cycle() -> None:
    assert cycles(graph()) == []


def test_the_project_layer_imports_no_app_outside_its_wiring() -> None:
    crossing = {
        module: sorted(target for target in targets if any(_in(target, app) for app in APPS))
        for module, targets in graph().items()
        if _in(module, "waha_project") and module not in WIRING
    }
    assert {module: targets for module, targets in crossing.items() if targets} == {}


def test_webhooks_app_knows_nothing_of_sessions_app() -> None:
    crossing = {
        module: sorted(target for target in targets if _in(target, "sessions_app"))
        for module, targets in graph().items() if _in(module, "webhooks_app")
    }
    assert {module: targets for module, targets in crossing.items() if targets} == {}


def test_the_walk_sees_imports_made_inside_functions() -> None:
    """The graph must count a lazy import, or a cycle hidden in a function would pass."""
    edges = graph()
    # sessions_app/apps.py imports its monitoring module inside ready().
    assert "sessions_app.monitoring" in edges["sessions_app.apps"]


def test_the_walk_finds_a_cycle_when_there_is_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
