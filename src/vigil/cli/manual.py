"""What `-h` shows beyond the options: examples per command, and `vigil help TOPIC` (exit codes, JSON keys).

The exit-code table is built from :mod:`vigil.errors` (each error class carries its code), so the help, the
docs page (`docs/exit-codes.md`, checked by a test) and the code cannot drift apart.
"""

from __future__ import annotations

from typing import Annotated

import typer

from vigil import errors

EXAMPLES: dict[str, list[str]] = {
    "init": ["vigil init site1 && cd site1"],
    "repo create": ["vigil repo create images -d 'camera frames'"],
    "repo list": ["vigil repo list", "vigil repo list --json | jq -r '.[].name'"],
    "branch create": ["vigil branch create images@test --head master^1"],
    "put": ["vigil put images cam1_1511891098.jpg folder/ -m 'first frames'",
            "vigil put images:/cam2/ more/*.jpg          # into folder /cam2",
            "cat frame.jpg | vigil put images:/cam2/1511891099.jpg -"],
    "rm": ["vigil rm images:/cam1/1511891098.jpg images:/old -m 'drop'"],
    "get": ["vigil get images@master:/cam1/1511891098.jpg -o out.jpg",
            "vigil get images@master^1:/cam1/1511891098.jpg | wc -c"],
    "ls": ["vigil ls images", "vigil ls 'images@master^1:/cam*/*.jpg'", "vigil ls images --json"],
    "log": ["vigil log images -n 5"],
    "diff": ["vigil diff images@master^1 images@master"],
    "inspect": ["vigil inspect images@master", "vigil inspect images@3f2a"],
    "lineage": ["vigil lineage threat@master", "vigil lineage detect@master:/dev1/1511891098.json"],
    "fsck": ["vigil fsck || echo 'damaged: exit code 7'", "vigil fsck --repair   # then put the named files again"],
    "gc": ["vigil gc --grace 0"],
    "ingest": ["vigil ingest rtsp://user:pass@192.0.2.10:554/stream1 --camera acme-gate --fps 2",
               "vigil ingest http://192.0.2.11/snapshot.jpg --camera lobby --interval 2",
               "vigil ingest folder:/srv/ftp/cam3 --camera cam3 --remove",
               "vigil ingest clip.mp4 --camera cam1 --fps 1 --start 2017-11-28T17:00:00Z"],
    "run": ["vigil run", "vigil run detect", "vigil run --watch --interval 2"],
    "logs": ["vigil logs --pipeline detect", "vigil logs --job 26091c0e5e6a4f1b9b7e0f4dc2a1c3d4 --json"],
    "pipeline validate": ["vigil pipeline validate specs.yaml", "vigil pipeline validate specs.yaml --json"],
    "pipeline create": ["vigil pipeline create src/vigil/data/camera-pipelines.yaml"],
    "pipeline apply": ["vigil pipeline apply specs.yaml   # create or update each; unchanged ones untouched"],
    "job list": ["vigil job list -p detect -n 5", "vigil job list --json | jq -r '.[0].id'"],
    "job inspect": ["vigil job inspect 26091c0e"],
    "datum list": ["vigil datum list 26091c0e"],
    "datum inspect": ["vigil datum inspect detect 9f1c"],
    "rules validate": ["vigil rules validate rules.yaml", "vigil rules validate rules.yaml --json"],
    "rules test": ["vigil rules test rules.yaml --since 2017-11-28"],
    "model add": ["vigil model add yolox-nano", "vigil model add ./my-model.onnx --fixed-input"],
    "eval": ["vigil eval --images frames/ --gt gt.json --class-map truck,bus=car   # gt format: docs/eval-gt.md",
             "vigil eval --images hwy/ --gt hwy/gt.json --input-size aspect:640 --target-precision 0.9"],
    "bench": ["vigil bench --images frames/ --rounds 5"],
    "demo": ["vigil demo", "vigil demo /tmp/demo --no-fresh"],
    "alerts list": ["vigil alerts list --state dead", "vigil alerts list --json | jq -r '.[].alert_id'"],
    "alerts show": ["vigil alerts show 3f2a9c"],
    "alerts retry": ["vigil alerts retry 3f2a9c", "vigil alerts retry --dead"],
    "alerts test": ["vigil alerts test mail", "vigil alerts test hook --to https://hooks.example.com/vigil"],
    "alerts deliver": ["vigil alerts deliver", "vigil alerts deliver --watch"],
}


def examples(command: str) -> str | None:
    """The help epilog of ``command`` (e.g. ``"repo create"``): its examples, kept verbatim (``\\b``)."""
    lines = EXAMPLES.get(command)
    if not lines:
        return None
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


# Codes the CLI itself uses, beside those of the error classes.
OTHER_CODES = [
    (0, "success"),
    (errors.VigilError.exit_code, "any other Vigil error (a message and a hint are printed)"),
    (2, "usage: bad arguments, paths, refs, specs or rule files (also unknown options, from the parser)"),
    (70, "internal error: a bug; re-run with --debug and report the traceback"),
    (130, "aborted (Ctrl-C)"),
]


def exit_codes() -> list[tuple[int, str, str]]:
    """(code, error class names, meaning) for every exit code, sorted by code."""
    by_code: dict[int, list[type[errors.VigilError]]] = {}
    pending: list[type[errors.VigilError]] = [errors.VigilError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls is not errors.VigilError and cls.__module__ == errors.__name__:
            by_code.setdefault(cls.exit_code, []).append(cls)
    rows: dict[int, tuple[str, str]] = {code: ("", text) for code, text in OTHER_CODES}
    for code, classes in by_code.items():
        classes.sort(key=lambda c: c.__name__)
        names = ", ".join(c.__name__ for c in classes)
        meaning = "; ".join((c.__doc__ or "").strip().splitlines()[0].rstrip(".") for c in classes)
        rows[code] = (names, meaning if code not in dict(OTHER_CODES) else rows[code][1])
    return [(code, *rows[code]) for code in sorted(rows)]


def exit_codes_markdown() -> str:
    """The table of docs/exit-codes.md."""
    lines = ["| code | error class | meaning |", "|---:|---|---|"]
    lines += [f"| {code} | {names or '-'} | {meaning} |" for code, names, meaning in exit_codes()]
    return "\n".join(lines) + "\n"


TOPICS = {"exit-codes": "exit codes of every command", "json": "the keys of --json output"}


def help_topic(topic: Annotated[str, typer.Argument(help="exit-codes or json.")] = "") -> None:
    """Reference pages: `vigil help exit-codes`, `vigil help json`."""
    from vigil.cli.console import out
    from vigil.cli.tables import print_table

    if topic == "exit-codes":
        print_table(["code", "error", "meaning"], exit_codes())
        return
    if topic == "json":
        from vigil.cli.views import KINDS
        from vigil.cli.views import __doc__ as conventions

        out.print((conventions or "").split("\n\n", 1)[1].strip() + "\n", markup=False)
        print_table(["kind", "printed by", "keys"], ([k, c, ", ".join(keys)] for k, (c, keys) in KINDS.items()))
        return
    if topic:
        raise errors.UsageError(f"no help topic {topic!r}", f"topics: {', '.join(TOPICS)}")
    print_table(["topic", "what"], TOPICS.items())


def register(app: typer.Typer) -> None:
    app.command("help")(help_topic)
