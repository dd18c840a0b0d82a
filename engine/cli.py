"""The ``tessera`` command line (see ../shared/specs/api.md).

Every command has ``--help``; bad input prints one clear line on stderr and exits 1.
"""
from __future__ import annotations

import secrets
import sys

import click

from engine.errors import EngineError


def _fail(message):
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _services():
    """The process's services (engine.services.build_services), or one clear line and exit 1."""
    from engine.config import Config
    from engine.services import build_services

    cfg = Config.from_env()
    try:
        return build_services(cfg)
    except Exception as exc:  # noqa: BLE001 - one line for the user, not a traceback
        _fail(f"cannot open the database at {_safe_url(cfg.database_url)}: {str(exc).splitlines()[0][:200]}")


def _engine():
    return _services().engine


def _safe_url(url):
    from sqlalchemy.engine import make_url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "<invalid URL>"


class _Group(click.Group):
    def main(self, *args, **kwargs):
        kwargs.setdefault("standalone_mode", True)
        try:
            return super().main(*args, **kwargs)
        except EngineError as exc:
            _fail(exc.message)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tessera")
def main():
    """Tessera: a low-code, metadata-driven CRM platform engine.

    Configuration comes from TESSERA_DATABASE_URL (default sqlite:///tessera.db),
    TESSERA_SECRET_KEY and TESSERA_REDIS_URL.
    """


@main.command()
def init():
    """Create or upgrade the database at TESSERA_DATABASE_URL."""
    engine = _engine()
    click.echo(f"database ready: {_safe_url(str(engine.url))}")


@main.group()
def user():
    """Manage users."""


@user.command("create")
@click.argument("username")
@click.option("--admin", is_flag=True, help="Give the user administrator rights.")
@click.option("--password", help="The password (at least 8 characters); generated and printed if omitted.")
def user_create(username, admin, password):
    """Create a user."""
    from engine.security.users import create_user

    generated = password is None
    if generated:
        password = secrets.token_urlsafe(12)
    u = create_user(_engine(), username, password, is_admin=admin)
    click.echo(f"created {'admin ' if admin else ''}user {u['username']} ({u['id']})")
    if generated:
        click.echo(f"password: {password}")


@main.group()
def token():
    """Manage API tokens."""


@token.command("create")
@click.argument("username")
@click.option("--read-only", is_flag=True, help="The token may only read.")
@click.option("--label", help="A note to recognise the token by.")
def token_create(username, read_only, label):
    """Print a new API token for USERNAME (the last line is the token alone)."""
    from engine.security.users import create_token

    secret = create_token(_engine(), username, label=label, scope="read" if read_only else "all")
    click.echo(f"token for {username}{' (read-only)' if read_only else ''}:")
    click.echo(secret)


@token.command("revoke")
@click.argument("token_or_prefix")
def token_revoke(token_or_prefix):
    """Revoke a token (the secret or its 12-character prefix)."""
    from engine.security.users import revoke_token

    n = revoke_token(_engine(), token_or_prefix)
    if not n:
        _fail("no active token matches")
    click.echo(f"revoked {n} token(s)")


def _serve(host, port, services):
    from werkzeug.serving import run_simple

    from engine.app import create_app

    app = create_app(services=services)
    click.echo(f"serving Tessera on http://{host}:{port}/  (Ctrl+C to stop)")
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    except OSError as exc:   # e.g. the port is in use: one line, not a traceback
        _fail(f"cannot serve on {host}:{port}: {exc.strerror or exc}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
def serve(host, port):
    """Serve the web UI and API (for production: gunicorn 'wsgi:app')."""
    _serve(host, port, _services())


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--records", default=300, show_default=True, type=click.IntRange(0, 100000),
              help="How many sample deals to create.")
@click.option("--no-serve", is_flag=True, help="Build the demo data and exit.")
def demo(host, port, records, no_serve):
    """Build a sample CRM (accounts, contacts, deals), create an admin, print a token, serve."""
    from engine.demo import build_demo

    services = _services()
    info = build_demo(services, deals=records)
    click.echo(f"admin login: {info['username']} / {info['password']}")
    click.echo(f"try: curl -H 'Authorization: Bearer {info['token']}' http://{host}:{port}/api/v1/records/deal?limit=5")
    click.echo("token:")
    click.echo(info["token"])
    if not no_serve:
        _serve(host, port, services)


@main.group()
def pack():
    """Install, list and export packs (configuration bundles)."""


@pack.command("list")
def pack_list():
    """List available packs."""
    click.echo("no packs are installed or available yet")


@main.command()
@click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(0.05, 3600),
              help="Seconds between scheduler ticks (time-based and scheduled rules, retries).")
@click.option("--burst", is_flag=True, help="Run what is queued and due now, then exit.")
def worker(interval, burst):
    """Run the workflow worker: an rq worker on TESSERA_REDIS_URL plus the scheduler.

    Without TESSERA_REDIS_URL (the embedded mode) it runs the scheduler alone, carrying out due
    outbox entries, retries and time-based and scheduled rules in this process.
    """
    from engine.workflow.worker import run_worker

    run_worker(_services(), interval=interval, burst=burst, echo=click.echo)


if __name__ == "__main__":
    main()
