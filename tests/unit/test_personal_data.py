"""Personal data stays out of logs; every error answers in the contract's shape (API.md)."""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI, Header
from pydantic import BaseModel, Field
from starlette.exceptions import StarletteDeprecationWarning

from shared.errors import ApiError, install_error_handlers
from shared.identity import sample_resident_id, sample_uscc
from shared.telemetry import PersonalDataFilter, mask_personal_data

with warnings.catch_warnings():
    # starlette 1.10 asks for httpx2 on import; the project pins httpx, which still works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

RESIDENT_ID = sample_resident_id("341202", date(1988, 3, 14), 21)
RESIDENT_ID_X = sample_resident_id("341202", date(1990, 1, 1), 7)  # check character "X"
USCC_DIGIT_CHECK = sample_uscc("340111", 6)  # check character "7"
USCC_LETTER_CHECK = sample_uscc("340111", 42)  # check character "Q"
MOBILE = "13812345678"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"  # the W3C Trace Context example
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def test_the_sample_ids_are_what_the_tests_assume() -> None:
    assert RESIDENT_ID_X.endswith("X")
    assert USCC_DIGIT_CHECK[-1].isdigit()
    assert USCC_LETTER_CHECK[-1] not in "0123456789X"


# --- masking -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"applicant {RESIDENT_ID}", f"applicant {RESIDENT_ID[:6]}********{RESIDENT_ID[-4:]}"),
        (RESIDENT_ID_X, f"{RESIDENT_ID_X[:6]}********{RESIDENT_ID_X[-4:]}"),
        (RESIDENT_ID_X.lower(), f"{RESIDENT_ID_X[:6]}********{RESIDENT_ID_X[-4:]}"),
        (
            f"身份证号{RESIDENT_ID}，请核对",
            f"身份证号{RESIDENT_ID[:6]}********{RESIDENT_ID[-4:]}，请核对",
        ),
        (f"enterprise {USCC_DIGIT_CHECK}", "enterprise 913401********0667"),
        (f"phone={MOBILE}", "phone=138****5678"),
        (f"手机{MOBILE}。", "手机138****5678。"),
        (f"+86 {MOBILE}", "+86 138****5678"),
    ],
)
def test_id_and_mobile_numbers_are_masked(text: str, expected: str) -> None:
    assert mask_personal_data(text) == expected


def test_every_number_in_a_line_is_masked() -> None:
    line = f"{RESIDENT_ID} called from {MOBILE}, agent {RESIDENT_ID_X} on 13998765432"
    assert mask_personal_data(line) == (
        f"{RESIDENT_ID[:6]}********{RESIDENT_ID[-4:]} called from 138****5678, "
        f"agent {RESIDENT_ID_X[:6]}********{RESIDENT_ID_X[-4:]} on 139****5432"
    )


def test_a_credit_code_with_a_letter_check_character_is_masked() -> None:
    assert mask_personal_data(f"enterprise {USCC_LETTER_CHECK}") == (
        f"enterprise {USCC_LETTER_CHECK[:6]}********{USCC_LETTER_CHECK[-4:]}"
    )


@pytest.mark.parametrize(
    "text",
    [
        "TB34120020261123000001",
        "TB34010420250105123456",
        "application TB34120020261123000001 routed to 340100",
        "ZZ34120020250000001",  # certificate number
        TRACE_ID,
        f"trace_id={TRACE_ID}",
        TRACEPARENT,
        "6f1c2e0a-2d5b-4c57-9a53-0c1f9b7e4a11",
        "2025-06-13T09:30:15.123456+08:00",
        "promised 2025-06-20, 5 working days",
        "340104",  # a locality code
        "1381234567",  # ten digits: not a mobile number
        "138123456789",  # twelve digits: not a mobile number
    ],
)
def test_application_numbers_trace_ids_and_other_identifiers_are_not_mangled(text: str) -> None:
    assert mask_personal_data(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "a13812345678bcdef0123456789abcde",
        "00-a13812345678bcdef0123456789abcde-00f067aa0ba902b7-01",
        f"00-{TRACE_ID}-e15912345678abcd-01",
    ],
)
def test_trace_ids_that_contain_a_mobile_like_run_are_not_mangled(text: str) -> None:
    assert mask_personal_data(text) == text


def test_a_mobile_number_with_the_country_code_is_masked() -> None:
    assert MOBILE not in mask_personal_data(f"tel +86{MOBILE}")


# --- the logging filter ------------------------------------------------------------------------


def make_record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("tongban.test", logging.INFO, __file__, 1, msg, args or None, None)


def test_the_filter_masks_numbers_passed_as_arguments() -> None:
    record = make_record(
        "accepted %s for %s, phone %s", "TB34120020261123000001", RESIDENT_ID, MOBILE
    )
    assert PersonalDataFilter().filter(record) is True  # masked, never dropped
    message = record.getMessage()
    assert RESIDENT_ID not in message and MOBILE not in message
    assert message == (
        f"accepted TB34120020261123000001 for {RESIDENT_ID[:6]}********{RESIDENT_ID[-4:]}, "
        "phone 138****5678"
    )


def test_the_filter_masks_numbers_in_the_message_itself() -> None:
    record = make_record(f"lookup {RESIDENT_ID_X} trace {TRACE_ID}")
    assert PersonalDataFilter().filter(record) is True
    assert record.getMessage() == (
        f"lookup {RESIDENT_ID_X[:6]}********{RESIDENT_ID_X[-4:]} trace {TRACE_ID}"
    )


