"""The same blob store behaviour on both backends: the embedded local folder and an S3-compatible
server (moto's, in a thread). Only the URL and options differ; the code path is the same."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from shared.blobstore import BlobNotFound, BlobStore, DigestMismatch, TooLarge, UnsupportedType

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

ListKeys = Callable[[], list[str]]


async def chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    before = set(threading.enumerate())
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()  # ends the serving loop, closes the socket and joins the thread
    leaked = set(threading.enumerate()) - before
    assert not leaked, f"threads left behind: {sorted(t.name for t in leaked)}"


@pytest.fixture(params=["file", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[BlobStore, ListKeys]]:
    if request.param == "file":
        root = tmp_path / "blobs"
        yield (
            BlobStore.from_url(root.as_uri()),
            lambda: sorted(
                path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()
            ),
        )
        return
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"blobs-{uuid.uuid4().hex[:12]}"  # a fresh bucket per test, so counts are exact
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **CREDENTIALS)
    s3.create_bucket(Bucket=bucket)
    store = BlobStore.from_url(
        f"s3://{bucket}",
        endpoint=endpoint,
        region="us-east-1",
        access_key_id=CREDENTIALS["aws_access_key_id"],
        secret_access_key=CREDENTIALS["aws_secret_access_key"],
        allow_http="true",
    )

    def list_keys() -> list[str]:
        # Also counts unfinished multipart uploads: a refused upload must not leave one.
        uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        objects = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        return sorted([obj["Key"] for obj in objects] + [up["Key"] for up in uploads])

    yield store, list_keys
    s3.close()


async def test_round_trip(backend: tuple[BlobStore, ListKeys]) -> None:
    store, list_keys = backend
    blob = await store.put_verified(chunked(PDF, 7), max_bytes=1024)

    sha256 = hashlib.sha256(PDF).hexdigest()
    assert (blob.sha256, blob.size, blob.content_type) == (sha256, len(PDF), "application/pdf")
    assert list_keys() == [f"sha256/{sha256[:2]}/{sha256}"]
    assert await store.exists(sha256)
    assert await store.read_bytes(sha256) == PDF
    reader = await store.open(sha256)
    assert (reader.size, reader.content_type) == (len(PDF), "application/pdf")
    assert b"".join([chunk async for chunk in reader.chunks]) == PDF


async def test_large_upload_streams_through(backend: tuple[BlobStore, ListKeys]) -> None:
    # Past the 1 MiB spool (a temp file) and obstore's 5 MiB part size (a multipart upload).
    data = b"%PDF-1.7\n" + os.urandom(6 * 1024 * 1024)
    store, list_keys = backend
    blob = await store.put_verified(chunked(data, 64 * 1024), max_bytes=8 * 1024 * 1024)

    assert blob.size == len(data)
    assert len(list_keys()) == 1
    reader = await store.open(blob.sha256)
    received = [chunk async for chunk in reader.chunks]
    assert len(received) > 1  # streamed, not one buffer
    assert hashlib.sha256(b"".join(received)).hexdigest() == blob.sha256


async def test_refusals_store_nothing(backend: tuple[BlobStore, ListKeys]) -> None:
    store, list_keys = backend
    with pytest.raises(UnsupportedType):
        await store.put_verified(chunked(b"plain text, not a scan", 4), max_bytes=1024)
    with pytest.raises(TooLarge):
        await store.put_verified(chunked(PDF, 8), max_bytes=len(PDF) - 1)
    with pytest.raises(DigestMismatch):
        await store.put_verified(chunked(PDF, 8), max_bytes=1024, expected_sha256="0" * 64)
    assert list_keys() == []


async def test_same_content_stored_once(backend: tuple[BlobStore, ListKeys]) -> None:
    store, list_keys = backend
    first = await store.put_verified(chunked(PDF, 5), max_bytes=1024)
    second = await store.put_verified(chunked(PDF, 50), max_bytes=1024)
    assert first == second
    assert len(list_keys()) == 1


async def test_missing_blob(backend: tuple[BlobStore, ListKeys]) -> None:
    store, _ = backend
    missing = hashlib.sha256(b"never uploaded").hexdigest()
    assert not await store.exists(missing)
    with pytest.raises(BlobNotFound):
        await store.open(missing)
    with pytest.raises(BlobNotFound):
        await store.read_bytes(missing)
