"""The province-scale registry's data for `make registry-scale` (benchmarks/registry_scale.py):
a PostgreSQL cluster of its own that is kept between runs, delivery's real schema (its
migrations) with the registry's tables hash-partitioned, and rows generated inside the server.

Why hash partitions on the certificate number: every lookup a user waits on goes by number
(public verification, a window's print, a reprint), so a hash of the number prunes each to one
partition; the partitions stay the same size whatever the localities' or years' volumes; the
primary key stays the number alone (a partition key must be part of it). Partitioning by issuing
year or locality would make the key (number, year), and a lookup by number alone would visit every
partition. receiving_windows is hashed on application_no and certificate_prints on
certificate_no for the same reason: the print route looks each up by exactly that column.

Generation is INSERT … SELECT FROM generate_series in the server (no rows travel over the wire),
with wal_level=minimal and the tables created in the loading transaction so the rows are not
written to the WAL; the indexes are built afterwards, in bulk.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tooling.infra import ManagedProcess, free_ports
from tooling.infra.postgres import _server_account, _traversable_by, server_bindir

REPO_ROOT = Path(__file__).resolve().parents[1]
DATABASE = "tongban_registry_scale"
SUPERUSER = "tongban"
# Anhui's prefectures (3401 合肥 … 3418 宣城) and eight counties or districts of each.
PREFECTURES = (1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 15, 16, 17, 18)
LOCALITIES = [f"34{p:02d}{c:02d}" for p in PREFECTURES for c in (2, 3, 4, 11, 21, 22, 23, 81)]
YEARS = 12  # issued 2015 … 2026
ITEMS = 24
CHUNK_ROWS = 1_000_000
# Tuned for a bulk load and for lookups on this 2-core, 23 GB machine shared with others.
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "shared_buffers": "1GB",
    "effective_cache_size": "8GB",
    "maintenance_work_mem": "1GB",
    "work_mem": "64MB",
    "max_wal_size": "16GB",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_parallel_maintenance_workers": "1",
    "checkpoint_timeout": "30min",
    "max_connections": "100",
}


def number_of(i: int) -> str:
    """The certificate number of generated row `i` (as the SQL below makes it)."""
    locality = LOCALITIES[i % len(LOCALITIES)]
    year = 2015 + (i // len(LOCALITIES)) % YEARS
    sequence = i // (len(LOCALITIES) * YEARS) + 1
    return f"ZZ{locality}{year}{sequence:07d}"


def code_of(i: int) -> str:
    """Row `i`'s verification code; the row keeps its SHA-256 (services.delivery.domain)."""
    return f"code-{i:09d}"


class Cluster:
    """A PostgreSQL cluster whose data directory outlives the run (for --measure-only)."""

    def __init__(self, directory: Path) -> None:
        self.account = _server_account()
        directory.parent.mkdir(parents=True, exist_ok=True)
        if self.account is not None and not _traversable_by(directory.parent, self.account):
            directory = Path("/var/tmp/tongban-registry-scale")
        self.directory = directory
        self.data = directory / "data"
        self.port = 0
        self.process: ManagedProcess | None = None
        self.bindir = server_bindir()

    @property
    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    @property
    def dsn(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.account is not None:
            os.chown(self.directory, self.account.uid, self.account.gid)
        if not self.initialised:
            subprocess.run(
                [
                    str(self.bindir / "initdb"),
                    *("-D", str(self.data), "-U", SUPERUSER),
                    *("--auth=trust", "--encoding=UTF8", "--locale=C"),
                ],
                check=True,
                capture_output=True,
                cwd=self.directory,
                user=self.account.uid if self.account else None,
                group=self.account.gid if self.account else None,
                extra_groups=[] if self.account else None,
            )
            with (self.data / "postgresql.conf").open("a") as conf:
                conf.write("\n# make registry-scale (benchmarks/registry_data.py)\n")
                conf.writelines(f"{key} = '{value}'\n" for key, value in SERVER_SETTINGS.items())
        (self.port,) = free_ports(1)
        self.process = ManagedProcess(
            "registry-scale PostgreSQL",
            [
                str(self.bindir / "postgres"),
                *("-D", str(self.data), "-p", str(self.port)),
                *("-c", "unix_socket_directories="),
            ],
            log_path=self.directory / "postgres.log",
            pid_file=self.directory / "postgres.pid",
            cwd=self.directory,
            env={k: v for k, v in os.environ.items() if not k.startswith("PG")},
            run_as=self.account,
            stop_signal=signal.SIGINT,
        )
        self.process.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.3)
        raise RuntimeError(f"PostgreSQL did not start; see {self.directory / 'postgres.log'}")

    def stop(self) -> None:
        if self.process is not None:
            from tooling.infra import stop_processes

            stop_processes([self.process], grace=120)


