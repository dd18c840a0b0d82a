"""Languages of the pages: the locale of a request, the compiled message catalogues, the
translated labels of metadata, and values formatted for the locale.

Catalogues: ``translations/<locale>/LC_MESSAGES/messages.po`` is the source (committed). At app
start :func:`prepare_catalogues` compiles each ``.po`` in memory with Babel and writes the
``.mo`` beside it when it is missing or differs; when the package directory is read-only (a
system-wide install) it writes them to a cache directory instead. So ``pip install .`` is enough,
a changed ``.po`` takes effect at the next start, and no build hook can be forgotten.

Locale of a request: the signed-in user's ``locale`` (``en`` or ``zh_CN``; the older ``zh`` is read
as ``zh_CN``); for an anonymous visitor the language chosen with the switcher, else the browser's
``Accept-Language``. Times are shown in the browser's time zone (a ``tz`` cookie the page script
sets), UTC until it is known.
"""
from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import io
import logging
import os
import tempfile
import threading
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, parse_pattern
from flask import g, request, session
from flask_babel import Babel, format_datetime, get_locale, get_timezone, get_translations
from jinja2 import pass_context

log = logging.getLogger("tessera.ui")

LOCALES = ("en", "zh_CN")
LOCALE_NAMES = {"en": "English", "zh_CN": "简体中文"}
TRANSLATIONS = Path(__file__).parent / "translations"
_ALIASES = {"en": "en", "en_us": "en", "en_gb": "en", "zh": "zh_CN", "zh_cn": "zh_CN", "zh_hans": "zh_CN",
            "zh_hans_cn": "zh_CN", "zh_sg": "zh_CN"}


def normalise_locale(value):
    """``'zh-CN'``, ``'zh'``, ``'zh_Hans'`` -> ``'zh_CN'``; ``'en-US'`` -> ``'en'``; unknown -> None."""
    if not isinstance(value, str):
        return None
    return _ALIASES.get(value.strip().replace("-", "_").lower())


def select_locale():
    """The locale of the current request (see the module docstring)."""
    from .auth import current_actor   # auth needs no i18n; imported here to keep the modules apart

    actor = current_actor()
    if actor is not None:
        chosen = normalise_locale(actor.locale)
        if chosen:
            return chosen
    chosen = normalise_locale(session.get("locale"))
    if chosen:
        return chosen
    best = request.accept_languages.best_match(["en", "en-US", "en-GB", "zh", "zh-CN", "zh-Hans", "zh-SG"])
    return normalise_locale(best) or "en"


def select_timezone():
    """The browser's time zone (``tz`` cookie, an IANA name), else UTC."""
    name = request.cookies.get("tz", "")
    if name and len(name) < 64:
        try:
            ZoneInfo(name)
            return name
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return "UTC"


def user_zone():
    try:
        return ZoneInfo(select_timezone())
    except (ZoneInfoNotFoundError, ValueError):
        return _dt.timezone.utc


# -- catalogues ----------------------------------------------------------------------------
def _compile(po_path):
    with open(po_path, "rb") as fh:
        catalog = read_po(fh, locale=po_path.parent.parent.name)
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def prepare_catalogues(source=TRANSLATIONS):
    """Compile every ``.po`` under ``source``; return the directory Flask-Babel should read."""
    compiled = {po: _compile(po) for po in sorted(source.glob("*/LC_MESSAGES/*.po"))}
    try:
        _write_all(compiled, source, source)
        return str(source)
    except OSError:
        digest = hashlib.sha256(b"".join(compiled.values())).hexdigest()[:16]
        cache = Path(os.environ.get("XDG_CACHE_HOME") or tempfile.gettempdir()) / f"tessera-mo-{digest}"
        _write_all(compiled, source, cache)
        log.info("translations compiled into %s (the package directory is read-only)", cache)
        return str(cache)


def _write_all(compiled, source, target):
    for po, data in compiled.items():
        relative = po.relative_to(source).with_suffix(".mo")
        paths = [target / relative]
        # Babel names zh_CN 'zh_Hans_CN', and gettext looks the catalogue up under that name only
        full = str(Locale.parse(relative.parts[0]))
        if full != relative.parts[0]:
            paths.append(target / full / Path(*relative.parts[1:]))
        for mo in paths:
            if mo.exists() and mo.read_bytes() == data:
                continue
            mo.parent.mkdir(parents=True, exist_ok=True)
            tmp = mo.with_suffix(f".tmp{os.getpid()}")
            tmp.write_bytes(data)
            os.replace(tmp, mo)   # atomic: two processes starting at once never read half a file


