"""Command transforms under the Pachyderm contract.

Per datum, a private workspace holds ``pfs/<input name>/<path in repo>`` (the datum's files) and ``pfs/out/``.
The command (``cmd`` with ``stdin`` lines fed to it, ``env`` added) runs with ``/pfs`` resolving to that
workspace: as root, in a private mount namespace (``unshare --mount`` + a bind mount), so ``/pfs/images/a.jpg``
works exactly as in Pachyderm. Where that is impossible (no privileges, no ``unshare``), ``/pfs`` is replaced
by the workspace path in cmd, stdin and env, and the datum log says so. Per-datum env: ``$<input name>`` = the
path of the datum's root for that input, ``$<input name>_COMMIT`` = its commit id, plus
``PACH_JOB_ID``/``PACH_DATUM_ID`` and ``VIGIL_*`` equivalents. Everything the command writes under ``/pfs/out``
becomes the datum's outputs.

Inside a worker container (the container executor), ``/pfs`` is the container's own: ``pfs_root`` names it,
the datum is laid out there directly (inputs read-only), and it is emptied after each datum.
"""

from __future__ import annotations

import functools
import logging
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from vigil.pipeline.spec import Transform as TransformSpec
from vigil.pipeline.transform import DatumContext, Outputs

log = logging.getLogger(__name__)

PFS = "/pfs"
_MOUNT_SCRIPT = 'mount --bind "$VIGIL_PFS_SOURCE" /pfs && exec "$@"'


@functools.lru_cache(maxsize=1)
def namespaces_available() -> bool:
    """True when this process can give a subprocess a private mount namespace with /pfs bound."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    try:
        os.makedirs(PFS, exist_ok=True)
        probe = tempfile.mkdtemp(prefix="vigil-probe-")
        done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", _MOUNT_SCRIPT, "sh",
                               "true"], env={**os.environ, "VIGIL_PFS_SOURCE": probe}, capture_output=True,
                              timeout=10, check=False)
        os.rmdir(probe)
        return done.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


class CommandTransform:
    """Runs ``cmd``/``stdin`` once per datum (no batching: each datum is its own process, by contract)."""

    def __init__(self, spec: TransformSpec, timeout: float | None = None, *, isolate: bool | None = None,
                 pfs_root: Path | None = None) -> None:
        assert spec.cmd is not None
        self.spec = spec
        self.timeout = timeout
        self.isolate = isolate
        self.pfs_root = pfs_root

    def setup(self) -> None:
        if self.pfs_root is not None:
            return
        if self.isolate is None:
            self.isolate = namespaces_available()
        if not self.isolate:
            log.warning("no private mount namespace available: /pfs is rewritten to each datum's folder instead")

    def process_batch(self, datums: Sequence[DatumContext]) -> list[Outputs]:
        return [self._one(d) for d in datums]

    def _one(self, ctx: DatumContext) -> Outputs:
        if self.pfs_root is not None:
            try:
                return self._run(ctx, self.pfs_root, direct=True)
            finally:
                _empty(self.pfs_root)
        with tempfile.TemporaryDirectory(prefix="vigil-datum-") as tmp:
            return self._run(ctx, Path(tmp) / "pfs", direct=False)

    def _run(self, ctx: DatumContext, root: Path, *, direct: bool) -> Outputs:
        (root / "out").mkdir(parents=True)
        env = {**os.environ, **self.spec.env, "PACH_JOB_ID": ctx.job_id, "PACH_DATUM_ID": ctx.datum_id,
               "VIGIL_JOB_ID": ctx.job_id, "VIGIL_DATUM_ID": ctx.datum_id}
        for part in ctx.task.inputs:
            base = root / part.name
            for f in part.files:
                dest = base / f.path.lstrip("/")
                dest.parent.mkdir(parents=True, exist_ok=True)
                with ctx.objects.open(f.oid) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                os.chmod(dest, 0o444)
            env[part.name] = f"{root if direct else PFS}/{part.name}{part.root if part.root != '/' else ''}"
            env[f"{part.name}_COMMIT"] = part.commit
        if direct:  # read-only inputs, as Pachyderm mounts them (the container has no capability to override)
            for name in sorted({p.name for p in ctx.task.inputs}):
                _set_folder_modes(root / name, 0o555)
        stdin = "\n".join(self.spec.stdin) + ("\n" if self.spec.stdin else "")
        argv = list(self.spec.cmd or [])
        if self.isolate and not direct:
            env["VIGIL_PFS_SOURCE"] = str(root)
            argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", _MOUNT_SCRIPT, "sh", *argv]
        elif not direct:
            argv, stdin, env = _substitute(argv, stdin, env, str(root))
        returncode, stderr = _run(argv, stdin.encode(), env, self.timeout)
        if returncode != 0:
            tail = stderr.decode(errors="replace")[-2000:]
            raise RuntimeError(f"command {shlex.join(self.spec.cmd or [])} exited {returncode}: {tail}")
        return _collect(root / "out")


def _run(argv: list[str], stdin: bytes, env: Mapping[str, str], timeout: float | None) -> tuple[int, bytes]:
    """Run in a new process group, so that a timeout kills the command's children too (``sh`` forks them;
    killing only ``sh`` would leave them running, holding the datum's folder)."""
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                          start_new_session=True) as proc:
        try:
            _out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    return proc.returncode, err


def _set_folder_modes(top: Path, mode: int) -> None:
    """chmod ``top`` and every folder below it (not symlinks); a missing ``top`` is left alone."""
    if top.is_dir() and not top.is_symlink():
        for folder in [top, *(p for p in top.rglob("*") if p.is_dir() and not p.is_symlink())]:
            os.chmod(folder, mode)


def _empty(folder: Path) -> None:
    """Remove everything below ``folder`` (read-only input folders included), keeping ``folder`` itself."""
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            _set_folder_modes(entry, 0o755)
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _substitute(argv: list[str], stdin: str, env: Mapping[str, str], root: str
                ) -> tuple[list[str], str, dict[str, str]]:
    def sub(text: str) -> str:
        return text.replace(PFS + "/", root + "/") if text != PFS else root

    return [sub(a) for a in argv], sub(stdin), {k: sub(v) for k, v in env.items()}


def _collect(out: Path) -> Outputs:
    outputs: Outputs = {}
    for path in sorted(out.rglob("*")):
        if path.is_symlink():
            raise RuntimeError(f"output {path.relative_to(out)} is a symlink; write regular files to /pfs/out")
        if path.is_file():
            outputs["/" + path.relative_to(out).as_posix()] = path.read_bytes()
    return outputs
