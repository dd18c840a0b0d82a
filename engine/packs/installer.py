"""The pack installer: list, validate, install, upgrade, uninstall (``services`` -> :class:`PackService`).

Each pack operation runs in ONE database transaction: the installer opens a connection, binds the
metadata store, the access admin and the record service to it (``engine/packs/bound.py``), makes
every change through them — the same checks, DDL, versions and audit as an admin's — records what
the pack owns, and commits; any error rolls the whole pack back. ``--dry-run`` runs the very same
code and rolls back, so a plan shown is a plan that applies. Dependencies are installed first,
each in its own transaction (a complete pack is never half-applied).
"""
from __future__ import annotations

import copy
import json
import logging
import os
from pathlib import Path

from sqlalchemy import delete, insert, select, update

from engine.db import utcnow
from engine.errors import EngineError, Forbidden, MetadataError, NotFoundError, PackError, RecordValidationError
from engine.metadata.checks import check_object, suggest
from engine.metadata.store import load_docs
from engine.security import SYSTEM_ACTOR

from . import apply as applier
from .bound import bind_services
from . import catalog as _catalog
from .catalog import discover, parse_version, pick, resolve
from .data import check_table, load_data
from .format import ITEM_KINDS, problems_error
from .kinds import kinds_for
from .merge import PlanItem, elements_of, merge_object
from .plan import Plan
from .source import Problem, locate, split_json_path
from .tables import create_tables, installed_packs, pack_elements

log = logging.getLogger("tessera.packs")


class _Rollback(Exception):
    """Raised inside a dry run's transaction to roll it back with the plans made."""


def _fingerprint(path):
    """Names, sizes and mtimes of every file under the pack roots (and ``path``), and the entry
    points' roots: what ``discover`` reads."""
    roots = [Path(path)] if path is not None else []
    roots += [root for _name, root, problem in _catalog._entry_point_roots() if not problem]
    builtin = _catalog.builtin_root()
    if builtin is not None:
        roots.append(builtin)
    out = []
    for root in roots:
        if root.is_file():
            st = root.stat()
            out.append((str(root), "", st.st_size, st.st_mtime_ns))
        for folder, _dirs, files in os.walk(root):
            for name in sorted(files):
                try:
                    st = os.stat(os.path.join(folder, name))
                except OSError:
                    continue
                out.append((folder, name, st.st_size, st.st_mtime_ns))
    return tuple(out)


def require_admin(actor):
    if actor is None or not getattr(actor, "is_admin", False):
        raise Forbidden("packs.E020", "Only administrators may install, upgrade, uninstall or export packs.")


