"""Log collection: parsers (``parse``), the checkpointed tailer (``tail``), secret masking (``mask``)
and archive files (``archive``). I/O with log files only; nothing here writes the store."""

from __future__ import annotations

from collectors.logs.mask import mask_context, mask_text
from collectors.logs.parse import LEVELS, LogRecord, normalize_level, parse_line, parse_lines, parse_timestamp
from collectors.logs.tail import DEFAULT_MAX_BYTES, Checkpoint, LogBatch, LogTailer, expand_patterns

__all__ = [
    "DEFAULT_MAX_BYTES",
    "LEVELS",
    "Checkpoint",
    "LogBatch",
    "LogRecord",
    "LogTailer",
    "expand_patterns",
    "mask_context",
    "mask_text",
    "normalize_level",
    "parse_line",
    "parse_lines",
    "parse_timestamp",
]
