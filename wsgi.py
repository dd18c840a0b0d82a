"""WSGI entry point for gunicorn: ``gunicorn 'wsgi:app'``."""
from engine import create_app

app = create_app()