class PackService:
    """Packs for one process (``services.extensions['packs']`` once :func:`engine.packs.packs` ran)."""

    def __init__(self, services):
        self.services = services
        self._catalog_cache = {}
        create_tables(services.engine)

    # -- reading --------------------------------------------------------------------------------
    def kinds(self):
        return kinds_for(self.services)

    def catalog(self, path=None):
        """``discover`` with the folders read once while their files do not change: the answer is
        cached per ``path`` under a fingerprint of every file's name, size and mtime, and handed out
        as a copy (the installer may annotate what it gets)."""
        key = (str(path) if path is not None else None, _fingerprint(path))
        cached = self._catalog_cache.get(key[0])
        if cached is None or cached[0] != key[1]:
            cached = (key[1], discover(self.kinds(), path))
            self._catalog_cache[key[0]] = cached
        return copy.deepcopy(cached[1])

    def installed(self):
        """name -> {version, manifest, source, installed_at, updated_at}."""
        with self.services.engine.connect() as conn:
            return _installed(conn)

    def list(self, actor, path=None):
        """Available and installed packs with versions and status."""
        require_admin(actor)
        found, notes = self.catalog(path)
        installed = self.installed()
        out = []
        for name in sorted(set(found) | set(installed)):
            best = pick(found, name) if name in found else None
            row = installed.get(name)
            status = "available"
            if row is not None:
                status = "installed"
                if best is not None and parse_version(best.version, quiet=True) > parse_version(row["version"], quiet=True):
                    status = "upgrade available"
            manifest = row["manifest"] if row else best.meta
            out.append({"name": name, "title": manifest.get("title") or name,
                        "description": manifest.get("description") or "",
                        "available_version": best.version if best else None,
                        "installed_version": row["version"] if row else None, "status": status,
                        "depends": manifest.get("depends") or {},
                        "source": best.source if best else row["source"],
                        "problems": [str(p) for p in getattr(best, "problems", [])] if best else []})
        return {"packs": out, "notes": notes}

    # -- operations -----------------------------------------------------------------------------
    def validate(self, path, actor=SYSTEM_ACTOR, *, with_data=True):
        """Every check of install on the pack at ``path`` (its dependencies too), changing nothing."""
        found, _notes = self.catalog(path)
        from .format import load_pack
        pack, problems = load_pack(path, source=str(path), kinds=self.kinds())
        if pack is None or problems:
            raise problems_error(pack.name if pack else str(path), problems)
        return self.install(pack.name, actor, path=path, with_data=with_data, dry_run=True)

    def install(self, name, actor, *, path=None, with_data=False, dry_run=False, progress=None):
        """Install ``name`` and the packs it depends on; returns the plans (one per pack)."""
        require_admin(actor)
        found, _notes = self.catalog(path)
        installed = {n: r["version"] for n, r in self.installed().items()}
        if name in installed:
            pack = pick(found, name, path) if name in found else None
            if pack is not None and pack.version != installed[name]:
                raise PackError("packs.E008", f"Pack '{name}' {installed[name]} is installed; to go to "
                                f"{pack.version} run 'tessera pack upgrade {name}'.")
            return [Plan(name, "install", installed[name], installed[name],
                         notes=[f"'{name}' {installed[name]} is installed already; nothing to do"])]
        order = resolve(found, name, installed, path)
        ops = [("install", pack) for pack in order]
        return self._run(ops, actor, dry_run=dry_run, with_data=with_data, progress=progress)

    def upgrade(self, name, actor, *, path=None, allow_destructive=False, dry_run=False, progress=None):
        """Apply the difference between the installed version of ``name`` and the one found."""
        require_admin(actor)
        found, _notes = self.catalog(path)
        installed = {n: r["version"] for n, r in self.installed().items()}
        if name not in installed:
            raise NotFoundError("packs.E009", f"Pack '{name}' is not installed{suggest(name, installed)}; install "
                            "it first.")
        pack = pick(found, name, path)
        have, want = parse_version(installed[name], quiet=True), parse_version(pack.version)
        if want == have:
            return [Plan(name, "upgrade", installed[name], pack.version,
                         notes=[f"'{name}' {pack.version} is installed already; nothing to do"])]
        if want < have:
            raise PackError("packs.E010", f"Pack '{name}' {installed[name]} is installed; {pack.version} is "
                            "older. A pack is never downgraded: uninstall it and install that version.")
        ops = []
        others = dict(installed)
        others.pop(name)
        for dep, rng in sorted(pack.depends.items()):
            ops += [("install", p) for p in resolve(found, dep, others) if p.name not in [o[1].name for o in ops]]
            if dep in others:
                from .catalog import parse_range
                if parse_version(others[dep], quiet=True) not in parse_range(rng, name):
                    raise PackError("packs.E004", f"Pack '{name}' {pack.version} needs '{dep}' {rng}, but version "
                                    f"{others[dep]} is installed; upgrade '{dep}' first.")
        ops.append(("upgrade", pack))
        return self._run(ops, actor, dry_run=dry_run, allow_destructive=allow_destructive, progress=progress)

    def uninstall(self, name, actor, *, purge=False, dry_run=False, progress=None):
        """Remove what ``name`` added (objects and fields archived, sample records to the recycle bin,
        or deleted for good with ``purge``); refused while another installed pack depends on it."""
        require_admin(actor)
        installed = self.installed()
        if name not in installed:
            raise NotFoundError("packs.E009", f"Pack '{name}' is not installed{suggest(name, installed)}.")
        users = sorted(n for n, r in installed.items() if name in (r["manifest"].get("depends") or {}))
        if users:
            raise PackError("packs.E011", f"Pack '{name}' cannot be uninstalled: {', '.join(users)} "
                            f"depend{'s' if len(users) == 1 else ''} on it; uninstall "
                            f"{'it' if len(users) == 1 else 'them'} first.")
        return self._run([("uninstall", name)], actor, dry_run=dry_run, purge=purge, progress=progress)

    # -- the transaction ----------------------------------------------------------------------------
    def _run(self, ops, actor, *, dry_run, progress=None, **options):
        plans = []
        engine = self.services.engine
        if dry_run:
            try:
                with engine.connect() as conn:
                    with conn.begin():
                        for op, pack in ops:
                            plans.append(self._apply(conn, op, pack, actor, progress=progress, **options))
                        raise _Rollback()
            except _Rollback:
                pass
            return plans
        for op, pack in ops:
            since = _outbox_mark()
            with engine.connect() as conn:
                with conn.begin():
                    plan = self._apply(conn, op, pack, actor, progress=progress, **options)
            plan.applied = True
            plans.append(plan)
            if plan.data:
                self._dispatch(since)
        return plans

    def _dispatch(self, since):
        """Hand the outbox rows the pack's sample data queued (ids are time-ordered, from ``since``)
        to the dispatcher, now that they are committed; rows not handed over wait for the worker."""
        wf = self.services.extensions.get("workflow")
        if wf is None:
            return
        from engine.workflow.tables import outbox

        try:
            with self.services.engine.connect() as conn:
                ids = list(conn.execute(select(outbox.c.id).where(outbox.c.id >= since,
                                                                 outbox.c.status == "pending")
                                        .order_by(outbox.c.id)).scalars())
            wf.dispatch(ids)
        except Exception:  # noqa: BLE001 - the rows wait for the worker's next tick
            log.exception("dispatching the outbox after a pack install failed")

    def _apply(self, conn, op, pack, actor, *, progress=None, with_data=False, allow_destructive=False,
               purge=False):
        say = progress or (lambda _text: None)
        bound = bind_services(self.services, conn)
        installed = _installed(conn)
        name = pack if isinstance(pack, str) else pack.name
        row = installed.get(name)
        plan = Plan(name, op, row["version"] if row else None, None if op == "uninstall" else pack.version)
        manifest = pack.meta if not isinstance(pack, str) else (row["manifest"] if row else {})
        plan.title = manifest.get("title")
        rows = load_docs(conn, include_archived=True)
        live = {n: r["doc"] for n, r in rows.items() if r["status"] == "active"}
        archived = {n for n, r in rows.items() if r["status"] == "archived"}
        owned_rows = _elements(conn)
        base = {k: v["definition"] for k, v in owned_rows.items() if v["pack"] == name}
        others = {k for k, v in owned_rows.items() if v["pack"] != name}
        new, files = {}, {}
        if op != "uninstall":
            if pack.problems:
                raise problems_error(name, pack.problems)
            say(f"{name}: checking")
            new, files, problems = self._elements_of_pack(pack, live, owned_rows, installed)
            restored = [o for o in pack.own_objects() if o in archived and o not in live
                        and ("object", o) not in base]
            for obj in restored:
                say(f"{name}: restoring archived object '{obj}'")
                bound.store.restore_object(obj, actor)
                live[obj] = load_docs(conn)[obj]["doc"]
                plan.notes.append(f"object '{obj}' restored from the archive with its records")
                for key, definition in elements_of(obj, live[obj], owner=True).items():
                    if key in new:
                        base[key] = definition
            if problems:
                raise problems_error(name, problems)
        # roles before objects: approval processes name them
        sec_new = _security_elements(pack) if op != "uninstall" else {}
        role_rows = []
        owned = {}
        owned_roles, drop = applier.apply_roles(
            bound, actor, _by_kind(base, "role"), {k[1]: v for k, v in sec_new.items() if k[0] == "role"}, role_rows)
        owned.update(owned_roles)
        merges = self._merges(name, op, pack, live, base, new, others, plan, allow_destructive)
        if op == "uninstall":
            self._check_uninstall(name, live, merges, base)
        say(f"{name}: checking {len(merges)} object(s)")
        self._precheck(bound, name, merges, live, files)
        if op == "install" and with_data and pack.data:
            self._precheck_data(name, pack, merges, live, owned_rows)
        say(f"{name}: applying metadata")
        try:
            applier.apply_objects(bound, actor, merges, {n: live.get(n) for n in merges},
                                  summary=f"{op} {name} {plan.to_version or plan.from_version}")
        except MetadataError as exc:
            raise problems_error(name, _map_problems(exc.problems, files, merges), code="packs.E013",
                                 what="cannot be applied; nothing was applied") from None
        for m in merges.values():
            owned.update(m.owned)
        say(f"{name}: security")
        owned.update(applier.apply_permission_sets(
            bound, actor, _by_kind(base, "permission_set"),
            {k[1]: v for k, v in sec_new.items() if k[0] == "permission_set"}, role_rows))
        owned.update(applier.apply_sharing_rules(
            bound, actor, {tuple(k.split(".", 1)): v for k, v in _by_kind(base, "sharing_rule").items()},
            {tuple(k[1].split(".", 1)): v for k, v in sec_new.items() if k[0] == "sharing_rule"}, role_rows))
        owned.update(applier.drop_roles(bound, actor, drop, role_rows))
        for kind in self.kinds().values():
            kbase = _by_kind(base, kind.kind)
            knew = kind.elements(pack.extra.get(kind.dirname, [])) if op != "uninstall" else {}
            if kbase or knew:
                owned.update(kind.apply(bound, actor, kbase, knew, role_rows))
        plan.items += [PlanItem(k, key, a, n) for k, key, a, n in role_rows]
        owned = {k: v for k, v in owned.items() if v is not None or k[0] == "role"}
        for key, definition in list(owned.items()):
            if definition is None:       # a role kept because it is in use: still the pack's
                owned[key] = _by_kind(base, "role").get(key[1], {"api_name": key[1]})
        # sample records
        records = {k: v for k, v in base.items() if k[0] == "record"}
        if op == "uninstall":
            self._archive_records(bound, actor, records, merges, purge, plan)
            records = {}
        elif op == "install" and with_data and pack.data:
            say(f"{name}: loading sample data")
            known = {tuple(k[1].split("/", 1)): v["definition"]["id"] for k, v in owned_rows.items()
                     if k[0] == "record"}
            try:
                records.update(load_data(bound.records(), pack, actor, known))
            except RecordValidationError as exc:
                raise PackError("packs.E014", exc.message, fields=exc.fields) from None
            for table_name, table in pack.data.items():
                plan.data[table_name] = len(table.rows)
        owned.update(records)
        if op == "uninstall" and purge:
            for m in merges.values():
                if m.archive:
                    bound.store.purge_object(m.name, actor)
        self._record(conn, name, op, pack, owned, actor, with_data, row)
        plan.items.sort(key=lambda i: (_ORDER.get(i.kind, 50), i.key))
        say(f"{name}: done")
        return plan

    # -- pieces ---------------------------------------------------------------------------------------
    def _elements_of_pack(self, pack, live, owned_rows, installed):
        """``(elements, files, problems)``: the pack's elements and where each object came from."""
        problems, new, files = [], {}, {}
        deps = set(pack.depends)
        owners = {k[1]: v["pack"] for k, v in owned_rows.items() if k[0] == "object"}
        for obj, ofile in pack.objects.items():
            files[obj] = ofile
            if ofile.extends:
                owner = owners.get(obj)
                if obj not in live:
                    problems.append(Problem(ofile.file, 1, f"extends '{obj}', which is not installed; "
                                                           f"install the pack that defines it first"))
                    continue
                if owner not in deps:
                    who = f"pack '{owner}'" if owner else "an administrator"
                    problems.append(Problem(ofile.file, 1, f"extends '{obj}', which belongs to {who}; a pack may "
                                                           "only extend objects of the packs it depends on "
                                                           "(add it to depends in pack.yaml)"))
                    continue
                host = {f["api_name"] for f in live[obj].get("fields") or []
                        if owned_rows.get(("field", f"{obj}.{f['api_name']}"), {}).get("pack") != pack.name}
                new.update(elements_of(obj, ofile.doc, owner=False, host_fields=host))
            else:
                owner = owners.get(obj)
                if obj in live and owner != pack.name:
                    who = f"pack '{owner}'" if owner else "an administrator"
                    problems.append(Problem(ofile.file, 1, f"object '{obj}' exists already and belongs to {who}; "
                                                           "rename the pack's object or extend that one "
                                                           "(extends: true)"))
                    continue
                new.update(elements_of(obj, ofile.doc, owner=True))
        return new, files, problems

    def _merges(self, name, op, pack, live, base, new, others, plan, allow_destructive):
        objects = []
        for key in list(base) + list(new):
            if key[0] in ("object", "field", "option") or key[0] in {k[:-1] for k in ITEM_KINDS}:
                obj = key[1].split(".", 1)[0]
                if obj not in objects:
                    objects.append(obj)
        merges = {}
        for obj in objects:
            b = {k: v for k, v in base.items() if _obj_of(k) == obj}
            n = {k: v for k, v in new.items() if _obj_of(k) == obj}
            if obj not in live and ("object", obj) not in n:
                continue          # an archived object this pack extended: nothing live to change
            o = {k for k in others if _obj_of(k) == obj}
            m = merge_object(obj, live.get(obj), b, n, o)
            merges[obj] = m
            plan.items += m.items
            plan.overrides += m.overrides
        destructive = [i for i in plan.items if i.destructive]
        if op == "upgrade" and destructive and not allow_destructive:
            listed = "\n".join(f"  {i.action} {i.kind} {i.key}" + (f" ({i.note})" if i.note else "")
                               for i in destructive)
            raise PackError("packs.E012", f"Upgrading '{name}' to {pack.version} has destructive steps; nothing "
                            f"was applied. Run again with --allow-destructive to apply them (data is archived, "
                            f"never dropped):\n{listed}", fields={"destructive": [f"{i.kind} {i.key}"
                                                                                  for i in destructive]})
        return merges

    def _check_uninstall(self, name, live, merges, base):
        gone = {n for n, m in merges.items() if m.archive}
        refs = []
        for obj, doc in sorted(live.items()):
            if obj in gone:
                continue
            for fdoc in doc.get("fields") or []:
                target = fdoc.get("target")
                key = ("field", f"{obj}.{fdoc['api_name']}")
                if target in gone and key not in base:
                    refs.append(f"{obj}.{fdoc['api_name']} -> {target}")
        if refs:
            raise PackError("packs.E015", f"Pack '{name}' cannot be uninstalled: fields that are not the pack's "
                            f"point to its objects ({', '.join(refs)}); delete those fields first.",
                            fields={"lookups": refs})

    def _precheck(self, bound, name, merges, live, files):
        """Every problem of every document the pack will apply, before any change (file:line)."""
        final = {n: d for n, d in live.items()}
        for n, m in merges.items():
            if m.archive or m.target is None:
                final.pop(n, None)
            else:
                final[n] = m.target
        problems = []
        for n, m in merges.items():
            if m.target is None:
                continue
            others = {k: v for k, v in final.items() if k != n}
            found = check_object(copy.deepcopy(m.target), {"objects": others}, bound.metadata_hooks.checks)
            problems += _map_problems(found, files, merges)
        if problems:
            raise problems_error(name, problems)

    def _precheck_data(self, name, pack, merges, live, owned_rows):
        """Every problem of the sample data (columns, values, keys) before anything is applied."""
        final = dict(live)
        final.update({n: m.target for n, m in merges.items() if m.target is not None})
        known = {}
        for kind, key in owned_rows:
            if kind == "record":
                obj, rkey = key.split("/", 1)
                known.setdefault(obj, set()).add(rkey)
        problems = []

        def refs(target):
            keys = set(known.get(target, set()))
            table = pack.data.get(target)
            if table is not None:
                keys |= {row.get("_key") for _line, row in table.rows}
            return keys

        for obj, table in sorted(pack.data.items()):
            doc = final.get(obj)
            if doc is None:
                problems.append(Problem(table.file, None, f"there is no object '{obj}' in this pack or the packs "
                                                          f"it depends on{suggest(obj, final)}"))
                continue
            fields = {f["api_name"]: f for f in doc.get("fields") or []
                      if f.get("type") in _WRITABLE_TYPES()}
            problems += check_table(table, fields, refs)
        if problems:
            raise problems_error(name, problems)

    def _archive_records(self, bound, actor, records, merges, purge, plan):
        """Sample records in objects the pack does not archive go to the recycle bin (or away)."""
        gone = {n for n, m in merges.items() if m.archive}
        service = bound.records()
        for key, definition in sorted(records.items()):
            obj = key[1].split("/", 1)[0]
            if obj in gone or service.snapshot.get(obj) is None:
                continue
            try:
                service.delete(obj, definition["id"], actor)
                if purge:
                    service.purge(obj, definition["id"], actor)
            except EngineError:
                continue       # already deleted or purged by someone
            plan.data[obj] = plan.data.get(obj, 0) + 1

    def _record(self, conn, name, op, pack, owned, actor, with_data, row):
        conn.execute(delete(pack_elements).where(pack_elements.c.pack == name))
        if op == "uninstall":
            conn.execute(delete(installed_packs).where(installed_packs.c.name == name))
            return
        version = pack.version
        if owned:
            conn.execute(insert(pack_elements), [
                {"kind": k, "key": key, "pack": name, "version": version, "object": _obj_of((k, key)),
                 "definition": json.dumps(definition, sort_keys=True, default=str)}
                for (k, key), definition in owned.items()])
        now = utcnow()
        values = dict(version=version, manifest=json.dumps(pack.meta, default=str), source=str(pack.source)[:400],
                      updated_at=now)
        if row is None:
            conn.execute(insert(installed_packs).values(name=name, installed_at=now, installed_by=actor.user_id,
                                                        with_data="true" if with_data and pack.data else "false",
                                                        **values))
        else:
            conn.execute(update(installed_packs).where(installed_packs.c.name == name).values(**values))


