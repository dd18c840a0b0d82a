"""Three organisations that a non-admin ('rep') must not be able to tell apart (issue 8).

- ``A``: the full model. The rep may not read the object ``vault``; the field ``deal.cost_basis``
  is hidden from them, so are ``deal.vault_ref`` (a lookup to ``vault``), ``deal.margin_calc`` (a
  formula over ``cost_basis``) and ``account.vault_count`` (a roll-up over ``vault``); ``deal`` is
  private, and some deals (a peer's, the admin's) are invisible to the rep.
- ``B``: the same model with other secrets: other values in the hidden fields, more invisible
  deals and vault records, other codes.
- ``C``: the organisation as the rep sees it: no ``vault``, none of those fields, no invisible
  deal. Everything the rep may see is the same as in ``A`` and ``B``.

Every answer the rep gets must be the same in the three (after :func:`normalise`: ids, timestamps
and cursors differ from one database to the other): a status, a code, a message, a count or a
document that differs would tell them something about what they may not read.

The names of the secrets are distinctive (``vault``, ``cost_basis``, ``Cost Basis``…) so that a
response can also be searched for them (:data:`SECRETS`).
"""
from __future__ import annotations

import contextlib
import re
import uuid
from dataclasses import dataclass, field

import pytest

from tests.conftest import PG_URL, Api, _pg_schema_url

SECRETS = ("vault", "Vault", "cost_basis", "Cost Basis", "vault_ref", "Vault Ref", "margin_calc", "Margin Calc",
           "vault_count", "Vault Count", "secret_code", "Secret Code", "PEER-SECRET", "ADMIN-SECRET", "VX-",
           "4242.42", "9191.91", "7007.07")

ACCOUNT = {"api_name": "account", "label": "Account", "plural_label": "Accounts", "sharing": "public_read",
           "fields": [
               {"api_name": "industry", "label": "Industry", "type": "picklist",
                "options": [{"value": "Energy"}, {"value": "Tech"}]},
               {"api_name": "website", "type": "url"},
           ]}
VAULT = {"api_name": "vault", "label": "Vault", "plural_label": "Vaults", "sharing": "private", "fields": [
    {"api_name": "secret_code", "label": "Secret Code", "type": "text", "max_length": 40},
    {"api_name": "account", "label": "Account", "type": "master_detail", "target": "account"},
]}
VAULT_COUNT = {"api_name": "vault_count", "label": "Vault Count", "type": "roll_up_summary",
               "summary": {"object": "vault", "function": "count"}}


