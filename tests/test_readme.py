"""The README's architecture section matches the tree: every path it names exists, every
package folder is named, and every mechanism file appears in the paper table."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _architecture_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("## Architecture", 1)[1].split("\n## ", 1)[0]


def test_named_paths_exist():
    section = _architecture_section()
    named = set(re.findall(r"`((?:models|corpora|train|analysis|ui|viz|app_pages|tests)/[\w/.]*)`", section))
    tree = section.split("```")[1]
    for line in tree.splitlines():
        m = re.match(r"\s*([\w.]+/?)(?:,\s*([\w.]+/?))?\s", line + " ")
        if m and not line.startswith("  "):
            named |= {g for g in m.groups() if g}
    ignored = {"data/", "checkpoints/"}  # git-ignored, made by commands
    missing = sorted(p for p in named - ignored if not (ROOT / p).exists())
    assert not missing, missing


def test_every_package_and_mechanism_is_named():
    section = _architecture_section()
    packages = [p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name != "tests"]
    assert packages and all(f"{name}/" in section for name in packages), packages
    mechanisms = [p for p in (ROOT / "models" / "mechanisms").glob("*.py")
                  if p.name not in ("__init__.py", "base.py")]
    assert mechanisms and all(f"`models/mechanisms/{p.name}`" in section for p in mechanisms)
