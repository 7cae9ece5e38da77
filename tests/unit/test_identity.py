"""Identity numbers: GB 11643 / GB 32100 validation, masking and digests."""

from __future__ import annotations

import datetime

import pytest

from shared.identity import (
    USCC_ALPHABET,
    id_number_digest,
    is_valid_resident_id,
    is_valid_uscc,
    mask_id_number,
    mask_name,
    mask_phone,
    normalize_id_number,
    resident_id_check_char,
    sample_resident_id,
    sample_uscc,
    uscc_check_char,
    validate_id_number,
)

# The worked example printed in GB 11643-1999 (Beijing 朝阳区, born 1949-12-31, check "X").
STANDARD_EXAMPLE_ID = "11010519491231002X"
# A published USCC (腾讯科技（深圳）有限公司); its organisation code 70846113-6 is GB 11714 valid.
PUBLISHED_USCC = "91440300708461136T"

KEY = b"test digest key"


def _change_digit(value: str, index: int) -> str:
    digit = int(value[index])
    return value[:index] + str((digit + 1) % 10) + value[index + 1 :]


# --- resident ID ----------------------------------------------------------------------------


def test_sample_resident_id_is_valid_and_shaped() -> None:
    number = sample_resident_id("340104", datetime.date(1990, 5, 17), 123)
    assert len(number) == 18
    assert number.startswith("34010419900517123")
    assert is_valid_resident_id(number)
    assert validate_id_number("resident_id", number) is None


@pytest.mark.parametrize("index", range(17))
def test_changing_any_digit_breaks_resident_id(index: int) -> None:
    number = sample_resident_id("341202", datetime.date(1985, 2, 28), 7)
    assert not is_valid_resident_id(_change_digit(number, index))


def test_check_character_x_upper_and_lower_case() -> None:
    assert resident_id_check_char(STANDARD_EXAMPLE_ID[:17]) == "X"
    assert is_valid_resident_id(STANDARD_EXAMPLE_ID)
    assert is_valid_resident_id(STANDARD_EXAMPLE_ID.lower())
    # "X" in place of a digit check character is wrong, and vice versa.
    assert not is_valid_resident_id(STANDARD_EXAMPLE_ID[:17] + "0")


def test_sample_resident_id_can_end_in_x() -> None:
    assert sample_resident_id("340104", datetime.date(1990, 5, 17), 123).endswith("X")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "34010419900517123",  # 17 characters
        "34010419900517123XX",  # 19 characters
        "3401041990051712 X",  # space inside
        "34010419900230123X",  # 30 February
        "34010419901317123X",  # month 13
        "34010400000000123X",  # no date at all
        "34010A19900517123X",  # letter among the digits
        "34010419900517123Y",  # check character outside "10X98765432"
        "３４０１０４19900517123X",  # full-width digits must be normalized first
    ],
)
def test_malformed_resident_ids_are_invalid(value: str) -> None:
    assert not is_valid_resident_id(value)
    assert validate_id_number("resident_id", value) is not None


def test_birth_date_in_the_future_is_invalid() -> None:
    tomorrow = datetime.date.today() + datetime.timedelta(days=2)
    first17 = f"340104{tomorrow:%Y%m%d}001"
    number = first17 + resident_id_check_char(first17)
    problem = validate_id_number("resident_id", number)
    assert problem is not None and "future" in problem


def test_validate_id_number_names_the_problem() -> None:
    assert validate_id_number("resident_id", "123") == "resident ID number must be 18 characters"
    wrong_check = _change_digit(sample_resident_id("340104", datetime.date(1990, 5, 17), 2), 17)
    assert "check character" in (validate_id_number("resident_id", wrong_check) or "")
    assert "birth date" in (validate_id_number("resident_id", "34010419900230123X") or "")


def test_check_char_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        resident_id_check_char("1234")
    with pytest.raises(ValueError):
        uscc_check_char("I" * 17)


@pytest.mark.parametrize(
    ("division", "birth", "sequence"),
    [("34010", datetime.date(1990, 1, 1), 1), ("340104", datetime.date(1990, 1, 1), 1000)],
)
def test_sample_resident_id_refuses_what_cannot_be_valid(
    division: str, birth: datetime.date, sequence: int
) -> None:
    with pytest.raises(ValueError):
        sample_resident_id(division, birth, sequence)


