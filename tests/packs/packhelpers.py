"""Helpers of the pack tests (imported by name: tests/packs is on sys.path)."""
from __future__ import annotations

import shutil
from pathlib import Path

import yaml

REPO_PACKS = Path(__file__).resolve().parents[2] / "packs"


def packs_of(services):
    from engine.packs import packs

    return packs(services)


def write_pack(root, files):
    """Write ``{relative path: text or YAML-able value}`` under ``root``; return ``root``."""
    root = Path(root)
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not isinstance(content, str):
            content = yaml.safe_dump(content, sort_keys=False, allow_unicode=True)
        path.write_text(content, "utf-8")
    return root


def copy_pack(name, dest):
    """A copy of a repository pack (``crm_core`` or ``industry_templates/<name>``) at ``dest``."""
    src = REPO_PACKS / name if (REPO_PACKS / name).is_dir() else REPO_PACKS / "industry_templates" / name
    shutil.copytree(src, dest)
    return Path(dest)


def edit_yaml(path, fn):
    path = Path(path)
    doc = yaml.safe_load(path.read_text("utf-8"))
    doc = fn(doc) or doc
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), "utf-8")
