"""The package imports only downward: no hipart module imports a hipart module inside a function (the CLI's lazy
imports are the one exception), and no package-level import cycle exists. `python tests/test_layering.py` prints
the counts."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1] / "hipart"


def hipart_imports() -> list[tuple[str, str, bool]]:
    """(importing module, imported module, at module top) for every import of a hipart module in hipart/."""
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")
        tree = ast.parse(path.read_text())
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                if name == "hipart" or name.startswith("hipart."):
                    out.append((module, name, id(node) in top))
    return out


def package(module: str) -> str:
    """hipart.<subpackage> or hipart.<top-level module>: the unit whose imports must not form a cycle."""
    return ".".join(module.split(".")[:2])


def package_cycles() -> list[list[str]]:
    graph = nx.DiGraph((package(a), package(b)) for a, b, _ in hipart_imports() if package(a) != package(b))
    return sorted(nx.simple_cycles(graph), key=len)


def test_no_hipart_module_imports_another_inside_a_function():
    inner = [(a, b) for a, b, at_top in hipart_imports() if not at_top]
    assert inner == []


def test_packages_import_each_other_without_cycles():
    assert package_cycles() == []


def test_low_level_modules_import_no_higher_layer():
    # what each low layer may never import (the layers of README's library map)
    forbidden = {
        "hipart.skeleton": ("hipart.body", "hipart.coarsen", "hipart.data", "hipart.models", "hipart.training",
                            "hipart.bench"),
        "hipart.keypoint_formats": ("hipart.body", "hipart.coarsen", "hipart.data", "hipart.models", "hipart.training",
                                    "hipart.bench", "hipart.render", "hipart.detect", "hipart.pipeline",
                                    "hipart.predict", "hipart.densify"),
        "hipart.camera": ("hipart.body", "hipart.data", "hipart.models", "hipart.training", "hipart.bench"),
        "hipart.config": ("hipart.models", "hipart.training", "hipart.bench", "hipart.data"),
        "hipart.runs": ("hipart.models", "hipart.training", "hipart.bench", "hipart.data"),
        "hipart.occlusion": ("hipart.data", "hipart.models", "hipart.training", "hipart.bench"),
        "hipart.body": ("hipart.coarsen", "hipart.data", "hipart.models", "hipart.training", "hipart.bench"),
        "hipart.coarsen": ("hipart.data", "hipart.models", "hipart.training", "hipart.bench"),
        "hipart.data": ("hipart.models", "hipart.training", "hipart.bench", "hipart.render", "hipart.detect"),
        "hipart.render": ("hipart.detect", "hipart.models", "hipart.training", "hipart.bench", "hipart.pipeline"),
        "hipart.detect": ("hipart.models", "hipart.training", "hipart.bench", "hipart.pipeline"),
        "hipart.models": ("hipart.training", "hipart.bench", "hipart.pipeline"),
        "hipart.training": ("hipart.bench", "hipart.pipeline"),
    }
    bad = [(a, b) for a, b, _ in hipart_imports() for low, high in forbidden.items()
           if package(a) == low and b.startswith(high)]
    assert bad == []


if __name__ == "__main__":
    imports = hipart_imports()
    print(f"hipart imports: {len(imports)}, inside functions: {sum(not t for _, _, t in imports)}, "
          f"package cycles: {len(package_cycles())}")
