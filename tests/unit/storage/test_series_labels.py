"""Label canonicalization: equal label sets must always map to the same series."""

from __future__ import annotations

import json
import math

import pytest

from storage.series import SeriesKey, canonical_labels, labels_hash


@pytest.mark.parametrize("empty", [None, math.nan, float("nan"), "", "   ", {}, "{}", " { } "])
def test_no_labels_is_the_empty_object(empty: object) -> None:
    assert canonical_labels(empty) == "{}"  # type: ignore[arg-type]


def test_keys_are_sorted_and_json_is_compact() -> None:
    assert (
        canonical_labels({"queue": "celery", "host_group": "web"}) == '{"host_group":"web","queue":"celery"}'
    )


def test_key_order_does_not_matter() -> None:
    assert canonical_labels({"a": "1", "b": "2"}) == canonical_labels({"b": "2", "a": "1"})


def test_keys_and_values_become_strings() -> None:
    mixed = {"db": 0, 1: True, "ratio": 0.5}
    assert canonical_labels(mixed) == '{"1":"True","db":"0","ratio":"0.5"}'  # type: ignore[arg-type]
    assert canonical_labels({"db": 0}) == canonical_labels({"db": "0"})


def test_json_string_equals_the_dict() -> None:
    assert canonical_labels('{"mount": "/", "fs": "ext4"}') == canonical_labels({"fs": "ext4", "mount": "/"})
    assert canonical_labels('{"db": 0}') == canonical_labels({"db": "0"})
    assert canonical_labels('{"mount":"/"}') == '{"mount":"/"}'


def test_canonical_form_is_idempotent() -> None:
    once = canonical_labels({"z": "1", "a": "ü"})
    assert canonical_labels(once) == once
    assert json.loads(once) == {"a": "ü", "z": "1"}


@pytest.mark.parametrize("bad", [["a", "b"], "[1, 2]", '"just a string"', 42, "42"])
def test_non_mapping_labels_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="labels must be a mapping"):
        canonical_labels(bad)  # type: ignore[arg-type]


def test_invalid_json_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        canonical_labels("{mount: /}")


def test_labels_hash_is_sha1_hex() -> None:
    assert labels_hash("{}") == "bf21a9e8fbc5a3846fb05b4fa0859e0917b2202f"
    digest = labels_hash(canonical_labels({"mount": "/"}))
    assert len(digest) == 40
    assert int(digest, 16) >= 0


def test_equal_labels_hash_alike_and_different_labels_differ() -> None:
    same = {
        labels_hash(canonical_labels(x))
        for x in ({"a": "1", "b": "2"}, '{"b": 2, "a": 1}', {"b": "2", "a": 1})
    }
    assert len(same) == 1
    different = {
        labels_hash(canonical_labels(x))
        for x in ({"a": "1"}, {"a": "2"}, {"b": "1"}, {}, {"a": "1", "b": ""})
    }
    assert len(different) == 5


def test_series_key_identity_uses_the_hash_and_ignores_unit() -> None:
    key = SeriesKey(metric="system.disk.percent", host="web1", labels='{"mount":"/"}', unit="%")
    assert key.identity == ("system.disk.percent", "web1", labels_hash('{"mount":"/"}'))
    assert key.identity == SeriesKey("system.disk.percent", "web1", '{"mount":"/"}').identity
