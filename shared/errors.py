"""The error shape of API.md: `{"error": {"code", "message", "details"}}` for every 4xx/5xx.

Use cases raise `DomainError`s in their own words (`NotFound`, `Conflict`, `Forbidden`,
`Invalid`, `Unavailable`); they know nothing of HTTP. The mapping to status codes and to the
contract's body happens once, here. `Invalid` always carries its details as a list of problems
`[{"field" or "material_code", "code", "message"}]`, whichever service raises it.

Every `message` is for a person: written in English inside `_()` where it is raised, and
answered in the request's language (shared.i18n). A request's own faults (its shape, pydantic's
validation) are translated here; `code` and `field` never are, programs read them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.i18n import ENGLISH, N_, _, catalog, current_locale, negotiate, use_locale

log = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    413: "payload_too_large",
    503: "unavailable",
}

# What the framework answers by itself (an unknown path, a wrong method) says only its status's
# English phrase; these say it in the request's language.
_STATUS_MESSAGES = {
    400: N_("The request is not understood."),
    401: N_("A bearer token is required."),
    403: N_("This is not allowed."),
    404: N_("There is nothing at this address."),
    405: N_("This address does not take this method."),
    413: N_("The request body is too large."),
    415: N_("This media type is not accepted."),
    422: N_("The request has invalid fields."),
    429: N_("Too many requests; try again later."),
    503: N_("The service is unavailable; try again later."),
}

# pydantic's validation errors a person meets most, in words for the request's language
# ({placeholders} from the error's context). Other types keep pydantic's English message, and
# an English request gets pydantic's message as it is.
_PROBLEM_MESSAGES = {
    "missing": N_("This field is required."),
    "extra_forbidden": N_("This field is not accepted."),
    "string_too_short": N_("At least {min_length} character(s)."),
    "string_too_long": N_("At most {max_length} character(s)."),
    "too_short": N_("At least {min_length} item(s)."),
    "too_long": N_("At most {max_length} item(s)."),
    "greater_than": N_("Must be greater than {gt}."),
    "greater_than_equal": N_("Must be at least {ge}."),
    "less_than": N_("Must be less than {lt}."),
    "less_than_equal": N_("Must be at most {le}."),
    "literal_error": N_("Must be one of {expected}."),
    "enum": N_("Must be one of {expected}."),
    "string_pattern_mismatch": N_("Not in the expected form."),
    "string_type": N_("Must be text."),
    "int_type": N_("Must be a whole number."),
    "int_parsing": N_("Must be a whole number."),
    "int_from_float": N_("Must be a whole number."),
    "float_type": N_("Must be a number."),
    "float_parsing": N_("Must be a number."),
    "bool_type": N_("Must be true or false."),
    "bool_parsing": N_("Must be true or false."),
    "list_type": N_("Must be a list."),
    "dict_type": N_("Must be a JSON object."),
    "model_type": N_("Must be a JSON object."),
    "model_attributes_type": N_("Must be a JSON object."),
    "date_type": N_("Must be a date (YYYY-MM-DD)."),
    "date_parsing": N_("Must be a date (YYYY-MM-DD)."),
    "date_from_datetime_parsing": N_("Must be a date (YYYY-MM-DD)."),
    "datetime_type": N_("Must be a date and time (ISO 8601, with its offset)."),
    "datetime_parsing": N_("Must be a date and time (ISO 8601, with its offset)."),
    "datetime_from_date_parsing": N_("Must be a date and time (ISO 8601, with its offset)."),
    "timezone_aware": N_("Must be a date and time (ISO 8601, with its offset)."),
    "uuid_type": N_("Must be a UUID."),
    "uuid_parsing": N_("Must be a UUID."),
    "json_invalid": N_("Not valid JSON."),
}


class DomainError(Exception):
    """A use case's refusal: `code` is the contract's snake_case error code."""

    status_code: ClassVar[int] = 400

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class Forbidden(DomainError):
    status_code = 403


class Invalid(DomainError):
    """The input breaks a rule; `details` lists every problem."""

    status_code = 422

    @classmethod
    def of_field(cls, code: str, message: str, field: str) -> Invalid:
        return cls(code, message, [problem(code, message, field=field)])


class Unavailable(DomainError):
    """Something this answer needs is not there yet; the same request may succeed later."""

    status_code = 503


class ApiError(DomainError):
    """An error of the HTTP layer itself (authentication, request shape), status given."""

    def __init__(self, status_code: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(code, message, details)
        self.status_code = status_code  # type: ignore[misc]


def problem(
    code: str, message: str, *, field: str | None = None, material_code: str | None = None
) -> dict[str, str]:
    """One entry of an `Invalid` error's details (and of the one-time notice)."""
    where = {"material_code": material_code} if material_code else {"field": field or "body"}
    return {**where, "code": code, "message": message}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def _field_path(location: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "applicant", "id_number") -> "applicant.id_number"; headers keep their prefix.
    parts = [str(p) for p in location]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def problem_message(error: Mapping[str, Any]) -> str:
    """One of pydantic's validation errors in the request's language: a common type in our
    words, a validator's own ValueError in its catalog's words, anything else as pydantic put
    it."""
    if current_locale() == ENGLISH:
        return str(error["msg"])
    context = error.get("ctx") or {}
    if error["type"] == "value_error" and "error" in context:
        # Our validators raise ValueError(N_("...")): its text is a catalog entry.
        said = str(context["error"])
        return catalog(current_locale()).get(said, str(error["msg"]))
    template = _PROBLEM_MESSAGES.get(error["type"])
    if template is None:
        return str(error["msg"])
    try:
        return _(template, **{str(k): v for k, v in context.items()})
    except (KeyError, IndexError, ValueError):  # a context without what the text names
        return str(error["msg"])


def validation_problems(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """pydantic's errors as the problems of an `Invalid` error's details."""
    return [
        {
            "field": "body" if error["type"] == "json_invalid" else _field_path(error["loc"]),
            "code": error["type"],
            "message": problem_message(error),
        }
        for error in errors
    ]


def _status_message(exc: StarletteHTTPException) -> str:
    # The framework's own detail is its status's English phrase; ours is already translated.
    template = _STATUS_MESSAGES.get(exc.status_code)
    if template is not None and exc.detail == HTTPStatus(exc.status_code).phrase:
        return _(template)
    return str(exc.detail)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.details), exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = validation_problems(exc.errors())
        if any(p["code"] == "json_invalid" for p in problems):
            return JSONResponse(
                error_body("malformed_json", _("The request body is not valid JSON."), problems),
                422,
            )
        return JSONResponse(
            error_body("invalid_request", _("The request has invalid fields."), problems), 422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        return JSONResponse(
            error_body(code, _status_message(exc)), exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        # Logged in full for operators; the client never sees a stack trace.
        log.exception("unhandled error: %s", type(exc).__name__)
        # This handler runs outside every middleware, the locale's too: ask the header again.
        with use_locale(negotiate(request.headers.get("accept-language"))):
            message = _("Internal server error.")
        return JSONResponse(error_body("internal_error", message), 500)