def test_the_filter_leaves_a_clean_record_untouched() -> None:
    record = make_record("routed %s to %s trace %s", "TB34120020261123000001", "340100", TRACE_ID)
    assert PersonalDataFilter().filter(record) is True
    assert record.msg == "routed %s to %s trace %s"
    assert record.args == ("TB34120020261123000001", "340100", TRACE_ID)


@pytest.fixture
def masked_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose handler carries the filter, as configure_logging sets it up."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(PersonalDataFilter())
    logger = logging.getLogger("tongban.test.personal_data")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def test_a_logged_line_comes_out_masked(masked_log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = masked_log
    logger.warning("handover refused: %s is not %s (call %s)", RESIDENT_ID_X, RESIDENT_ID, MOBILE)
    line = stream.getvalue()
    for number in (RESIDENT_ID_X, RESIDENT_ID, MOBILE):
        assert number not in line
    assert line.startswith("WARNING tongban.test.personal_data: handover refused: ")


def test_a_logged_exception_comes_out_masked(
    masked_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = masked_log
    try:
        raise ValueError(f"no household record for {RESIDENT_ID}")
    except ValueError:
        logger.exception("lookup failed")
    assert RESIDENT_ID not in stream.getvalue()


# --- the error shape ---------------------------------------------------------------------------


class Applicant(BaseModel):
    name: str = Field(min_length=1)
    id_number: str = Field(min_length=18, max_length=18)


class Material(BaseModel):
    material_code: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ApplicationIn(BaseModel):
    item_code: str
    applicant: Applicant
    materials: list[Material] = []


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/applications")
    async def create(body: ApplicationIn, idempotency_key: str = Header()) -> dict[str, str]:
        return {"item_code": body.item_code}

    @app.get("/boom")
    async def boom() -> dict[str, str]:
        raise RuntimeError(f"database said no for {RESIDENT_ID} at /srv/tongban/secret.py")

    @app.get("/forbidden")
    async def forbidden() -> dict[str, str]:
        raise ApiError(
            403, "no_accept_right", "No agreement lets 341202 accept this item.", {"rights": []}
        )

    @app.get("/conflict")
    async def conflict() -> dict[str, str]:
        raise ApiError(409, "idempotency_conflict", "Same key, different body.")

    return app


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    # raise_server_exceptions=False: see the 500 the client sees, not the exception itself.
    with TestClient(make_app(), raise_server_exceptions=False) as test_client:
        yield test_client


GOOD_BODY: dict[str, Any] = {
    "item_code": "GA-HJ-001",
    "applicant": {"name": "张三", "id_number": RESIDENT_ID},
    "materials": [{"material_code": "M01", "sha256": "a" * 64}],
}


def test_a_valid_request_passes(client: TestClient) -> None:
    response = client.post("/applications", json=GOOD_BODY, headers={"Idempotency-Key": "k1"})
    assert response.status_code == 200
    assert response.json() == {"item_code": "GA-HJ-001"}


def test_422_lists_every_bad_field_at_once_with_dotted_paths(client: TestClient) -> None:
    body = {
        "applicant": {"name": "", "id_number": "123"},
        "materials": [
            {"material_code": "M01", "sha256": "a" * 64},
            {"material_code": "M02", "sha256": "not-a-hash"},
        ],
    }
    response = client.post("/applications", json=body)  # no Idempotency-Key either
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["message"]
    fields = {problem["field"] for problem in error["details"]}
    assert fields == {
        "item_code",
        "applicant.name",
        "applicant.id_number",
        "materials.1.sha256",
        "header.idempotency-key",
    }
    for problem in error["details"]:
        assert set(problem) == {"field", "code", "message"}
        assert problem["code"] and problem["message"]
    codes = {problem["field"]: problem["code"] for problem in error["details"]}
    assert codes["item_code"] == "missing"


def test_malformed_json_is_named_as_such(client: TestClient) -> None:
    response = client.post(
        "/applications",
        content=b'{"item_code": "GA-HJ-001", ',
        headers={"Content-Type": "application/json", "Idempotency-Key": "k2"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "malformed_json"


def test_an_unhandled_error_is_a_500_without_a_stack_trace(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="shared.errors"):
        response = client.get("/boom")
    assert response.status_code == 500
    body = response.json()
    assert body["error"]["code"] == "internal_error"
    assert set(body["error"]) == {"code", "message", "details"}
    for leak in ("Traceback", "RuntimeError", "secret.py", "database said no", RESIDENT_ID):
        assert leak not in response.text
    # Operators still get the whole story in the log.
    logged = [r for r in caplog.records if r.name == "shared.errors"]
    assert logged and logged[0].exc_info is not None


@pytest.mark.parametrize(
    ("path", "status", "code", "details"),
    [
        ("/forbidden", 403, "no_accept_right", {"rights": []}),
        ("/conflict", 409, "idempotency_conflict", None),
    ],
)
def test_an_api_error_answers_with_its_own_status_code_and_details(
    client: TestClient, path: str, status: int, code: str, details: object
) -> None:
    response = client.get(path)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["details"] == details
    assert error["message"]


def test_framework_errors_use_the_same_shape(client: TestClient) -> None:
    not_found = client.get("/nowhere")
    assert not_found.status_code == 404
    assert not_found.json()["error"]["code"] == "not_found"
    wrong_method = client.delete("/boom")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    assert wrong_method.headers["allow"] == "GET"
