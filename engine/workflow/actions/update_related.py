"""``update_related``: update the record a lookup path of the triggering record points to (for
example ``account`` of a deal), through the record service as the rule's owner."""
from __future__ import annotations

from . import Action, PermanentActionError, register_action


@register_action
class UpdateRelated(Action):
    key = "update_related"
    label = "Update a related record"
    options_schema = {"type": "object", "required": ["relation", "values"], "properties": {
        "relation": {"type": "string", "minLength": 1, "maxLength": 200,
                     "description": "a lookup field, or a path of lookups such as 'account.parent'"},
        "values": {"type": "object", "minProperties": 1, "maxProperties": 200,
                   "additionalProperties": {"type": "string", "maxLength": 5000},
                   "description": "field of the related record -> formula over the triggering record"}}}
    formula_maps = ("values",)

    def check(self, options, env):
        target, problem = env.follow_lookups(env.obj, options["relation"])
        if problem:
            return [("relation", problem)]
        return env.check_values("values", target, options["values"])

    def compile(self, options, compile_fn):
        out = {f"values.{k}": compile_fn(v, None) for k, v in options["values"].items()}
        out["_relation"] = compile_fn(options["relation"], None)   # the related record's id
        return out

    def prepare(self, options, formulas, fire):
        formulas = dict(formulas)
        relation = formulas.pop("_relation")
        resolved = super().prepare(options, formulas, fire)
        resolved["object"] = fire.target_of(options["relation"])
        resolved["id"] = fire.evaluate(relation)
        return resolved

    def run(self, ctx, options):
        if not options.get("id"):
            return {"skipped": True, "message": f"No related record through '{options['relation']}'; nothing "
                                                "to update."}
        records = ctx.records()
        try:
            rec = records.update(options["object"], options["id"], options["values"], ctx.actor)
        except Exception as exc:
            from engine.errors import NotFoundError
            if isinstance(exc, NotFoundError):
                raise PermanentActionError(f"The related record through '{options['relation']}' no longer "
                                           "exists.", code="workflow.E311") from None
            raise
        label = records.runtime(options["object"]).odef.label
        return {"object": options["object"], "id": rec["id"],
                "message": f"Updated {label} '{rec.get('name') or rec['id']}'."}
