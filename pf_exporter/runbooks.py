"""The alerts' runbooks (``runbooks.md`` in the package), served at ``/runbooks`` as a small HTML page.

Every alert of ``dashboards/prometheus_alerts.yml`` has a ``## <AlertName>`` section; its
``runbook_url`` annotation links to ``/runbooks#<alertname in lower case>`` on the exporter that
fired it.  ``docs/runbooks.md`` is the same text (``python -m pf_exporter.docs`` writes it).
"""

from __future__ import annotations

import html
import re
from functools import cache


@cache
def markdown() -> str:
    """The runbooks as markdown."""
    from importlib import resources  # on the first runbook page asked for, not at start-up

    return resources.files("pf_exporter").joinpath("runbooks.md").read_text(encoding="utf-8")


def anchor(alert: str) -> str:
    """The fragment of an alert's section: its name in lower case (as GitHub names heading anchors)."""
    return alert.lower()


def sections() -> dict[str, str]:
    """Alert name -> the text of its section (paragraphs joined into single lines)."""
    out: dict[str, str] = {}
    for block in re.split(r"^## ", markdown(), flags=re.M)[1:]:
        name, _, body = block.partition("\n")
        out[name.strip()] = " ".join(body.split())
    return out


def _inline(text: str) -> str:
    text = html.escape(" ".join(text.split()), quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"(?<![\w*])\*([^*]+)\*(?![\w*])", r"<em>\1</em>", text)


@cache
def html_page() -> bytes:
    """The runbooks as one HTML page, a section per alert with its anchor as id."""
    parts = []
    for block in markdown().strip().split("\n\n"):
        if block.startswith("## "):
            name = block[3:].strip()
            parts.append(f'<h2 id="{anchor(name)}"><a href="#{anchor(name)}">{html.escape(name)}</a></h2>')
        elif block.startswith("# "):
            parts.append(f"<h1>{html.escape(block[2:].strip())}</h1>")
        else:
            parts.append(f"<p>{_inline(block)}</p>")
    body = "\n".join(parts)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>pf_exporter runbooks</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:60em;line-height:1.45}}
h2{{margin-top:1.6em}}h2 a{{color:inherit;text-decoration:none}}:target{{background:#fff3cd}}</style></head>
<body>
{body}
<p><a href="/">pf_exporter</a></p>
</body></html>
""".encode()
