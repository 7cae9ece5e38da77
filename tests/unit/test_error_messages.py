"""The error shape's words follow the request's language; its codes and fields never do."""

from __future__ import annotations

from typing import Literal

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field

from shared.bounds import Name
from shared.errors import install_error_handlers
from shared.i18n import LocaleMiddleware

ENGLISH = {"Accept-Language": "en"}


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    items: list[str] = Field(min_length=1, max_length=2)
    count: int = Field(ge=1)
    kind: Literal["person", "enterprise"]


def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/things")
    async def things(body: Body) -> dict[str, str]:
        return {"name": body.name}

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("a bug")

    return TestClient(LocaleMiddleware(app), raise_server_exceptions=False)


def problems(response: httpx.Response) -> dict[str, tuple[str, str]]:
    body = response.json()
    return {p["field"]: (p["code"], p["message"]) for p in body["error"]["details"]}


BAD = {"name": "张\x00三", "items": [], "count": "many", "kind": "robot", "colour": "red"}


def test_validation_problems_are_in_chinese_by_default() -> None:
    response = client().post("/things", json=BAD)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["message"] == "请求中有字段填写不正确。"
    assert problems(response) == {
        "name": ("value_error", "不得包含控制字符（如 NUL 或换行符）"),
        "items": ("too_short", "至少应有 1 项。"),
        "count": ("int_parsing", "应为整数。"),
        "kind": ("literal_error", "应为以下取值之一：'person' or 'enterprise'。"),
        "colour": ("extra_forbidden", "不接受此字段。"),
    }


def test_english_keeps_pydantics_words_and_the_same_fields_and_codes() -> None:
    chinese = client().post("/things", json=BAD)
    english = client().post("/things", json=BAD, headers=ENGLISH)
    assert english.json()["error"]["message"] == "The request has invalid fields."
    assert {f: c for f, (c, _m) in problems(english).items()} == {
        f: c for f, (c, _m) in problems(chinese).items()
    }
    assert problems(english)["colour"][1] == "Extra inputs are not permitted"
    assert problems(english)["items"][1].startswith("List should have at least 1 item")


def test_a_missing_field_and_malformed_json() -> None:
    missing = client().post("/things", json={"items": ["a"], "count": 1, "kind": "person"})
    assert problems(missing) == {"name": ("missing", "此项为必填项。")}
    malformed = client().post(
        "/things", content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert malformed.json()["error"]["code"] == "malformed_json"
    assert malformed.json()["error"]["message"] == "请求内容不是有效的 JSON。"
    assert problems(malformed) == {"body": ("json_invalid", "不是有效的 JSON。")}


def test_the_frameworks_own_answers_are_translated() -> None:
    unknown = client().get("/nowhere")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
    assert unknown.json()["error"]["message"] == "该地址不存在。"
    wrong_method = client().delete("/things", headers=ENGLISH)
    assert wrong_method.json()["error"] == {
        "code": "method_not_allowed",
        "message": "This address does not take this method.",
        "details": None,
    }


def test_a_server_error_speaks_the_requests_language_though_it_is_answered_outside_it() -> None:
    chinese = client().get("/broken")
    assert chinese.status_code == 500
    assert chinese.json()["error"] == {
        "code": "internal_error",
        "message": "服务器内部错误。",
        "details": None,
    }
    english = client().get("/broken", headers=ENGLISH)
    assert english.json()["error"]["message"] == "Internal server error."
