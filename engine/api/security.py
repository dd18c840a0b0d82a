"""Access-control endpoints: users, roles, permission sets, sharing rules, manual shares,
field history, the audit log and sign-in. Admin only, except reading oneself and sharing
records one may edit."""
from __future__ import annotations

import datetime as _dt

from flask import g, jsonify, request

from engine.errors import BadRequest, MetadataError
from engine.security.audit import search as audit_search
from engine.security.users import create_token, sign_in

from . import api, body_json, require_admin, svc


def _objects_fields():
    return {name: set(rt.ftypes) | {"name", "owner_id"} for name, rt in g.snapshot.objects.items()}


@api.post("/auth/login")
def login():
    """Sign in with username and password; returns a new API token (throttled, audited)."""
    body = body_json()
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise BadRequest("security.E020", "Send {\"username\": \"...\", \"password\": \"...\"}.")
    actor = sign_in(svc().engine, username, password, ip=request.remote_addr)
    token = create_token(svc().engine, actor.username, label="login")
    return jsonify({"token": token, "username": actor.username, "is_admin": actor.is_admin})


@api.get("/users")
def list_users():
    require_admin()
    return jsonify({"users": svc().access.list_users(g.actor)})


@api.post("/users")
def post_user():
    require_admin()
    body = body_json()
    unknown = set(body) - {"username", "password", "is_admin", "role", "manager", "locale", "active"}
    if unknown:
        raise BadRequest("security.E012", f"Unknown key(s): {', '.join(sorted(unknown))}.")
    if not isinstance(body.get("password"), str):
        raise MetadataError([("password", "is required (at least 8 characters)")], code="security.E002")
    if "is_admin" in body and not isinstance(body["is_admin"], bool):
        raise MetadataError([("is_admin", "must be true or false")], code="security.E014")
    user = svc().access.create_user(body.get("username"), body["password"], g.actor,
                                    is_admin=bool(body.get("is_admin")))
    rest = {k: v for k, v in body.items() if k in ("role", "manager", "locale", "active")}
    if rest:
        user = svc().access.update_user(body["username"], rest, g.actor)
    return jsonify(user), 201


@api.get("/users/<username>")
def get_user(username):
    return jsonify(svc().access.get_user(username, g.actor))


@api.patch("/users/<username>")
def patch_user(username):
    # the service decides: administrators change users; a user may name their own delegate
    return jsonify(svc().access.update_user(username, body_json(), g.actor))


@api.post("/users/<username>/permission_sets")
def assign_permission_set(username):
    require_admin()
    body = body_json()
    svc().access.assign(username, body.get("permission_set"), g.actor)
    return jsonify(svc().access.get_user(username, g.actor)), 201


@api.delete("/users/<username>/permission_sets/<ps>")
def unassign_permission_set(username, ps):
    require_admin()
    svc().access.assign(username, ps, g.actor, remove=True)
    return "", 204


@api.get("/roles")
def list_roles():
    require_admin()
    return jsonify({"roles": svc().access.list_roles(g.actor)})


@api.post("/roles")
def post_role():
    require_admin()
    return jsonify(svc().access.create_role(body_json(), g.actor)), 201


@api.get("/permission_sets")
def list_permission_sets():
    require_admin()
    return jsonify({"permission_sets": svc().access.list_permission_sets(g.actor)})


@api.post("/permission_sets")
def post_permission_set():
    require_admin()
    return jsonify(svc().access.save_permission_set(body_json(), g.actor, _objects_fields())), 201


@api.put("/permission_sets/<name>")
def put_permission_set(name):
    require_admin()
    doc = body_json()
    doc.setdefault("api_name", name)
    if doc["api_name"] != name:
        raise BadRequest("security.E048", "The api_name in the body differs from the one in the URL.")
    return jsonify(svc().access.save_permission_set(doc, g.actor, _objects_fields(), create=False))


def _criteria_check(obj, source):
    from engine.errors import EngineError
    records = svc().records(g.snapshot)
    try:
        records.where_sql(records.runtime(obj), source, g.actor)
    except EngineError as exc:
        return [("criteria", exc.message)]
    return []


@api.get("/sharing_rules")
def list_sharing_rules():
    require_admin()
    return jsonify({"sharing_rules": svc().access.list_sharing_rules(g.actor)})


@api.post("/sharing_rules")
def post_sharing_rule():
    require_admin()
    return jsonify(svc().access.create_sharing_rule(body_json(), g.actor, _objects_fields(),
                                                    check_criteria=_criteria_check)), 201


@api.delete("/sharing_rules/<rule_id>")
def delete_sharing_rule(rule_id):
    require_admin()
    svc().access.delete_sharing_rule(rule_id, g.actor)
    return "", 204


@api.get("/records/<obj>/<rid>/shares")
def list_shares(obj, rid):
    return jsonify({"shares": svc().records(g.snapshot).shares(obj, rid, g.actor)})


@api.post("/records/<obj>/<rid>/shares")
def add_share(obj, rid):
    body = body_json()
    shares = svc().records(g.snapshot).share(obj, rid, body.get("user"), body.get("access"), g.actor)
    return jsonify({"shares": shares}), 201


@api.delete("/records/<obj>/<rid>/shares/<username>")
def remove_share(obj, rid, username):
    svc().records(g.snapshot).share(obj, rid, username, None, g.actor, remove=True)
    return "", 204


@api.get("/records/<obj>/<rid>/history")
def record_history(obj, rid):
    history = svc().records(g.snapshot).history(obj, rid, g.actor, field=request.args.get("field"))
    return jsonify({"history": history})


@api.get("/audit")
def audit_log():
    require_admin()
    since = request.args.get("since")
    parsed = None
    if since:
        try:
            parsed = _dt.datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest("security.E021", "since must be an ISO 8601 date or datetime.",
                             fields={"since": ["invalid"]}) from None
    try:
        limit = min(max(int(request.args.get("limit", 200)), 1), 1000)
    except ValueError:
        raise BadRequest("security.E049", "limit must be a whole number.", fields={"limit": ["invalid"]}) from None
    return jsonify({"entries": audit_search(svc().engine, event=request.args.get("event") or None,
                                            user=request.args.get("user") or None, since=parsed, limit=limit)})
