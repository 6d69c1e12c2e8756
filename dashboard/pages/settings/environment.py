"""Environment (``VITALS_*``, secrets masked) and what each storage tier holds."""

from __future__ import annotations

from dash.development.base_component import Component
from sqlalchemy.engine import make_url

from dashboard.pages.settings import ids
from dashboard.pages.settings.common import card, table
from dashboard.services import live_settings, services
from storage.masking import mask_url
from storage.retention import tier_summary

_SECRET_FIELDS = {"secret_key", "secret_key_previous"}
_TIER_NAMES = {
    "raw": "raw samples",
    "1m": "1-minute rollups",
    "5m": "5-minute rollups",
    "1h": "1-hour rollups",
}


def _mask_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return mask_url(url) if "://" in url else "(unparseable URL)"


def configuration_rows() -> list[dict[str, str]]:
    """Every setting of the process environment, secrets masked, with whether the variable is set."""
    settings = services().settings
    pinned = settings.model_fields_set
    rows = []
    for name, value in settings.model_dump().items():
        if name in _SECRET_FIELDS:
            shown = (
                "(set)"
                if value
                else "(generated, kept in the data directory)"
                if name == "secret_key"
                else "(none)"
            )
        elif name.endswith("_url") and value:
            shown = _mask_url(value)
        elif isinstance(value, list):  # URLs (masked), paths and check targets
            shown = ", ".join(_mask_url(item) if "://" in item else item for item in value) or "(none)"
        else:
            shown = "(not set)" if value is None else str(value)
        rows.append(
            {
                "setting": f"VITALS_{name.upper()}",
                "value": shown,
                "from": "environment" if name in pinned else "default",
            }
        )
    return rows


def tier_rows() -> list[dict[str, str]]:
    from dashboard.pages.settings.common import stamp

    summary = tier_summary(services().store.engine, live_settings())
    return [
        {
            "tier": _TIER_NAMES[row.tier],
            "rows": f"{row.rows:,}" if row.rows_exact else f"~{row.rows:,}",
            "oldest": stamp(row.oldest),
            "newest": stamp(row.newest),
            "kept for": f"{row.keep_days} days",
            "complete until": stamp(row.complete_until) if row.tier != "raw" else "—",
        }
        for row in summary.itertuples()
    ]


def environment_card() -> Component:
    return card(
        "Environment",
        table(ids.ENV_TABLE, configuration_rows(), ["setting", "value", "from"], page_size=100),
        subtitle="VITALS_* variables win over the values below; set ones are marked “environment”",
    )


def tiers_card() -> Component:
    return card(
        "Storage tiers",
        table(
            ids.TIERS_TABLE, tier_rows(), ["tier", "rows", "oldest", "newest", "kept for", "complete until"]
        ),
    )
