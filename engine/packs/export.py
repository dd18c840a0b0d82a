"""``pack export``: named objects written as a pack folder that installs elsewhere.

An object no pack owns (the admin's own) is written whole: its fields, validation rules, layouts,
list views, automation rules, approval processes and translations (``label_i18n``). An object a
pack owns is written as an extension (``extends: true``) holding only what administrators added —
their fields, the options they added to the pack's picklists, their rules, layouts and views —
and the exported pack depends on that pack (this major version or later). With ``with_data``, the
records of the objects are written as ``data/<object>.csv`` in the sample-data form (``_key`` is
the record id; a lookup holds the target's ``_key``, or the key a pack's sample record has), and
``install --with-sample-data`` loads them.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml

from engine.errors import PackError
from engine.metadata.checks import suggest
from engine.metadata.field_types import field_types
from engine.metadata.store import load_docs

from .catalog import parse_version
from .format import ITEM_KINDS
from .merge import ITEM_KIND
from .tables import pack_elements

_PACK_NAME = __import__("re").compile(r"[a-z][a-z0-9_]{0,63}")


class _Dumper(yaml.SafeDumper):
    """Block-style YAML, keys in document order, text kept readable (Chinese included)."""


def _dump(value):
    return yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)


def export_pack(services, name, objects, out, actor, *, with_data=False, version="1.0.0", title=None):
    """Write the pack ``name`` with ``objects`` to the folder ``out``; returns a summary dict."""
    from sqlalchemy import select

    from .installer import require_admin

    require_admin(actor)
    if not isinstance(name, str) or not _PACK_NAME.fullmatch(name):
        raise PackError("packs.E016", f"A pack name must be lowercase snake_case (got '{str(name)[:64]}').")
    parse_version(version)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise PackError("packs.E017", f"The folder '{out}' is not empty; export into a new or empty folder.")
    with services.engine.connect() as conn:
        live = {n: r["doc"] for n, r in load_docs(conn).items()}
        owned = {(r.kind, r.key): (r.pack, r.version) for r in conn.execute(select(pack_elements))}
    from .installer import _installed
    with services.engine.connect() as conn:
        installed = _installed(conn)
    unknown = [o for o in objects if o not in live]
    if not objects:
        raise PackError("packs.E022", "Name at least one object to export.")
    if unknown:
        raise PackError("packs.E021", f"Unknown object '{unknown[0]}'{suggest(unknown[0], live)}.")
    depends, files, notes = {}, {}, []
    exported = set(objects)
    for obj in objects:
        doc = live[obj]
        owner = owned.get(("object", obj))
        if owner is None:
            body = dict(doc)
        else:
            depends[owner[0]] = installed[owner[0]]["version"]
            body = _admin_part(obj, doc, owned)
            if body is None:
                notes.append(f"'{obj}' belongs to pack '{owner[0]}' and has no administrator's changes")
                continue
        for fdoc in body.get("fields") or []:
            target = fdoc.get("target")
            if target and target not in exported:
                towner = owned.get(("object", target))
                if towner is None:
                    raise PackError("packs.E018", f"'{obj}.{fdoc['api_name']}' points to '{target}', which is "
                                    f"not exported and belongs to no pack; export it too.")
                depends[towner[0]] = installed[towner[0]]["version"]
        files[f"objects/{obj}.yaml"] = body
    meta = {"name": name, "version": version, "title": title or {"en": name.replace("_", " ").title()},
            "description": {"en": f"Exported from this instance: {', '.join(objects)}."}}
    if depends:
        meta["depends"] = {p: f">={v},<{parse_version(v).major + 1}" for p, v in sorted(depends.items())}
    out.mkdir(parents=True, exist_ok=True)
    (out / "objects").mkdir(exist_ok=True)
    (out / "pack.yaml").write_text(_dump(meta), "utf-8")
    for rel, body in files.items():
        (out / rel).write_text(_dump(body), "utf-8")
    from .kinds import kinds_for

    for kind in kinds_for(services).values():          # reports, dashboards, segments about the objects
        for rel, doc in kind.export(services, actor, set(objects)).items():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_text(_dump(doc), "utf-8")
            files[rel] = doc
    counts = {}
    if with_data:
        (out / "data").mkdir(exist_ok=True)
        for obj in objects:
            counts[obj] = _export_records(services, obj, set(objects), out / "data" / f"{obj}.csv", actor, notes)
    return {"pack": name, "version": version, "folder": str(out), "files": ["pack.yaml", *files],
            "depends": meta.get("depends", {}), "records": counts, "notes": notes}


def export_archive(services, name, objects, actor, *, with_data=False, version="1.0.0"):
    """The export of ``objects`` as pack ``name``, zipped: ``(file name, zip bytes, summary)``.

    The Setup page's download: the same folder :func:`export_pack` writes, under a top folder named
    after the pack (unzip it and run ``tessera pack install NAME --path NAME``). Same checks and
    errors (administrators only, ``packs.E016`` / ``E018``)."""
    import io
    import tempfile
    import zipfile

    with tempfile.TemporaryDirectory(prefix="tessera-export-") as tmp:
        folder = Path(tmp) / "pack"
        summary = export_pack(services, name, objects, folder, actor, with_data=with_data, version=version)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    zf.write(path, f"{name}/{path.relative_to(folder).as_posix()}")
    summary = dict(summary, folder=name)
    return f"{name}-{version}.zip", buffer.getvalue(), summary


def _admin_part(obj, doc, owned):
    """The extension document of what administrators added to a pack's object (None: nothing)."""
    body = {"api_name": obj, "extends": True}
    fields = []
    for fdoc in doc.get("fields") or []:
        if ("field", f"{obj}.{fdoc['api_name']}") not in owned:
            fields.append(fdoc)
            continue
        extra = [o for o in fdoc.get("options") or []
                 if ("option", f"{obj}.{fdoc['api_name']}:{o['value']}") not in owned]
        if extra:
            fields.append({"api_name": fdoc["api_name"], "type": fdoc["type"], "options": extra})
    if fields:
        body["fields"] = fields
    for kind in ITEM_KINDS:
        items = [i for i in doc.get(kind) or [] if (ITEM_KIND[kind], f"{obj}.{i['name']}") not in owned]
        if items:
            body[kind] = items
    return body if len(body) > 2 else None


