"""``send_email``: mail to the record's owner, the submitter of an approval, a user, or an address
a formula gives. Sent by SMTP when ``TESSERA_SMTP_URL`` is set; otherwise kept as sent mail in the
outbox, where administrators see it. Either way the mail is recorded once, by its idempotency key
(also its ``Message-ID``), in the same transaction as the key."""
from __future__ import annotations

import json
import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from sqlalchemy import insert

from engine.db import utcnow

from . import Action, ActionError, PermanentActionError, register_action

RECIPIENT = {"type": "string", "minLength": 1, "maxLength": 5000,
             "description": "'owner', 'submitter', 'user:<username>', or a formula giving an e-mail address"}


@register_action
class SendEmail(Action):
    key = "send_email"
    label = "Send an e-mail"
    options_schema = {"type": "object", "required": ["to", "subject", "body"], "properties": {
        "to": {"anyOf": [RECIPIENT, {"type": "array", "minItems": 1, "maxItems": 50, "items": RECIPIENT}]},
        "subject": {"type": "string", "minLength": 1, "maxLength": 5000, "description": "a formula"},
        "body": {"type": "string", "minLength": 1, "maxLength": 20000, "description": "a formula"}}}
    formula_keys = (("subject", "text"), ("body", "text"))

    def check(self, options, env):
        problems = super().check(options, env)
        for i, to in enumerate(_recipients(options["to"])):
            path = "to" if isinstance(options["to"], str) else f"to[{i}]"
            if to == "owner":
                continue
            if to == "submitter":
                if "submitter" not in env.context_keys:
                    problems.append((path, "'submitter' is only known in approval processes; use 'owner', "
                                           "'user:<username>' or a formula"))
            elif to.startswith("user:"):
                problems += env.check_user(path, to)
            else:
                problems += env.formula(path, to, "text")
        return problems

    def compile(self, options, compile_fn):
        out = super().compile(options, compile_fn)
        for i, to in enumerate(_recipients(options["to"])):
            if to not in ("owner", "submitter") and not to.startswith("user:"):
                out[f"_to{i}"] = compile_fn(to, "text")
        return out

    def prepare(self, options, formulas, fire):
        recipients = []
        for i, to in enumerate(_recipients(options["to"])):
            if to == "owner":
                recipients.append(fire.user_address(fire.record.get("owner_id")))
            elif to == "submitter":
                recipients.append(fire.user_address(fire.context.get("submitter")))
            elif to.startswith("user:"):
                recipients.append(fire.user_address(fire.user_id(to)))
            else:
                address = fire.evaluate(formulas[f"_to{i}"])
                recipients.append({"user": None, "address": address or None})
        return {"to": recipients, "subject": fire.evaluate(formulas["subject"]) or "",
                "body": fire.evaluate(formulas["body"]) or ""}

    def run(self, ctx, options):
        recipients = [r for r in options["to"] if r.get("address") or r.get("user")]
        if not recipients:
            raise PermanentActionError("The e-mail has no recipient (the owner or the formula gave none).",
                                       code="workflow.E320")
        smtp_url = ctx.config.smtp_url
        status = "kept"
        if smtp_url:
            missing = [r["user"] for r in recipients if not r.get("address")]
            if missing:
                raise PermanentActionError(f"User '{missing[0]}' has no e-mail address (a username that is "
                                           "an e-mail address is used as one).", code="workflow.E321")
            _send(smtp_url, ctx.config.mail_from, [r["address"] for r in recipients], options["subject"],
                  options["body"], ctx.key, ctx.config.webhook_timeout_seconds)
            status = "sent"
        shown = ", ".join(r.get("address") or f"user:{r['user']}" for r in recipients)

        def record(conn):
            from ..tables import mail
            conn.execute(insert(mail).values(key=ctx.key, outbox_id=ctx.outbox_id, recipients=json.dumps(recipients),
                                             subject=options["subject"][:10000], body=options["body"],
                                             status=status, created_at=utcnow()))
        ctx.write_with_key(record)
        verb = "Sent" if status == "sent" else "Kept (no SMTP configured)"
        return {"status": status, "to": shown, "subject": options["subject"],
                "message": f"{verb}: e-mail '{options['subject'][:80]}' to {shown}."}


def _recipients(to):
    return [to] if isinstance(to, str) else list(to)


def _send(url, sender, to, subject, body, key, timeout):
    parts = urlsplit(url)
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{key.replace(':', '.')}@tessera>"   # lets a mail system drop a re-sent copy
    msg.set_content(body)
    try:
        cls = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
        with cls(parts.hostname or "localhost", parts.port or (465 if parts.scheme == "smtps" else 25),
                 timeout=timeout) as smtp:
            if parts.scheme == "smtp+starttls":
                smtp.starttls(context=ssl.create_default_context())
            if parts.username:
                smtp.login(unquote(parts.username), unquote(parts.password or ""))
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise ActionError(f"The mail server refused or could not be reached: {type(exc).__name__}.",
                          code="workflow.E322") from None
