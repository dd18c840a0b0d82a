"""A list of named documents kept in an object's definition — its ``automation_rules`` and its
``approval_processes`` — listed, read, added, changed and deleted the same way for both: only an
administrator writes, a name is unique in the list and cannot change, and every write is a new
version of the object through the metadata store (``set_list`` / ``remove_from_list``).

What differs between the two lists is a parameter of :class:`DocumentList`: the codes of "unknown"
and "already exists", the nouns in the messages, who may read (administrators only, or a check of
the service's own after the object is found) and a check before a delete.
"""
from __future__ import annotations

from engine.errors import ConflictError, InvalidRequestError, NotFoundError, PermissionDeniedError
from engine.metadata.checks import suggest
from engine.metadata.store import load_docs


def require_admin(actor, what):
    """Refuse anyone but an administrator: ``workflow.E702`` "Only administrators may <what>."."""
    if actor is None or not getattr(actor, "is_admin", False):
        raise PermissionDeniedError("workflow.E702", f"Only administrators may {what}.")


def object_doc(engine, obj):
    """The stored document of ``obj`` (``metadata.E041`` when there is no such object)."""
    with engine.connect().execution_options(tessera_readonly=True) as conn:
        docs = load_docs(conn)
    if obj not in docs:
        raise NotFoundError("metadata.E041", f"Unknown object '{obj}'{suggest(obj, docs)}.")
    return docs[obj]["doc"]


class DocumentList:
    """The documents under ``key`` in an object's definition.

    ``noun`` names one in messages ("automation rule"), ``short`` in the advice of ``workflow.E701``
    ("rule"); ``unknown`` and ``exists`` are the codes of a name not found and of a name taken;
    ``admin_what`` ends the ``workflow.E702`` message. ``may_read(obj, actor)``: who may list and
    read, checked after the object is found (an unknown object answers ``metadata.E041`` to
    everyone); None: administrators only, checked first. ``before_delete(obj, name, document)``
    may refuse a delete (after the administrator check and the lookup)."""

    def __init__(self, services, key, noun, short, *, unknown, exists, admin_what, may_read=None,
                 before_delete=None):
        self.services, self.key, self.noun, self.short = services, key, noun, short
        self.unknown, self.exists, self.admin_what = unknown, exists, admin_what
        self.may_read, self.before_delete = may_read, before_delete

    def _stored(self, obj):
        return object_doc(self.services.engine, obj).get(self.key) or []

    def _readable(self, obj, actor):
        if self.may_read is None:
            require_admin(actor, self.admin_what)
            return self._stored(obj)
        stored = self._stored(obj)
        self.may_read(obj, actor)
        return stored

    def entries(self, obj, actor):
        """Every document of the list (a new list)."""
        return list(self._readable(obj, actor))

    def get(self, obj, name, actor):
        """The document named ``name`` (``unknown`` when there is none, with a suggestion)."""
        stored = self._readable(obj, actor)
        for doc in stored:
            if isinstance(doc, dict) and doc.get("name") == name:
                return doc
        names = [d.get("name") for d in stored if isinstance(d, dict)]
        raise NotFoundError(self.unknown, f"Unknown {self.noun} '{name}' on '{obj}'{suggest(name, names)}.")

    def add(self, obj, doc, actor):
        """Add a document (``exists`` when its name is taken); returns it as stored."""
        require_admin(actor, self.admin_what)
        if not isinstance(doc, dict):
            raise InvalidRequestError("workflow.E700", f"Send the {self.noun} as a JSON object.")
        name = doc.get("name")
        if isinstance(name, str) and any(isinstance(d, dict) and d.get("name") == name for d in self._stored(obj)):
            article = "an" if self.noun[:1] in "aeiou" else "a"
            raise ConflictError(self.exists, f"There is already {article} {self.noun} named '{name}' on '{obj}'.",
                                fields={"name": ["already exists"]})
        self.services.store.set_list(obj, self.key, doc, actor)
        return self.get(obj, name, actor)

    def update(self, obj, name, patch, actor):
        """Change some keys of a document (``null`` removes an optional key); the name cannot
        change. Returns it as stored."""
        require_admin(actor, self.admin_what)
        if not isinstance(patch, dict):
            raise InvalidRequestError("workflow.E700", "Send the keys to change as a JSON object.")
        if "name" in patch and patch["name"] != name:
            raise InvalidRequestError("workflow.E701", f"The name of {self.noun} '{name}' cannot change; "
                                                       f"create a new {self.short} and delete this one.")
        doc = dict(self.get(obj, name, actor))
        doc.update(patch)
        doc = {k: v for k, v in doc.items() if v is not None}
        self.services.store.set_list(obj, self.key, doc, actor, replace=True)
        return self.get(obj, name, actor)

    def delete(self, obj, name, actor):
        require_admin(actor, self.admin_what)
        doc = self.get(obj, name, actor)
        if self.before_delete is not None:
            self.before_delete(obj, name, doc)
        self.services.store.remove_from_list(obj, self.key, name, actor)
