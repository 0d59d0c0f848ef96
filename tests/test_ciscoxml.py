"""Phone screens as Cisco IP Phone XML (M-3, M-4): every builder against the
project's XSD, every limit at its boundary, and user text that must never
become markup."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from lxml import etree

from phoneservice.web.screens import ciscoxml
from phoneservice.web.screens.ciscoxml import (
    CONTENT_TYPE,
    InputItem,
    MenuItem,
    ScreenLimitError,
    SoftKey,
    error,
    execute,
    fit,
    input_screen,
    menu,
    series_for,
    softkeys,
    text,
)

SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).parents[1] / "phoneservice" / "web" / "screens" / "schemas" / "CiscoIPPhone.xsd")))
DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'
URL = "http://192.0.2.10:8080/screens/provision?name=SEP001122334455"
KEYS = softkeys("88xx", submit=True, back="http://192.0.2.10:8080/screens/", exit=True)
NASTY = [
    "<b>bold</b>",
    "a & b",
    'say "hi"',
    "it's",
    "]]>",
    "<![CDATA[x]]>",
    "<!-- c -->",
    "&amp;",
    "&#60;",
    "café",
    "日本語",
    "</Title><Title>x",
    "x" * 32,
]


def parse(doc: bytes) -> etree._Element:
    return etree.fromstring(doc)


def valid(doc: bytes) -> etree._Element:
    root = parse(doc)
    assert SCHEMA.validate(root.getroottree()), SCHEMA.error_log
    return root


def a_menu(**kw) -> bytes:
    args = {"title": "Phone Migration", "prompt": "Choose", "items": [MenuItem("Provision a new phone", URL)],
            "softkeys": KEYS}
    args.update(kw)
    return menu(**args)


def an_input(**kw) -> bytes:
    args = {"title": "Activation code", "prompt": "Enter the code", "url": URL,
            "items": [InputItem("Code", "code", "N")], "softkeys": KEYS}
    args.update(kw)
    return input_screen(**args)


def a_text(**kw) -> bytes:
    args = {"title": "Done", "prompt": "", "body": "Your phone restarts now.", "softkeys": KEYS}
    args.update(kw)
    return text(**args)


SAMPLES = {
    "menu": lambda: a_menu(),
    "menu-empty": lambda: menu("", "", [], []),
    "input": lambda: an_input(items=[InputItem("Extension", "dn", "T"), InputItem("PIN", "pin", "NP", "")]),
    "input-default": lambda: an_input(items=[InputItem("Extension", "dn", "T", "1001")]),
    "text": lambda: a_text(),
    "text-multiline": lambda: a_text(body="line one\nline two\n\nend"),
    "execute": lambda: execute([URL, "Init:Services"]),
    "error": lambda: error(4),
}


def sample(name: str) -> bytes:
    return SAMPLES[name]()


def softkey_rows(root) -> list[tuple[str, int, str]]:
    return [(k.findtext("Name"), int(k.findtext("Position")), k.findtext("URL")) for k in root.iter("SoftKeyItem")]


# --- shape and schema ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLES)
def test_m4_every_builder_validates_against_xsd(name):
    valid(sample(name))


@pytest.mark.parametrize("name", SAMPLES)
def test_m4_declaration_is_exactly_the_first_bytes(name):
    doc = sample(name)
    assert isinstance(doc, bytes)
    assert doc.startswith(DECLARATION)
    assert doc.count(b"<?xml") == 1


def test_m4_content_type_names_the_encoding():
    assert CONTENT_TYPE == "text/xml; charset=UTF-8"


def test_m3_menu_items_and_softkeys_in_order():
    root = valid(a_menu(items=[MenuItem("Provision a new phone", URL + "&a=1"),
                               MenuItem("Replace an existing phone", URL + "&a=2")]))
    assert root.tag == "CiscoIPPhoneMenu"
    assert root.findtext("Title") == "Phone Migration"
    assert root.findtext("Prompt") == "Choose"
    assert [(i.findtext("Name"), i.findtext("URL")) for i in root.iter("MenuItem")] == [
        ("Provision a new phone", URL + "&a=1"), ("Replace an existing phone", URL + "&a=2")]
    assert softkey_rows(root) == [("Exit", 1, "SoftKey:Exit"), ("Submit", 2, "SoftKey:Submit"),
                                  ("Back", 4, "http://192.0.2.10:8080/screens/")]
    # SoftKeyItem after the menu items, as Cisco's examples have it.
    assert [c.tag for c in root][-3:] == ["SoftKeyItem"] * 3


def test_m3_input_numeric_and_password_flags():
    root = valid(an_input(items=[InputItem("Extension", "dn", "T", "1001"), InputItem("PIN", "pin", "NP")]))
    assert root.tag == "CiscoIPPhoneInput"
    assert root.findtext("URL") == URL
    fields = [(i.findtext("DisplayName"), i.findtext("QueryStringParam"), i.findtext("DefaultValue"),
               i.findtext("InputFlags")) for i in root.iter("InputItem")]
    assert fields == [("Extension", "dn", "1001", "T"), ("PIN", "pin", None, "NP")]


def test_m3_text_keeps_line_breaks():
    root = valid(a_text(body="Line one\nLine two\r\nLine three\rLine four"))
    assert root.tag == "CiscoIPPhoneText"
    assert root.findtext("Text") == "Line one\nLine two\nLine three\nLine four"


def test_m3_empty_title_and_prompt_are_left_out():
    root = valid(a_text(title="", prompt=""))
    assert root.find("Title") is None and root.find("Prompt") is None


def test_execute_items_at_priority_zero():
    root = valid(execute([URL, "Key:Services", "Init:Services"]))
    assert root.tag == "CiscoIPPhoneExecute"
    assert [(e.get("Priority"), e.get("URL")) for e in root] == [
        ("0", URL), ("0", "Key:Services"), ("0", "Init:Services")]


@pytest.mark.parametrize("number", [1, 2, 3, 4])
def test_error_numbers(number):
    root = valid(error(number))
    assert root.tag == "CiscoIPPhoneError" and root.get("Number") == str(number)


@pytest.mark.parametrize("number", [0, 5, -1, True, "1"])
def test_error_unknown_number_raises(number):
    with pytest.raises(ScreenLimitError):
        error(number)


def test_m4_screen_limit_error_is_a_value_error():
    assert issubclass(ScreenLimitError, ValueError)


def test_builders_are_pure():
    tree = ast.parse(Path(ciscoxml.__file__).read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"flask", "werkzeug", "sqlalchemy", "sqlmodel", "models"}


# --- limits at their boundaries (M-4) ------------------------------------------------------------

DISPLAYABLE = {"menu": a_menu, "input": an_input, "text": a_text}


@pytest.mark.parametrize("field", ["title", "prompt"])
@pytest.mark.parametrize("builder", DISPLAYABLE)
def test_m4_title_and_prompt_32_ok_33_raises(builder, field):
    build = DISPLAYABLE[builder]
    root = valid(build(**{field: "t" * 32}))
    assert root.findtext(field.capitalize()) == "t" * 32
    with pytest.raises(ScreenLimitError, match=field.capitalize()):
        build(**{field: "t" * 33})


def test_m4_limits_count_characters_not_bytes():
    title = "日" * 32
    root = valid(a_menu(title=title))
    assert root.findtext("Title") == title
    assert len(title.encode("utf-8")) > 32
    with pytest.raises(ScreenLimitError):
        a_menu(title="é" * 33)


def test_m4_limits_count_unescaped_text():
    # 32 ampersands are 160 characters once escaped: still fits.
    root = valid(a_menu(title="&" * 32))
    assert root.findtext("Title") == "&" * 32


def test_m4_menu_100_items_ok_101_raises():
    items = [MenuItem(f"Item {n}", f"{URL}&n={n}") for n in range(100)]
    assert len(valid(a_menu(items=items)).findall("MenuItem")) == 100
    with pytest.raises(ScreenLimitError, match="MenuItems"):
        a_menu(items=items + [MenuItem("one more", URL)])


def test_m4_menu_item_name_64_ok_65_raises():
    valid(a_menu(items=[MenuItem("n" * 64, URL)]))
    with pytest.raises(ScreenLimitError, match="Name"):
        a_menu(items=[MenuItem("n" * 65, URL)])


def pad_url(length: int) -> str:
    return URL + "x" * (length - len(URL))


@pytest.mark.parametrize("where", ["menu item", "input", "softkey", "execute"])
def test_m4_url_256_ok_257_raises(where):
    def build(url):
        if where == "menu item":
            return a_menu(items=[MenuItem("Go", url)])
        if where == "input":
            return an_input(url=url)
        if where == "softkey":
            return a_text(softkeys=[SoftKey("Go", url, 1)])
        return execute([url])

    ok = pad_url(256)
    assert len(ok) == 256
    root = valid(build(ok))
    assert ok in {e.text for e in root.iter("URL")} | {e.get("URL") for e in root.iter("ExecuteItem")}
    with pytest.raises(ScreenLimitError, match="URL"):
        build(pad_url(257))


@pytest.mark.parametrize("url", ["", "http://x/a b", "http://x/\n", "http://x/\x00", "http://x/\t"])
def test_m4_url_empty_whitespace_or_control_raises(url):
    with pytest.raises(ScreenLimitError):
        a_menu(items=[MenuItem("Go", url)])
    with pytest.raises(ScreenLimitError):
        execute([url])


def test_m4_input_5_items_ok_6_raises():
    items = [InputItem(f"Field {n}", f"f{n}") for n in range(5)]
    assert len(valid(an_input(items=items)).findall("InputItem")) == 5
    with pytest.raises(ScreenLimitError, match="InputItems"):
        an_input(items=items + [InputItem("Field 5", "f5")])


def test_m4_input_needs_an_item():
    with pytest.raises(ScreenLimitError):
        an_input(items=[])


@pytest.mark.parametrize("field", ["display_name", "param", "default"])
def test_m4_input_fields_32_ok_33_raises(field):
    base = {"display_name": "PIN", "param": "pin", "flags": "N", "default": ""}
    valid(an_input(items=[InputItem(**{**base, field: "p" * 32})]))
    with pytest.raises(ScreenLimitError):
        an_input(items=[InputItem(**{**base, field: "p" * 33})])


@pytest.mark.parametrize("param", ["", "a b", "a&b", "a=b", "é", "pin?"])
def test_m4_query_string_param_must_be_query_safe(param):
    with pytest.raises(ScreenLimitError, match="QueryStringParam"):
        an_input(items=[InputItem("PIN", param)])


def test_m4_query_string_param_unique():
    with pytest.raises(ScreenLimitError, match="twice"):
        an_input(items=[InputItem("PIN", "pin"), InputItem("Again", "pin")])


@pytest.mark.parametrize("flags", ["A", "T", "N", "E", "U", "L", "AP", "TP", "NP", "EP", "UP", "LP"])
def test_m3_input_flags_valid(flags):
    root = valid(an_input(items=[InputItem("Field", "f", flags)]))
    assert root.findtext("InputItem/InputFlags") == flags


@pytest.mark.parametrize("flags", ["", "P", "X", "n", "PN", "NPP", "NN", "A ", "N\n"])
def test_m4_input_flags_invalid_raise(flags):
    with pytest.raises(ScreenLimitError, match="InputFlags"):
        an_input(items=[InputItem("Field", "f", flags)])


def test_m4_text_4000_ok_4001_raises():
    assert len(valid(a_text(body="b" * 4000)).findtext("Text")) == 4000
    with pytest.raises(ScreenLimitError, match="Text"):
        a_text(body="b" * 4001)


def test_m4_execute_3_ok_4_raises_0_raises():
    assert len(valid(execute([URL] * 3))) == 3
    with pytest.raises(ScreenLimitError, match="ExecuteItems"):
        execute([URL] * 4)
    with pytest.raises(ScreenLimitError):
        execute([])


def eight_keys() -> list[SoftKey]:
    return [SoftKey(f"Key {p}", f"{URL}&k={p}", p) for p in range(1, 9)]


@pytest.mark.parametrize("builder", DISPLAYABLE)
def test_m4_softkeys_8_ok_9_raises(builder):
    build = DISPLAYABLE[builder]
    assert len(valid(build(softkeys=eight_keys())).findall("SoftKeyItem")) == 8
    with pytest.raises(ScreenLimitError, match="SoftKeyItems"):
        build(softkeys=eight_keys() + [SoftKey("Nine", URL, 1)])


@pytest.mark.parametrize("builder", DISPLAYABLE)
def test_m4_softkey_duplicate_positions_raise(builder):
    with pytest.raises(ScreenLimitError, match="share position 2"):
        DISPLAYABLE[builder](softkeys=[SoftKey("Select", "SoftKey:Select", 2), SoftKey("Submit", "SoftKey:Submit", 2)])


@pytest.mark.parametrize("position", [0, 9, -1, True, "1", 1.0])
def test_m4_softkey_position_outside_1_to_8_raises(position):
    with pytest.raises(ScreenLimitError, match="position"):
        a_text(softkeys=[SoftKey("Exit", "SoftKey:Exit", position)])


def test_m4_softkey_name_32_ok_33_raises():
    valid(a_text(softkeys=[SoftKey("k" * 32, "SoftKey:Exit", 1)]))
    with pytest.raises(ScreenLimitError, match="SoftKeyItem Name"):
        a_text(softkeys=[SoftKey("k" * 33, "SoftKey:Exit", 1)])


@pytest.mark.parametrize("doc", [
    "<CiscoIPPhoneText><Title>" + "t" * 33 + "</Title><Text>x</Text></CiscoIPPhoneText>",
    "<CiscoIPPhoneText><Text>x</Text>" + "".join(
        f"<SoftKeyItem><Name>k</Name><Position>{p}</Position><URL>u</URL></SoftKeyItem>" for p in range(1, 10))
    + "</CiscoIPPhoneText>",
    "<CiscoIPPhoneText><Text>x</Text>" + "<SoftKeyItem><Name>k</Name><Position>1</Position><URL>u</URL>"
    "</SoftKeyItem>" * 2 + "</CiscoIPPhoneText>",
    "<CiscoIPPhoneInput><URL>u</URL><InputItem><DisplayName>d</DisplayName><QueryStringParam>q</QueryStringParam>"
    "<InputFlags>PN</InputFlags></InputItem></CiscoIPPhoneInput>",
    "<CiscoIPPhoneExecute>" + '<ExecuteItem URL="u"/>' * 4 + "</CiscoIPPhoneExecute>",
    '<CiscoIPPhoneError Number="5"/>',
    "<CiscoIPPhoneMenu><MenuItem><Name>n</Name><URL>" + "u" * 257 + "</URL></MenuItem></CiscoIPPhoneMenu>",
])
def test_m4_schema_itself_rejects_over_limit_documents(doc):
    assert not SCHEMA.validate(etree.fromstring(doc).getroottree())


# --- user text never becomes markup (M-4) --------------------------------------------------------


def placements(value: str):
    """Every place user text can go, with how to read it back."""
    url = f"{URL}&q={value}".replace(" ", "")
    yield "title", a_menu(title=value), lambda r: r.findtext("Title")
    yield "prompt", an_input(prompt=value), lambda r: r.findtext("Prompt")
    yield "menu name", a_menu(items=[MenuItem(value, URL)]), lambda r: r.findtext("MenuItem/Name")
    yield "menu url", a_menu(items=[MenuItem("Go", url)]), lambda r: r.findtext("MenuItem/URL")
    yield "input url", an_input(url=url), lambda r: r.findtext("URL")
    yield "display name", an_input(items=[InputItem(value, "f")]), lambda r: r.findtext("InputItem/DisplayName")
    yield "default", an_input(items=[InputItem("F", "f", "A", value)]), lambda r: r.findtext("InputItem/DefaultValue")
    yield "body", a_text(body=value), lambda r: r.findtext("Text")
    yield "softkey name", a_text(softkeys=[SoftKey(value, URL, 1)]), lambda r: r.findtext("SoftKeyItem/Name")
    yield "softkey url", a_text(softkeys=[SoftKey("Go", url, 1)]), lambda r: r.findtext("SoftKeyItem/URL")
    yield "execute url", execute([url]), lambda r: r[0].get("URL")


def expected(where: str, value: str) -> str:
    return f"{URL}&q={value}".replace(" ", "") if "url" in where else value


@pytest.mark.parametrize("value", NASTY)
def test_m4_user_text_round_trips_exactly(value):
    for where, doc, read in placements(value):
        root = valid(doc)
        assert read(root) == expected(where, value), where


@pytest.mark.parametrize("value", NASTY)
def test_m4_user_text_never_adds_markup(value):
    reference = {where: [e.tag for e in parse(doc).iter()] for where, doc, _ in placements("plain")}
    for where, doc, _ in placements(value):
        root = parse(doc)
        assert [e.tag for e in root.iter()] == reference[where], where
        assert not any(isinstance(node, (etree._Comment, etree._ProcessingInstruction)) for node in root.iter())
        assert b"<![CDATA[" not in doc and b"<!--" not in doc and b"<b>" not in doc


@pytest.mark.parametrize("char, entity", [("<", b"&lt;"), (">", b"&gt;"), ("&", b"&amp;"),
                                          ('"', b"&quot;"), ("'", b"&apos;")])
def test_m4_all_five_characters_escaped_in_text_and_attributes(char, entity):
    plain = {where: doc for where, doc, _ in placements("a_b")}
    for where, doc, _ in placements(f"a{char}b"):
        assert entity in doc, where
        if char == "&":
            assert not re.search(rb"&(?!amp;|lt;|gt;|quot;|apos;)", doc), where
        else:
            # The raw character appears only where the markup itself has it.
            assert doc.count(char.encode()) == plain[where].count(char.encode()), where
    # Quotes in text nodes too (lxml would leave them raw): the phone's parser is not a full parser.
    assert b"<Text>a" + entity + b"b</Text>" in a_text(body=f"a{char}b")


def test_m4_raw_bytes_hold_escapes_for_a_mixed_title():
    doc = a_menu(title="""<A & "B" 'C'>""")
    assert b"<Title>&lt;A &amp; &quot;B&quot; &apos;C&apos;&gt;</Title>" in doc


def test_m4_execute_url_attribute_escaped():
    doc = execute([URL + "&x=\"'<>"])
    assert b'URL="' + URL.replace("&", "&amp;").encode() + b'&amp;x=&quot;&apos;&lt;&gt;"' in doc
    assert valid(doc)[0].get("URL") == URL + "&x=\"'<>"


def test_m4_cdata_end_is_plain_text():
    doc = a_text(body="]]>")
    assert b"]]&gt;" in doc and b"]]>" not in doc


@pytest.mark.parametrize("value", ["café", "日本語", "Zürich — Genève", "emoji \U0001F4DE"])
def test_m4_non_ascii_survives_as_utf8(value):
    for where, doc, read in placements(value):
        if "url" in where:
            continue
        assert value.encode("utf-8") in doc, where
        assert read(valid(doc)) == value, where


def test_m4_over_32_characters_of_user_text_raise_not_truncate():
    long = "A description a user typed in, far too long"
    with pytest.raises(ScreenLimitError):
        a_menu(title=long)
    assert valid(a_menu(title=fit(long, 32))).findtext("Title") == fit(long, 32)


# --- control characters (M-4) --------------------------------------------------------------------


def test_m4_control_characters_removed_from_single_line_text():
    root = valid(a_menu(title="A\x00B\x07C\x1bD\x7fE\x85F", prompt="one\ttwo\nthree\r\nfour"))
    assert root.findtext("Title") == "ABCDEF"
    assert root.findtext("Prompt") == "one two three four"


def test_m4_control_characters_removed_from_body_newlines_kept():
    root = valid(a_text(body="a\x00b\n\x0bc\td\r\ne"))
    assert root.findtext("Text") == "ab\nc d\ne"


def test_m4_length_counted_after_cleaning():
    valid(a_menu(title="t" * 32 + "\x00\x01"))


def test_m4_xml_illegal_characters_never_reach_the_document():
    doc = a_text(body="x\ufffey\uffffz\ud800")
    assert valid(doc).findtext("Text") == "xyz"


# --- soft-key layouts and models (M-3) -----------------------------------------------------------


def test_m3_softkeys_79xx_layout():
    keys = softkeys("79xx", select=True, update=True, exit=True)
    assert [(k.name, k.position, k.url) for k in keys] == [
        ("Select", 1, "SoftKey:Select"), ("Update", 2, "SoftKey:Update"), ("Exit", 3, "SoftKey:Exit")]


@pytest.mark.parametrize("series", ["78xx", "88xx"])
def test_m3_softkeys_78xx_88xx_layout(series):
    keys = softkeys(series, select=True, update=True, exit=True)
    assert [(k.name, k.position, k.url) for k in keys] == [
        ("Exit", 1, "SoftKey:Exit"), ("Select", 2, "SoftKey:Select"), ("Update", 3, "SoftKey:Update")]


@pytest.mark.parametrize("series,layout", [
    ("79xx", [("Submit", 1), ("<<", 2), ("Exit", 3)]),
    ("88xx", [("Exit", 1), ("Submit", 2), ("<<", 3)]),
])
def test_m3_backspace_key_where_the_phone_has_it(series, layout):
    """M-3: the input screen's backspace ("<<", ``SoftKey:<<``) takes Update's place:
    79xx Submit, <<, Cancel/Exit; 8900/9900 and later Exit, Submit, Delete (Cisco's
    IP Phone Services Application Development Notes); it survives escaping as text."""
    keys = softkeys(series, submit=True, backspace=True, exit=True)
    assert [(k.name, k.position) for k in keys] == layout
    assert {k.name: k.url for k in keys}["<<"] == "SoftKey:<<"
    doc = valid(input_screen("T", "P", URL, [InputItem("Ext", "ext", "N")], keys))
    assert [k.findtext("URL") for k in doc.findall("SoftKeyItem") if k.findtext("Name") == "<<"] == ["SoftKey:<<"]
    with pytest.raises(ScreenLimitError):
        softkeys(series, update=True, backspace=True)  # one place: a screen has one or the other


@pytest.mark.parametrize("series", ["79xx", "78xx", "88xx"])
def test_m3_softkeys_submit_back_exit_on_every_series(series):
    keys = softkeys(series, submit=True, back=True, exit=True, next=URL + "&p=2", prev=URL + "&p=0")
    by_name = {k.name: k for k in keys}
    assert set(by_name) == {"Submit", "Back", "Exit", "Next", "Prev"}
    assert by_name["Submit"].url == "SoftKey:Submit" and by_name["Back"].url == "SoftKey:Back"
    assert by_name["Next"].url == URL + "&p=2"
    assert by_name["Submit"].position == (1 if series == "79xx" else 2)
    assert by_name["Exit"].position == (3 if series == "79xx" else 1)
    assert [k.position for k in keys] == sorted(k.position for k in keys)
    valid(an_input(softkeys=keys))


def test_m3_softkeys_str_is_a_url_none_and_false_leave_out():
    keys = softkeys("88xx", back=URL, exit=None, update=False, submit=True)
    assert [(k.name, k.url) for k in keys] == [("Submit", "SoftKey:Submit"), ("Back", URL)]


def test_m3_softkeys_select_and_submit_share_a_place():
    with pytest.raises(ScreenLimitError, match="share position"):
        softkeys("88xx", select=True, submit=True)


@pytest.mark.parametrize("kwargs", [{"next": True}, {"prev": True}])
def test_m3_softkeys_without_builtin_need_a_url(kwargs):
    with pytest.raises(ValueError, match="built-in"):
        softkeys("88xx", **kwargs)


def test_m3_softkeys_unknown_key_or_series_raise():
    with pytest.raises(ValueError, match="unknown soft key"):
        softkeys("88xx", dial=True)
    with pytest.raises(ValueError, match="unknown phone series"):
        softkeys("69xx", exit=True)
    with pytest.raises(TypeError):
        softkeys("88xx", exit=3)


@pytest.mark.parametrize("header, series", [
    ("CP-8845", "88xx"), ("CP-8865NR", "88xx"), ("CP-8832", "88xx"), ("Cisco 7965", "79xx"), ("CP-7942G", "79xx"),
    ("CP-7841", "78xx"), ("CP-7832", "78xx"), ("Cisco IP Phone CP-7821", "78xx"), (None, "88xx"), ("", "88xx"),
    ("CP-9971", "88xx"), ("unknown", "88xx"), ("CP-88450", "88xx"),
])
def test_m3_series_for_model_header(header, series):
    assert series_for(header) == series


# --- fit -----------------------------------------------------------------------------------------


def test_fit_leaves_short_text_alone():
    assert fit("Front desk", 32) == "Front desk"
    assert fit("x" * 32, 32) == "x" * 32


def test_fit_shortens_with_ellipsis_within_limit():
    shortened = fit("Reception phone on the second floor by the lifts", 32)
    assert len(shortened) == 32 and shortened.endswith("…")
    assert shortened.startswith("Reception phone on the second")


def test_fit_counts_characters_and_keeps_non_ascii():
    shortened = fit("日本語" * 20, 10)
    assert shortened == "日本語日本語日本語…"


def test_fit_drops_trailing_space_before_ellipsis():
    assert fit("abc def", 5) == "abc…"


def test_fit_keeps_combining_marks_with_their_letter():
    value = "abcde\u0301fgh"  # "é" as e + combining acute, at index 4..5
    assert fit(value, 6) == "abcd…"


def test_fit_cleans_like_the_builders():
    assert fit("a\nb\x00c", 32) == "a bc"


def test_fit_limit_must_be_positive():
    with pytest.raises(ValueError):
        fit("x", 0)
    assert fit("xy", 1) == "…"


@pytest.mark.parametrize("limit", [32, 64])
def test_m4_fit_output_always_accepted_by_builders(limit):
    long = "<Zoë's \"desk\" & more> " * 10
    fitted = fit(long, limit)
    if limit == 32:
        root = valid(a_menu(title=fitted))
        assert root.findtext("Title") == fitted
    else:
        root = valid(a_menu(items=[MenuItem(fitted, URL)]))
        assert root.findtext("MenuItem/Name") == fitted
