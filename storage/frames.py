"""Small helpers the event-table readers share: choice checks and naive-UTC columns to aware frames."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, Select

__all__ = ["check_choice", "utc_frame"]


def check_choice(name: str, value: str | None, choices: tuple[str, ...]) -> str | None:
    if value is not None and value.lower() not in choices:
        raise ValueError(f"{name}: {value!r} is not one of {', '.join(choices)}")
    return value.lower() if value is not None else None


def utc_frame(engine: Engine, statement: Select, time_columns: list[str]) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(statement)
        frame = pd.DataFrame(result.all(), columns=list(result.keys()))
    for column in time_columns:
        frame[column] = pd.to_datetime(frame[column], utc=True)  # stored as naive UTC
    return frame
