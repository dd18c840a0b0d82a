"""``tessera demo``: a working CRM to look at, built through the same services a user would use.

By default the demo installs the ``crm_core`` pack and one industry pack (``manufacturing``, or the
one named with ``--pack``) with their sample data through the pack service (``build_pack_demo``), so
the first thing a new user sees is a CRM with leads, accounts, opportunities, cases, reports and
dashboards. ``--pack none`` builds the small model of the API walkthrough instead — account,
contact and deal with a few hundred random records (``build_demo``)."""
from __future__ import annotations

import datetime as _dt
import random
import secrets

from engine.errors import Conflict
from engine.security import SYSTEM_ACTOR
from engine.security.users import create_token, create_user

INDUSTRIES = ["Energy", "Technology", "Manufacturing", "Education", "Retail", "Healthcare"]
STAGES = ["Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won", "Closed Lost"]

ACCOUNT = {"api_name": "account", "label": "Account", "plural_label": "Accounts", "label_zh": "客户",
           "fields": [
               {"api_name": "industry", "label": "Industry", "type": "picklist", "filterable": True,
                "options": [{"value": v} for v in INDUSTRIES]},
               {"api_name": "website", "label": "Website", "type": "url"},
               {"api_name": "phone", "label": "Phone", "type": "phone"},
               {"api_name": "annual_revenue", "label": "Annual revenue", "type": "currency", "scale": 0},
               {"api_name": "employees", "label": "Employees", "type": "integer"},
           ]}
CONTACT = {"api_name": "contact", "label": "Contact", "plural_label": "Contacts", "label_zh": "联系人",
           "fields": [
               {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"},
               {"api_name": "email", "label": "Email", "type": "email", "unique": True},
               {"api_name": "phone", "label": "Phone", "type": "phone"},
               {"api_name": "title", "label": "Title", "type": "text", "max_length": 120},
           ]}
DEAL = {"api_name": "deal", "label": "Deal", "plural_label": "Deals", "label_zh": "商机",
        "fields": [
            {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"},
            {"api_name": "amount", "label": "Amount", "type": "currency", "scale": 2, "filterable": True},
            {"api_name": "probability", "label": "Probability", "type": "percent", "scale": 0},
            {"api_name": "stage", "label": "Stage", "type": "picklist", "required": True, "filterable": True,
             "options": [{"value": v} for v in STAGES]},
            {"api_name": "close_date", "label": "Close date", "type": "date", "filterable": True},
            {"api_name": "deal_number", "label": "Deal number", "type": "auto_number", "format": "D-{00000}"},
            {"api_name": "description", "label": "Description", "type": "long_text"},
        ]}


DEFAULT_PACK = "manufacturing"


def _admin_login(services, admin):
    password = secrets.token_urlsafe(10)
    try:
        create_user(services.engine, admin, password, is_admin=True)
    except Conflict:
        password = "(unchanged: the admin existed already)"
    return password


def build_pack_demo(services, pack=DEFAULT_PACK, admin="admin", progress=None):
    """Install ``crm_core`` and ``pack`` (the packs it depends on first) with their sample data, as
    the demo's administrator (who then owns the sample records); return login, token and plans.

    Idempotent: an installed pack is left as it is. Raises the pack service's errors (an unknown
    pack is ``packs.E002`` with a did-you-mean)."""
    from engine.packs import packs

    password = _admin_login(services, admin)
    actor = services.actor(admin)
    service = packs(services)
    plans = []
    for name in dict.fromkeys(["crm_core", pack]):
        plans += [p for p in service.install(name, actor, with_data=True, progress=progress) if p.applied]
    token = create_token(services.engine, admin, label="demo")
    return {"username": admin, "password": password, "token": token, "plans": plans}


def build_demo(services, deals=300, seed=7, admin="admin"):
    """Create the demo model and data (idempotent for the model); return login and token."""
    engine = services.engine
    for doc in (ACCOUNT, CONTACT, DEAL):
        try:
            services.store.create_object(doc, SYSTEM_ACTOR)
        except Conflict:
            pass
    password = _admin_login(services, admin)
    token = create_token(engine, admin, label="demo")
    svc = services.records()
    if svc.list("deal", SYSTEM_ACTOR, limit=1)["records"]:
        return {"username": admin, "password": password, "token": token}
    rnd = random.Random(seed)
    actor = services.actor(admin)   # the sample data belongs to the admin
    accounts = svc.bulk_create("account", [
        {"name": f"{rnd.choice(['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Stark'])} "
                 f"{rnd.choice(['Energy', 'Labs', 'Works', 'Systems', 'Group'])} {i}",
         "industry": rnd.choice(INDUSTRIES), "website": f"https://example{i}.com",
         "annual_revenue": rnd.randrange(100_000, 50_000_000), "employees": rnd.randrange(5, 5000)}
        for i in range(max(5, deals // 10))], actor)
    svc.bulk_create("contact", [
        {"name": f"Contact {i}", "account": rnd.choice(accounts)["id"], "email": f"contact{i}@example.com",
         "title": rnd.choice(["CEO", "CTO", "Buyer", "Engineer"])} for i in range(max(5, deals // 3))], actor)
    today = _dt.date.today()
    if deals:
        svc.bulk_create("deal", [
            {"name": f"Deal {i}", "account": rnd.choice(accounts)["id"],
             "amount": rnd.randrange(1_000, 500_000), "probability": rnd.choice([10, 25, 50, 75, 90, 100]),
             "stage": rnd.choice(STAGES),
             "close_date": (today + _dt.timedelta(days=rnd.randrange(-90, 180))).isoformat()}
            for i in range(deals)], actor)
    return {"username": admin, "password": password, "token": token}
