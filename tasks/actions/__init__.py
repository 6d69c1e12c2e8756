"""Control actions, one module per section; each checks the caller's role and is audited (``gate``)."""

from tasks.actions.gate import SYSTEM_ACTOR, Actor, PermissionDenied, audited, require
from tasks.actions.system import collect_now
from tasks.actions.users import add_user

__all__ = ["SYSTEM_ACTOR", "Actor", "PermissionDenied", "add_user", "audited", "collect_now", "require"]
