"""The settings of 视频会商 (services/consultation, contracts/video.md), a part of
shared.settings.Settings kept in a module of their own."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode


class ConsultationSettings(BaseSettings):
    # Its own database (DATABASE_URL with the database tongban_consultation unless given).
    consultation_database_url: str | None = None
    # The ICE servers the browsers and the recording peer use. A hall network needs TURN: the
    # province runs coturn (contracts/video.md); comma-separated URLs such as
    # "turn:turn.example.gov.cn:3478?transport=udp", with its username and credential.
    consultation_stun_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    consultation_turn_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    consultation_turn_username: str | None = None
    consultation_turn_credential: SecretStr | None = None
    # The signalling endpoint's limits: a larger message, or more than the rate (a token
    # bucket of `burst`), closes that party's socket (4409, 4429); nothing else is affected.
    consultation_max_message_bytes: int = Field(default=16_384, ge=1024)
    consultation_messages_per_second: float = Field(default=20.0, gt=0)
    consultation_message_burst: int = Field(default=60, ge=1)
    # 全过程记录: the server records every call; recordings older than this are removed.
    consultation_record: bool = True
    consultation_recording_retention_days: int = Field(default=180, ge=1)

    @field_validator("consultation_stun_urls", "consultation_turn_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return [url.strip() for url in value.split(",") if url.strip()]
        return value
