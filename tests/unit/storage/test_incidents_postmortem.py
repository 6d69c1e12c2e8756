"""Postmortem Markdown made inert: unsafe link destinations become ``#`` however they are spelled;
safe ones and the text itself are left exactly as written."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from storage.postmortem import POSTMORTEM_TEMPLATE, inert_markdown, postmortem_document, unsafe_parts


@pytest.mark.parametrize(
    "destination",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "&#106;avascript:alert(1)",
        "java%73cript:alert(1)",
        "&#x6A;avascript&#58;alert(1)",
        "<javascript:alert(1)>",
        "vbscript:msgbox(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
    ],
)
def test_unsafe_inline_links_and_images_point_nowhere(destination: str) -> None:
    assert inert_markdown(f"see [this]({destination}) now") == "see [this](#) now"
    assert inert_markdown(f"![img]({destination})") == "![img](#)"


def test_a_destination_with_a_space_inside_is_no_link_at_all_and_stays_text() -> None:
    text = "[this](java\tscript:alert(1))"
    assert inert_markdown(text) == text  # Markdown allows no whitespace in a bare destination


def test_reference_definitions_and_autolinks_are_disabled_too() -> None:
    text = "[ref]\n\n[ref]: javascript:alert(1)\n\n<javascript:alert(2)> and <https://example.org>"
    inert = inert_markdown(text)
    assert "[ref]: #" in inert
    assert "javascript:alert(2)> " not in inert and "`javascript:alert(2)` (link disabled)" in inert
    assert "<https://example.org>" in inert


@pytest.mark.parametrize(
    "destination",
    [
        "https://example.org/a?b=c",
        "http://x",
        "mailto:ops@example.org",
        "/incidents?id=3",
        "#impact",
        "runbook.md",
    ],
)
def test_safe_links_are_left_alone(destination: str) -> None:
    text = f"[ok]({destination})"
    assert inert_markdown(text) == text


def test_unsafe_parts_say_what_will_be_inert() -> None:
    assert unsafe_parts(POSTMORTEM_TEMPLATE) == []
    assert unsafe_parts("<script>x</script>") == ["raw HTML is shown as text, not rendered"]
    assert unsafe_parts("[a](javascript:x)") == [
        "links other than http(s), mailto or relative ones are disabled"
    ]


def test_the_template_has_every_section_and_a_checklist() -> None:
    for heading in ("## Root cause", "## Impact", "## What went well", "## Follow-ups"):
        assert heading in POSTMORTEM_TEMPLATE
    assert "- [ ] " in POSTMORTEM_TEMPLATE


def test_the_exported_document_starts_with_the_facts_and_keeps_the_text() -> None:
    incident = {
        "id": 7, "title": "Checkout slow", "severity": "high", "status": "resolved", "owner": None,
        "targets": ["db1"], "impact_started_at": datetime(2026, 12, 1, 21, 0, tzinfo=UTC),
        "detected_at": datetime(2026, 12, 1, 21, 5, tzinfo=UTC), "acknowledged_at": None,
        "mitigated_at": None, "resolved_at": datetime(2026, 12, 1, 22, 0, tzinfo=UTC),
        "postmortem": "## Root cause\n\n<b>literal</b>",
    }  # fmt: skip
    document = postmortem_document(incident)
    assert document.startswith("# Postmortem: Checkout slow\n")
    assert "- Impact started: 2026-12-01T21:00:00Z" in document
    assert "- Acknowledged: -" in document
    assert "- Affected targets: db1" in document
    assert document.endswith("## Root cause\n\n<b>literal</b>\n")
