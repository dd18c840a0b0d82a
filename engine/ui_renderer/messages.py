"""The engine's standard messages in the page's language.

The services speak English (the API's contract, tested word for word); the pages translate the
messages they show — field errors, a save's summary, a refused move, a list filter's formula error,
an error page — by their wording: an exact message from ``EXACT``, else the first pattern of
``PATTERNS`` that matches (the way the run log is translated, ``views/workflow.py``). Parts taken
from the message (names, values, positions) are kept as the engine wrote them; a message of unknown
wording is shown as the engine wrote it. Messages an administrator wrote (validation rules) are
shown as written.
"""
from __future__ import annotations

import re

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from . import i18n

EXACT = {
    "Required.": _l("Required."),
    "Not a valid number.": _l("Not a valid number."),
    "Not a valid integer.": _l("Not a valid integer."),
    "Not a valid date (YYYY-MM-DD).": _l("Not a valid date."),
    "Not a valid datetime.": _l("Not a valid date and time."),
    "Not a valid email address.": _l("Not a valid email address."),
    "Not a valid URL (http or https).": _l("Not a valid URL (http or https)."),
    "You may not change this field.": _l("You may not change this field."),
    "Must be unique; this value is already used.": _l("Must be unique; this value is already used."),
    "Read-only field.": _l("Read-only field."),
    "Integer is out of range.": _l("Integer is out of range."),
    "Number is too large.": _l("Number is too large."),
    "The number is too large.": _l("The number is too large."),
    "Division by zero.": _l("Division by zero."),
    "Not a valid phone number (digits, spaces, + ( ) - . and an optional extension).":
        _l("Not a valid phone number (digits, spaces, + ( ) - . and an optional extension)."),
    "Not a valid datetime: it must fall between years 1 and 9999 in UTC.":
        _l("Not a valid datetime: it must fall between years 1 and 9999 in UTC."),
    "This token is read-only.": _l("This token is read-only."),
    "The formula ends too early: expected a value (a number, a text, a field or a function call)":
        _l("The formula ends too early: expected a value (a number, a text, a field or a function call)"),
    "The formula ends too early: expected an operator or ')'":
        _l("The formula ends too early: expected an operator or ')'"),
    "Text is not closed: add the closing quote": _l("Text is not closed: add the closing quote"),
    "The formula is nested too deeply": _l("The formula is nested too deeply"),
    "Convert one side, e.g. with TEXT() or VALUE()": _l("Convert one side, e.g. with TEXT() or VALUE()"),
}

_TYPES = {"a number": _l("a number"), "text": _l("text"), "a date": _l("a date"),
          "a date/time": _l("a date/time"), "a boolean (TRUE/FALSE)": _l("a boolean (TRUE/FALSE)"),
          "a boolean": _l("a boolean"), "a list": _l("a list")}


def _type(words):
    known = _TYPES.get(words)
    return str(known) if known is not None else words


