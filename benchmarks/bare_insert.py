"""The floor intake is compared with: a bare FastAPI + asyncpg endpoint, run as its own process.

    python -m benchmarks.bare_insert --port 8123 \\
        --database-url postgresql+asyncpg://tongban@127.0.0.1:5432/tongban_bench_bare

`POST /v1/applications` parses the JSON body into a pydantic model and inserts it as one JSONB
row in a table created at start, then answers 201 with `application_no` and `accepted_at`, like
intake. No authentication, no rules, no outbox, no tracing, no middleware, no access log: what
is left is uvicorn, FastAPI, pydantic and one INSERT over an asyncpg pool of 10 connections (the
size of intake's SQLAlchemy pool: pool_size 5 + max_overflow 5). `GET /healthz` answers without
touching the database; the benchmark uses it to measure its own load generator's ceiling.

Only third-party imports: the same file runs against any version of the services.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.engine import make_url

from shared.http_server import HTTP_PROTOCOL

POOL_SIZE = 10

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS bench_applications (
    id bigserial PRIMARY KEY,
    accepted_at timestamptz NOT NULL DEFAULT now(),
    body jsonb NOT NULL
)
"""
INSERT = "INSERT INTO bench_applications (body) VALUES ($1::jsonb) RETURNING id, accepted_at"


class ApplicationBody(BaseModel):
    """The shape of intake's application body, one level deep (the rest stays as parsed JSON)."""

    item_code: str
    applicant: dict[str, Any]
    materials: list[dict[str, Any]]
    commitments: list[str] = []
    delivery: dict[str, Any]
    property_locality: str | None = None


def asyncpg_dsn(database_url: str) -> str:
    """asyncpg wants postgresql://…, SQLAlchemy's spelling is postgresql+asyncpg://…"""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_app(database_url: str, pool_size: int = POOL_SIZE) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(
            asyncpg_dsn(database_url), min_size=pool_size, max_size=pool_size
        )
        async with pool.acquire() as connection:
            await connection.execute(CREATE_TABLE)
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(title="bare insert", lifespan=lifespan)

    @app.post("/v1/applications", status_code=201)
    async def insert(body: ApplicationBody, request: Request) -> dict[str, str]:
        pool: asyncpg.Pool = request.app.state.pool
        row = await pool.fetchrow(INSERT, body.model_dump_json())
        assert row is not None
        return {
            "application_no": f"BARE{row['id']:012d}",
            "accepted_at": row["accepted_at"].isoformat(),
        }

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        pool: asyncpg.Pool = request.app.state.pool
        await pool.fetchval("SELECT 1")
        return JSONResponse({"status": "ok"})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True, help="SQLAlchemy or libpq URL")
    parser.add_argument("--pool-size", type=int, default=POOL_SIZE)
    arguments = parser.parse_args()
    uvicorn.run(
        create_app(arguments.database_url, arguments.pool_size),
        host="127.0.0.1",
        port=arguments.port,
        http=HTTP_PROTOCOL,  # as the services serve
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
