"""The JSON shape of jobs and datums, one per kind of thing, used by every command that shows one.

Conventions (docs/json.md, `vigil help json`): a thing's own identifier is ``id`` (commits, jobs, datums) or
``name`` (repos, pipelines); references to other things are named by kind (``pipeline``, ``repo``,
``job_id``, ``output_commit``); times are Unix seconds (``*_at``); sizes are bytes; counts start with ``n_``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vigil.pipeline.jobs import JobInfo
    from vigil.pipeline.registry import Pipeline

JOB_KEYS = ["id", "pipeline", "version", "state", "reason", "created_at", "finished_at", "seconds", "inputs",
            "output_commit", "n_total", "n_processed", "n_recovered", "n_skipped", "n_failed", "n_removed"]
DATUM_KEYS = ["id", "pipeline", "job_id", "state", "committed", "attempts", "seconds", "error", "log", "inputs"]


def job_view(job: JobInfo) -> dict[str, Any]:
    """A job as JSON: ``inputs`` as a list of {name, repo, commit}."""
    d = job.to_dict()
    d["inputs"] = [{"name": name, "repo": repo, "commit": commit}
                   for name, (repo, commit) in sorted(job.inputs.items())]
    return {k: d[k] for k in JOB_KEYS} | {k: v for k, v in d.items() if k not in JOB_KEYS}


def pipeline_view(pipeline: Pipeline) -> dict[str, Any]:
    """A pipeline as JSON: its ``name`` first (the spec holds it too, deeper down)."""
    return {"name": pipeline.name, **pipeline.to_dict()}


def datum_view(record: dict[str, Any]) -> dict[str, Any]:
    """A datum record as JSON: its id under ``id``, ``inputs`` as a list of {name, repo, root, files}."""
    d = dict(record)
    d["id"] = d.pop("datum_id")
    d["inputs"] = [{"name": name, "repo": repo, "root": root, "files": files}
                   for name, repo, root, files in d["inputs"]]
    d.pop("outputs", None)  # the staging area of an unfinished datum: internal
    return {k: d[k] for k in DATUM_KEYS} | {k: v for k, v in d.items() if k not in DATUM_KEYS}


# What each kind of thing looks like in --json output, and which commands print it (docs/json.md).
KINDS: dict[str, tuple[str, list[str]]] = {
    "commit": ("put, rm, log (list), inspect (+ changes)",
               ["id", "seq", "repo", "branch", "parent", "created_at", "description", "origin", "n_added",
                "n_modified", "n_deleted", "bytes_added", "provenance"]),
    "put result": ("put", ["...commit", "changed", "skipped [{source, reason}]"]),
    "file": ("ls (list), lineage (file)", ["path", "oid", "size"]),
    "change": ("diff (list), inspect (changes)", ["kind", "path", "oid", "old_oid", "size"]),
    "repo": ("repo list (list), repo inspect (+ heads)",
             ["name", "description", "created_at", "branches", "n_commits", "readers"]),
    "pipeline": ("pipeline list (list, + last_job), pipeline inspect",
                 ["name", "spec", "version", "salt", "created_at", "updated_at"]),
    "job": ("run, job list (list), job inspect, pipeline list (last_job)",
            [*JOB_KEYS[:8], "inputs [{name, repo, commit}]", *JOB_KEYS[9:]]),
    "datum": ("datum list (list), datum inspect (+ committed_outputs), logs (list)",
              [*DATUM_KEYS[:9], "inputs [{name, repo, root, files}]"]),
    "validation": ("pipeline validate, rules validate",
                   ["file", "valid", "pipelines | rules, version", "errors (when not valid)",
                    "workspace_checked, actions (pipeline validate)"]),
    "applied": ("pipeline apply (list)", ["name", "action (created, updated, unchanged)", "version"]),
    "lineage": ("lineage", ["commit (repo@id)", "file", "upstream", "downstream [{repo, commit, origin, depth}]"]),
    "alert": ("alerts list (list), alerts show (+ event, record, frame_oid, frame_committed_at, timezone, "
              "attempts_log [{number, worker, started_at, finished_at, outcome, code, error}])",
              ["id", "alert_id", "event_id", "state", "kind", "channel", "target", "rule", "severity", "camera", "ts",
               "attempts", "grouped", "created_at", "sent_at", "next_attempt_at", "latency", "last_code",
               "last_error"]),
    "alert channel": ("alerts channels (list)",
                      ["name", "type", "destination", "recipients", "secrets", "routes",
                       "disabled [{target, reason, at}]"]),
    "source stats": ("ingest", ["state", "frames_in", "frames_out", "committed", "commits", "reconnects", "stalls",
                                "errors", "last_frame", "last_error", "fps_in", "fps_out"]),
}


def json_keys_markdown() -> str:
    """The table of docs/json.md (and `vigil help json`)."""
    lines = ["| kind | printed by | keys |", "|---|---|---|"]
    lines += [f"| {kind} | {commands} | {', '.join(keys)} |" for kind, (commands, keys) in KINDS.items()]
    return "\n".join(lines) + "\n"
