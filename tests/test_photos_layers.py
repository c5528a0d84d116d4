"""The photos modules respect DESIGN.md's import direction: pages -> ui -> (models, analysis, viz)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = {
    "models/efficientnet_lite.py": "models",
    "models/hf_vision.py": "models",
    "analysis/affinity.py": "analysis",
    "analysis/attribution.py": "analysis",
    "analysis/vit.py": "analysis",
    "viz/images.py": "viz",
    "ui/photos.py": "ui",
}
ALLOWED = {
    "models": {"models"},
    "analysis": {"analysis", "models"},
    "viz": {"viz"},
    "ui": {"ui", "models", "analysis", "viz"},
}
OURS = {"models", "analysis", "viz", "ui", "pages"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("rel,layer", sorted(FILES.items()))
def test_imports_run_downward(rel, layer):
    names = _imports(ROOT / rel)
    ours = names & OURS
    assert ours <= ALLOWED[layer], f"{rel} imports {sorted(ours - ALLOWED[layer])}"
    if layer != "ui":
        assert "streamlit" not in names, f"{rel} imports streamlit"
    if layer == "viz":
        assert not names & {"torch", "PIL", "captum", "transformers"}, f"{rel}: viz is numpy + plotly only"
