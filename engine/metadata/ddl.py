"""Physical schema: SQLAlchemy tables built from ``ObjectDef`` and run-time schema
changes applied with Alembic operations inside the caller's transaction.

One table per object (``obj_<api_name>``), one column per stored field, indexes on
lookups and filterable fields, a unique index per unique field. Deleted fields and
objects are renamed to archive names (``zz_...``) so that their data stay
recoverable until purged.
"""
from __future__ import annotations

import hashlib

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import (Column, ForeignKey, Index, MetaData, String, Table, func, inspect,
                        select)

from engine.errors import MetadataError
from engine.metadata.field_types import field_types


def _short(name):
    if len(name) <= 60:
        return name
    return f"{name[:51]}_{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def index_name(table, column, kind="ix"):
    return _short(f"{kind}_{table}_{column}")


def system_columns():
    from engine.metadata.system_fields import SYSTEM_FIELD_DEFS
    return [f.column() for f in SYSTEM_FIELD_DEFS]


def field_column(odef_tables, fdef):
    """The physical ``Column`` of a stored field (no indexes; see ``field_indexes``)."""
    ftype = field_types.get(fdef.type)
    args = []
    if ftype.family == "lookup":
        target_table = odef_tables.get(fdef.target)
        if target_table:
            ondelete = "CASCADE" if ftype.cascade else "SET NULL"
            args.append(ForeignKey(f"{target_table}.id", ondelete=ondelete,
                                   name=_short(f"fk_{fdef.column}_{target_table}")))
    return Column(fdef.column, ftype.column_type(fdef), *args, nullable=True)


def field_indexes(table_name, fdef):
    """Index specs ``(name, column, unique)`` a field needs."""
    ftype = field_types.get(fdef.type)
    out = []
    if fdef.unique:
        out.append((index_name(table_name, fdef.column, "uq"), fdef.column, True))
    elif ftype.family == "lookup" or fdef.filterable:
        out.append((index_name(table_name, fdef.column), fdef.column, False))
    return out


def build_table(odef, metadata, table_names):
    """Build (or return the existing) SQLAlchemy ``Table`` of an object in ``metadata``.

    ``table_names`` maps every object api_name to its table name (for foreign keys).
    """
    cols = system_columns()
    for fdef in odef.fields:
        if fdef.column:
            cols.append(field_column(table_names, fdef))
    t = odef.table_name
    table = Table(t, metadata, *cols,
                  Index(index_name(t, "owner_id"), "owner_id"),
                  Index(index_name(t, "created_by"), "created_by"),
                  Index(index_name(t, "updated_by"), "updated_by"),
                  Index(index_name(t, "deleted_at"), "deleted_at"),
                  Index(index_name(t, "name"), "name"))
    for fdef in odef.fields:
        if fdef.column:
            for name, col, unique in field_indexes(t, fdef):
                Index(name, table.c[col], unique=unique)
    return table


def unique_index_map(odef):
    """Map unique index name -> field api_name (to report duplicate values by field)."""
    return {index_name(odef.table_name, f.column, "uq"): f.api_name
            for f in odef.fields if f.column and f.unique}


