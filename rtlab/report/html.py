"""HTML and Markdown text from data: the one place strings from runtimes, daemons, files
and users are escaped (views.py and every report section use these; a leaf of the
report layer, so the sections need not import views.py)."""

from __future__ import annotations

import html
import re


def _code(escaped: str) -> str:
    """`x` spans of already escaped text as <code>x</code>."""
    return re.sub(r"`([^`<>]*)`", r"<code>\1</code>", escaped)


def esc(value) -> str:
    """Any value as HTML text: ``<nil>`` shows as ``<nil>``, ``<img …>`` never becomes an image."""
    return html.escape(str(value), quote=True)


def _escape(text: str) -> str:
    """A string from data inside Markdown: every character Markdown or HTML would read
    (emphasis, code, links, tags, entities) is backslash-escaped or an entity."""
    # backslashes first, then the entities: escaping an entity's "#" afterwards (&\#x27;)
    # broke it, and the page showed "median&#x27;s"; quotes need no entity in text
    text = re.sub(r"([\\`*_{}\[\]()#+\-.!|~])", r"\\\1", str(text))
    return html.escape(text, quote=False)


def _cell(value) -> str:
    if isinstance(value, float):
        return "—" if value != value else f"{value:g}"
    return value


def table(frame, cls: str = "", cell=lambda v: v) -> str:
    """A data frame as an HTML table, every header and cell escaped; ``cell`` formats a
    value first (e.g. :func:`_cell`), ``cls`` is the table's class ("" for none)."""
    head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(cell(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    attr = f' class="{esc(cls)}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def image_bundle(
    png: bytes, alt: str, *, max_width: str = "100%", caption_html: str = "", fold: str = ""
) -> dict:
    """A PNG as a display bundle: HTML with alternative text first (what the HTML report
    shows; folded under ``fold`` when given), the PNG itself for frontends that prefer it,
    the title as text. ``caption_html`` must already be escaped."""
    import base64

    data = base64.b64encode(png).decode("ascii")
    img = (
        f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}" style="max-width:{max_width}"/>'
    )
    body = caption_html + img
    if fold:
        body = f"<details><summary>{esc(fold)}</summary>{body}</details>"
    return {"text/html": body, "image/png": data, "text/plain": f"[figure: {alt}]"}
