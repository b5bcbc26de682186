"""Self-contained HTML building blocks: inline CSS, PNGs as base64 data URIs, no scripts,
no external URLs. Everything passed in as text is escaped here."""

from __future__ import annotations

import base64
import html as _html
from collections.abc import Iterable, Sequence
from pathlib import Path

CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;margin:0;
  color:#1d1f23;background:#f6f7f9;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:24px 28px 48px;background:#fff;min-height:100vh}
h1{font-size:1.7em;margin:0 0 4px}
h2{font-size:1.25em;margin:34px 0 10px;padding-bottom:4px;border-bottom:2px solid #e3e6ea}
h3{font-size:1.05em;margin:20px 0 8px}
.meta{color:#5b616b;margin:0 0 14px}
.best{background:#eef6ee;border-left:4px solid #2e8b57;padding:10px 14px;margin:14px 0}
.note{color:#7a5b00;background:#fff8e1;border-left:4px solid #e0b000;padding:6px 12px}
table{border-collapse:collapse;margin:8px 0 14px;font-size:.92em}
th,td{border:1px solid #dde1e6;padding:4px 10px;text-align:right;white-space:nowrap}
th{background:#f0f2f5;text-align:center;white-space:normal;vertical-align:bottom}
.tw{overflow-x:auto}
td.t{text-align:left}
tr.hl td{background:#eef6ee;font-weight:600}
figure{margin:12px 0 18px}
figure img{max-width:100%;height:auto;border:1px solid #eceff2}
figcaption{color:#5b616b;font-size:.9em;margin-top:4px}
details{margin:8px 0}
summary{cursor:pointer;font-weight:600}
pre{background:#f4f5f7;padding:10px 12px;overflow:auto;font-size:.85em;border:1px solid #e3e6ea}
nav a{margin-right:12px}
"""


def esc(value) -> str:
    return _html.escape("" if value is None else str(value), quote=True)


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>\n'


def para(text: str, cls: str | None = None) -> str:
    c = f' class="{esc(cls)}"' if cls else ""
    return f"<p{c}>{esc(text)}</p>\n"


def table(headers: Sequence[str], rows: Iterable[Sequence], highlight: Iterable[int] = (),
          text_cols: Iterable[int] = (0,)) -> str:
    """A plain table; `highlight` row indices get the highlight style, `text_cols` are left-aligned."""
    hl, tc = set(highlight), set(text_cols)
    out = ['<div class="tw"><table>\n<thead><tr>', *(f"<th>{esc(h)}</th>" for h in headers), "</tr></thead>\n<tbody>\n"]
    for i, row in enumerate(rows):
        out.append('<tr class="hl">' if i in hl else "<tr>")
        for j, cell in enumerate(row):
            out.append(f'<td class="t">{esc(cell)}</td>' if j in tc else f"<td>{esc(cell)}</td>")
        out.append("</tr>\n")
    out.append("</tbody>\n</table></div>\n")
    return "".join(out)


def figure(png: Path | bytes, alt: str, caption: str | None = None) -> str:
    data = png if isinstance(png, bytes) else Path(png).read_bytes()
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{uri}" alt="{esc(alt)}">{cap}</figure>\n'


def details(summary: str, text: str) -> str:
    return f"<details><summary>{esc(summary)}</summary><pre>{esc(text)}</pre></details>\n"


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{esc(anchor)}">\n<h2>{esc(title)}</h2>\n{body}</section>\n'


def document(title: str, header: str, sections: Sequence[tuple[str, str, str]]) -> str:
    """`sections`: (anchor, title, body html). A table of contents links them."""
    nav = "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t, _ in sections)
    body = "".join(section(a, t, b) for a, t, b in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{esc(title)}</h1>\n{header}<nav>{nav}</nav>\n{body}</main>\n</body>\n</html>\n"
    )
