"""What people read, in their language: Simplified Chinese by default, English on request.

Every sentence a person reads (an error's `message`, a timeline note, a notice, the console, the
CLI) is written in the code in English and wrapped in `_()`; its Chinese lives in a gettext
catalog, `shared/locale/zh_CN/LC_MESSAGES/<area>.po` (one file per area, so that areas are
translated apart; all of a language's files form one catalog). English is the source language
and needs no catalog. Codes (error codes, statuses, event types) are for programs and are never
translated.

    raise NotFound("application_not_found", _("No application {application_no}.",
                                               application_no=application_no))

`_()` translates into the locale of the moment: the request's (`LocaleMiddleware`, from its
Accept-Language), the CLI's (`TONGBAN_LANG`, then `LANG`), or zh-CN. A text stored for later
reading (a timeline note) is stored as its English source and parameters and translated when
read, so the reader's language decides, not the writer's. `N_()` marks a text for the catalog
without translating it (a constant translated later).

`make i18n` extracts the marked texts and merges them into the catalogs;
tests/unit/test_translations.py fails when a marked text has no Chinese.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.messages.pofile import read_po
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOCALE_DIR = Path(__file__).parent / "locale"
CHINESE = "zh_CN"
ENGLISH = "en"
SUPPORTED = (CHINESE, ENGLISH)
DEFAULT = CHINESE
# Content-Language / Accept-Language spell them with a hyphen (BCP 47).
HTTP_TAGS = {CHINESE: "zh-CN", ENGLISH: "en"}

_current: ContextVar[str | None] = ContextVar("tongban_locale", default=None)


@cache
def catalog(locale: str) -> Mapping[str, str]:
    """Every translation of `locale`, merged from its .po files (English: none needed)."""
    folder = LOCALE_DIR / locale / "LC_MESSAGES"
    translations: dict[str, str] = {}
    for path in sorted(folder.glob("*.po")):
        with path.open("rb") as file:
            for message in read_po(file, locale=locale):
                if message.id and message.string and not message.fuzzy:
                    assert isinstance(message.id, str) and isinstance(message.string, str)
                    translations[message.id] = message.string
    return translations


def current_locale() -> str:
    """The locale texts are translated into now."""
    chosen = _current.get()
    if chosen is not None:
        return chosen
    return _environment_locale() or DEFAULT


def _environment_locale() -> str | None:
    # For the CLI: TONGBAN_LANG=en, or LANG=en_US.UTF-8 in an English shell.
    for variable in ("TONGBAN_LANG", "LANG"):
        value = os.environ.get(variable, "")
        if value and value not in ("C", "POSIX", "C.UTF-8"):
            return negotiate(value.split(".")[0])
    return None


@contextmanager
def use_locale(locale: str) -> Iterator[None]:
    """Translate into `locale` (one of SUPPORTED) inside the block."""
    token = _current.set(locale)
    try:
        yield
    finally:
        _current.reset(token)


# A window's browser sends the same few headers all day; parsing them (Babel's Locale.parse)
# was a noticeable share of a request. Bounded: the header is the caller's to choose.
@lru_cache(maxsize=256)
def negotiate(accept_language: str | None) -> str:
    """The supported locale an Accept-Language header (or a POSIX locale name) asks for first;
    zh-CN when it asks for none we have."""
    if not accept_language:
        return DEFAULT
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _eq, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag.strip()))
    for _quality, _position, tag in sorted(ranked):
        if tag == "*":
            return DEFAULT
        try:
            language = Locale.parse(tag, sep="-" if "-" in tag else "_").language
        except (ValueError, UnknownLocaleError):
            continue
        if language == "zh":
            return CHINESE
        if language == "en":
            return ENGLISH
    return DEFAULT


def translate(message: str, locale: str, params: Mapping[str, Any] | None = None) -> str:
    """`message` (its English source) in `locale`, its {placeholders} filled from `params`."""
    text = message if locale == ENGLISH else catalog(locale).get(message, message)
    return text.format_map(dict(params)) if params else text


def _(message: str, /, **params: Any) -> str:
    """`message` in the current locale, {placeholders} filled from `params`."""
    return translate(message, current_locale(), params)


def N_(message: str, /) -> str:
    """Mark `message` for the catalog; translate it later with `_()` or `translate()`."""
    return message


class LocaleMiddleware:
    """Translate each request's texts into the language its Accept-Language asks for, and say
    which in Content-Language."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = next(
            (
                value.decode("latin-1")
                for name, value in scope["headers"]
                if name == b"accept-language"
            ),
            None,
        )
        locale = negotiate(header)

        async def send_with_language(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).setdefault("Content-Language", HTTP_TAGS[locale])
            await send(message)

        token = _current.set(locale)
        try:
            await self.app(scope, receive, send_with_language)
        finally:
            _current.reset(token)
