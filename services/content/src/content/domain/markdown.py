"""Markdown bodies: refused when they carry active content, sanitised again when rendered."""

from __future__ import annotations

import re
from typing import Final

import nh3
from markdown_it import MarkdownIt

from content.domain.errors import InvalidInput

MAX_BODY_CHARS: Final = 50_000

# Raw HTML is not part of a post; these patterns are what an injection attempt looks like.
_ACTIVE_CONTENT: Final = re.compile(
    r"<\s*(script|iframe|object|embed|style|form|svg|math)\b"
    r"|<[^>]+\son[a-z]+\s*="
    r"|\]\(\s*(javascript|vbscript|data):"
    r"|<\s*a\b[^>]*href\s*=\s*[\"']?\s*(javascript|vbscript|data):",
    re.IGNORECASE,
)

# CommonMark without raw HTML: any tag a writer types is shown as text, never run.
_renderer = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_renderer.enable("table").enable("strikethrough")

_ALLOWED_TAGS: Final = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s",
    "blockquote", "ul", "ol", "li", "code", "pre", "a", "img", "table", "thead",
    "tbody", "tr", "th", "td",
}  # fmt: skip
_ALLOWED_ATTRIBUTES: Final = {"a": {"href", "title"}, "img": {"src", "alt", "title"}}


def validate_body(body: str, *, field: str = "body") -> str:
    """Return the body unchanged if it is acceptable Markdown, else raise with a clear reason."""
    if len(body) > MAX_BODY_CHARS:
        raise InvalidInput(f"must be at most {MAX_BODY_CHARS} characters", field=field)
    if _ACTIVE_CONTENT.search(body):
        raise InvalidInput("scripts, embedded HTML and script links are not allowed", field=field)
    return body


def render_html(body: str) -> str:
    """Markdown to HTML that is safe to put in a page, whatever the stored text holds."""
    html = _renderer.render(body)
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
    )
