"""``webhook``: POST the record as JSON to a URL, signed.

Headers: ``X-Tessera-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>`` and
``X-Tessera-Delivery: <outbox id>:<action index>`` (the idempotency key: the same on every retry,
so a receiver that remembers keys applies each delivery once). What the body holds is fixed when
the rule fires: the record as written is stored once in the outbox row (its ``record``, which every
action of the row sees) with the firing's clock, and the worker builds the body from those stored
values (sorted keys, compact separators), so every attempt sends the same bytes and the triggering
write does not encode the record a second time. Rows written before this kept the body itself in
their options; it is sent as it is. The secret is named by ``secret_ref`` and kept
out of the metadata (``TESSERA_WEBHOOK_SECRETS``); the API never returns it. Any answer other than
2xx is retried with exponential backoff until the entry is dead.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from . import Action, ActionError, PermanentActionError, register_action


@register_action
class Webhook(Action):
    key = "webhook"
    label = "Webhook"
    options_schema = {"type": "object", "required": ["url", "secret_ref"], "properties": {
        "url": {"type": "string", "minLength": 1, "maxLength": 2000},
        "secret_ref": {"type": "string", "minLength": 1, "maxLength": 80,
                       "description": "the name of a signing secret in TESSERA_WEBHOOK_SECRETS"},
        "payload": {"type": "array", "maxItems": 500, "items": {"type": "string", "maxLength": 40},
                    "description": "the fields to send (default: every field)"}}}

    def check(self, options, env):
        problems = []
        parts = urlsplit(options["url"])
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(("url", f"must be an http:// or https:// URL (got '{options['url'][:80]}')"))
        secrets = env.config.webhook_secrets or {}
        if options["secret_ref"] not in secrets:
            known = ", ".join(sorted(secrets)) or "none"
            problems.append(("secret_ref", f"unknown secret '{options['secret_ref']}'{env.suggest(options['secret_ref'], secrets)}; "
                                           f"configure it in TESSERA_WEBHOOK_SECRETS (known: {known})"))
        names = env.field_names(env.obj)
        for i, name in enumerate(options.get("payload") or []):
            if name not in names:
                problems.append((f"payload[{i}]", env.unknown_field(env.obj, name)))
        return problems

    def prepare(self, options, formulas, fire):
        fire.record_json()          # the record as written, stored once with the outbox row
        resolved = {"url": options["url"], "secret_ref": options["secret_ref"], "occurred_at": fire.now_iso}
        if options.get("payload"):
            resolved["payload"] = list(options["payload"])
        return resolved

    @staticmethod
    def body(ctx, options):
        """The body of a delivery, from what the outbox row stored when the rule fired."""
        if "body" in options:       # a row written before bodies were built here
            return options["body"]
        record = ctx.record or {}
        if options.get("payload"):
            keep = set(options["payload"]) | {"id"}
            record = {k: v for k, v in record.items() if k in keep}
        body = {"delivery": ctx.key, "rule": ctx.rule, "object": ctx.object, "event": ctx.event,
                "occurred_at": options["occurred_at"], "record": record}
        return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)

    def run(self, ctx, options):
        secret = (ctx.config.webhook_secrets or {}).get(options["secret_ref"])
        if secret is None:
            raise PermanentActionError(f"The webhook secret '{options['secret_ref']}' is not configured in "
                                       "TESSERA_WEBHOOK_SECRETS.", code="workflow.E330")
        data = self.body(ctx, options).encode("utf-8")
        signature = hmac.new(secret.encode("utf-8"), data, hashlib.sha256).hexdigest()
        req = urllib.request.Request(options["url"], data=data, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "Tessera-Webhook/1",
            "X-Tessera-Signature": f"sha256={signature}", "X-Tessera-Delivery": ctx.key})
        host = urlsplit(options["url"]).hostname
        try:
            with _opener.open(req, timeout=ctx.config.webhook_timeout_seconds) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            raise ActionError(f"The webhook to {host} answered HTTP {exc.code}.", code="workflow.E331") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ActionError(f"The webhook to {host} could not be delivered: {type(reason).__name__}.",
                              code="workflow.E332") from None
        return {"status": status, "message": f"Delivered to {host} (HTTP {status})."}


def sign(secret, body):
    """The ``X-Tessera-Signature`` value of ``body`` (bytes) — for receivers and tests."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None   # a redirect is an answer other than 2xx, not a new destination


_opener = urllib.request.build_opener(_NoRedirect, urllib.request.ProxyHandler({}))
