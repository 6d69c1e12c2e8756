"""Compatibility alias: the tailer lives in ``collectors.logs.tail``."""

from __future__ import annotations

import sys

from collectors.logs import tail as _tail

sys.modules[__name__] = _tail
