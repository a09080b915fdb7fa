"""The package's layers (docs/architecture.md), read from the source with `ast`: every `import` of a
seqgen module, at the top of a file or inside a function, is an edge.

    shared     errors, io, _config, config_trust, provenance, data, nn, sampling, render, optim, eval
    core       seqgen.core: imports shared layers only
    families   seqgen.families.<name>: the core, shared layers and its own folder; never another family
    platform   training, serve, sweep, validate, cluster, resolvers: anything but the CLI
    cli        seqgen.cli: anything

and no module reaches itself again through its imports (no circles).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import seqgen

ROOT = Path(seqgen.__file__).parent
SHARED = ("errors", "io", "_config", "config_trust", "provenance", "data", "nn", "sampling", "render", "optim", "eval")
PLATFORM = ("training", "serve", "sweep", "validate", "cluster", "resolvers")


def _modules() -> dict[str, Path]:
    modules = {}
    for path in ROOT.rglob("*.py"):
        parts = ("seqgen", *path.relative_to(ROOT).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _modules()


def _owner(name: str) -> str:
    """The module a dotted name lives in (`seqgen.core.family.Family` -> `seqgen.core.family`)."""
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _imports(name: str, path: Path) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names)
    return {_owner(target) for target in found if target == "seqgen" or target.startswith("seqgen.")} - {name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def layer(name: str) -> str:
    parts = name.split(".")
    top = parts[1] if len(parts) > 1 else ""
    if top in SHARED:
        return "shared"
    if top == "families":
        return f"family:{parts[2]}" if len(parts) > 2 else "families"
    return {"core": "core", "cli": "cli", "": "root"}.get(top, "platform" if top in PLATFORM else f"unknown:{top}")


def allowed(source: str, target: str) -> bool:
    here, there = layer(source), layer(target)
    if here == "shared":
        return there == "shared"
    if here == "core":
        return there in ("shared", "core")
    if here.startswith("family:"):
        return there in ("shared", "core", here)
    if here == "families":  # the package: the registry's names, re-exported
        return there == "core"
    if here == "platform":
        return there != "cli"
    return True  # cli, and the root package (registers the config resolvers)


def test_every_module_is_in_a_layer() -> None:
    unknown = sorted(name for name in MODULES if layer(name).startswith("unknown"))
    assert not unknown, f"modules outside every layer of docs/architecture.md: {unknown}"


@pytest.mark.parametrize("kind", ["shared", "core", "family", "platform"])
def test_no_import_runs_up(kind: str) -> None:
    wrong = sorted(
        f"{source} imports {target}"
        for source, targets in GRAPH.items()
        if layer(source).startswith(kind)
        for target in targets
        if not allowed(source, target)
    )
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_wrong_imports() -> None:
    assert not allowed("seqgen.core.module", "seqgen.training.run")
    assert not allowed("seqgen.data.shards", "seqgen.families.text.prepare")
    assert not allowed("seqgen.families.recognizer.module", "seqgen.families.handwriting.datamodule")
    assert not allowed("seqgen.training.run", "seqgen.cli.common")
    assert allowed("seqgen.families.handwriting.legibility", "seqgen.eval.legibility")
    assert "seqgen.core.family" in GRAPH["seqgen.training.run"]  # `from seqgen.core.family import ...` is an edge


def _cycle_from(start: str) -> list[str] | None:
    """A shortest import path from `start` back to itself, or None."""
    paths = {target: [start, target] for target in GRAPH[start]}
    frontier = list(paths)
    while frontier:
        if start in paths:
            return paths[start]
        following = []
        for node in frontier:
            for target in GRAPH[node]:
                if target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    return paths.get(start)


def test_no_import_circles() -> None:
    circles = {" -> ".join(cycle) for name in GRAPH if (cycle := _cycle_from(name))}
    assert not circles, "\n".join(sorted(circles))
