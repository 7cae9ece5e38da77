"""The one canonical form of what Tongban signs and hashes: RFC 8785, the JSON Canonicalization
Scheme (JCS).

Event signatures (shared.messaging.signing), the seals of certificates and rejection notices
(shared.certificates) and the entries and heads of routing's audit ledger all sign or hash
`canonical_json(...)`: members sorted by their UTF-16 code units, no insignificant whitespace,
strings with only the escapes JCS prescribes, UTF-8. JCS libraries exist for Java, Go,
JavaScript, .NET and Python (rfc8785 here), so a third party reproduces the bytes without
Tongban's code; contracts/vectors/signatures.json pins them down.

Tongban's signed data keeps to what JCS and the JSON Schemas agree on exactly, and this module
refuses anything else before it is signed: no floating-point numbers (JCS writes numbers as
IEEE 754 doubles), integers within ±(2^53 - 1), object keys that are strings, and strings of
Unicode scalar values (no lone surrogates).

Within those values, orjson with sorted keys writes exactly the JCS bytes (the same escapes,
integers as plain digits) as long as every object key is ASCII: it sorts keys by their UTF-8
bytes, and that order differs from JCS's UTF-16 order only between a character beyond U+FFFF
and one from U+E000 to U+FFFF. Every event is canonicalised at least once per process that
handles it, so the common case, plain dicts and lists with ASCII keys, takes orjson (tens of
times faster); anything else takes rfc8785. tests/unit/test_canonical.py holds the two to the
same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import rfc8785

from shared.bounds import MAX_SAFE_INTEGER


class NotCanonical(ValueError):
    """A value Tongban does not sign: a float, an integer beyond ±(2^53 - 1), a key that is not
    a string, a lone surrogate, or a type JSON does not have. The message names where it is."""


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 bytes of `value` (dicts, lists, strings, integers, booleans, None)."""
    if _plain(value):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            pass  # a lone surrogate: the walk below names where it is
    _check(value, "$")
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise NotCanonical(str(exc)) from exc


def _plain(value: Any) -> bool:
    """Whether `value` is made of dicts with ASCII keys, lists, strings, integers within
    ±(2^53 - 1), booleans and None only: what orjson writes as JCS does. A quick walk without
    the paths `_check` names, which only a refusal needs."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                return False
        elif kind is dict:
            for key in item:
                if type(key) is not str or not key.isascii():
                    return False
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
        else:
            return False
    return True


def _check(value: Any, where: str) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise NotCanonical(f"{where}: the integer {value} is beyond ±(2^53 - 1)")
        return
    if isinstance(value, float):
        raise NotCanonical(f"{where}: {value!r} is a floating-point number; signed data has none")
    if isinstance(value, str):
        _check_text(value, where)
        return
    if isinstance(value, Mapping):
        for key, member in value.items():
            if not isinstance(key, str):
                raise NotCanonical(f"{where}: the key {key!r} is not a string")
            _check_text(key, where)
            _check(member, f"{where}.{key}")
        return
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        for index, item in enumerate(value):
            _check(item, f"{where}[{index}]")
        return
    raise NotCanonical(f"{where}: a {type(value).__name__} is not a JSON value")


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NotCanonical(f"{where}: a lone surrogate is not text") from exc
