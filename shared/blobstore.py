"""Content-addressed store for scanned application materials (PDF, JPEG, PNG).

A blob is stored under the SHA-256 of its bytes, so the key *is* the integrity check: the same
scan uploaded twice is stored once, and a reference can never silently point at other content.
Events never carry file bytes; they carry a reference — sha256, size and content type (see
`StoredBlob`) — and whoever needs the file reads it from here.

One library serves the embedded default (a local folder, `file:///...`) and production (any
S3-compatible store, `s3://bucket`) through the same code path: obstore (Rust `object_store`)
hides the backend, so the checks below are exercised identically in tests and in production.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import obstore
from obstore.store import from_url

if TYPE_CHECKING:
    from obstore.store import ClientConfig, ObjectStore, S3Config

# Uploads up to this size stay in memory while being checked; larger ones spill to a temp file.
SPOOL_MEMORY_BYTES = 1024 * 1024
READ_CHUNK_BYTES = 256 * 1024

# Three fixed signatures are all we accept, so a small table beats a dependency (filetype,
# puremagic): those recognise hundreds of types we would refuse anyway, and this table lets us
# decide from the first bytes, before anything is stored.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
# Recordings of video consultations (services/consultation): WebM, an EBML (Matroska) file.
# Stored only where a caller asks for them (put_verified's `signatures`): a scan upload still
# takes documents only.
MEDIA_SIGNATURES: tuple[tuple[bytes, str], ...] = ((b"\x1a\x45\xdf\xa3", "video/webm"),)
_SHA256 = re.compile(r"[0-9a-f]{64}")
# obstore's HTTP client settings (ClientConfig); given as S3 settings, obstore 0.12.1 panics
# (pyo3 PanicException, not an Exception) instead of refusing them, so they are routed apart.
_CLIENT_OPTIONS = frozenset(
    "allow_http allow_invalid_certificates connect_timeout default_content_type http1_only"
    " http2_keep_alive_interval http2_keep_alive_timeout http2_keep_alive_while_idle"
    " http2_only pool_idle_timeout pool_max_idle_per_host proxy_url proxy_ca_certificate"
    " proxy_excludes randomize_addresses read_timeout root_certificate timeout user_agent".split()
)


class BlobError(Exception):
    """Base of the blob store's refusals."""


class UnsupportedType(BlobError):
    def __init__(self, detected: str) -> None:
        super().__init__(f"unsupported file type ({detected}); accepted: PDF, JPEG, PNG")
        self.detected = detected


class TooLarge(BlobError):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"upload exceeds the limit of {max_bytes} bytes")
        self.max_bytes = max_bytes


class DigestMismatch(BlobError):
    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"upload has SHA-256 {actual}, expected {expected}")
        self.expected, self.actual = expected, actual


class BlobNotFound(BlobError):
    def __init__(self, sha256: str) -> None:
        super().__init__(f"no blob with SHA-256 {sha256}")
        self.sha256 = sha256


@dataclass(frozen=True)
class StoredBlob:
    """What events carry instead of the bytes."""

    sha256: str
    size: int
    content_type: str


@dataclass(frozen=True)
class BlobReader:
    """An opened blob; `chunks` can be handed to a StreamingResponse as is."""

    sha256: str
    size: int
    content_type: str
    chunks: AsyncIterator[bytes]


def blob_key(sha256: str) -> str:
    """The object key. The two-hex-digit fan-out keeps any one folder (or listing prefix) to
    1/256 of the blobs, which local file systems and prefix listings handle far better."""
    return f"sha256/{sha256[:2]}/{_checked(sha256)}"


def _checked(sha256: str) -> str:
    # Only 64 lowercase hex digits ever reach the store: no path tricks through a key.
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a lowercase hex SHA-256: {sha256!r}")
    return sha256


def _content_type(
    head: bytes, signatures: tuple[tuple[bytes, str], ...] = _SIGNATURES
) -> str | None:
    return next((ctype for magic, ctype in signatures if head.startswith(magic)), None)


def _could_still_match(
    head: bytes, signatures: tuple[tuple[bytes, str], ...] = _SIGNATURES
) -> bool:
    return any(magic.startswith(head) for magic, _ in signatures)


