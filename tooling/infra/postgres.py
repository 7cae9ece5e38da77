"""A private PostgreSQL cluster (initdb + postgres) from the machine's server binaries."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
from rich.console import Console
from sqlalchemy.engine import make_url

from tooling.infra._common import (
    InfrastructureError,
    ManagedProcess,
    RunAs,
    apt_get_install,
    free_ports,
    run_coroutine_sync,
    say,
    tail_text,
)

SUPERUSER = "tongban"
START_TIMEOUT_SECONDS = 60.0
# Used when running as root on a machine without the `postgres` account.
SYSTEM_ACCOUNT = "tongban-pg"
# Where the location of a cluster outside the run directory is written, for the stale-run sweep.
EXTERNAL_DIR_NOTE = "postgres.dir"
# sun_path holds 108 bytes including the NUL.
_MAX_SOCKET_PATH = 107

_INSTALL_HINT = (
    "Install the PostgreSQL server (15 or newer), e.g. `sudo apt-get install -y postgresql`, "
    "or set DATABASE_URL to use an existing server."
)


def _is_server_bindir(path: Path) -> bool:
    return all(os.access(path / tool, os.X_OK) for tool in ("initdb", "postgres"))


def find_server_bindir() -> Path | None:
    """pg_config's bindir, else the newest /usr/lib/postgresql/<v>/bin, else `initdb` on PATH."""
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            result = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=30, check=False
            )
            # On Debian pg_config may come with libpq-dev and name a bindir without the server.
            if result.returncode == 0 and _is_server_bindir(Path(result.stdout.strip())):
                return Path(result.stdout.strip())
    versions = sorted(
        (
            candidate
            for candidate in Path("/usr/lib/postgresql").glob("*/bin")
            if candidate.parent.name.isdigit() and _is_server_bindir(candidate)
        ),
        key=lambda candidate: int(candidate.parent.name),
        reverse=True,
    )
    if versions:
        return versions[0]
    initdb = shutil.which("initdb")
    if initdb is not None:
        # Symlinks such as /usr/local/bin/initdb: pg_ctl and postgres live next to the target.
        bindir = Path(initdb).resolve().parent
        if _is_server_bindir(bindir):
            return bindir
    return None


def _online_clusters() -> set[tuple[str, str]]:
    if shutil.which("pg_lsclusters") is None:
        return set()
    result = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, timeout=60, check=False
    )
    clusters = set()
    for line in result.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[3].startswith("online"):
            clusters.add((fields[0], fields[1]))
    return clusters


def _install_postgresql(console: Console | None) -> None:
    already_running = _online_clusters()
    say(console, "PostgreSQL server not found; installing it with apt-get (first run only)…")
    apt_get_install(
        ["postgresql"], what="PostgreSQL server binaries (initdb, postgres)", hint=_INSTALL_HINT
    )
    # Debian's package creates and starts a "main" cluster on port 5432. Only the binaries are
    # wanted; a server left running would be exactly the stray process this launcher avoids.
    for version, name in sorted(_online_clusters() - already_running):
        subprocess.run(
            ["pg_ctlcluster", version, name, "stop"],
            capture_output=True,
            timeout=120,
            check=False,
        )


def server_bindir(console: Console | None = None) -> Path:
    bindir = find_server_bindir()
    if bindir is None:
        _install_postgresql(console)
        bindir = find_server_bindir()
    if bindir is None:
        raise InfrastructureError(
            f"PostgreSQL was installed but its server binaries were not found. {_INSTALL_HINT}"
        )
    return bindir


