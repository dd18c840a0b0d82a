"""``create_record``: create a record of any object through the record service, as the rule's
owner, so that its validation rules, roll-ups and automations apply."""
from __future__ import annotations

from . import Action, register_action


@register_action
class CreateRecord(Action):
    key = "create_record"
    label = "Create a record"
    options_schema = {"type": "object", "required": ["object", "values"], "properties": {
        "object": {"type": "string", "minLength": 1, "maxLength": 40},
        "values": {"type": "object", "maxProperties": 200,
                   "additionalProperties": {"type": "string", "maxLength": 5000},
                   "description": "field -> formula over the triggering record"}}}
    formula_maps = ("values",)

    def check(self, options, env):
        target = options["object"]
        if env.doc(target) is None:
            return [("object", env.unknown_object(target))]
        return env.check_values("values", target, options["values"])

    def compile(self, options, compile_fn):
        return {f"values.{k}": compile_fn(v, None) for k, v in options["values"].items()}

    def prepare(self, options, formulas, fire):
        resolved = super().prepare(options, formulas, fire)
        values = dict(resolved.get("values") or {})
        values.setdefault("owner_id", fire.record.get("owner_id"))
        if values.get("owner_id") is None:
            values.pop("owner_id")
        resolved["values"] = values
        return resolved

    def run(self, ctx, options):
        return create(ctx, options["object"], options["values"])


def create(ctx, object_name, values):
    """Create one record as the action's actor; the result names it for the run log."""
    records = ctx.records()
    rec = records.create(object_name, values, ctx.actor)
    label = records.runtime(object_name).odef.label
    shown = f" '{rec.get('name')}'" if rec.get("name") else ""
    return {"object": object_name, "id": rec["id"], "message": f"Created {label}{shown} ({rec['id']})."}