def _partitions(table: str, key: str, partitions: int) -> list[str]:
    return [
        f"CREATE TABLE {table} (LIKE {table}_plain INCLUDING DEFAULTS) PARTITION BY HASH ({key})"
    ] + [
        f"CREATE TABLE {table}_p{r:02d} PARTITION OF {table} "
        f"FOR VALUES WITH (MODULUS {partitions}, REMAINDER {r})"
        for r in range(partitions)
    ]


def partitioned_schema(partitions: int) -> list[str]:
    """The migrated (plain) registry tables set aside as templates and partitioned copies made
    in their place; run in the loading transaction."""
    statements = [
        "DROP TABLE IF EXISTS certificate_prints, receiving_windows, certificates CASCADE",
    ]
    for table, key in (
        ("certificates", "number"),
        ("receiving_windows", "application_no"),
        ("certificate_prints", "certificate_no"),
    ):
        statements += _partitions(table, key, partitions)
    return statements


_LOCALITY_ARRAY = "ARRAY[" + ",".join(f"'{x}'" for x in LOCALITIES) + "]"
_ITEM_NAME = "'户籍登记证明（第' || (i % " + str(ITEMS) + ") || '类）'"
_REVOCATION = """'{"certificate_no":"' || number || '","reason":"证照信息有误"}'"""

# The generated row i: its locality, year and sequence as number_of() computes them.
_ROW = f"""
    SELECT i,
           loc,
           'ZZ' || loc || yr || lpad(seq::text, 7, '0') AS number,
           'SQ' || loc || yr || lpad(seq::text, 8, '0') AS application_no,
           make_date(yr, 1 + (i % 12)::int, 1 + (i % 28)::int) AS issued_on,
           'ITEM-' || lpad((i % {ITEMS})::text, 3, '0') AS item_code
      FROM generate_series($1::bigint, $2::bigint - 1) AS i,
           LATERAL (SELECT ({_LOCALITY_ARRAY})[1 + (i % {len(LOCALITIES)})::int] AS loc,
                           (2015 + (i / {len(LOCALITIES)}) % {YEARS})::int AS yr,
                           (i / {len(LOCALITIES) * YEARS} + 1)::bigint AS seq) AS parts
"""

CERTIFICATES = f"""
INSERT INTO certificates (number, kind, application_no, issuer_locality, item_code, item_name,
    content, seal_signer, seal_signature, issued_on, valid_until, revoked_at, revoked_reason,
    revocation_event, revocation_signature, revocation_signer, received_at, verifications,
    last_verified_at, verification_code, verification_code_digest)
SELECT number, 'certificate', application_no, loc, item_code, {_ITEM_NAME},
    ('{{"number":"' || number || '","item_code":"' || item_code
     || '","item_name":"户籍登记证明","issuer_locality":"' || loc
     || '","application_no":"' || application_no || '","holder_name":"pd1:' || h || reverse(h)
     || '","holder_id_digest":"' || reverse(h) || h || '","issued_on":"' || issued_on
     || '","valid_until":"' || until || '","particulars":{{"household_no":"'
     || lpad((i % 999983)::text, 9, '0') || '","address_code":"' || loc || '001"}}}}')::json,
    'sm2-seal-' || loc || '-2026', repeat(h, 4), issued_on, until,
    CASE WHEN i % 331 = 0 THEN issued_on + interval '400 days' END,
    CASE WHEN i % 331 = 0 THEN '证照信息有误，依申请撤销' END,
    CASE WHEN i % 331 = 0 THEN {_REVOCATION} END,
    CASE WHEN i % 331 = 0 THEN repeat(reverse(h), 4) END,
    CASE WHEN i % 331 = 0 THEN 'sm2-issuer-' || loc END,
    issued_on + interval '1 minute', 0, NULL,
    'pd1:' || h || md5(h),
    encode(sha256(('code-' || lpad(i::text, 9, '0'))::bytea), 'hex')
FROM ({_ROW}) AS generated,
     LATERAL (SELECT md5(number) AS h, (issued_on + interval '10 years')::date AS until) AS more
"""

