"""``Page``: an HTML page parsed into what the report and browser tests look at."""

from __future__ import annotations

from html.parser import HTMLParser


class Page(HTMLParser):
    """The parts of a page the tests look at: script elements, their text, every element's
    attributes and the visible text."""

    def __init__(self, html: str):
        super().__init__()
        self.scripts: list[tuple[dict, str]] = []
        self.elements: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self._in_script: dict | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = dict(attrs)
            self.scripts.append((self._in_script, ""))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None

    def handle_data(self, data):
        if self._in_script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)
        else:
            self.text.append(data)

    def with_class(self, cls: str) -> list[dict]:
        return [a for _, a in self.elements if cls in (a.get("class") or "").split()]

    @property
    def visible(self) -> str:
        return " ".join(" ".join(self.text).split())
