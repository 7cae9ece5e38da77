"""Every text a person reads has its Chinese, and the request's language decides which they get."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from shared.i18n import CHINESE, ENGLISH, LocaleMiddleware, _, catalog, negotiate, use_locale
from tooling.i18n import marked_texts, untranslated


def test_every_marked_text_has_its_chinese() -> None:
    missing = untranslated()
    assert not missing, "no zh_CN translation (run `make i18n`, then translate):\n" + "\n".join(
        f"  {where[0]}: {text}" for text, where in sorted(missing.items())
    )


def test_the_extractor_finds_the_marked_texts() -> None:
    # A guard on the guard above: an extractor that found nothing would pass it.
    texts = {text for area in marked_texts().values() for text in area}
    assert "The request body is larger than {limit} bytes." in texts


def test_every_translation_keeps_the_placeholders_of_its_source() -> None:
    import string

    def names(text: str) -> set[str]:
        return {field for _, field, _, _ in string.Formatter().parse(text) if field}

    wrong = {
        source: text for source, text in catalog(CHINESE).items() if names(source) != names(text)
    }
    assert not wrong


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        (None, CHINESE),
        ("", CHINESE),
        ("en", ENGLISH),
        ("en-US,en;q=0.9", ENGLISH),
        ("zh-CN,zh;q=0.9,en;q=0.8", CHINESE),
        ("fr-FR, en;q=0.5", ENGLISH),
        ("fr-FR", CHINESE),
        ("en;q=0.2, zh-TW;q=0.8", CHINESE),
        ("*", CHINESE),
        ("en;q=0", CHINESE),
        ("en_US", ENGLISH),
    ],
)
def test_accept_language_chooses_chinese_unless_english_is_asked_for(
    header: str | None, locale: str
) -> None:
    assert negotiate(header) == locale


def test_texts_are_chinese_by_default_and_english_on_request() -> None:
    with use_locale(CHINESE):
        assert (
            _("The request body is larger than {limit} bytes.", limit=1024)
            == "请求内容超过 1024 字节。"
        )
    with use_locale(ENGLISH):
        assert _("The request body is larger than {limit} bytes.", limit=1024) == (
            "The request body is larger than 1024 bytes."
        )


def test_a_request_is_answered_in_the_language_it_asks_for() -> None:
    app = FastAPI()

    @app.get("/")
    async def hello() -> dict[str, str]:
        return {"message": _("The request body is larger than {limit} bytes.", limit=1024)}

    client = TestClient(LocaleMiddleware(app))
    chinese = client.get("/")
    assert chinese.json() == {"message": "请求内容超过 1024 字节。"}
    assert chinese.headers["content-language"] == "zh-CN"
    english = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert english.json() == {"message": "The request body is larger than 1024 bytes."}
    assert english.headers["content-language"] == "en"


def test_a_text_found_in_two_areas_reads_the_same_in_both() -> None:
    # The areas' catalogs merge into one: a text translated twice differently would read as
    # whichever file sorts last.
    from pathlib import Path

    from babel.messages.pofile import read_po

    from shared.i18n import LOCALE_DIR

    seen: dict[str, tuple[str, str]] = {}
    differing = []
    for path in sorted((LOCALE_DIR / CHINESE / "LC_MESSAGES").glob("*.po")):
        with Path(path).open("rb") as file:
            for message in read_po(file, locale=CHINESE):
                if not message.id or not isinstance(message.id, str):
                    continue
                first = seen.setdefault(message.id, (path.name, str(message.string)))
                if first[1] != message.string:
                    differing.append((message.id, first, (path.name, message.string)))
    assert not differing
