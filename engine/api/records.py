"""Record endpoints: CRUD, bulk create, list with filters/sort/cursor, recycle bin."""
from __future__ import annotations

from flask import g, jsonify, request

from engine.errors import BadRequest
from engine.records.export import export_csv

from . import api, body_json, svc

RESERVED_PARAMS = {"where", "order_by", "limit", "cursor", "fields", "with_total", "deleted",
                   "include_deleted"}


def records():
    return svc().records(g.snapshot)


def fresh_metadata(view):
    """Retry a record request once when it failed because the metadata changed under it.

    A request compiles against the snapshot current when it started; if another process
    archives a column in between, the database refuses the old statement. The failed
    transaction was rolled back, so running the request again on the new snapshot is safe.
    """
    import functools

    from sqlalchemy.exc import DBAPIError

    from engine.metadata.store import current_version

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except DBAPIError:
            with svc().engine.connect() as conn:
                version = current_version(conn)
            if version == g.snapshot.version:
                raise
            g.snapshot = svc().snapshots.get(version)
            return view(*args, **kwargs)
    return wrapper


def _flag(name):
    args = request.args
    if name not in args:   # args.get() of a missing key builds a BadRequestKeyError on every request
        return False
    value = args[name].lower()
    if value in ("", "false", "0", "no"):
        return False
    if value in ("true", "1", "yes"):
        return True
    raise BadRequest("api.E010", f"{name} must be true or false (got '{value[:20]}').", fields={name: ["invalid"]})


def _fields_param():
    raw = request.args.get("fields")
    if raw is None:
        return None
    return [f.strip() for f in raw.split(",") if f.strip()]


def _etag(rec):
    """The record's ETag: its row_version, which If-Match expects back.

    A projection without row_version (``?fields=name``) gets a weak ETag of its content
    instead: still a cache validator, but never mistaken for a version by If-Match.
    """
    if "row_version" in rec:
        return f'"{rec["row_version"]}"'
    import hashlib
    import json

    digest = hashlib.sha256(json.dumps(rec, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return f'W/"c{digest}"'


@api.get("/records/<obj>")
@fresh_metadata
def list_records(obj):
    filters = {k: v for k, v in request.args.items() if k not in RESERVED_PARAMS}
    cfg = svc().config
    out = records().list(
        obj, g.actor, filters=filters, where=request.args.get("where") or None,
        order_by=request.args.get("order_by"), limit=request.args.get("limit", cfg.default_page_size),
        cursor=request.args.get("cursor") or None, fields=_fields_param(),
        with_total=_flag("with_total"), deleted=_flag("deleted"), max_limit=cfg.max_page_size)
    return jsonify(out)


@api.get("/records/<obj>/export")
@fresh_metadata
def export_records(obj):
    """All records the caller may see (same filters and sort as the list), streamed as CSV."""
    from flask import Response

    filters = {k: v for k, v in request.args.items() if k not in RESERVED_PARAMS | {"format"}}
    filename, chunks = export_csv(records(), obj, g.actor, filters=filters,
                                  where=request.args.get("where") or None,
                                  order_by=request.args.get("order_by"), fields=_fields_param())
    return Response(chunks, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@api.post("/records/<obj>")
@fresh_metadata
def create_records(obj):
    data = body_json(allow_list=True)
    if isinstance(data, list):
        recs = records().bulk_create(obj, data, g.actor, max_records=svc().config.max_bulk_records)
        return jsonify({"records": recs}), 201
    rec = records().create(obj, data, g.actor)
    resp = jsonify(rec)
    resp.headers["ETag"] = _etag(rec)
    resp.headers["Location"] = f"/api/v1/records/{obj}/{rec['id']}"
    return resp, 201


@api.get("/records/<obj>/<rid>")
@fresh_metadata
def get_record(obj, rid):
    rec = records().get(obj, rid, g.actor, include_deleted=_flag("include_deleted"), fields=_fields_param())
    resp = jsonify(rec)
    resp.headers["ETag"] = _etag(rec)
    return resp


def _if_match():
    raw = request.headers.get("If-Match")
    if raw is None or raw.strip() == "*":
        return None
    value = raw.strip()
    if value.startswith("W/"):
        value = value[2:]
    value = value.strip('"')
    # ASCII digits only: str.isdigit() accepts '²' and '٣', which int() refuses or misreads;
    # 18 digits always fit a row_version.
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise BadRequest("api.E011", "If-Match must be the record's row_version (its ETag).",
                         fields={"If-Match": ["invalid"]})
    return int(value)


@api.route("/records/<obj>/<rid>", methods=["PATCH", "PUT"])
@fresh_metadata
def update_record(obj, rid):
    rec = records().update(obj, rid, body_json(), g.actor, if_match=_if_match())
    resp = jsonify(rec)
    resp.headers["ETag"] = _etag(rec)
    return resp


@api.delete("/records/<obj>/<rid>")
@fresh_metadata
def delete_record(obj, rid):
    if _flag("purge"):
        records().purge(obj, rid, g.actor)
    else:
        records().delete(obj, rid, g.actor)
    return "", 204


@api.post("/records/<obj>/<rid>/restore")
@fresh_metadata
def restore_record(obj, rid):
    return jsonify(records().restore(obj, rid, g.actor))


@api.get("/me")
def me():
    a = g.actor
    return jsonify({"id": a.user_id, "username": a.username, "is_admin": a.is_admin, "locale": a.locale,
                    "token_scope": a.scope})