RECEIVING_WINDOWS = f"""
INSERT INTO receiving_windows (application_no, window_id, locality, delivery_method)
SELECT application_no, 'W' || loc || '-0' || (1 + i % 4), loc,
       CASE WHEN i % 5 = 0 THEN 'post' ELSE 'window' END
FROM ({_ROW}) AS generated
"""

# Half the certificates printed once so far (a reprint counts the earlier prints).
CERTIFICATE_PRINTS = f"""
INSERT INTO certificate_prints (id, certificate_no, ordinal, reprint, printed_by, role, window_id,
    locality, printed_at)
SELECT i + 1, number, 1, false, 'clerk-' || loc || '-' || (i % 7), 'window_clerk',
       'W' || loc || '-0' || (1 + i % 4), loc, issued_on + interval '3 days'
FROM ({_ROW}) AS generated WHERE i % 2 = 0
"""

FOREIGN_KEY_STEP = "certificate_prints → certificates"
INDEXES = [
    ("certificates primary key", "ALTER TABLE certificates ADD PRIMARY KEY (number)"),
    (
        "certificates application_no",
        "CREATE INDEX ON certificates (application_no)",
    ),
    (
        "receiving_windows primary key",
        "ALTER TABLE receiving_windows ADD PRIMARY KEY (application_no)",
    ),
    (
        "certificate_prints (certificate_no, ordinal)",
        "ALTER TABLE certificate_prints ADD CONSTRAINT uq_certificate_prints_no_ordinal "
        "UNIQUE (certificate_no, ordinal)",
    ),
    (
        "certificate_prints primary key",
        "ALTER TABLE certificate_prints ADD PRIMARY KEY (id, certificate_no)",
    ),
    (
        "certificate_prints → certificates",
        "ALTER TABLE certificate_prints ADD CONSTRAINT fk_certificate_prints_certificates "
        "FOREIGN KEY (certificate_no) REFERENCES certificates (number)",
    ),
    # What an operator does after a bulk load (and autovacuum would do later, unasked): the
    # visibility map and hint bits set once, so a lookup neither dirties the page it reads
    # (a write on the user's path) nor visits the heap for an index-only count of prints.
    (
        "vacuum",
        "VACUUM (FREEZE, ANALYZE) certificates, receiving_windows, certificate_prints",
    ),
]


def chunks(rows: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + CHUNK_ROWS, rows)) for lo in range(0, rows, CHUNK_ROWS)]


# `--resume`: what each step of INDEXES leaves behind, to tell it was done (the catalog's word).
_DONE = {  # on the partitioned tables (the migrated *_plain templates hold the plain names)
    "certificates primary key": "SELECT 1 FROM pg_constraint WHERE contype = 'p' "
    "AND conrelid = 'certificates'::regclass",
    "certificates application_no": "SELECT 1 FROM pg_indexes WHERE tablename = 'certificates' "
    "AND indexdef LIKE '%(application_no)'",
    "receiving_windows primary key": "SELECT 1 FROM pg_constraint "
    "WHERE contype = 'p' AND conrelid = 'receiving_windows'::regclass",
    "certificate_prints (certificate_no, ordinal)": "SELECT 1 FROM pg_constraint "
    "WHERE conname = 'uq_certificate_prints_no_ordinal' "
    "AND conrelid = 'certificate_prints'::regclass",
    "certificate_prints primary key": "SELECT 1 FROM pg_constraint "
    "WHERE contype = 'p' AND conrelid = 'certificate_prints'::regclass",
    "certificate_prints → certificates": "SELECT 1 FROM pg_constraint "
    "WHERE conname = 'fk_certificate_prints_certificates' "
    "AND conrelid = 'certificate_prints'::regclass",
    "vacuum": "SELECT 1 FROM pg_class c JOIN pg_inherits ON inhrelid = c.oid "
    "WHERE inhparent = 'certificate_prints'::regclass AND c.relallvisible > 0 LIMIT 1",
}


async def rows_committed(connection: Any) -> bool:
    """An interrupted generation's rows are there (committed before the first index step)."""
    exists = await connection.fetchval("SELECT to_regclass('certificates') IS NOT NULL")
    return bool(exists) and bool(
        await connection.fetchval("SELECT EXISTS (SELECT 1 FROM certificates)")
    )


async def step_done(connection: Any, name: str) -> bool:
    check = _DONE.get(name)
    return check is not None and await connection.fetchval(check) is not None
