"""``field_update``: set a field of the triggering record.

On a record trigger it runs inside the triggering write (the pipeline's ``before_save``), so the
value is saved with the record in one transaction. Where there is no triggering write (time-based
and scheduled rules, approvals) it runs after the commit as an update through the record service.
"""
from __future__ import annotations

from . import Action, PermanentActionError, register_action


@register_action
class FieldUpdate(Action):
    key = "field_update"
    label = "Field update"
    options_schema = {"type": "object", "required": ["field", "value"], "properties": {
        "field": {"type": "string", "minLength": 1, "maxLength": 40},
        "value": {"type": "string", "maxLength": 5000, "description": "a formula giving the new value"}}}
    same_record = True
    allowed_on_delete = False

    def check(self, options, env):
        name = options["field"]
        fdoc = env.writable_fields(env.obj).get(name)
        if fdoc is None:
            return [("field", env.not_writable(env.obj, name))]
        return env.formula("value", options["value"], env.formula_type(fdoc))

    def compile(self, options, compile_fn):
        return {"value": compile_fn(options["value"], None)}

    def run(self, ctx, options):
        if not ctx.record_id:
            raise PermanentActionError("A field update needs a record.", code="workflow.E310")
        ctx.records().update(ctx.object, ctx.record_id, {options["field"]: options["value"]}, ctx.actor)
        return {"message": f"Set {options['field']}."}
