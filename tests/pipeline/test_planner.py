"""The incremental planner gives the same plan as the full one (property), for pfs and cross inputs."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.pipeline.builders import PythonModules, commit, make_app, make_pipelines, one_job
from vigil.app import App
from vigil.pipeline.jobs import list_jobs
from vigil.pipeline.planner import Plan, input_heads, plan_job
from vigil.pipeline.registry import get_pipeline
from vigil.store.database import transaction

BY_ID = "def by_id(ctx):\n    return {'/' + ctx.datum_id: b''}\n"
PATHS = ["/a/1", "/a/2", "/b/1", "/b/c/2", "/c", "/d"]
# A step: {path: content or None (delete)}; contents come from a tiny alphabet so that equal bytes recur.
steps = st.lists(st.dictionaries(st.sampled_from(PATHS), st.sampled_from([b"x", b"y", None]), min_size=1,
                                 max_size=3), min_size=1, max_size=5)


def plans(app: App, name: str) -> tuple[Plan, Plan]:
    """(incremental, full) plans of the next job of ``name``."""
    p = get_pipeline(app.store, name)
    last = list_jobs(app.store, name, 1)
    last_inputs = last[0].inputs if last and last[0].state == "SUCCESS" else None
    with transaction(app.store.engine) as conn:
        heads = input_heads(app.store, conn, p.spec)
        assert not isinstance(heads, str)
        inc = plan_job(app.store, conn, p.spec, p.salt, heads, last_inputs, False)
        full = plan_job(app.store, conn, p.spec, p.salt, heads, None, False)
    return inc, full


def summary(plan: Plan) -> tuple[set[str], set[str], int, bool]:
    return {d.id for d in plan.todo}, set(plan.removed), plan.n_total, plan.empty_reason is not None


def apply(app: App, repo: str, step: dict[str, bytes | None]) -> None:
    present = {f.path for f in app.store.list_files(repo)} if app.store.head(repo) else set()
    # deleting a missing path is a user error; a put under a file (or over a folder) too: keep the step valid
    changes: dict[str, bytes | None] = {}
    for path, data in step.items():
        if data is None and path not in present:
            continue
        clash = any(q.startswith(path + "/") or path.startswith(q + "/") for q in present | set(changes))
        if data is not None and clash:
            continue
        changes[path] = data
    if changes:
        commit(app.store, repo, changes)


def new_app(root: Path, modules: PythonModules, input_yaml: str, repos: list[str]) -> App:
    app = make_app(root)
    for repo in repos:
        app.store.create_repo(repo)
    module = modules.add(BY_ID) if not modules.names else modules.names[0]
    make_pipelines(app, f"""
        pipeline: {{name: p}}
        input: {input_yaml}
        transform: {{python: "{module}:by_id"}}
    """)
    return app


def check_sequence(app: App, seq: list[tuple[str, dict[str, bytes | None]]]) -> None:
    for repo, step in seq:
        apply(app, repo, step)
        if any(app.store.head(r.name) is None for r in app.store.list_repos() if r.name != "p"):
            continue
        inc, full = plans(app, "p")
        assert summary(inc) == summary(full)
        app.run("p")
    app.executor.close()


_settings = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_settings
@given(seq=steps)
def test_incremental_equals_full_on_random_histories(tmp_path_factory, modules: PythonModules,
                                                     seq: list[dict[str, bytes | None]]) -> None:
    app = new_app(tmp_path_factory.mktemp("ws"), modules, '{pfs: {repo: images, glob: "/*"}}', ["images"])
    check_sequence(app, [("images", s) for s in seq])


@_settings
@given(seq=st.lists(st.tuples(st.sampled_from(["images", "model"]), steps.map(lambda s: s[0])), min_size=1,
                    max_size=5))
def test_incremental_equals_full_on_a_cross(tmp_path_factory, modules: PythonModules,
                                           seq: list[tuple[str, dict[str, bytes | None]]]) -> None:
    app = new_app(tmp_path_factory.mktemp("ws"), modules,
                  '{cross: [{pfs: {repo: images, glob: "/*"}}, {pfs: {repo: model, glob: "/*"}}]}',
                  ["images", "model"])
    commit(app.store, "images", {"/seed": b"s"})
    commit(app.store, "model", {"/m": b"m"})
    app.run("p")
    check_sequence(app, seq)


def test_incremental_plan_touches_only_changed_roots(app: App, modules: PythonModules) -> None:
    app = new_app(app.workspace.root.parent / "ws2", modules, '{pfs: {repo: images, glob: "/*"}}', ["images"])
    commit(app.store, "images", {f"/f{i}": str(i).encode() for i in range(20)})
    one_job(app, "p")
    commit(app.store, "images", {"/f3": b"new", "/f25": b"25", "/f4": None})
    inc, full = plans(app, "p")
    assert inc.incremental and not full.incremental
    assert summary(inc) == summary(full)
    assert ({d.inputs[0].root for d in inc.todo}, len(inc.removed), inc.n_total) == ({"/f3", "/f25"}, 2, 20)


def test_input_from_another_chain_forces_the_full_path(app: App, modules: PythonModules) -> None:
    app = new_app(app.workspace.root.parent / "ws2", modules, '{pfs: {repo: images, glob: "/*"}}', ["images"])
    commit(app.store, "images", {"/a": b"a", "/b": b"b"})
    one_job(app, "p")
    # the repo is deleted and re-created: the last job's input commit is gone, the new branch is a new chain
    app.store.delete_repo("images", force=True)
    app.store.create_repo("images")
    commit(app.store, "images", {"/a": b"a", "/c": b"c"})
    inc, full = plans(app, "p")
    assert not inc.incremental
    assert summary(inc) == summary(full)
    job = one_job(app, "p")
    assert (job.n_processed, job.n_skipped, job.n_removed) == (1, 1, 1)

    # a branch forked from master is another chain too: planning from master's last commit goes the full way
    app.store.create_branch("images", "dev", "master")
    commit(app.store, "images", {"/d": b"d"}, branch="dev")
    p = get_pipeline(app.store, "p")
    last = list_jobs(app.store, "p", 1)[0].inputs
    with transaction(app.store.engine) as conn:
        seq = app.store.branch_head_seq(conn, "images", "dev")
        assert seq is not None
        heads = input_heads(app.store, conn, p.spec)
        assert not isinstance(heads, str)
        dev = {"images": type(heads["images"])("images", "images", app.store.commit_info_at(conn, seq).id, seq)}
        plan = plan_job(app.store, conn, p.spec, p.salt, dev, last, False)
    assert not plan.incremental and {d.inputs[0].root for d in plan.todo} == {"/d"}
