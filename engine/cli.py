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
@click.option("--pack", "pack_name", default="manufacturing", show_default=True,
              help="The industry pack installed with crm_core (manufacturing, education, saas; crm_core for the "
                   "core alone), with sample data; 'none' builds the small account/contact/deal model instead.")
@click.option("--records", default=300, show_default=True, type=click.IntRange(0, 100000),
              help="With --pack none: how many sample deals to create.")
@click.option("--no-serve", is_flag=True, help="Build the demo data and exit.")
def demo(host, port, pack_name, records, no_serve):
    """Install crm_core and an industry pack with sample data, create an admin, print a token, serve."""
    from engine.demo import build_demo, build_pack_demo

    services = _services()
    if pack_name == "none":
        info, path = build_demo(services, deals=records), "deal"
    else:
        try:
            info = build_pack_demo(services, pack_name, progress=_progress)
        except EngineError as exc:
            _pack_fail(exc)
        path = "account"
        for plan in info["plans"]:
            c = plan.counts()
            click.echo(f"installed {plan.pack} {plan.to_version}: {c['create']} element(s), "
                       f"{sum(plan.data.values())} sample record(s)")
    click.echo(f"admin login: {info['username']} / {info['password']}")
    click.echo(f"try: curl -H 'Authorization: Bearer {info['token']}' http://{host}:{port}/api/v1/records/{path}?limit=5")
    click.echo("token:")
    click.echo(info["token"])
    if not no_serve:
        _serve(host, port, services)


@main.group()
def pack():
    """List, validate, install, upgrade, uninstall and export packs (docs/packs.md)."""


def _packs():
    from engine.packs import packs

    return packs(_services())


def _show_plans(plans, verbose=True):
    for plan in plans:
        for line in plan.render(verbose=verbose):
            click.echo(line)


def _progress(text):
    click.echo(f"... {text}", err=True)


def _pack_fail(exc):
    """A pack error: every problem on its own line (file:line: message), then exit 1."""
    click.echo(f"error: {exc.message}", err=True)
    sys.exit(1)


@pack.command("list")
@click.option("--path", type=click.Path(exists=True, file_okay=False), help="Also look at the pack in DIR.")
def pack_list(path):
    """Available and installed packs, versions and status."""
    from engine.security import SYSTEM_ACTOR

    result = _packs().list(SYSTEM_ACTOR, path=path)
    if not result["packs"]:
        click.echo("no packs found")
    for p in result["packs"]:
        title = p["title"] if isinstance(p["title"], str) else p["title"].get("en", p["name"])
        version = p["installed_version"] or p["available_version"]
        extra = f" (available: {p['available_version']})" if p["status"] == "upgrade available" else ""
        depends = f"  depends: {', '.join(f'{k} {v}' for k, v in p['depends'].items())}" if p["depends"] else ""
        click.echo(f"{p['name']:<16} {version:<10} {p['status']:<18}{title}{extra}{depends}")
        for problem in p["problems"]:
            click.echo(f"    problem: {problem}")
    for note in result["notes"]:
        click.echo(f"note: {note}", err=True)


@pack.command("validate")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
def pack_validate(directory):
    """Run every check of install on the pack in DIRECTORY (its sample data too); change nothing."""
    from engine.security import SYSTEM_ACTOR

    try:
        plans = _packs().validate(directory, SYSTEM_ACTOR)
    except EngineError as exc:
        _pack_fail(exc)
    _show_plans(plans, verbose=False)
    click.echo(f"{plans[-1].pack} {plans[-1].to_version}: valid")


