"""Cisco IP Phone Services XML objects as bytes (M-3, M-4).

Pure builders: no Flask, no I/O. Limits come from docs/protocol.md ("Cisco IP
Phone Services XML (the screens)"); ``schemas/CiscoIPPhone.xsd`` states the
same limits and validates every builder's output in the tests.

M-4: a limit the phone would enforce by cutting or refusing a screen is a bug
here, so builders raise ``ScreenLimitError`` and never truncate. Callers that
want a deliberately shortened string (a user-provided description) use
``fit``. Documents are serialized by hand rather than with lxml because the
phone's parser is not a full XML parser: every text node and attribute value
has all five of ``& < > " '`` escaped, which lxml's serializer does not do for
quotes in text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

CONTENT_TYPE = "text/xml; charset=UTF-8"
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'

TITLE_MAX = 32
PROMPT_MAX = 32
MENU_ITEMS_MAX = 100
MENU_NAME_MAX = 64
URL_MAX = 256
INPUT_ITEMS_MAX = 5
INPUT_FIELD_MAX = 32
TEXT_MAX = 4000
EXECUTE_ITEMS_MAX = 3
SOFTKEYS_MAX = 8
SOFTKEY_NAME_MAX = 32
SOFTKEY_POSITIONS = range(1, 9)
ERROR_NUMBERS = {1: "parse", 2: "framing", 3: "internal file", 4: "authentication"}

INPUT_FLAGS = re.compile(r"[ATNEUL]P?")
# A parameter name that would need URL-encoding is a caller's bug, not data.
QUERY_PARAM = re.compile(r"[A-Za-z0-9_.\-]+")

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"})
# C0 and C1 controls, DEL, lone surrogates and the XML non-characters U+FFFE/U+FFFF.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_LINE_BREAKS = re.compile(r"\r\n?")
_SINGLE_LINE_SPACE = re.compile(r"[\t\n\r]+")
_URL_FORBIDDEN = re.compile("[\\s\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


class ScreenLimitError(ValueError):
    """A screen would break a phone limit (M-4): a bug for a test to catch."""


@dataclass(frozen=True)
class SoftKey:
    name: str
    url: str
    position: int


@dataclass(frozen=True)
class MenuItem:
    name: str
    url: str


@dataclass(frozen=True)
class InputItem:
    display_name: str
    param: str
    flags: str = "A"
    default: str = ""


# --- text cleaning and checks -------------------------------------------------------------------


def _clean(value: str, *, multiline: bool = False) -> str:
    """Control characters removed; tabs and line breaks become spaces, except
    that a Text body keeps its line breaks (as ``\\n``, what XML parsers yield)."""
    if not isinstance(value, str):
        raise TypeError(f"expected str, got {type(value).__name__}")
    if multiline:
        value = _LINE_BREAKS.sub("\n", value).replace("\t", " ")
    else:
        value = _SINGLE_LINE_SPACE.sub(" ", value)
    return _CONTROL.sub("", value)


def _display(field: str, value: str, limit: int, *, multiline: bool = False) -> str:
    cleaned = _clean(value, multiline=multiline)
    if len(cleaned) > limit:
        raise ScreenLimitError(f"{field} is {len(cleaned)} characters, the phone shows at most {limit}: "
                               f"{cleaned[:40]!r}")
    return cleaned


def _url(field: str, value: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{field} must be str, got {type(value).__name__}")
    if not value:
        raise ScreenLimitError(f"{field} is empty")
    if len(value) > URL_MAX:
        raise ScreenLimitError(f"{field} is {len(value)} characters, the phone takes at most {URL_MAX}: "
                               f"{value[:60]!r}")
    if _URL_FORBIDDEN.search(value):
        raise ScreenLimitError(f"{field} contains whitespace or a control character: {value[:60]!r}")
    return value


def _count(what: str, items, limit: int, minimum: int = 0) -> list:
    items = list(items)
    if len(items) > limit:
        raise ScreenLimitError(f"{len(items)} {what}, the phone takes at most {limit}")
    if len(items) < minimum:
        raise ScreenLimitError(f"{len(items)} {what}, at least {minimum} needed")
    return items


# --- serialization -------------------------------------------------------------------------------


def _escape(value: str) -> str:
    return value.translate(_ESCAPES)


def _element(tag: str, value: str) -> str:
    return f"<{tag}>{_escape(value)}</{tag}>"


def _document(root: str, body: str) -> bytes:
    return f"{DECLARATION}\n<{root}>{body}</{root}>".encode("utf-8")


def _head(title: str, prompt: str) -> str:
    title = _display("Title", title, TITLE_MAX)
    prompt = _display("Prompt", prompt, PROMPT_MAX)
    return (_element("Title", title) if title else "") + (_element("Prompt", prompt) if prompt else "")


def _softkey_items(keys) -> str:
    keys = _count("SoftKeyItems", keys, SOFTKEYS_MAX)
    seen: dict[int, str] = {}
    parts = []
    for key in keys:
        position = key.position
        if isinstance(position, bool) or not isinstance(position, int) or position not in SOFTKEY_POSITIONS:
            raise ScreenLimitError(f"soft key {key.name!r} has position {position!r}, positions are 1..8")
        if position in seen:
            raise ScreenLimitError(f"soft keys {seen[position]!r} and {key.name!r} share position {position}")
        seen[position] = key.name
        name = _display("SoftKeyItem Name", key.name, SOFTKEY_NAME_MAX)
        url = _url(f"SoftKeyItem {name!r} URL", key.url)
        parts.append("<SoftKeyItem>" + _element("Name", name) + _element("Position", str(position))
                     + _element("URL", url) + "</SoftKeyItem>")
    return "".join(parts)


# --- builders ------------------------------------------------------------------------------------


def menu(title: str, prompt: str, items: list[MenuItem], softkeys: list[SoftKey] = ()) -> bytes:
    """M-3: a ``CiscoIPPhoneMenu`` of at most 100 items."""
    parts = [_head(title, prompt)]
    for item in _count("MenuItems", items, MENU_ITEMS_MAX):
        name = _display("MenuItem Name", item.name, MENU_NAME_MAX)
        parts.append("<MenuItem>" + _element("Name", name)
                     + _element("URL", _url(f"MenuItem {name!r} URL", item.url)) + "</MenuItem>")
    parts.append(_softkey_items(softkeys))
    return _document("CiscoIPPhoneMenu", "".join(parts))


def input_screen(title: str, prompt: str, url: str, items: list[InputItem],
                 softkeys: list[SoftKey] = ()) -> bytes:
    """M-3: a ``CiscoIPPhoneInput`` of at most 5 fields; the phone appends
    ``param=value`` for each to ``url``."""
    parts = [_head(title, prompt), _element("URL", _url("Input URL", url))]
    params: set[str] = set()
    for item in _count("InputItems", items, INPUT_ITEMS_MAX, minimum=1):
        display_name = _display("InputItem DisplayName", item.display_name, INPUT_FIELD_MAX)
        param = item.param
        if not isinstance(param, str) or not QUERY_PARAM.fullmatch(param) or len(param) > INPUT_FIELD_MAX:
            raise ScreenLimitError(f"QueryStringParam {param!r} must be 1..{INPUT_FIELD_MAX} of A-Z a-z 0-9 _ . -")
        if param in params:
            raise ScreenLimitError(f"QueryStringParam {param!r} appears twice")
        params.add(param)
        flags = item.flags
        if not isinstance(flags, str) or not INPUT_FLAGS.fullmatch(flags):
            raise ScreenLimitError(f"InputFlags {flags!r} for {param!r}: one of A T N E U L, optionally then P")
        default = _display("InputItem DefaultValue", item.default, INPUT_FIELD_MAX)
        parts.append("<InputItem>" + _element("DisplayName", display_name) + _element("QueryStringParam", param)
                     + (_element("DefaultValue", default) if default else "")
                     + _element("InputFlags", flags) + "</InputItem>")
    parts.append(_softkey_items(softkeys))
    return _document("CiscoIPPhoneInput", "".join(parts))


def text(title: str, prompt: str, body: str, softkeys: list[SoftKey] = ()) -> bytes:
    """M-3: a ``CiscoIPPhoneText``; the body keeps its line breaks."""
    head = _head(title, prompt)
    body = _display("Text", body, TEXT_MAX, multiline=True)
    return _document("CiscoIPPhoneText", head + _element("Text", body) + _softkey_items(softkeys))


def execute(urls: list[str]) -> bytes:
    """A ``CiscoIPPhoneExecute`` of 1..3 URLs, each at priority 0 (now)."""
    urls = _count("ExecuteItems", urls, EXECUTE_ITEMS_MAX, minimum=1)
    items = "".join(f'<ExecuteItem Priority="0" URL="{_escape(_url("ExecuteItem URL", url))}"/>' for url in urls)
    return _document("CiscoIPPhoneExecute", items)


def error(number: int) -> bytes:
    """A ``CiscoIPPhoneError``: 1 parse, 2 framing, 3 internal file, 4 authentication."""
    if isinstance(number, bool) or number not in ERROR_NUMBERS:
        raise ScreenLimitError(f"CiscoIPPhoneError Number {number!r}: one of {sorted(ERROR_NUMBERS)}")
    return f'{DECLARATION}\n<CiscoIPPhoneError Number="{number}"/>'.encode("utf-8")


# --- soft-key layouts and models -----------------------------------------------------------------

# docs/protocol.md: 79xx Select=1 Update=2 Exit=3; 78xx/88xx Exit=1 Select=2 Update=3.
# Submit takes Select's place (a screen has one or the other); Back, Prev and
# Next follow the standard three so those keep their places on every screen.
# "<<" (backspace) is an input screen's, which has no Update: it takes Update's
# place, where the phones' own input screens have it (79xx: Submit, <<, Cancel;
# 8900/9900 and later: Exit, Submit, Delete; Cisco's Application Development Notes).
SOFTKEY_LAYOUTS: dict[str, dict[str, int]] = {
    "79xx": {"Select": 1, "Submit": 1, "Update": 2, "<<": 2, "Exit": 3, "Back": 4, "Prev": 5, "Next": 6},
    "88xx": {"Exit": 1, "Select": 2, "Submit": 2, "Update": 3, "<<": 3, "Back": 4, "Prev": 5, "Next": 6},
}
SOFTKEY_LAYOUTS["78xx"] = SOFTKEY_LAYOUTS["88xx"]
BUILTIN_SOFTKEYS = {"Submit": "SoftKey:Submit", "Back": "SoftKey:Back", "Exit": "SoftKey:Exit",
                    "Select": "SoftKey:Select", "Update": "SoftKey:Update", "<<": "SoftKey:<<"}
KEY_NAMES = {"backspace": "<<"}  # keyword -> soft-key name, where the name is no Python word
DEFAULT_SERIES = "88xx"
_MODEL_NUMBER = re.compile(r"(?<!\d)(\d{4})(?!\d)")


def softkeys(series: str, **urls: str | bool | None) -> list[SoftKey]:
    """M-3: the series' standard soft keys, by position.

    ``softkeys("88xx", submit=True, backspace=True, back=url, exit=True)``:
    ``True`` is the phone's built-in action (``SoftKey:Submit``...), a str is a
    URL, ``None`` or ``False`` leaves the key out. ``backspace`` is the "<<"
    key (``SoftKey:<<``): an input screen that names its soft keys loses the
    phone's default ones, backspace included, unless it names it too.
    """
    try:
        layout = SOFTKEY_LAYOUTS[series]
    except KeyError:
        raise ValueError(f"unknown phone series {series!r}, expected one of {sorted(SOFTKEY_LAYOUTS)}") from None
    keys: dict[int, SoftKey] = {}
    for key, value in urls.items():
        name = KEY_NAMES.get(key, key.capitalize())
        if name not in layout:
            known = sorted({k.lower() for k in layout if k.isalpha()} | set(KEY_NAMES))
            raise ValueError(f"unknown soft key {key!r}, expected one of {known}")
        if value is None or value is False:
            continue
        if value is True:
            if name not in BUILTIN_SOFTKEYS:
                raise ValueError(f"soft key {key!r} has no built-in action: give it a URL")
            value = BUILTIN_SOFTKEYS[name]
        elif not isinstance(value, str):
            raise TypeError(f"soft key {key!r}: expected a URL or True, got {type(value).__name__}")
        position = layout[name]
        if position in keys:
            raise ScreenLimitError(f"soft keys {keys[position].name!r} and {name!r} share position {position} "
                                   f"on {series}")
        keys[position] = SoftKey(name=name, url=value, position=position)
    return [keys[position] for position in sorted(keys)]


def series_for(model_header: str | None) -> str:
    """The soft-key series for an ``x-CiscoIPPhoneModelName`` header ("CP-8845",
    "Cisco 7965"); 88xx when absent or unrecognised."""
    match = _MODEL_NUMBER.search(model_header or "")
    if match:
        prefix = match.group(1)[:2]
        if prefix == "79":
            return "79xx"
        if prefix == "78":
            return "78xx"
    return DEFAULT_SERIES


def fit(value: str, limit: int) -> str:
    """A display string of at most ``limit`` characters, shortened with "…".

    For user-provided text going into a single-line field (builders never
    truncate): control characters are removed and line breaks become spaces
    first, as the builders would.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    value = _clean(value)
    if len(value) <= limit:
        return value
    cut = limit - 1
    # Don't leave a base character without its combining marks.
    while cut > 0 and unicodedata.combining(value[cut]):
        cut -= 1
    return value[:cut].rstrip() + "…"
