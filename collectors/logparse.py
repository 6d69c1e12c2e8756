"""Compatibility alias: the parsers live in ``collectors.logs.parse``."""

from __future__ import annotations

import sys

from collectors.logs import parse as _parse

sys.modules[__name__] = _parse
