"""The pack catalogue is read once while the pack files do not change (GET /api/v1/packs and the
Setup page re-read every pack's YAML on each request before), and read again when they do."""
from __future__ import annotations

import os

from packhelpers import packs_of, write_pack

PACK = 'name: shop\nversion: "1.0.0"\ntitle: {en: Shop}\n'


def test_catalogue_is_cached_until_a_file_changes(services, tmp_path, monkeypatch):
    import engine.packs.installer as installer

    root = write_pack(tmp_path / "shop", {"pack.yaml": PACK})
    service = packs_of(services)
    reads = []
    real = installer.discover
    monkeypatch.setattr(installer, "discover", lambda *a, **k: reads.append(1) or real(*a, **k))

    first, _ = service.catalog(root)
    again, _ = service.catalog(root)
    assert len(reads) == 1
    assert [p.version for p in first["shop"]] == [p.version for p in again["shop"]] == ["1.0.0"]
    again["shop"].clear()                       # a caller changing its copy changes nothing cached
    assert service.catalog(root)[0]["shop"]

    (root / "pack.yaml").write_text(PACK.replace("1.0.0", "1.1.0"), "utf-8")
    os.utime(root / "pack.yaml", ns=(1, 10**18))   # a new mtime even on a coarse clock
    changed, _ = service.catalog(root)
    assert len(reads) == 2
    assert "1.1.0" in [p.version for p in changed["shop"]]