class BlobStore:
    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    @classmethod
    def from_url(cls, url: str, **options: str) -> BlobStore:
        """`file:///abs/path` (created if missing) or `s3://bucket` with S3 options (endpoint,
        region, access_key_id, secret_access_key, ...) and client options (allow_http, ...)."""
        scheme = obstore.parse_scheme(url)
        if scheme == "local":
            if options:
                raise ValueError(f"a file:// store takes no options: {sorted(options)}")
            return cls(from_url(url, mkdir=True))
        if scheme != "s3":
            raise ValueError(f"unsupported blob store URL (use file:// or s3://): {url}")
        client = {k: v for k, v in options.items() if k in _CLIENT_OPTIONS}
        config = {k: v for k, v in options.items() if k not in _CLIENT_OPTIONS}
        return cls(
            from_url(
                url,
                config=cast("S3Config", config),
                client_options=cast("ClientConfig", client),
            )
        )

    async def put_verified(
        self,
        chunks: AsyncIterator[bytes],
        *,
        max_bytes: int,
        expected_sha256: str | None = None,
        signatures: tuple[tuple[bytes, str], ...] = _SIGNATURES,
    ) -> StoredBlob:
        """Store an upload after checking type, size and digest; nothing is written unless
        every check passes, and content already present is not written again."""
        if expected_sha256 is not None:
            _checked(expected_sha256)
        digest, size, head = hashlib.sha256(), 0, b""
        content_type: str | None = None
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES) as spool:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(max_bytes)
                if content_type is None:  # decide as soon as the first bytes allow
                    head += chunk[: 8 - len(head)]
                    content_type = _content_type(head, signatures)
                    if content_type is None and not _could_still_match(head, signatures):
                        raise UnsupportedType(f"unknown, leading bytes {head.hex(' ')}")
                digest.update(chunk)
                spool.write(chunk)  # past 1 MiB a page-cache write; not worth a thread hop
            if content_type is None:
                raise UnsupportedType(f"too short, {size} bytes" if size else "empty upload")
            sha256 = digest.hexdigest()
            if expected_sha256 is not None and expected_sha256 != sha256:
                raise DigestMismatch(expected_sha256, sha256)
            blob = StoredBlob(sha256=sha256, size=size, content_type=content_type)
            # Same digest, same bytes: an existing blob is this one, so it is not written again.
            # Head then a plain put, not put(mode="create"): obstore does a create as a single
            # in-memory request, while a plain put streams large files as a multipart upload.
            # Two racing uploads of the same content just write the same bytes atomically.
            if await self.exists(sha256):
                return blob
            spool.seek(0)
            await obstore.put_async(self._store, blob_key(sha256), spool)
            return blob

    async def open(self, sha256: str) -> BlobReader:
        try:
            result = await obstore.get_async(self._store, blob_key(sha256))
        except FileNotFoundError as exc:
            raise BlobNotFound(sha256) from exc
        stream = result.stream(min_chunk_size=READ_CHUNK_BYTES)
        first = await anext(stream, b"")
        # Stored blobs passed the sniffing, so their first chunk names the type again.
        content_type = (
            _content_type(first[:8])
            or _content_type(first[:8], MEDIA_SIGNATURES)
            or "application/octet-stream"
        )
        return BlobReader(sha256, result.meta["size"], content_type, _chain(first, stream))

    async def read_bytes(self, sha256: str) -> bytes:
        try:
            result = await obstore.get_async(self._store, blob_key(sha256))
        except FileNotFoundError as exc:
            raise BlobNotFound(sha256) from exc
        return bytes(await result.bytes_async())

    async def delete(self, sha256: str) -> None:
        """Remove a blob (a recording past its retention); nothing if it is gone already."""
        try:
            await obstore.delete_async(self._store, blob_key(sha256))
        except FileNotFoundError:
            return

    async def exists(self, sha256: str) -> bool:
        try:
            await obstore.head_async(self._store, blob_key(sha256))
        except FileNotFoundError:
            return False
        return True


async def _chain(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk
