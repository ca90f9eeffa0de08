"""README.md tells a newcomer where things are: its layout section names every module and folder of the
package, every shared test helper and every top-level folder, and names nothing that is gone."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def layout_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    return section.split("```", 2)[1]


def named(section: str) -> set[str]:
    return set(re.findall(r"(?<![\w/])[a-z_][\w.]*(?:\.py|/)", section))  # not Europe/Paris, KEYS/ARGV


def test_the_layout_names_every_module_and_folder_of_the_tree():
    names = named(layout_section())
    package = ROOT / "ocapistaine_pipelines"
    tree = {p.name for p in package.glob("*.py") if p.name != "__init__.py"}
    tree |= {f"{p.name}/" for p in package.iterdir() if (p / "__init__.py").exists()}
    tests = ROOT / "ocapistaine_pipelines_tests"
    tree |= {p.name for p in tests.glob("*.py") if not p.name.startswith(("test_", "__"))}
    tree |= {f"{p.name}/" for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    tree -= {"data/", "build/"}  # packaged data; a build folder is not ours to describe
    tree = {name for name in tree if not name.endswith(".egg-info/")}
    assert not tree - names, f"README's layout does not name {sorted(tree - names)}"


def test_the_layout_names_nothing_that_is_gone():
    everything = set()
    for _folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [d for d in subfolders if not d.startswith((".", "__"))]  # .venv, .git, caches
        everything |= set(subfolders) | set(files)
    gone = {name for name in named(layout_section()) if name.rstrip("/") not in everything}
    assert not gone, f"README's layout names {sorted(gone)}, which the tree does not hold"
