"""The plan of a pack operation: per element create / change / keep / archive, the admin's changes
it keeps, and the sample data it loads. ``--dry-run`` shows it; a real run returns it as applied."""
from __future__ import annotations

from dataclasses import dataclass, field

ACTIONS = ("create", "change", "keep", "archive")


@dataclass
class Plan:
    pack: str
    operation: str                       # install | upgrade | uninstall
    from_version: str | None
    to_version: str | None
    items: list = field(default_factory=list)        # merge.PlanItem
    overrides: list = field(default_factory=list)    # admin changes kept (text)
    data: dict = field(default_factory=dict)         # object -> records loaded (or archived)
    notes: list = field(default_factory=list)
    applied: bool = False
    title: object = None                 # the pack's title (a string or {en, zh_CN}), for pages


    def counts(self):
        out = {a: 0 for a in ACTIONS}
        for item in self.items:
            out[item.action] = out.get(item.action, 0) + 1
        return out

    @property
    def noop(self):
        return not self.items and not self.data and self.operation == "install" and not self.applied

    def as_dict(self):
        return {"pack": self.pack, "operation": self.operation, "from_version": self.from_version,
                "to_version": self.to_version, "applied": self.applied, "counts": self.counts(),
                "items": [i.as_dict() for i in self.items], "overrides": list(self.overrides),
                "data": dict(self.data), "notes": list(self.notes)}

    def render(self, verbose=True):
        """Lines of text for the command line."""
        head = {"install": f"install {self.pack} {self.to_version}",
                "upgrade": f"upgrade {self.pack} {self.from_version} -> {self.to_version}",
                "uninstall": f"uninstall {self.pack} {self.from_version}"}[self.operation]
        lines = [f"{'applied' if self.applied else 'plan'}: {head}"]
        lines += [f"  note: {n}" for n in self.notes]
        if verbose:
            width = max((len(i.kind) for i in self.items), default=6)
            for item in self.items:
                flag = " [destructive]" if item.destructive else ""
                note = f"  ({item.note})" if item.note else ""
                lines.append(f"  {item.action:<8} {item.kind:<{width}} {item.key}{flag}{note}")
        for text in self.overrides:
            lines.append(f"  admin    {text}")
        for obj, n in sorted(self.data.items()):
            lines.append(f"  data     {obj}: {n} record(s)")
        c = self.counts()
        lines.append(f"  summary: {c['create']} to create, {c['change']} to change, {c['keep']} kept, "
                     f"{c['archive']} to archive, {len(self.overrides)} admin change(s) kept, "
                     f"{sum(self.data.values())} record(s)")
        return lines