def init_babel(app):
    """Install Flask-Babel on ``app`` with our catalogues and selectors."""
    directory = prepare_catalogues()
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = directory
    Babel(app, locale_selector=select_locale, timezone_selector=select_timezone,
          default_translation_directories=directory)
    # the templates' _() and ngettext(): the same catalogue Flask-Babel picks, looked up once per
    # request and locale (a page translates dozens of strings; Flask-Babel finds the catalogue anew
    # for each, formatting the locale's name every time)
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: _request_translations().ugettext(s),
        ngettext=lambda s, p, n: _request_translations().ungettext(s, p, n),
        pgettext=lambda c, s: _request_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _request_translations().unpgettext(c, s, p, n), newstyle=True)
    app.jinja_env.globals["gettext"] = _kept_gettext(app.jinja_env.globals["gettext"])


GETTEXT_KEPT = 4096     # the templates' own strings are a few hundred


def _kept_gettext(plain):
    """The templates' ``_("...")`` without arguments: Jinja's newstyle gettext (``Markup(the
    translation) % {}``) worked out once per catalogue and string, then kept on the catalogue (a
    pure function of the two: the same for every reader); with arguments, or outside autoescaping,
    Jinja's own."""
    @pass_context
    def gettext(__context, __string, **variables):
        if variables or not __context.eval_ctx.autoescape:
            return plain(__context, __string, **variables)
        kept = _request_translations().__dict__.setdefault("_tessera_kept", {})
        rv = kept.get(__string)
        if rv is None:
            rv = plain(__context, __string)
            if len(kept) < GETTEXT_KEPT:
                kept[__string] = rv
        return rv
    return gettext


def _request_translations():
    """Flask-Babel's catalogue of this request's locale, kept on ``g`` for the request while the
    locale stays the one it was found for (``force_locale`` blocks switch it)."""
    # Flask-Babel's locale as get_locale() returns it once worked out (force_locale sets it there)
    locale = getattr(g.get("_flask_babel"), "babel_locale", None) or get_locale()
    found = g.get("_tessera_translations")
    if found is None or found[0] is not locale:
        found = g._tessera_translations = (locale, get_translations())
    return found[1]


def current_locale():
    """``'en'`` or ``'zh_CN'`` for the current request (worked out once per request)."""
    cached = g.get("_tessera_locale")
    if cached is None:
        cached = g._tessera_locale = normalise_locale(str(get_locale() or "en")) or "en"
    return cached


# -- labels from metadata ---------------------------------------------------------------------
def translated(doc, key="label", default=None, locale=None):
    """A metadata document's ``key`` in the current language.

    Reads ``<key>_i18n: {"zh_CN": "..."}`` (the contract) and the older ``<key>_zh`` alike, then
    falls back to ``doc[key]`` and ``default``."""
    locale = locale or current_locale()
    if doc is None:
        return default
    if locale != "en":
        table = doc.get(f"{key}_i18n")
        if isinstance(table, dict):
            for name in (locale, locale.split("_")[0]):
                if table.get(name):
                    return table[name]
        if locale.startswith("zh") and doc.get(f"{key}_zh"):
            return doc[f"{key}_zh"]
    return doc.get(key) or default


def object_label(odef, plural=False):
    """The object's (plural) label in the current language; Chinese has no plural, so the
    singular translation serves when no plural one is given."""
    if not plural:
        return translated(odef.doc, "label", odef.label)
    if current_locale() == "en":
        return odef.plural_label
    return translated(odef.doc, "plural_label", None) if (
        odef.doc.get("plural_label_i18n") or odef.doc.get("plural_label_zh")) else \
        translated(odef.doc, "label", odef.plural_label)


def field_label(fdef):
    return translated(fdef.doc, "label", fdef.label)


def option_labels(fdef):
    """``{value: label}`` of a picklist's options in the current language."""
    return {o["value"]: translated(o, "label", o["value"]) for o in fdef.doc.get("options") or []}


# -- formatting ---------------------------------------------------------------------------------
def format_number(value, scale=None):
    """A number for the current locale, with exactly ``scale`` decimals when given."""
    if isinstance(value, bool) or value is None:
        return ""
    try:
        num = Decimal(str(value))
    except ArithmeticError:
        return str(value)
    name = current_locale()
    locale = _babel_locale(name)
    if scale is None:
        return format_decimal(num, locale=locale)
    if _plain_symbols(name, locale):
        # the locale writes 1,234.50 as Python does (en, zh_CN): the same text, 7x faster than
        # Babel's pattern (a list page formats hundreds of numbers; same rounding, half even)
        return format(num, f",.{int(scale)}f")
    pattern = _PATTERNS.get(scale)
    if pattern is None:    # parsed once: a list page formats hundreds of numbers
        pattern = _PATTERNS[scale] = parse_pattern("#,##0" + ("." + "0" * int(scale) if int(scale) > 0 else ""))
    return pattern.apply(num, locale)


