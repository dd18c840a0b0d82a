"""Server-rendered pages (Jinja2 view models and templates) — arrives with the UI issue. Like the
API, it reads and writes records only through the record service."""
