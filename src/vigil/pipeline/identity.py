"""Code identity: everything besides its inputs that decides a pipeline's output, recorded on every job.

A pipeline's version (``PipelineSpec.fingerprint``) covers its spec and stage params. The code identity adds
what runs it:

* a built-in stage or a ``python`` transform: the sha256 of every source file of its module and of the modules
  of its package it imports (found by reading their imports, lazy ones too: no module is imported to find out);
* a transform run in a container image: the image's id (``podman image inspect``), which holds all its code;
* a local command: the sha256 of each file its ``cmd`` and ``stdin`` name (the script it runs). A command that
  names a script which is not there, or an image whose id cannot be read, is recorded as NOT reproducible with
  the reason, instead of claiming a reproducibility it does not have;
* the environment the numbers came out of: Vigil, Python and numeric library versions, CPU architecture and
  flags (what differs between two runs when the code does not).

The identity is a canonical JSON document; its sha256 (``digest``) is recorded on the job and its output commit,
and the document itself once per digest (``code_identities``).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select

from vigil import __version__
from vigil.pipeline.spec import PipelineSpec
from vigil.store import schema as s

STAGE_PACKAGE = "vigil.stages"  # built-in stage NAME lives in module vigil.stages.NAME (a test checks it)
LIBRARIES = ("numpy", "onnxruntime", "opencv-python-headless", "pillow", "pydantic", "orjson", "supervision")
_SCRIPT_SUFFIXES = (".py", ".sh", ".bash", ".r", ".R", ".pl", ".rb", ".js", ".jl", ".lua")
_CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "amx_tile", "asimd",
              "neon", "sve")
_IMAGE_TTL = 60.0  # an image id is re-read this often (a rebuilt tag gets a new id)


@dataclass(frozen=True)
class CodeIdentity:
    """The identity document of one pipeline version as run here, and its sha256."""

    doc: dict[str, Any]
    digest: str

    @property
    def reproducible(self) -> bool:
        return bool(self.doc["reproducible"])

    @property
    def why_not(self) -> str:
        return str(self.doc.get("why_not", ""))


def code_identity(spec: PipelineSpec, image: str | None = None, *, cwd: Path | None = None) -> CodeIdentity:
    """The identity of ``spec`` run in ``image`` (None: in this process), commands resolved from ``cwd``."""
    transform = spec.transform
    code: dict[str, Any] = {"kind": transform.kind}
    problems: list[str] = []
    if image is not None:
        image_id = image_digest(image)
        code["image"] = {"ref": image, "id": image_id}
        if image_id is None:
            problems.append(f"the id of image {image} cannot be read (no podman, or no such image here)")
    elif transform.kind in ("stage", "python"):
        code["modules"] = transform_modules(spec)
        if not code["modules"]:
            problems.append(f"python module {transform.python} is not importable here: its source cannot be hashed")
    else:
        code["scripts"], missing = script_hashes([*(transform.cmd or []), *transform.stdin], cwd or Path.cwd())
        problems += [f"the command names {m}, which is not a file here (relative to {cwd or Path.cwd()}): what it "
                     "ran cannot be known" for m in missing]
    doc: dict[str, Any] = {"pipeline": spec.name, "spec": spec.fingerprint(), "vigil": __version__, "code": code,
                           "environment": environment(), "reproducible": not problems,
                           "spec_doc": json.loads(spec.canonical_json())}  # the spec as run: reproduce reuses it
    if problems:
        doc["why_not"] = "; ".join(problems)
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return CodeIdentity(doc, hashlib.sha256(text.encode("utf-8")).hexdigest())


def record(conn: Connection, identity: CodeIdentity) -> None:
    """Store the identity document once per digest (inside the caller's write transaction)."""
    c = s.code_identities.c
    if conn.execute(select(c.digest).where(c.digest == identity.digest)).first() is None:
        conn.execute(insert(s.code_identities).values(
            digest=identity.digest, pipeline=identity.doc["pipeline"], reproducible=identity.reproducible,
            doc=json.dumps(identity.doc, sort_keys=True), created_at=time.time()))


def load(conn: Connection, digest: str) -> dict[str, Any] | None:
    """The identity document recorded under ``digest``, or None."""
    row = conn.execute(select(s.code_identities.c.doc).where(s.code_identities.c.digest == digest)).first()
    return None if row is None else dict(json.loads(row[0]))


# ------------------------------------------------------------------------------------------------ modules
def module_hashes(module: str, package: str) -> dict[str, str]:
    """sha256 of the source of ``module`` and of every module of ``package`` it imports, transitively:
    {"vigil/stages/detect.py": hex, ...}. Empty when ``module`` is not found."""
    root = _package_root(package)
    return dict(_module_hashes(module, package, str(root))) if root is not None else {}


def transform_modules(spec: PipelineSpec) -> dict[str, str]:
    """:func:`module_hashes` of a built-in stage or ``python`` transform (empty for a command)."""
    if spec.transform.stage is not None:
        return module_hashes(f"{STAGE_PACKAGE}.{spec.transform.stage}", "vigil")
    if spec.transform.python is not None:
        module = spec.transform.python.partition(":")[0]
        return module_hashes(module, module.split(".")[0])
    return {}


def _package_root(package: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).parent
    return Path(spec.origin).parent if spec.origin and spec.origin.endswith(".py") else None  # a plain module


@lru_cache(maxsize=64)
def _module_hashes(module: str, package: str, root: str) -> tuple[tuple[str, str], ...]:
    """Cached per process: the code a process runs is the code it loaded, whatever changes on disk later."""
    base = Path(root)
    found: dict[str, str] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        path = _source(base, name)
        if path is None:
            continue
        rel = path.relative_to(base).as_posix()
        if rel in found:
            continue
        source = path.read_bytes()
        found[rel] = hashlib.sha256(source).hexdigest()
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # the packages' __init__ run too
        todo += [n for n in _imports(source, name, path.name == "__init__.py")
                 if n == package or n.startswith(package + ".")]
    return tuple(sorted(found.items()))


def _source(base: Path, name: str) -> Path | None:
    folder = base.joinpath(*name.split("."))
    for path in (folder.with_suffix(".py"), folder / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imports(source: bytes, name: str, is_package: bool) -> set[str]:
    """Module names imported anywhere in ``source`` (``from a import b`` gives ``a`` and ``a.b``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    here = name if is_package else name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = here.split(".")[: max(0, len(here.split(".")) - node.level + 1)]
                base = ".".join([*up, *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    return names


# ------------------------------------------------------------------------------------------------ scripts
def script_hashes(words: list[str], cwd: Path) -> tuple[dict[str, str], list[str]]:
    """({file as named: sha256}, [scripts named but missing]) for the words of a command and its stdin lines.
    A word counts as a file when one exists at it (outside /pfs); one that looks like a script (``x.py``)
    but is not there is missing. Programs found on PATH (``python3``) are the environment, not the code."""
    hashes: dict[str, str] = {}
    missing: list[str] = []
    for line in words:
        try:
            tokens = shlex.split(line)
        except ValueError:
            tokens = line.split()
        for word in tokens:
            if word.startswith(("/pfs", "$", "-")) or word in hashes:
                continue
            path = Path(word) if os.path.isabs(word) else cwd / word
            if path.is_file() and not (os.sep not in word and shutil.which(word)):
                hashes[word] = hashlib.sha256(path.read_bytes()).hexdigest()
            elif word.endswith(_SCRIPT_SUFFIXES) and "=" not in word:
                missing.append(word)
    return hashes, missing


# -------------------------------------------------------------------------------------------- environment
@lru_cache(maxsize=1)
def environment() -> dict[str, Any]:
    """Library versions and CPU facts (what can change a float's last bit without changing the code)."""
    libraries: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            libraries[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            libraries[name] = None
    return {"python": platform.python_version(), "implementation": sys.implementation.name,
            "machine": platform.machine(), "libraries": libraries, "cpu_flags": cpu_flags()}


def cpu_flags() -> list[str]:
    """The CPU's vector-instruction flags that numeric code dispatches on (from /proc/cpuinfo; [] elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            present = set(value.split())
            return [f for f in _CPU_FLAGS if f in present]
    return []


_images: dict[str, tuple[float, str | None]] = {}


def image_digest(image: str) -> str | None:
    """The local id (sha256) of ``image`` (re-read every minute), or None without podman or the image."""
    now = time.monotonic()
    cached = _images.get(image)
    if cached is not None and cached[0] > now:
        return cached[1]
    podman = shutil.which("podman")
    found: str | None = None
    if podman is not None:
        try:
            done = subprocess.run([podman, "image", "inspect", "--format", "{{.Id}}", image], capture_output=True,
                                  text=True, timeout=30, check=False)
            found = done.stdout.strip() or None if done.returncode == 0 else None
        except (OSError, subprocess.SubprocessError):
            found = None
    _images[image] = (now + _IMAGE_TTL, found)
    return found


__all__ = ["CodeIdentity", "code_identity", "cpu_flags", "environment", "image_digest", "load", "module_hashes",
           "record", "script_hashes", "transform_modules"]
