"""The house rules of DESIGN.md, read from the imports themselves."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "corpora", "analysis", "train", "jobs", "viz", "ui", "app_pages")
# what each layer may import from this project
ALLOWED = {
    "viz": {"viz"},  # its own helpers only
    "models": {"models"},
    "corpora": {"corpora"},
    "analysis": {"analysis", "models"},
    "train": {"train", "models", "corpora", "analysis", "jobs"},  # experiments run on jobs/ray_cluster.py
    "jobs": {"jobs", "models", "corpora", "analysis"},  # work over a data set, on Ray
    "ui": {"ui", "models", "corpora", "analysis", "jobs", "viz"},
    "app_pages": {"ui"},  # pages arrange widgets and call ui/, nothing deeper
}
STREAMLIT_OK = {"ui", "app_pages"}
PAGE_MAX_LINES = 130


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_imports_run_downward_and_streamlit_stays_in_ui_and_pages():
    problems = []
    for package in ALLOWED:
        for path in (ROOT / package).rglob("*.py"):
            found = _imports(path)
            ours = found & set(PACKAGES)
            for name in ours - ALLOWED[package]:
                problems.append(f"{path.relative_to(ROOT)} imports {name}")
            if "streamlit" in found and package not in STREAMLIT_OK:
                problems.append(f"{path.relative_to(ROOT)} imports streamlit")
            if package == "viz" and {"torch", "PIL"} & found:
                problems.append(f"{path.relative_to(ROOT)} imports torch/PIL (viz is numpy + plotly)")
    assert not problems, problems
    assert any((ROOT / p).rglob("*.py") for p in PACKAGES)


def test_pages_are_thin():
    """Every page fits on a screen or two and leaves torch to the layers below ui."""
    pages = sorted((ROOT / "app_pages").glob("*.py"))
    assert pages
    problems = []
    for path in pages:
        n_lines = len(path.read_text(encoding="utf-8").splitlines())
        if n_lines > PAGE_MAX_LINES:
            problems.append(f"{path.name} has {n_lines} lines (at most {PAGE_MAX_LINES})")
        if "torch" in _imports(path):
            problems.append(f"{path.name} imports torch")
    assert not problems, problems


def test_weights_load_safely():
    """No pickle-based torch.load anywhere: safetensors, or weights_only=True."""
    offenders = []
    for path in ROOT.rglob("*.py"):
        if ".venv" in path.parts or "tests" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "load" \
                    and getattr(node.func.value, "id", "") == "torch":
                if not any(k.arg == "weights_only" and getattr(k.value, "value", None) is True
                           for k in node.keywords):
                    offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders
