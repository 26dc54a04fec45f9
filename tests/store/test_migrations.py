"""Schema migrations: a workspace made by Vigil 0.1 opens and upgrades (SQLite and PostgreSQL), a new one is
created by the same revisions, and the revisions agree with the table definitions the code queries."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

import vigil.alerts.tables
import vigil.index.schema
import vigil.pipeline.state
import vigil.store.audit
import vigil.store.tokens  # noqa: F401 - register their tables on the shared metadata
from tests.pg import fresh_database
from tests.pipeline.builders import one_job
from vigil.app import App
from vigil.errors import WorkspaceError
from vigil.pipeline.jobs import list_jobs
from vigil.store import migrations
from vigil.store.database import make_engine
from vigil.store.schema import metadata
from vigil.store.workspace import LocalObjects, Workspace, WorkspaceConfig

FIXTURES = Path(__file__).parent / "fixtures"
V1_COMMIT_FILES = ["/cam1/a.txt", "/cam2/b.txt", "/cam3/c.txt"]


def _legacy_workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(FIXTURES / "workspace-v1", root)
    return root


def _revision(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("SELECT version_num FROM alembic_version").fetchone()[0])


def _check_v1_data(app: App) -> None:
    """Everything the 0.1 workspace held is readable, and its pipeline carries on incrementally."""
    assert [f.path for f in app.store.list_files("images")] == V1_COMMIT_FILES
    assert app.store.read_bytes("images", None, "/cam3/c.txt") == b"gamma"
    assert [f.path for f in app.store.list_files("marks")] == ["/cam1.done", "/cam2.done", "/cam3.done"]
    jobs = list_jobs(app.store, "marks")
    assert [j.state for j in jobs] == ["SUCCESS", "SUCCESS"]
    with app.store.begin_commit("images") as c:
        c.put_bytes("/cam4/d.txt", b"delta")
    job = one_job(app, "marks")
    assert (job.state, job.n_processed, job.n_skipped) == ("SUCCESS", 1, 3)  # old datums are still known


def test_a_workspace_made_by_vigil_0_1_opens_and_upgrades(tmp_path: Path) -> None:
    root = _legacy_workspace(tmp_path)
    app = App.open(root)
    _check_v1_data(app)
    assert _revision(root / ".vigil" / "metadata.db") == migrations.HEAD
    with sqlite3.connect(root / ".vigil" / "metadata.db") as conn:  # Vigil 0.1 would now refuse to open it
        assert int(conn.execute("SELECT value FROM vigil_meta WHERE key = 'schema'").fetchone()[0]) > 1


def test_a_postgresql_database_made_by_vigil_0_1_upgrades(tmp_path: Path) -> None:
    psycopg = pytest.importorskip("psycopg")
    root = _legacy_workspace(tmp_path)
    with fresh_database("vigil_test_mig") as url:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
            conn.execute((FIXTURES / "postgres-v1.sql").read_text())  # a dump of what 0.1 created
        config = WorkspaceConfig(metadata=url, objects=LocalObjects(fsync=False))
        app = App(Workspace(root, config))
        try:
            _check_v1_data(app)
            with app.store.engine.connect() as conn:
                assert migrations.current_revision(conn) == migrations.HEAD
        finally:
            app.store.close()


def test_several_processes_opening_an_old_workspace_migrate_it_once(tmp_path: Path) -> None:
    root = _legacy_workspace(tmp_path)
    url = f"sqlite:///{root / '.vigil' / 'metadata.db'}"
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            make_engine(url).dispose()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert _revision(root / ".vigil" / "metadata.db") == migrations.HEAD


def test_manual_mode_refuses_an_old_schema_and_says_how_to_upgrade(tmp_path: Path) -> None:
    root = _legacy_workspace(tmp_path)
    with pytest.raises(WorkspaceError, match="vigil migrate"):
        make_engine(f"sqlite:///{root / '.vigil' / 'metadata.db'}", migrate=False)


def test_a_schema_newer_than_this_vigil_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    make_engine(url).dispose()
    with create_engine(url).begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(WorkspaceError, match="newer than this Vigil"):
        make_engine(url)


def test_head_is_alembics_head() -> None:
    assert migrations.known_revisions()[-1] == migrations.HEAD


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrated_schema_matches_the_table_definitions(tmp_path: Path, backend: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    def compare(url: str) -> list[object]:
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                diffs = compare_metadata(MigrationContext.configure(conn), metadata)
        finally:
            engine.dispose()
        return [d for d in diffs if not (isinstance(d, tuple) and d[0] == "remove_table"
                                         and d[1].name == "alembic_version")]

    if backend == "sqlite":
        assert compare(f"sqlite:///{tmp_path / 'meta.db'}") == []
    else:
        pytest.importorskip("psycopg")
        with fresh_database("vigil_test_mig") as url:
            assert compare(url) == []


def test_every_revision_downgrades_and_upgrades_again(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    root = _legacy_workspace(tmp_path)
    engine = make_engine(f"sqlite:///{root / '.vigil' / 'metadata.db'}")
    config = Config()
    config.set_main_option("script_location", str(migrations.FOLDER))
    for target in reversed(migrations.known_revisions()[:-1]):
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, target)
    engine.dispose()
    _check_v1_data(App.open(root))  # upgraded again on open


def test_vigil_migrate_upgrades_a_manual_workspace(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = _legacy_workspace(tmp_path)
    config = root / ".vigil" / "vigil.yaml"
    config.write_text(config.read_text() + "migrate: manual\n")
    vigil = [sys.executable, "-c", "import sys; from vigil.cli.main import main; sys.exit(main())", "-w", str(root)]

    refused = subprocess.run([*vigil, "repo", "list"], capture_output=True, text=True)
    assert refused.returncode == 6 and "vigil migrate" in refused.stderr and "Traceback" not in refused.stderr
    check = subprocess.run([*vigil, "migrate", "--check"], capture_output=True, text=True)
    assert check.returncode == 1 and "run `vigil migrate`" in check.stdout
    done = subprocess.run([*vigil, "migrate"], capture_output=True, text=True)
    assert done.returncode == 0 and f"-> {migrations.HEAD}" in done.stdout, done.stderr
    assert subprocess.run([*vigil, "migrate", "--check"], capture_output=True).returncode == 0
    assert subprocess.run([*vigil, "repo", "list"], capture_output=True).returncode == 0