_ORDER = {"role": 0, "object": 1, "field": 2, "option": 3, "validation_rule": 4, "layout": 5, "list_view": 6,
          "automation_rule": 7, "approval_process": 8, "permission_set": 9, "sharing_rule": 10}


def _outbox_mark():
    from engine.workflow.outbox import new_id
    return new_id()


def _WRITABLE_TYPES():
    from engine.metadata.field_types import field_types
    return {k for k in field_types.keys() if field_types.get(k).writable}


def _obj_of(key):
    kind, text = key
    if kind in ("role", "permission_set"):
        return None
    if kind == "record":
        return text.split("/", 1)[0]
    return text.split(".", 1)[0].split(":", 1)[0]


def _by_kind(elements, kind):
    return {k[1]: v for k, v in elements.items() if k[0] == kind}


def _installed(conn):
    out = {}
    for r in conn.execute(select(installed_packs)):
        out[r.name] = {"version": r.version, "manifest": json.loads(r.manifest), "source": r.source,
                       "installed_at": r.installed_at, "updated_at": r.updated_at,
                       "with_data": r.with_data == "true"}
    return out


def _elements(conn):
    return {(r.kind, r.key): {"pack": r.pack, "version": r.version, "definition": json.loads(r.definition)}
            for r in conn.execute(select(pack_elements))}


