"""Bounded input: every string and list that crosses a boundary (HTTP body, Kafka record) has a
maximum size, and text carries no control characters.

A NUL byte cannot be stored in a PostgreSQL text column and control characters corrupt logs and
printed certificates, so they are refused at the edge with a clear message instead of failing
deep inside a transaction. Sizes are generous for real data and small enough that one request
cannot grow an event past what the broker accepts.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from shared.i18n import N_

# Maximum sizes, named once so models and docs agree.
MAX_NAME = 100  # a person's or an enterprise's name
MAX_ID_NUMBER = 32
MAX_CODE = 32  # item codes, material codes, window ids, certificate numbers
MAX_LINE = 200  # a postal address line, a department's name
MAX_REASON = 2000  # a decision's reason, a timeline note
MAX_MATERIALS = 50  # materials or commitments on one application
MAX_RIGHTS_LIST = 200  # item codes listed in one agreement
# The largest integer every JSON reader holds exactly (I-JSON, RFC 7493; RFC 8785 writes numbers
# as IEEE 754 doubles): every integer in signed data lies within ±MAX_SAFE_INTEGER.
MAX_SAFE_INTEGER = 2**53 - 1


# Unicode's control characters (general category Cc) are exactly C0, DEL and C1: a character
# class finds one in a string in C, where a walk asking unicodedata for each character cost
# most of the validation of every event a consumer reads.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
CONTROL_CHARACTERS_BUT_LINE_BREAKS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _no_control_characters(value: str) -> str:
    if CONTROL_CHARACTERS.search(value):
        raise ValueError(N_("must not contain control characters (such as NUL or line breaks)"))
    return value


def _no_control_characters_but_line_breaks(value: str) -> str:
    if CONTROL_CHARACTERS_BUT_LINE_BREAKS.search(value):
        raise ValueError(N_("must not contain control characters (such as NUL)"))
    return value


Name = Annotated[
    str, Field(min_length=1, max_length=MAX_NAME), AfterValidator(_no_control_characters)
]
IdNumber = Annotated[
    str, Field(min_length=1, max_length=MAX_ID_NUMBER), AfterValidator(_no_control_characters)
]
Code = Annotated[
    str, Field(min_length=1, max_length=MAX_CODE), AfterValidator(_no_control_characters)
]
Line = Annotated[str, Field(max_length=MAX_LINE), AfterValidator(_no_control_characters)]
Reason = Annotated[
    str, Field(max_length=MAX_REASON), AfterValidator(_no_control_characters_but_line_breaks)
]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")]
# A count (bytes, days, a position) in an event: never negative, always exact in any JSON reader.
Count = Annotated[int, Field(ge=0, le=MAX_SAFE_INTEGER)]
