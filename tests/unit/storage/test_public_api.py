"""The notebook API is what `storage.__all__` says it is, and every part of it is documented."""

from __future__ import annotations

import inspect
import subprocess
import sys
import types

import storage
from tests.support import PROJECT_ROOT

NOTEBOOK_DOC = (PROJECT_ROOT / "docs" / "notebook.md").read_text()


def test_all_lists_exactly_the_public_names():
    public = {
        name
        for name, value in vars(storage).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(storage.__all__) == public
    assert list(storage.__all__) == sorted(storage.__all__)


def test_every_public_store_method_has_a_docstring_and_is_in_the_notebook_guide():
    methods = [
        name for name, _ in inspect.getmembers(storage.Store, inspect.isfunction) if not name.startswith("_")
    ]
    assert {"metrics", "list_series", "write", "export", "refresh_rollups"} <= set(methods)
    undocumented = [name for name in methods if not inspect.getdoc(getattr(storage.Store, name))]
    assert undocumented == []
    missing = [
        name for name in methods if name not in {"close", "migrate"} and f".{name}(" not in NOTEBOOK_DOC
    ]
    assert missing == []


def test_refresh_rollups_takes_its_options_by_keyword_only():
    parameters = list(inspect.signature(storage.Store.refresh_rollups).parameters.values())[1:]
    assert parameters and all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters)


SECTIONS = ("database", "cache", "logs", "alerts", "incidents", "config", "queue")


def test_every_section_facade_is_documented_and_in_the_notebook_guide(tmp_path):
    store = storage.connect(f"sqlite:///{tmp_path / 'v.db'}")
    for section in SECTIONS:
        facade = type(getattr(store, section))
        assert inspect.getdoc(facade), section
        methods = [
            name for name, _ in inspect.getmembers(facade, inspect.isfunction) if not name.startswith("_")
        ]
        for name in methods:
            assert inspect.getdoc(getattr(facade, name)), f"store.{section}.{name} has no docstring"
            assert f".{section}.{name}(" in NOTEBOOK_DOC, f"store.{section}.{name} is not in docs/notebook.md"
            parameters = list(inspect.signature(getattr(facade, name)).parameters.values())[1:]
            positional = [p.name for p in parameters if p.kind is not inspect.Parameter.KEYWORD_ONLY]
            assert positional == [], f"store.{section}.{name} takes {positional} by position"
        if callable(getattr(store, section)):
            assert f".{section}(" in NOTEBOOK_DOC


def test_importing_storage_pulls_in_no_web_queue_or_host_libraries():
    code = (
        "import sys, storage\n"
        "heavy = [m for m in ('dash', 'flask', 'celery', 'redis', 'psutil') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""