# --- USCC -----------------------------------------------------------------------------------


def test_published_uscc_is_valid() -> None:
    assert uscc_check_char(PUBLISHED_USCC[:17]) == "T"
    assert is_valid_uscc(PUBLISHED_USCC)
    assert is_valid_uscc(PUBLISHED_USCC.lower())
    assert validate_id_number("uscc", PUBLISHED_USCC) is None


def test_sample_uscc_is_valid_and_distinct() -> None:
    codes = {sample_uscc("340100", sequence) for sequence in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert len(code) == 18 and code.startswith("91340100")
        assert all(char in USCC_ALPHABET for char in code)
        assert is_valid_uscc(code)


@pytest.mark.parametrize("index", range(17))
def test_changing_any_character_breaks_uscc(index: int) -> None:
    code = sample_uscc("341202", 42)
    replacement = "1" if code[index] != "1" else "2"
    assert not is_valid_uscc(code[:index] + replacement + code[index + 1 :])


@pytest.mark.parametrize(
    "value",
    [
        "",
        PUBLISHED_USCC[:17],
        PUBLISHED_USCC + "0",
        "91440300708461136I",  # I is not in the alphabet
        "914403007084611O6T",  # neither is O
        "9144030070846113 T",
    ],
)
def test_malformed_usccs_are_invalid(value: str) -> None:
    assert not is_valid_uscc(value)
    assert validate_id_number("uscc", value) is not None


def test_a_uscc_is_not_a_resident_id() -> None:
    assert not is_valid_resident_id(PUBLISHED_USCC)
    assert validate_id_number("resident_id", PUBLISHED_USCC) is not None


# --- normalization, masking, digest ---------------------------------------------------------


def test_normalize_strips_spaces_upper_cases_and_folds_full_width() -> None:
    assert normalize_id_number(" 110105 19491231 002x ") == STANDARD_EXAMPLE_ID
    assert normalize_id_number("１１０１０５１９４９１２３１００２ｘ") == STANDARD_EXAMPLE_ID
    assert normalize_id_number("110105\u300019491231002X") == STANDARD_EXAMPLE_ID


def test_mask_id_number_keeps_first_six_and_last_four() -> None:
    number = sample_resident_id("340104", datetime.date(1990, 5, 17), 123)
    masked = mask_id_number(number)
    assert masked == "340104********123X"
    assert len(masked) == len(number)
    # The birth date and sequence are what identify a person within a district.
    assert "19900517" not in masked
    assert mask_id_number(PUBLISHED_USCC) == "914403********136T"


@pytest.mark.parametrize("value", ["", "E1234567", "1234567890", "1234567890123"])
def test_short_numbers_are_masked_completely(value: str) -> None:
    assert mask_id_number(value) == "*" * len(value)


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("张三丰", "张**"),
        ("张三", "张*"),
        ("欧阳娜娜", "欧***"),
        ("John Smith", "J*********"),
        ("张", "*"),
    ],
)
def test_mask_name(value: str, masked: str) -> None:
    assert mask_name(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("13812345678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("+8613812345678", "+86*******5678"),
        ("05511234", "****1234"),
        ("1234567", "*******"),
    ],
)
def test_mask_phone(value: str, masked: str) -> None:
    assert mask_phone(value) == masked


def test_masks_always_hide_at_least_four_characters() -> None:
    for value in ["1" * n for n in range(0, 25)]:
        for masked in (mask_id_number(value), mask_phone(value)):
            assert masked.count("*") >= min(4, len(value))


def test_digest_matches_across_spellings_and_hides_the_number() -> None:
    digest = id_number_digest(STANDARD_EXAMPLE_ID, KEY)
    assert digest == id_number_digest(" 11010519491231002x", KEY)
    assert digest != id_number_digest(STANDARD_EXAMPLE_ID, b"another key")
    assert len(digest) == 64 and STANDARD_EXAMPLE_ID not in digest
    assert digest != id_number_digest(sample_resident_id("340104", datetime.date(1990, 5, 17)), KEY)