def _server_account() -> RunAs | None:
    """Who runs initdb and postgres: ourselves, or an unprivileged account when we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", SYSTEM_ACCOUNT):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)
    result = subprocess.run(
        [
            "useradd",
            "--system",
            "--no-create-home",
            "--user-group",
            "--shell",
            "/usr/sbin/nologin",
            SYSTEM_ACCOUNT,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    try:
        # Also when useradd lost a race against another launcher creating the same account.
        entry = pwd.getpwnam(SYSTEM_ACCOUNT)
    except KeyError:
        raise InfrastructureError(
            "PostgreSQL refuses to run as root and there is no `postgres` account; creating "
            f"the system account {SYSTEM_ACCOUNT} failed:\n{tail_text(result.stderr)}"
        ) from None
    return RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _traversable_by(path: Path, account: RunAs) -> bool:
    """Whether `account` may pass through every directory down to and including `path`."""
    groups = {account.gid} | {g.gr_gid for g in grp.getgrall() if account.name in g.gr_mem}
    for directory in [path, *path.parents]:
        info = directory.stat()
        if info.st_uid == account.uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in groups:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return False
    return True


def _child_env() -> dict[str, str]:
    # PG* variables (PGDATA, PGPORT, ...) from the caller's shell must not steer our cluster.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    return env


class PostgresCluster:
    """A fresh cluster: data directory, unix socket directory and a postmaster on a free port."""

    def __init__(
        self,
        run_dir: Path,
        log_path: Path,
        *,
        kept_log_path: Path | None = None,
        console: Console | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.log_path = log_path
        self.kept_log_path = kept_log_path
        self.console = console
        self.port = 0  # picked in prepare(), just before it is bound
        self.directory = run_dir / "postgres"
        self.external_directory: Path | None = None
        self.account: RunAs | None = None
        self.process: ManagedProcess | None = None
        self.version = ""
        self._bindir = Path()

    @property
    def database_url(self) -> str:
        return f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def _run_as_kwargs(self) -> dict[str, Any]:
        if self.account is None:
            return {}
        return {"user": self.account.uid, "group": self.account.gid, "extra_groups": []}

    def _make_directories(self) -> tuple[Path, Path]:
        account = self.account
        if account is not None and not _traversable_by(self.run_dir, account):
            # e.g. pytest's tmp_path (mode 0700) or a checkout under /root: the postgres account
            # cannot reach into it, and loosening the caller's directories is not ours to do.
            self.directory = Path(tempfile.mkdtemp(prefix="tongban-pg-"))
            self.external_directory = self.directory
            (self.run_dir / EXTERNAL_DIR_NOTE).write_text(f"{self.directory}\n")
            if not _traversable_by(self.directory.parent, account):
                raise InfrastructureError(
                    f"Neither {self.run_dir} nor {self.directory.parent} can be reached by the "
                    f"`{account.name}` account PostgreSQL runs as; make one of them "
                    "world-traversable (chmod o+x) or set DATABASE_URL."
                )
        else:
            self.directory.mkdir(mode=0o700)
        sockets = self.directory / "sock"
        sockets.mkdir(mode=0o700)
        if account is not None:
            for path in (self.directory, sockets):
                os.chown(path, account.uid, account.gid)
        return self.directory / "data", sockets

    def prepare(self) -> None:
        """Everything before the postmaster: binaries, account, directories, initdb, config."""
        self._bindir = server_bindir(self.console)
        self.account = _server_account()
        data, sockets = self._make_directories()
        (self.port,) = free_ports(1)
        version = subprocess.run(
            [str(self._bindir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout
        match = re.search(r"\d+(\.\d+)?", version)
        self.version = match[0] if match else "?"
        try:
            result = subprocess.run(
                [
                    str(self._bindir / "initdb"),
                    "--pgdata",
                    str(data),
                    "--username",
                    SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    # Throwaway cluster: no point waiting for the disk.
                    "--no-sync",
                ],
                cwd=self.directory,
                env=_child_env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
                **self._run_as_kwargs(),
            )
        except subprocess.TimeoutExpired as error:
            raise InfrastructureError("initdb timed out.") from error
        if result.returncode != 0:
            raise InfrastructureError(
                f"initdb failed (exit code {result.returncode}):\n"
                f"{tail_text(result.stdout + result.stderr)}"
            )
        socket_path = sockets / f".s.PGSQL.{self.port}"
        # Clients use TCP; the socket is a convenience for psql -h <dir>, dropped rather than
        # failing when the directory's path is too long for a unix socket name.
        socket_dirs = str(sockets) if len(str(socket_path)) <= _MAX_SOCKET_PATH else ""
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": socket_dirs,
            "max_connections": "200",
            # A local development/test cluster whose data is deleted on stop: surviving a crash
            # of the machine is worth nothing here, and these make DDL-heavy test set-ups
            # several times faster. They keep what a crash of PostgreSQL itself must keep (the
            # WAL written is in the OS's page cache), which `make run`'s supervisor relies on.
            # synchronous_commit stays on: off, an immediate stop loses commits already
            # answered (WAL still in shared memory), and `make chaos` saw a case.opened event
            # sent for a case whose row was gone after recovery. Never copy these two into a
            # real server's configuration.
            "fsync": "off",
            "full_page_writes": "off",
        }
        with (data / "postgresql.conf").open("a") as conf:
            conf.write("\n# Tongban local cluster (tooling/infra/postgres.py)\n")
            for key, value in settings.items():
                conf.write(f"{key} = '{value}'\n")

    def launch(self) -> None:
        self.process = ManagedProcess(
            "PostgreSQL server",
            [str(self._bindir / "postgres"), "-D", str(self.directory / "data")],
            log_path=self.log_path,
            kept_log_path=self.kept_log_path,
            pid_file=self.run_dir / "postgres.pid",
            cwd=self.directory,
            env=_child_env(),
            run_as=self.account,
            # SIGINT is PostgreSQL's "fast" shutdown, what `pg_ctl stop -m fast` sends: roll back
            # open transactions, end sessions, checkpoint, exit. Running the postmaster as our
            # own child (not daemonized by pg_ctl) keeps its pid and process group ours.
            stop_signal=signal.SIGINT,
        )
        self.process.start()

    async def wait_ready(self, deadline: float) -> None:
        assert self.process is not None
        await self.process.wait_ready(
            lambda: _accepts_connections(self.port),
            deadline=deadline,
            not_ready=f"PostgreSQL did not accept connections on 127.0.0.1:{self.port} within "
            f"{START_TIMEOUT_SECONDS:.0f} s.",
            every=0.1,
        )

    def remove_external_directory(self) -> None:
        if self.external_directory is not None:
            shutil.rmtree(self.external_directory, ignore_errors=True)


async def _accepts_connections(port: int) -> bool:
    try:
        connection = await asyncpg.connect(
            host="127.0.0.1", port=port, user=SUPERUSER, database="postgres", timeout=3
        )
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False
    await connection.close()
    return True


def _asyncpg_dsn(database_url: str) -> str:
    # "postgresql+asyncpg://..." is SQLAlchemy's spelling; asyncpg wants "postgresql://...".
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def ensure_databases_async(
    database_url: str, names: Sequence[str], *, recreate: bool = False
) -> None:
    """CREATE DATABASE for each name that does not exist yet on the server of database_url;
    with `recreate`, drop existing ones first (closing their connections): empty databases."""
    try:
        connection = await asyncpg.connect(_asyncpg_dsn(database_url), timeout=10)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        shown = make_url(database_url).render_as_string(hide_password=True)
        raise InfrastructureError(f"Cannot connect to PostgreSQL at {shown}: {error}") from error
    try:
        for name in names:
            if recreate:
                await connection.execute(
                    f"DROP DATABASE IF EXISTS {_quote_identifier(name)} WITH (FORCE)"
                )
            if await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                continue
            # A concurrent launcher may create it between the check and here; both are fine.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                await connection.execute(f"CREATE DATABASE {_quote_identifier(name)}")
    finally:
        await connection.close()


def ensure_databases(database_url: str, names: Sequence[str], *, recreate: bool = False) -> None:
    """CREATE DATABASE for each name that does not exist yet on the server of database_url
    (dropping existing ones first with `recreate`).

    Synchronous. Called from inside a running event loop it still works, but blocks that loop
    while it runs; async code should await ensure_databases_async instead.
    """
    names = list(names)
    run_coroutine_sync(lambda: ensure_databases_async(database_url, names, recreate=recreate))
