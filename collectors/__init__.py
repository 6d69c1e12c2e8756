"""Collectors: one module per monitored system. Each reads its target and returns plain records."""

from collectors.base import Reading

__all__ = ["Reading"]