PATTERNS = (
    (re.compile(r"Must be one of: (?P<choices>.*)\.$", re.S),
     lambda m: _("Must be one of: %(choices)s.", choices=m["choices"])),
    (re.compile(r"Longer than maximum length (?P<n>\d+)\.$"),
     lambda m: _("Longer than the maximum length of %(n)s characters.", n=m["n"])),
    (re.compile(r"No (?P<object>.+?) with id '(?P<id>.*)'\.$"),
     lambda m: _("No %(object)s with id '%(id)s'.", object=m["object"], id=m["id"])),
    (re.compile(r"Another (?P<object>.+?) already has this (?P<field>.+)\.$"),
     lambda m: _("Another %(object)s already has this %(field)s.", object=m["object"], field=m["field"])),
    (re.compile(r"(?P<record>.+?) was not saved: (?P<rest>.*)$", re.S),
     lambda m: _("%(record)s was not saved: %(reasons)s", record=m["record"], reasons=_reasons(m["rest"]))),
    (re.compile(r"(?P<record>.+) cannot be (?P<verb>changed|deleted) while its approval request \('(?P<process>.*)'\) "
                r"is pending: (?P<who>only its current approvers and administrators|only administrators) may change it\.$",
                re.S), lambda m: _locked(m)),
    (re.compile(r"(?P<core>.+?) \(line (?P<line>\d+), column (?P<col>\d+)\)(?:\. Did you mean '(?P<hint>[^']*)'\?)?"
                r"(?:\. (?P<more>.+))?$", re.S), lambda m: _positioned(m)),
    (re.compile(r"Unknown object '(?P<name>[^']*)'\.$"), lambda m: _("Unknown object '%(name)s'.", name=m["name"])),
    (re.compile(r"Unknown field '(?P<name>[^']*)'$"), lambda m: _("Unknown field '%(name)s'", name=m["name"])),
    (re.compile(r"Unknown function '(?P<name>[^']*)'$"), lambda m: _("Unknown function '%(name)s'", name=m["name"])),
    (re.compile(r"(?P<fn>[A-Z][A-Z0-9_]*) takes (?P<n>[\d a-z-]+?) arguments? \(got (?P<got>\d+)\)$"),
     lambda m: _("%(function)s takes %(n)s argument(s) (got %(got)s)", function=m["fn"], n=m["n"], got=m["got"])),
    (re.compile(r"Cannot compare (?P<a>.+?) with (?P<b>.+?) using '(?P<op>[^']+)'$"),
     lambda m: _("Cannot compare %(a)s with %(b)s using '%(op)s'", a=_type(m["a"]), b=_type(m["b"]), op=m["op"])),
    (re.compile(r"The formula gives (?P<got>.+?), but (?P<want>.+?) is needed$"),
     lambda m: _("The formula gives %(got)s, but %(want)s is needed", got=_type(m["got"]), want=_type(m["want"]))),
    (re.compile(r"Unexpected '(?P<tok>.*)': expected a value \(a number, a text, a field or a function call\)$"),
     lambda m: _("Unexpected '%(token)s': expected a value (a number, a text, a field or a function call)",
                 token=m["tok"])),
    (re.compile(r"Unexpected '(?P<tok>.*)': expected an operator or '\)'$"),
     lambda m: _("Unexpected '%(token)s': expected an operator or ')'", token=m["tok"])),
)


def _reasons(rest):
    """``Stage: Must be one of: New, Won. Amount: ...`` — each field's message translated."""
    parts = re.split(r"; (?=[^:;]+: )", rest)
    out = []
    for part in parts:
        label, sep, message = part.partition(": ")
        out.append(f"{label}: {translate_message(message)}" if sep else translate_message(part))
    return "; ".join(out)


def _locked(m):
    who = (_("only its current approvers and administrators may change it") if m["who"].startswith("only its")
           else _("only administrators may change it"))
    if m["verb"] == "deleted":
        return _("%(record)s cannot be deleted while its approval request ('%(process)s') is pending: %(who)s.",
                 record=m["record"], process=m["process"], who=who)
    return _("%(record)s cannot be changed while its approval request ('%(process)s') is pending: %(who)s.",
             record=m["record"], process=m["process"], who=who)


def _positioned(m):
    text = _("%(problem)s (line %(line)s, column %(column)s)", problem=translate_message(m["core"]),
             line=m["line"], column=m["col"])
    if m["hint"] is not None:
        text += " " + _("Did you mean '%(name)s'?", name=m["hint"])
    if m["more"]:
        text += " " + translate_message(m["more"])
    return text


def translate_message(message):
    """``message`` of the engine in the page's language (patterns: not on English pages, where the
    engine's words are the page's)."""
    if not isinstance(message, str):
        return message
    known = EXACT.get(message)
    if known is not None:
        return str(known)
    if i18n.current_locale() == "en":
        return message
    for pattern, words in PATTERNS:
        m = pattern.match(message)
        if m:
            return words(m)
    return message
