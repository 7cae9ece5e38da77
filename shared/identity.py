"""Identity numbers: validation (GB 11643, GB 32100), masking and digests.

Resident ID numbers (居民身份证号) and unified social credit codes (统一社会信用代码) are checked
against their standards' check characters. Masking keeps only what a clerk or a certificate
verifier needs to recognise a person; nothing here logs or stores a number in clear.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import unicodedata
from typing import Literal

from shared import clock
from shared.i18n import N_

IdType = Literal["resident_id", "uscc"]

# GB 11643-1999: weights for the first 17 digits; sum mod 11 indexes the check character.
_RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_CHECK = "10X98765432"

# GB 32100-2015: 31 characters (no I, O, S, V, Z, which read like digits or each other).
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUES = {char: index for index, char in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

# GB 11714: the 9-character organisation code inside a USCC (characters 9-17) has its own
# check character; only used to make sample codes look like real ones.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

# Earliest birth date accepted: rejects garbage such as "00000000" without ever refusing a
# living person (second-generation ID cards were issued from 2004).
_EARLIEST_BIRTH = datetime.date(1850, 1, 1)


def _today_in_china() -> datetime.date:
    # "Not in the future" is judged on the Chinese calendar day, so a baby registered just
    # after midnight in Beijing is not rejected by a UTC clock.
    return clock.today()


def _is_ascii_digits(value: str) -> bool:
    # str.isdigit alone accepts non-ASCII digits such as "١" or "²".
    return value.isascii() and value.isdigit()


# --- resident ID numbers (GB 11643) ---------------------------------------------------------


def resident_id_check_char(first17: str) -> str:
    """The GB 11643 check character ("0"-"9" or "X") for the first 17 digits."""
    if len(first17) != 17 or not _is_ascii_digits(first17):
        raise ValueError("resident ID check needs exactly 17 digits")
    total = sum(
        int(digit) * weight for digit, weight in zip(first17, _RESIDENT_WEIGHTS, strict=True)
    )
    return _RESIDENT_CHECK[total % 11]


def _resident_id_problem(value: str) -> str | None:
    if len(value) != 18:
        return N_("resident ID number must be 18 characters")
    body, check = value[:17], value[17].upper()
    if not _is_ascii_digits(body):
        return N_("resident ID number: the first 17 characters must be digits")
    if check != "X" and not _is_ascii_digits(check):
        return N_("resident ID number: the last character must be a digit or X")
    try:
        birth = datetime.date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
    except ValueError:
        return N_("resident ID number: characters 7-14 are not a valid birth date")
    if birth < _EARLIEST_BIRTH:
        return N_("resident ID number: characters 7-14 are not a valid birth date")
    if birth > _today_in_china():
        return N_("resident ID number: the birth date is in the future")
    if resident_id_check_char(body) != check:
        return N_("resident ID number: check character does not match")
    return None


def is_valid_resident_id(value: str) -> bool:
    """True for an 18-character resident ID number with a real birth date and check character.

    A lowercase "x" check character is accepted; spaces are not (normalize first).
    """
    return _resident_id_problem(value) is None


# --- unified social credit codes (GB 32100) -------------------------------------------------


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters of a USCC."""
    if len(first17) != 17 or any(char not in _USCC_VALUES for char in first17):
        raise ValueError(f"USCC check needs exactly 17 characters from {USCC_ALPHABET}")
    total = sum(
        _USCC_VALUES[char] * weight for char, weight in zip(first17, _USCC_WEIGHTS, strict=True)
    )
    return USCC_ALPHABET[(31 - total % 31) % 31]


def _uscc_problem(value: str) -> str | None:
    if len(value) != 18:
        return N_("USCC must be 18 characters")
    upper = value.upper()
    if any(char not in _USCC_VALUES for char in upper):
        return N_("USCC may only contain digits and the letters A-Y except I, O, S, V")
    if uscc_check_char(upper[:17]) != upper[17]:
        return N_("USCC: check character does not match")
    return None


def is_valid_uscc(value: str) -> bool:
    """True for an 18-character unified social credit code with a correct check character.

    Letters are accepted in either case; spaces are not (normalize first).
    """
    return _uscc_problem(value) is None


