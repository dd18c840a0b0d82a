"""CSV export through the query seam: everything the actor may see, streamed a page at a time.

The generator holds no request state: it pages with the list cursor on its own connections,
so a web door can stream it after the request that started it has ended.
"""
from __future__ import annotations

import csv
import io

PAGE = 500


def export_csv(service, object_name, actor, *, filters=None, where=None, order_by=None, fields=None):
    """``(filename, chunks)``: a CSV of every record ``actor`` may see, with the list's filters.

    The first page is read before returning, so a bad filter raises here (a clean 4xx), not in
    the middle of the stream. Multi-value fields are joined with ';'.
    """
    columns = service.visible_columns(object_name, actor, fields)
    first = service.list(object_name, actor, filters=filters, where=where, order_by=order_by,
                         limit=PAGE, fields=fields, max_limit=PAGE)

    def chunks():
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(columns)
        page = first
        while True:
            for rec in page["records"]:
                writer.writerow([";".join(v) if isinstance(v, list) else ("" if v is None else v)
                                 for v in (rec.get(c) for c in columns)])
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate(0)
            if not page["next_cursor"]:
                return
            page = service.list(object_name, actor, filters=filters, where=where, order_by=order_by,
                                limit=PAGE, cursor=page["next_cursor"], fields=fields, max_limit=PAGE)

    return f"{object_name}.csv", chunks()