@pack.command("install")
@click.argument("name")
@click.option("--path", type=click.Path(exists=True, file_okay=False), help="Install the pack in DIR.")
@click.option("--with-sample-data", is_flag=True, help="Load the pack's sample data (dates relative to today).")
@click.option("--dry-run", is_flag=True, help="Show the plan and change nothing.")
def pack_install(name, path, with_sample_data, dry_run):
    """Install NAME (and the packs it depends on), each in one transaction."""
    from engine.security import SYSTEM_ACTOR

    try:
        plans = _packs().install(name, SYSTEM_ACTOR, path=path, with_data=with_sample_data, dry_run=dry_run,
                                 progress=_progress)
    except EngineError as exc:
        _pack_fail(exc)
    _show_plans(plans, verbose=dry_run)
    if dry_run:
        click.echo("dry run: nothing was changed")


@pack.command("upgrade")
@click.argument("name")
@click.option("--path", type=click.Path(exists=True, file_okay=False), help="Upgrade to the pack in DIR.")
@click.option("--allow-destructive", is_flag=True, help="Apply steps that archive fields or objects.")
@click.option("--dry-run", is_flag=True, help="Show the plan and change nothing.")
def pack_upgrade(name, path, allow_destructive, dry_run):
    """Apply the difference between the installed version of NAME and the new one."""
    from engine.security import SYSTEM_ACTOR

    try:
        plans = _packs().upgrade(name, SYSTEM_ACTOR, path=path, allow_destructive=allow_destructive,
                                 dry_run=dry_run, progress=_progress)
    except EngineError as exc:
        _pack_fail(exc)
    _show_plans(plans, verbose=True)
    if dry_run:
        click.echo("dry run: nothing was changed")


@pack.command("uninstall")
@click.argument("name")
@click.option("--purge", is_flag=True, help="Delete the pack's data for good instead of archiving it.")
@click.option("--dry-run", is_flag=True, help="Show the plan and change nothing.")
def pack_uninstall(name, purge, dry_run):
    """Remove what NAME added; its data is archived (restorable) unless --purge."""
    from engine.security import SYSTEM_ACTOR

    try:
        plans = _packs().uninstall(name, SYSTEM_ACTOR, purge=purge, dry_run=dry_run, progress=_progress)
    except EngineError as exc:
        _pack_fail(exc)
    _show_plans(plans, verbose=True)
    if dry_run:
        click.echo("dry run: nothing was changed")


@pack.command("export")
@click.argument("name")
@click.option("--objects", "objects", required=True, help="Comma-separated object api_names.")
@click.option("--with-data", is_flag=True, help="Write the objects' records as data/<object>.csv.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="The folder to write.")
@click.option("--version", "version", default="1.0.0", show_default=True, help="The exported pack's version.")
def pack_export(name, objects, with_data, out, version):
    """Write the named objects (and their rules, layouts, views, processes, translations) as pack NAME."""
    from engine.packs.export import export_pack
    from engine.security import SYSTEM_ACTOR

    names = [o.strip() for o in objects.split(",") if o.strip()]
    try:
        result = export_pack(_services(), name, names, out, SYSTEM_ACTOR, with_data=with_data, version=version)
    except EngineError as exc:
        _pack_fail(exc)
    click.echo(f"exported {result['pack']} {result['version']} to {result['folder']}")
    for f in result["files"]:
        click.echo(f"  {f}")
    for obj, n in result["records"].items():
        click.echo(f"  data/{obj}.csv: {n} record(s)")
    for dep, rng in result["depends"].items():
        click.echo(f"  depends on {dep} {rng}")
    for note in result["notes"]:
        click.echo(f"note: {note}")


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


@main.group()
def analytics():
    """Customer value (RFM) and the other stored analytics (docs/reports.md)."""


@analytics.command("refresh")
@click.option("--model", help="Refresh this RFM model only (default: every model).")
def analytics_refresh(model):
    """Recompute the RFM scores now (the workflow scheduler also does it every refresh_hours)."""
    reports = _services().extensions["reports"]
    for name, count in reports.analytics.rfm.refresh(model).items():
        click.echo(f"{name}: {count} record(s) scored")


if __name__ == "__main__":
    main()