def deal_doc(secret):
    """The deal object; ``secret`` adds the fields hidden from the rep."""
    fields = [
        {"api_name": "stage", "label": "Stage", "type": "picklist", "required": True,
         "options": [{"value": "New"}, {"value": "Won"}, {"value": "Lost"}]},
        {"api_name": "probability", "label": "Probability", "type": "percent", "scale": 0},
        {"api_name": "close_date", "label": "Close Date", "type": "date"},
        {"api_name": "is_priority", "label": "Priority", "type": "checkbox"},
        {"api_name": "notes", "label": "Notes", "type": "long_text"},
        {"api_name": "tags", "label": "Tags", "type": "multi_picklist",
         "options": [{"value": "a"}, {"value": "b"}]},
        {"api_name": "quantity", "label": "Quantity", "type": "integer"},
        {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"},
        {"api_name": "score", "label": "Score", "type": "formula", "formula": "IF(is_priority, 10, 1) + LEN(name)"},
        {"api_name": "acct_name", "label": "Account Name", "type": "formula", "formula": "account.name"},
    ]
    layout_fields = ["name", "stage", "probability", "close_date", "account"]
    sections = [{"label": "Main", "fields": layout_fields}]
    if secret:
        fields[2:2] = [{"api_name": "cost_basis", "label": "Cost Basis", "type": "currency", "scale": 2}]
        fields += [
            {"api_name": "vault_ref", "label": "Vault Ref", "type": "lookup", "target": "vault"},
            {"api_name": "margin_calc", "label": "Margin Calc", "type": "formula", "formula": "cost_basis * 2"},
        ]
        sections = [{"label": "Main", "fields": layout_fields[:2] + ["cost_basis"] + layout_fields[2:]},
                    {"label": "Vault Section", "fields": ["vault_ref", "margin_calc"]}]
    return {"api_name": "deal", "label": "Deal", "plural_label": "Deals", "sharing": "private",
            "fields": fields,
            "validation_rules": [{"name": "stage_known", "condition": "ISBLANK(TEXT(stage))",
                                  "message": "Choose a stage."}],
            "layouts": [{"name": "main", "sections": sections}],
            "list_views": [{"name": "mine", "label": "Mine", "columns": ["name", "stage", "probability"]
                            + (["cost_basis"] if secret else []), "where": "stage != 'Lost'",
                            "order_by": "-name"}]}


# the secret values of worlds A and B: B has other values, more invisible records
SECRET_DATA = {
    "A": {"cost": ["4242.42", "1.00", "0.01"], "peer_deals": 2, "vaults": 2, "code": "VX-1"},
    "B": {"cost": ["9191.91", "-7007.07", "99999999.99"], "peer_deals": 5, "vaults": 4, "code": "VX-999"},
}


@dataclass
class World:
    """One organisation: its app, the admin's and the rep's clients, and the ids of its records."""

    name: str
    app: object
    admin: Api
    rep: Api
    ids: dict = field(default_factory=dict)        # symbol -> id in this world

    def url(self, template):
        return template.format(**self.ids)


def build_world(app, name):
    """Build world ``name`` ('A', 'B' or 'C') on ``app`` through the API (see the module docstring)."""
    from engine.security.users import create_token, create_user

    services = app.extensions["tessera"]
    create_user(services.engine, "admin", "admin-password", is_admin=True)
    admin = Api(app.test_client(), create_token(services.engine, "admin"))
    secret = name != "C"
    data = SECRET_DATA.get(name)

    def ok(r, status=(200, 201, 204)):
        assert r.status_code in status, (r.status_code, r.get_json())
        return r.get_json()

    ok(admin.post("/api/v1/objects", json=ACCOUNT))
    if secret:
        ok(admin.post("/api/v1/objects", json=VAULT))
    ok(admin.post("/api/v1/objects", json=deal_doc(secret)))
    ok(admin.post("/api/v1/roles", json={"api_name": "boss_role"}))
    ok(admin.post("/api/v1/roles", json={"api_name": "rep_role", "parent": "boss_role"}))
    deal_fields = {"probability": "read"}
    if secret:
        deal_fields["cost_basis"] = "hidden"
    ok(admin.post("/api/v1/permission_sets", json={
        "api_name": "sales", "objects": {"account": {"read": True},
                                         "deal": {"read": True, "create": True, "edit": True, "delete": True}},
        "fields": {"deal": deal_fields}}))
    ids = {}
    for user, role in (("rep", "rep_role"), ("peer", "rep_role")):
        ids[user] = create_user(services.engine, user, "password-123")["id"]
        ok(admin.patch(f"/api/v1/users/{user}", json={"role": role}))
        ok(admin.post(f"/api/v1/users/{user}/permission_sets", json={"permission_set": "sales"}))
    ids["admin"] = ok(admin.get("/api/v1/me"))["id"]
    rep = Api(app.test_client(), create_token(services.engine, "rep"))
    peer = Api(app.test_client(), create_token(services.engine, "peer"))

    for sym, acc in (("acme", {"name": "Acme", "industry": "Energy"}),
                     ("globex", {"name": "Globex", "industry": "Tech", "website": "https://globex.example"})):
        ids[sym] = ok(admin.post("/api/v1/records/account", json=acc))["id"]
    if secret:
        for i in range(data["vaults"]):
            ids[f"vault{i}"] = ok(admin.post("/api/v1/records/vault", json={
                "name": f"ADMIN-SECRET vault {i}", "secret_code": f"{data['code']}-{i}", "account": ids["acme"]}))["id"]
        ids["vault_record"] = ids["vault0"]
        ok(admin.post("/api/v1/objects/account/fields", json=VAULT_COUNT))
    # the rep's own deals, one shared with them by the admin, in the same order everywhere
    # (created by the admin, who may set the hidden fields, for the rep)
    plain = [("d1", rep, {"name": "Rep one", "stage": "New", "account": ids["acme"], "close_date": "2024-02-29",
                          "quantity": 3, "tags": ["a"], "notes": "first"}),
             ("d2", rep, {"name": "Rep two", "stage": "Won", "account": ids["globex"], "is_priority": True,
                          "quantity": -2}),
             ("d3", admin, {"name": "Shared three", "stage": "Lost", "probability": 40, "quantity": 0})]
    for i, (sym, who, body) in enumerate(plain):
        if who is rep:
            body = dict(body, owner_id=ids["rep"])
        if secret:
            body = dict(body, cost_basis=data["cost"][i], vault_ref=ids["vault0"])
            if i == 0:   # an invisible deal created between visible ones
                for j in range(data["peer_deals"]):
                    ids[f"peer{j}"] = ok(peer.post("/api/v1/records/deal", json={
                        "name": f"PEER-SECRET {j}", "stage": "Won", "account": ids["acme"], "quantity": 10 ** j,
                        "is_priority": True}))["id"]
        ids[sym] = ok(admin.post("/api/v1/records/deal", json=body))["id"]
    ok(admin.post(f"/api/v1/records/deal/{ids['d3']}/shares", json={"user": "rep", "access": "read"}))
    if secret:
        ids["admin_secret"] = ok(admin.post("/api/v1/records/deal", json={
            "name": "ADMIN-SECRET deal", "stage": "New", "cost_basis": data["cost"][2]}))["id"]
        ok(admin.post(f"/api/v1/records/deal/{ids['admin_secret']}/shares", json={"user": "peer", "access": "edit"}))
    ok(rep.patch(f"/api/v1/records/deal/{ids['d1']}", json={"notes": "second"}))
    # what the rep may not see, by symbol: in C these ids exist nowhere
    ids.setdefault("invisible_deal", ids.get("peer0") or str(uuid.uuid4()))
    ids.setdefault("admin_deal", ids.get("admin_secret") or str(uuid.uuid4()))
    ids.setdefault("vault_record", str(uuid.uuid4()))
    ids["missing"] = "00000000-0000-7000-8000-000000000000"
    return World(name, app, admin, rep, ids)


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")
GLOBAL_VERSION = re.compile(r"metadata version \d+")


def normalise(world, value, key=None):
    """``value`` (a decoded JSON body or text) with this world's ids as their symbols, other ids,
    timestamps and cursors as placeholders, and the metadata version left out."""
    names = {v: k for k, v in world.ids.items() if isinstance(v, str) and UUID.fullmatch(v)}
    if isinstance(value, dict):
        return {k: normalise(world, v, k) for k, v in value.items()
                if not (k in ("version", "global_version") and isinstance(v, int))}
    if isinstance(value, list):
        return [normalise(world, v, key) for v in value]
    if isinstance(value, str):
        if key == "next_cursor":
            return "<cursor>"
        value = UUID.sub(lambda m: f"<{names.get(m.group(0), 'id')}>", value)
        value = TIMESTAMP.sub("<ts>", value)
        return GLOBAL_VERSION.sub("metadata version <n>", value)
    return value


def answer(world, method, template, *, body=None, query=None):
    """The rep's answer to one request in ``world``, normalised: (status, content type, body)."""
    url = world.url(template)
    query = {k: world.url(v) for k, v in (query or {}).items()}
    r = getattr(world.rep, method.lower())(url, query_string=query, **({"json": body} if body is not None else {}))
    if r.is_json:
        payload = normalise(world, r.get_json())
    else:
        payload = normalise(world, r.get_data(as_text=True))
    return r.status_code, r.mimetype, payload


@contextlib.contextmanager
def database_urls(kind, tmp_path_factory, count):
    """``count`` empty databases of ``kind`` ('sqlite' or 'postgresql': a schema each), dropped after."""
    if kind == "sqlite":
        base = tmp_path_factory.mktemp("worlds")
        yield [f"sqlite:///{base / f'w{i}.db'}" for i in range(count)]
        return
    if not PG_URL:
        pytest.skip("PostgreSQL variant: set TESSERA_TEST_POSTGRES_URL to run it")
    from sqlalchemy import create_engine, text

    schemas = [f"t_{uuid.uuid4().hex[:12]}" for _ in range(count)]
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        for schema in schemas:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield [_pg_schema_url(s) for s in schemas]
    finally:
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextlib.contextmanager
def worlds_on(kind, tmp_path_factory, names=("A", "B", "C")):
    """The worlds ``names`` on one database kind, each on its own database and app (a name's first
    letter says which world: 'A2' is another world A)."""
    from engine import create_app

    out = {}
    with database_urls(kind, tmp_path_factory, len(names)) as urls:
        try:
            for name, url in zip(names, urls):
                app = create_app({"database_url": url, "testing": True})
                out[name] = build_world(app, name[0])
            yield out
        finally:
            for world in out.values():
                world.app.extensions["tessera"].engine.dispose()
