"""Start-up cost guard (issue 18 item 2): building the CLI and answering --help/--version imports none of the
heavy libraries. No wall-clock threshold here: `benchmarks/bench_startup.py` measures the time; this test
checks the cause (what gets imported), which does not depend on the machine's load."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ["sqlalchemy", "numpy", "cv2", "onnxruntime", "matplotlib", "httpx", "PIL", "yaml", "orjson",
         "vigil.app", "vigil.store.store", "vigil.pipeline", "vigil.stages", "vigil.vision", "rich.table", "dask",
         "distributed"]

PROBE = """
import contextlib, io, json, sys
from vigil.cli.main import main
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "out": buf.getvalue(), "modules": sorted(sys.modules)}))
"""


def imported_by(*argv: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(proc.stdout.splitlines()[-1])
    return result


@pytest.mark.parametrize("argv", [["--help"], ["-h"], ["--version"], ["put", "--help"], ["job", "list", "-h"],
                                  ["eval", "--help"], ["help", "exit-codes"]])
def test_help_and_version_import_nothing_heavy(argv: list[str]) -> None:
    result = imported_by(*argv)
    assert result["rc"] == 0, result["out"]
    modules = set(result["modules"])  # type: ignore[arg-type]
    loaded = sorted(h for h in HEAVY if h in modules or any(m.startswith(h + ".") for m in modules))
    assert not loaded, f"vigil {' '.join(argv)} imported {loaded}"


def test_import_of_the_cli_module_is_light() -> None:
    code = "import sys, vigil.cli.main; print('\\n'.join(sys.modules))"
    modules = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout.split())
    assert not {"sqlalchemy", "pydantic", "numpy", "cv2", "onnxruntime", "matplotlib", "rich.console"} & modules