def _export_records(services, obj, exported, path, actor, notes):
    """Write the live records of ``obj`` as CSV; returns how many."""
    svc = services.records()
    rt = svc.runtime(obj)
    columns = ["name"] + [f.api_name for f in rt.odef.fields if f.api_name in rt.writable]
    rows = []
    cursor = None
    while True:
        page = svc.list(obj, actor, limit=200, cursor=cursor)
        rows += page["records"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    ids_by_record = _record_keys(services)
    rows = [r for r in rows if r["id"] not in ids_by_record]     # a pack's sample records come with it
    blanked = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["_key", *columns])
        for rec in rows:
            out = [ids_by_record.get(rec["id"], rec["id"])]
            for col in columns:
                value = rec.get(col)
                fdef = rt.odef.field(col)
                if value is None:
                    out.append("")
                elif fdef is not None and field_types.get(fdef.type).family == "lookup":
                    if value in ids_by_record:
                        out.append(ids_by_record[value])
                    elif fdef.target in exported:
                        out.append(value)
                    else:
                        out.append("")
                        blanked += 1
                elif isinstance(value, bool):
                    out.append("true" if value else "false")
                elif isinstance(value, list):
                    out.append(";".join(value))
                else:
                    out.append(str(value))
            writer.writerow(out)
    if blanked:
        notes.append(f"{obj}: {blanked} lookup value(s) left blank: they point to records that are neither "
                     "exported nor a pack's sample records")
    return len(rows)


def _record_keys(services):
    """Record id -> the ``_key`` a pack's sample record has (so lookups to it resolve elsewhere)."""
    from sqlalchemy import select

    out = {}
    with services.engine.connect() as conn:
        for r in conn.execute(select(pack_elements).where(pack_elements.c.kind == "record")):
            out[json.loads(r.definition)["id"]] = r.key.split("/", 1)[1]
    return out