class SchemaChanger:
    """Apply the physical difference between two object definitions on a connection."""

    def __init__(self, conn, table_names):
        self.conn = conn
        self.dialect = conn.dialect.name
        self.table_names = table_names
        self.op = Operations(MigrationContext.configure(conn, opts={"render_as_batch": self.dialect == "sqlite"}))

    # -- objects -------------------------------------------------------------
    def create_object(self, odef):
        md = MetaData()
        self._stub_targets(md, odef)
        build_table(odef, md, self.table_names).create(self.conn)

    def _stub_targets(self, md, odef):
        for fdef in odef.fields:
            target = fdef.target
            if target and target in self.table_names and target != odef.api_name:
                tname = self.table_names[target]
                if tname not in md.tables:
                    Table(tname, md, Column("id", String(36), primary_key=True))

    def archive_object(self, odef, archive_name):
        self._drop_indexes(odef.table_name)
        self.op.rename_table(odef.table_name, archive_name)

    def restore_object(self, odef, archive_name):
        self.op.rename_table(archive_name, odef.table_name)
        self._create_indexes(odef)

    def purge_table(self, table_name):
        self.op.drop_table(table_name)

    def _drop_indexes(self, table_name):
        for ix in inspect(self.conn).get_indexes(table_name):
            if ix["name"] and not ix["name"].startswith("sqlite_"):
                self.op.drop_index(ix["name"], table_name=table_name)

    def _create_indexes(self, odef):
        md = MetaData()
        self._stub_targets(md, odef)
        table = build_table(odef, md, self.table_names)
        for ix in table.indexes:
            ix.create(self.conn)

    # -- fields --------------------------------------------------------------
    def add_field(self, odef, fdef):
        if not fdef.column:
            return
        col = field_column(self.table_names, fdef)
        if self.dialect == "sqlite":
            col = Column(col.name, col.type, nullable=True)  # FKs are not enforced on SQLite
        self.op.add_column(odef.table_name, col)
        self._add_indexes(odef, fdef)

    def _add_indexes(self, odef, fdef):
        for name, col, unique in field_indexes(odef.table_name, fdef):
            self._create_index(odef, fdef, name, col, unique)

    def _create_index(self, odef, fdef, name, col, unique):
        if unique:
            c = self._col(odef.table_name, col)
            dup = self.conn.execute(select(func.count()).select_from(
                select(c).where(c.is_not(None)).group_by(c).having(func.count() > 1).subquery())).scalar()
            if dup:
                raise MetadataError([(f"objects.{odef.api_name}.fields.{fdef.api_name}.unique",
                                      f"cannot be unique: {dup} value(s) occur more than once")],
                                    code="metadata.E020")
        self.op.create_index(name, odef.table_name, [col], unique=unique)

    def _col(self, table_name, col):
        from sqlalchemy import column, table
        return table(table_name, column(col)).c[col]

    def archive_field(self, odef, fdef, archive_column):
        if not fdef.column:
            return
        for name, _col, _u in field_indexes(odef.table_name, fdef):
            self.op.drop_index(name, table_name=odef.table_name)
        if self.dialect == "sqlite":
            with self.op.batch_alter_table(odef.table_name, recreate="never") as b:
                b.alter_column(fdef.column, new_column_name=archive_column)
        else:
            self.op.alter_column(odef.table_name, fdef.column, new_column_name=archive_column)
            # the foreign key goes with the column: a new field of the same name needs its name
            self._rename_foreign_keys(odef.table_name, archive_column, _short(f"fk_{archive_column}"))

    def restore_field(self, odef, fdef, archive_column):
        if self.dialect == "sqlite":
            with self.op.batch_alter_table(odef.table_name, recreate="never") as b:
                b.alter_column(archive_column, new_column_name=fdef.column)
        else:
            self.op.alter_column(odef.table_name, archive_column, new_column_name=fdef.column)
            target = self.table_names.get(fdef.target) if fdef.target else None
            if target:
                self._rename_foreign_keys(odef.table_name, fdef.column, _short(f"fk_{fdef.column}_{target}"))
        self._add_indexes(odef, fdef)

    def _rename_foreign_keys(self, table_name, column, new_name):
        """Rename the foreign key on ``column`` (PostgreSQL names constraints per table)."""
        for fk in inspect(self.conn).get_foreign_keys(table_name):
            if fk["constrained_columns"] == [column] and fk["name"] and fk["name"] != new_name:
                prep = self.conn.dialect.identifier_preparer
                self.conn.exec_driver_sql(f"ALTER TABLE {prep.quote(table_name)} RENAME CONSTRAINT "
                                          f"{prep.quote(fk['name'])} TO {prep.quote(new_name)}")

    def purge_column(self, table_name, column):
        if self.dialect == "sqlite":
            with self.op.batch_alter_table(table_name) as b:
                b.drop_column(column)
        else:
            self.op.drop_column(table_name, column)

    def change_field(self, odef_old, fold, odef_new, fnew, converted=None):
        """Alter a stored field whose type, length, uniqueness or indexing changed.

        ``converted``: for a type change, a list of ``(id, new_value)`` computed by the
        caller; the values go into a fresh column of the new type that then replaces
        the old one, so both databases convert exactly as the Python types do.
        """
        t = odef_new.table_name
        old_ix = {n: (c, u) for n, c, u in field_indexes(t, fold)}
        new_ix = {n: (c, u) for n, c, u in field_indexes(t, fnew)}
        for name in old_ix:
            if name not in new_ix or converted is not None:
                self.op.drop_index(name, table_name=t)
        old_type = field_types.get(fold.type).column_type(fold)
        new_type = field_types.get(fnew.type).column_type(fnew)
        if converted is not None:
            self._replace_column(odef_new, fnew, new_type, converted)
        elif repr(old_type) != repr(new_type):
            if self.dialect == "sqlite":
                with self.op.batch_alter_table(t, recreate="always") as b:
                    b.alter_column(fnew.column, type_=new_type, existing_type=old_type)
            else:
                self.op.alter_column(t, fnew.column, type_=new_type, existing_type=old_type)
        for name, (col, unique) in new_ix.items():
            if name not in old_ix or converted is not None:
                self._create_index(odef_new, fnew, name, col, unique)

    def _replace_column(self, odef, fdef, new_type, converted):
        from sqlalchemy import bindparam, column, table, update

        t, tmp = odef.table_name, _short(f"zt_{fdef.column}")
        self.op.add_column(t, Column(tmp, new_type, nullable=True))
        tbl = table(t, column("id"), column(tmp, new_type))
        if converted:
            stmt = update(tbl).where(tbl.c.id == bindparam("_id")).values({tmp: bindparam("_v", type_=new_type)})
            self.conn.execute(stmt, [{"_id": i, "_v": v} for i, v in converted])
        if self.dialect == "sqlite":
            with self.op.batch_alter_table(t, recreate="always") as b:
                b.drop_column(fdef.column)
            with self.op.batch_alter_table(t, recreate="never") as b:
                b.alter_column(tmp, new_column_name=fdef.column)
        else:
            self.op.drop_column(t, fdef.column)
            self.op.alter_column(t, tmp, new_column_name=fdef.column)
