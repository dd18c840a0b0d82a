"""Where packs come from, and which versions go together.

Packs are found in the repository's ``packs/`` folder (shipped in the wheel as the ``packs``
package data), in other distributions through the entry-point group ``tessera.packs`` (an entry
point names a module or package whose folder holds packs, or a callable returning such folders),
and at any ``--path``. Versions are semantic versions; ranges (``>=1.0,<2``) are PEP 440 specifier
sets, read with ``packaging``.
"""
from __future__ import annotations

from importlib import resources
from importlib.metadata import PackageNotFoundError, entry_points
from importlib.metadata import version as dist_version
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from engine.errors import NotFoundError, PackError
from engine.metadata.checks import suggest

from .format import load_pack, problems_error

ENTRY_POINT_GROUP = "tessera.packs"
MAX_DEPTH = 3


def engine_version():
    try:
        return dist_version("tessera")
    except PackageNotFoundError:
        return "0.0.0"


def _pack_dirs(root, depth=0):
    root = Path(root)
    if (root / "pack.yaml").is_file():
        return [root]
    if depth >= MAX_DEPTH or not root.is_dir():
        return []
    out = []
    for child in sorted(root.iterdir()):
        if child.is_dir() and not child.name.startswith((".", "_")):
            out += _pack_dirs(child, depth + 1)
    return out


def builtin_root():
    """The repository's ``packs/`` folder (the installed package data)."""
    try:
        return Path(str(resources.files("packs")))
    except ModuleNotFoundError:
        return None


def _entry_point_roots():
    out = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin is named, not fatal
            out.append((ep.name, None, f"entry point '{ep.name}' ({ep.value}) cannot be loaded: {exc}"))
            continue
        if callable(target) and not hasattr(target, "__path__") and not hasattr(target, "__file__"):
            target = target()
        paths = target if isinstance(target, (list, tuple)) else [target]
        for p in paths:
            if hasattr(p, "__path__"):
                p = list(p.__path__)[0]
            elif hasattr(p, "__file__"):
                p = Path(p.__file__).parent
            out.append((ep.name, Path(p), None))
    return out


def discover(kinds=None, path=None):
    """``(packs by name: [PackDef, ...] best first, problems: [str])``; ``path``: a pack folder given
    with ``--path`` (it wins over packs of the same name found elsewhere)."""
    found, notes = {}, []
    sources = []
    if path is not None:
        sources.append(("path", Path(path)))
    for name, root, problem in _entry_point_roots():
        if problem:
            notes.append(problem)
        else:
            sources.append((f"entry point {name}", root))
    root = builtin_root()
    if root is not None:
        sources.append(("builtin", root))
    for source, root in sources:
        for folder in _pack_dirs(root):
            pack, problems = load_pack(folder, source=source if source != "path" else str(folder), kinds=kinds)
            if pack is None:
                notes += [str(p) for p in problems]
                continue
            found.setdefault(pack.name, []).append(pack)
    return found, notes


def pick(found, name, path=None):
    """The pack ``name`` to use: the ``--path`` one, else the highest version found."""
    candidates = found.get(name)
    if not candidates:
        raise NotFoundError("packs.E002", f"Unknown pack '{name}'{suggest(name, found)}. Known: "
                        f"{', '.join(sorted(found)) or 'none'}.")
    if path is not None:
        for pack in candidates:
            if Path(pack.root).resolve() == Path(path).resolve():
                return pack
    return max(candidates, key=lambda p: parse_version(p.version, quiet=True))


def parse_version(text, quiet=False):
    try:
        return Version(str(text))
    except InvalidVersion:
        if quiet:
            return Version("0")
        raise PackError("packs.E003", f"'{text}' is not a version such as 1.2.0.") from None


def parse_range(text, where):
    try:
        return SpecifierSet(str(text))
    except InvalidSpecifier:
        raise PackError("packs.E003", f"{where}: '{text}' is not a version range such as '>=1.0,<2'.") from None


def resolve(found, name, installed, path=None):
    """The packs to install, dependencies first: ``[PackDef]`` (installed ones left out).

    ``installed``: name -> installed version. Raises ``packs.E004`` when an installed version is
    outside a range, ``packs.E005`` on a cycle, ``packs.E006`` when no version found fits,
    ``packs.E007`` when the engine is outside the pack's ``engine`` range."""
    order, visiting = [], []

    def visit(pack_name, wanted=None, by=None):
        if pack_name in visiting:
            cycle = " -> ".join(visiting[visiting.index(pack_name):] + [pack_name])
            raise PackError("packs.E005", f"Packs depend on each other in a cycle: {cycle}.")
        if pack_name in installed:
            if wanted is not None and parse_version(installed[pack_name], quiet=True) not in parse_range(wanted, by):
                raise PackError("packs.E004", f"Pack '{by}' needs '{pack_name}' {wanted}, but version "
                                f"{installed[pack_name]} is installed; upgrade '{pack_name}' first.")
            return
        if any(p.name == pack_name for p in order):
            return
        candidates = found.get(pack_name) or []
        if not candidates:
            where = f"Pack '{by}' depends on '{pack_name}'" if by else f"Unknown pack '{pack_name}'"
            raise (PackError if by else NotFoundError)("packs.E006" if by else "packs.E002",
                            f"{where}{suggest(pack_name, found) if not by else ''}, which was not found in "
                            f"packs/, the '{ENTRY_POINT_GROUP}' entry points or --path.")
        if wanted is not None:
            fitting = [p for p in candidates if parse_version(p.version, quiet=True) in parse_range(wanted, by)]
            if not fitting:
                have = ", ".join(sorted(p.version for p in candidates))
                raise PackError("packs.E006", f"Pack '{by}' needs '{pack_name}' {wanted}; found only "
                                f"version {have}.")
            pack = max(fitting, key=lambda p: parse_version(p.version, quiet=True))
        else:
            pack = pick(found, pack_name, path)
        if pack.problems:
            raise problems_error(pack.name, pack.problems)
        check_engine(pack)
        visiting.append(pack_name)
        for dep, rng in sorted(pack.depends.items()):
            visit(dep, rng, pack_name)
        visiting.pop()
        order.append(pack)

    visit(name)
    return order


def check_engine(pack):
    rng = pack.meta.get("engine")
    if rng and parse_version(engine_version(), quiet=True) not in parse_range(rng, f"{pack.name}/pack.yaml"):
        raise PackError("packs.E007", f"Pack '{pack.name}' {pack.version} works with engine versions {rng}; "
                        f"this engine is {engine_version()}.")