def number_text(fdef, kind):
    """A number field's text for this request's locale: its scale (currency: 2 when unset), its
    currency code before and ``%`` after a percent, the locale looked up once (``number_formatter``)."""
    scale = fdef.get("scale")
    if scale is None and kind == "currency":
        scale = 2
    digits = number_formatter(scale)
    prefix = f"{fdef.get('currency')} " if kind == "currency" and fdef.get("currency") else ""
    suffix = "%" if kind == "percent" else ""
    return lambda value: prefix + digits(value) + suffix


def number_formatter(scale):
    """``format_number(value, scale)`` for this request's locale with the locale looked up once
    (a list formats a number column on every row): the same text for every value."""
    name = current_locale()
    if scale is None or not _plain_symbols(name, _babel_locale(name)):
        return lambda value: format_number(value, scale)
    spec = f",.{int(scale)}f"

    def plain(value):
        if isinstance(value, bool) or value is None:
            return ""
        try:
            num = Decimal(str(value))
        except ArithmeticError:
            return str(value)
        return format(num, spec)
    return plain


_PATTERNS = {}
_LOCALES = {}
_PLAIN = {}


def _plain_symbols(name, locale):
    """Whether ``locale`` groups with ',' and separates decimals with '.' (Latin digits)."""
    plain = _PLAIN.get(name)
    if plain is None:
        from babel.numbers import get_decimal_symbol, get_group_symbol
        plain = _PLAIN[name] = (get_decimal_symbol(locale), get_group_symbol(locale)) == (".", ",")
    return plain


def _babel_locale(name):
    locale = _LOCALES.get(name)
    if locale is None:
        locale = _LOCALES[name] = Locale.parse(name)
    return locale


def parse_iso_date(value):
    if isinstance(value, _dt.date):
        return value
    try:
        return _dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def parse_iso_datetime(value):
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
    try:
        parsed = _dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_dt.timezone.utc)


def format_day(value, locale=None):
    """A date as the locale writes it (medium: ``Mar 1, 2025``, ``2025年3月1日``); ``locale``: the
    request's (:func:`current_locale`) when not given."""
    locale = locale or current_locale()
    try:
        return _format_day(value, locale)
    except TypeError:     # an unhashable value: not kept
        return _format_day.__wrapped__(value, locale)


@functools.lru_cache(maxsize=4096, typed=True)
def _format_day(value, code):
    # a pure function of (value, locale): kept for every reader (a list page formats a date on
    # every row; the same days come back from page to page)
    day = parse_iso_date(value)
    if day is None:
        return str(value)
    locale = _babel_locale(code)
    # the locale's parsed pattern applied directly: what flask_babel.format_date(day, "medium")
    # writes for a date, without its per-call lookups
    return locale.date_formats["medium"].apply(day, locale)


def format_moment(value):
    """A moment (ISO text or datetime) as the locale writes it (medium) in the reader's time zone."""
    moment = parse_iso_datetime(value)
    if not moment:
        return str(value)
    # what Flask-Babel writes is a pure function of the moment, the request's locale and time zone:
    # kept per (moment, locale, zone) for every reader (a record page shows three to a dozen; the
    # same ones come back from page to page)
    key = (moment, str(get_locale()), str(get_timezone()))
    text = _MOMENTS.get(key)
    if text is None:
        text = format_datetime(moment, format="medium")
        with _MOMENTS_LOCK:
            _MOMENTS[key] = text
            while len(_MOMENTS) > MOMENTS_KEPT:
                _MOMENTS.pop(next(iter(_MOMENTS)))
    return text


MOMENTS_KEPT = 4096
_MOMENTS = {}
_MOMENTS_LOCK = threading.Lock()


def local_input_datetime(value):
    """An ISO UTC datetime as the ``YYYY-MM-DDTHH:MM`` a ``datetime-local`` input shows."""
    moment = parse_iso_datetime(value) if value else None
    if moment is None:
        return value or ""
    return moment.astimezone(user_zone()).strftime("%Y-%m-%dT%H:%M")


def utc_from_local_input(raw):
    """A ``datetime-local`` input's value (the user's time zone) as ISO 8601 UTC; unparsable text
    is returned as sent so that the record service names the problem."""
    try:
        moment = _dt.datetime.fromisoformat(raw)
    except ValueError:
        return raw
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=user_zone())
    return moment.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")
