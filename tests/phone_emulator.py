"""A small Cisco phone emulator for the screen tests: fetches a screen, fills
inputs, follows soft keys and menu URLs the way a phone does (docs/protocol.md)."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from lxml import etree

MAX_STEPS = 50


class Screen:
    def __init__(self, url: str, status: int, body: bytes, headers: dict):
        self.url, self.status, self.body, self.headers = url, status, body, headers
        self.doc = etree.fromstring(body)

    @property
    def kind(self) -> str:
        return self.doc.tag

    @property
    def title(self) -> str:
        return self.doc.findtext("Title") or ""

    @property
    def text(self) -> str:
        return self.doc.findtext("Text") or ""

    def menu(self) -> list[tuple[str, str]]:
        return [(i.findtext("Name"), i.findtext("URL")) for i in self.doc.findall("MenuItem")]

    def softkeys(self) -> dict[str, str]:
        return {k.findtext("Name"): k.findtext("URL") for k in self.doc.findall("SoftKeyItem")}


class Phone:
    """``fetch(url, headers) -> (status, body, headers)``: HTTP GET as the phone does it."""

    def __init__(self, fetch, model: str = "CP-8851", base: str = "http://localhost"):
        self.fetch, self.model, self.base = fetch, model, base
        self.screens: list[Screen] = []

    def get(self, url: str) -> Screen:
        assert len(self.screens) < MAX_STEPS, "too many screens"
        if url.startswith("/"):
            url = self.base + url
        sent = {"x-CiscoIPPhoneDisplay": "800, 480, 24, C", "Accept-Language": "en-US"}
        if self.model:
            sent["x-CiscoIPPhoneModelName"] = self.model
        status, body, headers = self.fetch(url, sent)
        screen = Screen(url, status, body, headers)
        self.screens.append(screen)
        return screen

    def choose(self, screen: Screen, name_part: str) -> Screen:
        for name, url in screen.menu():
            if name_part in name:
                return self.get(url)
        raise AssertionError(f"no menu item with {name_part!r} in {screen.menu()}")

    def submit(self, screen: Screen, **values: str) -> Screen:
        """Fill the input items and press Submit: values go as a query string on the URL."""
        assert screen.kind == "CiscoIPPhoneInput", screen.body
        params = {item.findtext("QueryStringParam"): values.get(item.findtext("QueryStringParam"), "")
                  for item in screen.doc.findall("InputItem")}
        url = screen.doc.findtext("URL")
        separator = "&" if urlsplit(url).query else "?"
        return self.get(url + separator + urlencode(params))

    def press(self, screen: Screen, key: str) -> Screen:
        url = screen.softkeys()[key]
        assert not url.startswith("SoftKey:"), f"{key} is a built-in key"
        return self.get(url)

    def urls_seen(self) -> list[str]:
        return [s.url for s in self.screens]
