"""The blob store on its embedded backend (a local folder): type, size and digest checks, content
addressing, and that a refused upload leaves nothing behind."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.blobstore import (
    BlobNotFound,
    BlobStore,
    DigestMismatch,
    StoredBlob,
    TooLarge,
    UnsupportedType,
    blob_key,
)

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + bytes(64) + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)


async def chunked(
    data: bytes, size: int, consumed: list[int] | None = None
) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        if consumed is not None:
            consumed.append(start)
        yield data[start : start + size]


def stored_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "blobs"


@pytest.fixture
def store(root: Path) -> BlobStore:
    return BlobStore.from_url(root.as_uri())


def test_folder_is_created(root: Path, store: BlobStore) -> None:
    assert root.is_dir()


async def test_pdf_round_trip(root: Path, store: BlobStore) -> None:
    blob = await store.put_verified(chunked(PDF, 16), max_bytes=1024)

    sha256 = hashlib.sha256(PDF).hexdigest()
    assert blob == StoredBlob(sha256=sha256, size=len(PDF), content_type="application/pdf")
    assert stored_files(root) == [root / "sha256" / sha256[:2] / sha256]
    assert await store.exists(sha256)
    assert await store.read_bytes(sha256) == PDF
    reader = await store.open(sha256)
    assert (reader.size, reader.content_type) == (len(PDF), "application/pdf")
    assert b"".join([chunk async for chunk in reader.chunks]) == PDF


@pytest.mark.parametrize(("data", "content_type"), [(JPEG, "image/jpeg"), (PNG, "image/png")])
async def test_images_detected(store: BlobStore, data: bytes, content_type: str) -> None:
    blob = await store.put_verified(chunked(data, 1000), max_bytes=1024)
    assert blob.content_type == content_type
    assert (await store.open(blob.sha256)).content_type == content_type


@pytest.mark.parametrize("size", [1, 2, 3])
async def test_magic_split_across_chunks(store: BlobStore, size: int) -> None:
    for data, content_type in [(PDF, "application/pdf"), (JPEG, "image/jpeg"), (PNG, "image/png")]:
        blob = await store.put_verified(chunked(data, size), max_bytes=1024)
        assert blob.content_type == content_type
        assert await store.read_bytes(blob.sha256) == data


async def test_text_refused_early_and_not_stored(root: Path, store: BlobStore) -> None:
    consumed: list[int] = []
    text = b"hello, this is not a scan\n" * 100
    with pytest.raises(UnsupportedType, match="68 65 6c 6c"):
        await store.put_verified(chunked(text, 4, consumed), max_bytes=10_000)
    assert consumed == [0]  # decided on the first chunk, the rest never read
    assert stored_files(root) == []


@pytest.mark.parametrize("data", [b"", b"%PD", b"\x89PNG"])
async def test_too_short_to_tell_refused(root: Path, store: BlobStore, data: bytes) -> None:
    with pytest.raises(UnsupportedType):
        await store.put_verified(chunked(data, 2), max_bytes=1024)
    assert stored_files(root) == []


async def test_oversized_refused_as_soon_as_limit_passed(root: Path, store: BlobStore) -> None:
    consumed: list[int] = []
    with pytest.raises(TooLarge, match="limit of 32 bytes") as refused:
        await store.put_verified(chunked(PDF, 10, consumed), max_bytes=32)
    assert refused.value.max_bytes == 32
    assert consumed == [0, 10, 20, 30]
    assert stored_files(root) == []


async def test_exactly_max_bytes_accepted(store: BlobStore) -> None:
    blob = await store.put_verified(chunked(PDF, 10), max_bytes=len(PDF))
    assert blob.size == len(PDF)


async def test_digest_mismatch_refused(root: Path, store: BlobStore) -> None:
    other = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(DigestMismatch, match=other):
        await store.put_verified(chunked(PDF, 16), max_bytes=1024, expected_sha256=other)
    assert stored_files(root) == []
    right = hashlib.sha256(PDF).hexdigest()
    blob = await store.put_verified(chunked(PDF, 16), max_bytes=1024, expected_sha256=right)
    assert blob.sha256 == right


async def test_same_content_stored_once(root: Path, store: BlobStore) -> None:
    first = await store.put_verified(chunked(PNG, 7), max_bytes=1024)
    (path,) = stored_files(root)
    written = path.stat().st_mtime_ns
    second = await store.put_verified(chunked(PNG, 50), max_bytes=1024)
    assert second == first
    assert stored_files(root) == [path]
    assert path.stat().st_mtime_ns == written  # not written again


async def test_missing_blob(store: BlobStore) -> None:
    missing = hashlib.sha256(b"never uploaded").hexdigest()
    assert not await store.exists(missing)
    with pytest.raises(BlobNotFound, match=missing):
        await store.open(missing)
    with pytest.raises(BlobNotFound):
        await store.read_bytes(missing)


@pytest.mark.parametrize(
    "bad",
    ["", "abc", "A" * 64, "g" * 64, "0" * 63, "0" * 65, "../" + "0" * 61, "0" * 62 + "/x"],
)
async def test_invalid_sha256_refused(store: BlobStore, bad: str) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        blob_key(bad)
    with pytest.raises(ValueError):
        await store.exists(bad)
    with pytest.raises(ValueError):
        await store.open(bad)
    with pytest.raises(ValueError):
        await store.read_bytes(bad)
    with pytest.raises(ValueError):
        await store.put_verified(chunked(PDF, 16), max_bytes=1024, expected_sha256=bad)


def test_unsupported_urls_and_options(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="file:// or s3://"):
        BlobStore.from_url("memory:///")
    with pytest.raises(ValueError, match="no options"):
        BlobStore.from_url(tmp_path.as_uri(), region="us-east-1")
