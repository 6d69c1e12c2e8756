"""Postmortems in Markdown: the template a new one starts from, the inert copy a page renders, the export.

Markdown is stored exactly as written. What a browser renders is made inert in two ways: raw HTML is
never interpreted (the page renders with HTML off, so ``<script>`` shows as text), and every link or
image whose destination is not http(s), mailto, a relative path or an anchor is rewritten to ``#``
here, so a ``javascript:`` (or ``data:``/``vbscript:``) link does nothing when clicked, however its
scheme is spelled (entities, percent escapes, upper case, spaces or control characters inside).
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import unquote

__all__ = ["POSTMORTEM_TEMPLATE", "inert_markdown", "postmortem_document", "unsafe_parts"]

POSTMORTEM_TEMPLATE = """## Root cause

## Impact

## What went well

## What went wrong

## Follow-ups

- [ ] (a follow-up, with its owner)
"""

# Inline links and images: [text](destination "title") and ![alt](destination).
# A destination is <...> or a run without spaces whose parentheses balance (one level, as in alert(1)).
_INLINE = re.compile(r"(!?\[[^\]]*\]\(\s*)(<[^>]*>|(?:[^\s()]|\([^\s()]*\))+)")
# Reference definitions: [label]: destination
_REFERENCE = re.compile(r"^( {0,3}\[[^\]]+\]:\s*)(<[^>]*>|\S+)", re.MULTILINE)
# Autolinks: <scheme:...>
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.\-]{1,31}:[^<>\s]*)>")
_SAFE_SCHEMES = ("http", "https", "mailto")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_RAW_HTML = re.compile(r"<\s*/?\s*[A-Za-z][^>]*>")


def _is_safe(destination: str) -> bool:
    raw = destination.strip("<>")
    # Decode the way a Markdown renderer and then a browser would, and drop what a browser ignores.
    decoded = unquote(html.unescape(raw))
    squeezed = re.sub(r"[\x00-\x20\x7f]+", "", decoded)
    match = _SCHEME.match(squeezed)
    return match is None or match.group(1).lower() in _SAFE_SCHEMES


def inert_markdown(text: str) -> str:
    """``text`` with every unsafe link destination replaced by ``#`` (HTML is left for the renderer
    to show as text: render with HTML off)."""

    def inline(match: re.Match[str]) -> str:
        return match.group(0) if _is_safe(match.group(2)) else f"{match.group(1)}#"

    def autolink(match: re.Match[str]) -> str:
        return match.group(0) if _is_safe(match.group(1)) else f"`{match.group(1)}` (link disabled)"

    text = _INLINE.sub(inline, text)
    text = _REFERENCE.sub(inline, text)
    return _AUTOLINK.sub(autolink, text)


def unsafe_parts(text: str) -> list[str]:
    """What in ``text`` will be shown inert: a sentence per kind, for the editor to tell the author."""
    found = []
    if _RAW_HTML.search(text):
        found.append("raw HTML is shown as text, not rendered")
    if inert_markdown(text) != text:
        found.append("links other than http(s), mailto or relative ones are disabled")
    return found


def postmortem_document(incident: dict[str, Any]) -> str:
    """The postmortem as a standalone Markdown file: a header with the incident's facts, then the text."""

    def when(key: str) -> str:
        value = incident.get(key)
        return value.isoformat(timespec="seconds").replace("+00:00", "Z") if value is not None else "-"

    targets = ", ".join(incident.get("targets") or []) or "-"
    facts = [
        f"# Postmortem: {incident['title']}",
        "",
        f"- Incident: #{incident['id']}",
        f"- Severity: {incident['severity']}",
        f"- Status: {incident['status']}",
        f"- Owner: {incident.get('owner') or '-'}",
        f"- Affected targets: {targets}",
        f"- Impact started: {when('impact_started_at')}",
        f"- Detected: {when('detected_at')}",
        f"- Acknowledged: {when('acknowledged_at')}",
        f"- Mitigated: {when('mitigated_at')}",
        f"- Resolved: {when('resolved_at')}",
        "",
    ]
    return "\n".join(facts) + "\n" + (incident.get("postmortem") or "").rstrip() + "\n"