# --- helpers used by the services ----------------------------------------------------------


def validate_id_number(id_type: IdType, value: str) -> str | None:
    """None if `value` is a valid number of `id_type`, else a short English problem message
    (marked for the catalog: `_()` of it is the problem in the reader's language)."""
    if id_type == "resident_id":
        return _resident_id_problem(value)
    if id_type == "uscc":
        return _uscc_problem(value)
    return f"unsupported id_type {id_type!r}"


def normalize_id_number(value: str) -> str:
    """Strip all whitespace and upper-case; full-width characters become ASCII (NFKC).

    Chinese input methods often produce full-width digits ("３４０１") and the ideographic space.
    """
    folded = unicodedata.normalize("NFKC", value)
    return "".join(folded.split()).upper()


def mask_id_number(value: str) -> str:
    """Keep the first 6 and last 4 characters: "340104********1234".

    Only when that still hides at least 4 characters (length >= 14); a shorter number would be
    all but revealed, so it is masked completely.
    """
    number = normalize_id_number(value)
    if len(number) < 14:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def mask_name(value: str) -> str:
    """Keep the first character, one "*" per other character: "张三丰" -> "张**".

    A one-character value is masked completely.
    """
    name = value.strip()
    if len(name) <= 1:
        return "*" * len(name)
    return name[0] + "*" * (len(name) - 1)


def mask_phone(value: str) -> str:
    """Mask a phone number: "13812345678" -> "138****5678"; at least 4 characters stay hidden."""
    phone = "".join(value.split())
    length = len(phone)
    if length >= 11:
        return phone[:3] + "*" * (length - 7) + phone[-4:]
    if length >= 8:
        return "*" * (length - 4) + phone[-4:]
    return "*" * length


def id_number_digest(value: str, key: bytes) -> str:
    """HMAC-SHA256 hex of the normalized number, to compare an ID number without keeping it.

    Keyed, because a resident ID number has so little entropy (division, birth date, sequence)
    that a plain hash is reversed by trying them all; without the key a digest reveals nothing.
    Services that compare digests share the key (settings: PII_DIGEST_KEY).
    """
    normalized = normalize_id_number(value).encode("ascii", "replace")
    return hmac.new(key, normalized, hashlib.sha256).hexdigest()


# --- sample numbers for seed data and tests -------------------------------------------------


def sample_resident_id(division: str, birth: datetime.date, sequence: int = 1) -> str:
    """A valid resident ID number: division(6) + YYYYMMDD + 3-digit sequence + check character.

    An odd sequence means a man, an even one a woman (GB 11643).
    """
    if len(division) != 6 or not _is_ascii_digits(division):
        raise ValueError("division must be a 6-digit administrative division code")
    if not 0 <= sequence <= 999:
        raise ValueError("sequence must be between 0 and 999")
    if not _EARLIEST_BIRTH <= birth <= _today_in_china():
        raise ValueError("birth date must be between 1850-01-01 and today")
    first17 = f"{division}{birth:%Y%m%d}{sequence:03d}"
    return first17 + resident_id_check_char(first17)


def _org_code_check_char(first8: str) -> str:
    # GB 11714 values: digits as themselves, letters A=10 ... Z=35.
    total = sum(int(char, 36) * weight for char, weight in zip(first8, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def sample_uscc(division: str, sequence: int = 1) -> str:
    """A valid USCC for an enterprise ("91": market regulation, company) in `division`.

    Characters 9-17 are an organisation code shaped like those issued since 2015 ("MA" + 6
    characters from the sequence + its GB 11714 check character); distinct sequences give
    distinct codes.
    """
    if len(division) != 6 or not _is_ascii_digits(division):
        raise ValueError("division must be a 6-digit administrative division code")
    if not 0 <= sequence < 31**6:
        raise ValueError(f"sequence must be between 0 and {31**6 - 1}")
    digits = []
    remaining = sequence
    for _ in range(6):
        remaining, index = divmod(remaining, 31)
        digits.append(USCC_ALPHABET[index])
    org_body = "MA" + "".join(reversed(digits))
    first17 = "91" + division + org_body + _org_code_check_char(org_body)
    return first17 + uscc_check_char(first17)
