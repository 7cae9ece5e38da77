"""shared.canonical writes the very bytes of rfc8785 whichever way it takes: orjson for plain
values with ASCII keys, rfc8785 for the rest. A signature or a ledger hash made with one must
verify with the other, and with a third party's JCS library."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.bounds import MAX_SAFE_INTEGER
from shared.canonical import NotCanonical, _plain, canonical_json

# Every Unicode scalar value: control characters, quotes, DEL, U+2028, CJK, beyond the BMP.
TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)
SAFE_INTEGERS = st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
LEAVES = st.none() | st.booleans() | SAFE_INTEGERS | TEXT


def json_values(keys: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        LEAVES,
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5),
        max_leaves=40,
    )


@settings(max_examples=400, deadline=None)
@given(json_values(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=8)))
def test_plain_values_with_ascii_keys_are_written_as_rfc8785_writes_them(value: Any) -> None:
    assert _plain(value)  # the orjson path is the one under test
    assert canonical_json(value) == rfc8785.dumps(value)


@settings(max_examples=400, deadline=None)
@given(json_values(TEXT))
def test_any_keys_give_the_rfc8785_bytes(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


def test_keys_beyond_the_bmp_are_ordered_by_utf16_code_units() -> None:
    # orjson alone would put "｡" (U+FF61) first: its UTF-8 bytes sort before those of "😀".
    value: Any = {"\uff61": 1, "\U0001f600": 2, "a": {"\uff61": [], "\U0001f600": {}}}
    assert not _plain(value)
    assert canonical_json(value) == rfc8785.dumps(value)
    assert canonical_json(value).endswith('"\U0001f600":2,"\uff61":1}'.encode())


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"a": [1, {"b": 4.5}]}, r"\$\.a\[1\]\.b: 4\.5 is a floating-point"),
        ({"size": MAX_SAFE_INTEGER + 1}, r"\$\.size: the integer .* beyond"),
        ({"size": -MAX_SAFE_INTEGER - 1}, r"\$\.size: the integer .* beyond"),
        ({"name": "a\ud800b"}, r"\$\.name: a lone surrogate"),
        ({"\udfff": 1}, r"\$: a lone surrogate"),
        ({1: "one"}, r"\$: the key 1 is not a string"),
        ({"when": object()}, r"\$\.when: a object is not a JSON value"),
    ],
    ids=["float", "too-large", "too-small", "surrogate", "surrogate-key", "int-key", "object"],
)
def test_what_is_not_signed_is_refused_by_where_it_is(value: Any, where: str) -> None:
    with pytest.raises(NotCanonical, match=where):
        canonical_json(value)