def _security_elements(pack):
    sec = pack.security or {}
    out = {}
    for role in sec.get("roles") or []:
        out[("role", role["api_name"])] = role
    for ps in sec.get("permission_sets") or []:
        out[("permission_set", ps["api_name"])] = ps
    for rule in sec.get("sharing_rules") or []:
        out[("sharing_rule", f"{rule['object']}.{rule['name']}")] = rule
    return out


def _map_problems(problems, files, merges):
    """Metadata problems ``(json path, message)`` as ``Problem(file, line, message)``."""
    out = []
    for path, message in problems:
        parts = split_json_path(path or "")
        obj = parts[1] if len(parts) > 1 and parts[0] == "objects" else None
        ofile = files.get(obj)
        shown = (path or "")[len(f"objects.{obj}."):] if obj and (path or "").startswith(f"objects.{obj}.") \
            else (path or "")
        if ofile is None:
            out.append(Problem(f"objects/{obj}.yaml" if obj else "pack", None,
                               f"{shown + ': ' if shown else ''}{message}"))
            continue
        line = ofile.lines.line_of(locate(ofile.doc, parts[2:]))
        out.append(Problem(ofile.file, line, f"{shown + ': ' if shown else ''}{message}"))
    return sorted(set(out), key=lambda p: (p.file, p.line or 0, p.message))
