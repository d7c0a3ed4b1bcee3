"""requirements.lock pins every dependency, the transitive ones too, with hashes, and agrees
with pyproject.toml (`make install` installs from it with --require-hashes; `make lock`
regenerates it). Checked offline, from the installed packages' own metadata: a dependency
added to pyproject.toml without `make lock` fails here."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)((?:\s*\\\s*--hash=sha256:[0-9a-f]{64})+)", re.MULTILINE)


def _locked() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes)."""
    text = (ROOT / "requirements.lock").read_text()
    entries: dict[str, tuple[str, int]] = {
        canonicalize_name(m[1]): (m[2], m[3].count("--hash=")) for m in _ENTRY.finditer(text)
    }
    pins = [line for line in text.splitlines() if line and not line[0].isspace() and not line.startswith("#")]
    assert len(entries) == len(pins), f"an entry without a sha256 hash: {sorted(set(pins))[:3]}"
    return entries


def _project_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]]


def test_every_pyproject_requirement_is_locked_at_a_version_it_allows() -> None:
    locked = _locked()
    for req in _project_requirements():
        name = canonicalize_name(req.name)
        assert name in locked, f"{req} is not in requirements.lock: run `make lock`"
        assert req.specifier.contains(locked[name][0], prereleases=True), f"{req} but the lock has {locked[name][0]}"


def test_the_lock_holds_the_whole_dependency_tree_and_nothing_else() -> None:
    locked = _locked()
    needed: set[str] = set()
    todo: list[tuple[Requirement, frozenset[str]]] = [(r, frozenset()) for r in _project_requirements()]
    while todo:
        req, extras = todo.pop()
        if not _applies(req, extras):
            continue
        name = canonicalize_name(req.name)
        assert name in locked, f"{req} (a dependency's dependency) is not in requirements.lock: run `make lock`"
        assert req.specifier.contains(locked[name][0], prereleases=True), f"{req} but the lock has {locked[name][0]}"
        if name in needed:
            continue
        needed.add(name)
        todo += [(Requirement(r), frozenset(req.extras)) for r in metadata.requires(req.name) or ()]
    assert set(locked) - needed == set(), "in requirements.lock but needed by nothing: run `make lock`"


def _applies(req: Requirement, extras: frozenset[str]) -> bool:
    """Whether ``req`` holds here, for a package installed with ``extras``."""
    return req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras or {""})


def test_the_installed_packages_are_the_locked_ones() -> None:
    for name, (version, _) in _locked().items():
        assert metadata.version(name) == version, f"{name}: installed {metadata.version(name)}, locked {version}"
