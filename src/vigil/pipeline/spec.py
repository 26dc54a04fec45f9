"""Pipeline specs: pydantic models that accept Pachyderm pipeline specs as written.

Specs come as JSON or YAML, with snake_case or camelCase keys (camelCase is normalised recursively, except
inside the free-form maps ``env`` and ``params``), ``atom`` as the 2017 name of ``pfs``, and several specs per
file (YAML documents separated by ``---``; JSON objects concatenated, optionally with ``---`` between them).
Every error is a :class:`~vigil.errors.SpecError` naming the file, the spec (when several), the YAML/JSON line
where known, and the key path as written in the file, e.g. ``object-detect.json:9: input.cross.0.atom.glob:
field required``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vigil.domain.placement import Placement
from vigil.errors import SpecError
from vigil.pipeline.glob import GlobSyntaxError, compile_glob, template_refs

__all__ = [
    "GpuSpec",
    "InputSpec",
    "ParallelismSpec",
    "PfsInput",
    "PipelineMeta",
    "PipelineSpec",
    "Resources",
    "Transform",
    "load_specs",
    "parse_specs",
]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class TreeError(ValueError):
    """An input-tree rule broke at ``path`` (normalised keys); the loader maps it back to the file's keys."""

    def __init__(self, path: tuple[str | int, ...], message: str, other: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.path = path
        self.message = message  # "{other}" stands for the ``other`` path, translated the same way
        self.other = other


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _scalar_str(value: Any) -> Any:
    """YAML turns ``PORT: 8080`` into an int; env values and quantities are strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else value


class PipelineMeta(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=63)


class PfsInput(_Strict):
    """One repo at one branch, cut into datums by ``glob``; ``name`` (default: the repo) is the input's name
    inside the pipeline: ``/pfs/<name>`` and ``$<name>``."""

    repo: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    glob: str
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
    branch: str = "master"
    lazy: bool = False
    empty_files: bool = False
    join_on: str | None = None
    outer_join: bool = False
    group_by: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "name" not in data and isinstance(data.get("repo"), str):
            return {**data, "name": data["repo"]}
        return data

    @field_validator("glob")
    @classmethod
    def _valid_glob(cls, value: str) -> str:
        try:
            compile_glob(value)
        except GlobSyntaxError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @model_validator(mode="after")
    def _valid_refs(self) -> PfsInput:
        groups = compile_glob(self.glob).group_count
        for key in ("join_on", "group_by"):
            template = getattr(self, key)
            if template is None:
                continue
            refs = template_refs(template)
            if not refs:
                raise ValueError(f"{key} {template!r} must refer to a glob capture group, like '$1'")
            if max(refs) > groups:
                raise ValueError(
                    f"{key} {template!r} refers to ${max(refs)} but glob {self.glob!r} has {groups} capture "
                    "group(s); put parentheses around the part to capture, e.g. '/(*).jpg'"
                )
        return self


class InputSpec(_Strict):
    """A node of the input tree: exactly one of ``pfs``, ``cross``, ``union``, ``join``, ``group``."""

    pfs: PfsInput | None = None
    cross: list[InputSpec] | None = Field(default=None, min_length=1)
    union: list[InputSpec] | None = Field(default=None, min_length=1)
    join: list[InputSpec] | None = Field(default=None, min_length=1)
    group: list[InputSpec] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> InputSpec:
        given = [k for k in ("pfs", "cross", "union", "join", "group") if getattr(self, k) is not None]
        if len(given) != 1:
            kinds = "pfs (or atom), cross, union, join, group"
            raise ValueError(f"an input needs exactly one of {kinds}; got {given or 'none'}")
        return self

    @property
    def kind(self) -> Literal["pfs", "cross", "union", "join", "group"]:
        for kind in ("cross", "union", "join", "group"):
            if getattr(self, kind) is not None:
                return kind
        return "pfs"

    @property
    def children(self) -> list[InputSpec]:
        return [] if self.pfs is not None else list(getattr(self, self.kind))

    def walk(self) -> Iterator[PfsInput]:
        """The pfs leaves, depth first, in the order written."""
        if self.pfs is not None:
            yield self.pfs
        for child in self.children:
            yield from child.walk()


class Transform(_Strict):
    """What runs on each datum: a built-in ``stage`` (+ ``params``), a ``python`` function
    ("module:function"), or a command (``cmd`` + ``stdin`` + ``env``). Any of them may name the container
    ``image`` to run in (the container executor; a workspace can map images or run them in-process)."""

    stage: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    python: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    cmd: list[str] | None = Field(default=None, min_length=1)
    stdin: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    image: str | None = None

    @field_validator("env", mode="before")
    @classmethod
    def _env_strings(cls, value: Any) -> Any:
        return {k: _scalar_str(v) for k, v in value.items()} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _one_kind(self) -> Transform:
        kinds = [k for k in ("stage", "python", "cmd") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a transform needs exactly one of stage, python, cmd; got {kinds or 'none'}")
        if self.params and kinds[0] != "stage":
            raise ValueError("params go with stage only")
        extra = [k for k in ("stdin", "env") if getattr(self, k)]
        if extra and kinds[0] != "cmd":
            raise ValueError(f"{', '.join(extra)} go with cmd only, not with {kinds[0]}")
        return self

    @property
    def kind(self) -> Literal["stage", "python", "cmd"]:
        return "stage" if self.stage is not None else "python" if self.python is not None else "cmd"


class ParallelismSpec(_Strict):
    constant: int = Field(default=1, ge=1)  # lax mode takes the 2017 specs' "1"
    coefficient: float | None = Field(default=None, gt=0)


class GpuSpec(_Strict):
    type: str = "nvidia.com/gpu"
    number: int = Field(default=1, ge=0)


class Resources(_Strict):
    """Requested or limited resources, kept as data for the executor (Kubernetes quantities as strings)."""

    cpu: float | None = Field(default=None, ge=0)
    memory: str | None = None
    disk: str | None = None
    gpu: GpuSpec | None = None

    @field_validator("memory", "disk", mode="before")
    @classmethod
    def _quantity(cls, value: Any) -> Any:
        return _scalar_str(value)

    @field_validator("gpu", mode="before")
    @classmethod
    def _gpu_count(cls, value: Any) -> Any:
        return {"number": value} if isinstance(value, int) and not isinstance(value, bool) else value


def parse_duration(value: Any) -> Any:
    """Seconds from a number, a numeric string, or a Go-style duration ("30s", "5m", "1h30m", "250ms")."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"{value!r} is not a duration; write seconds or e.g. '30s', '5m', '1h30m'")
        return sum(float(n) * _UNITS[u] for n, u in parts)
    return value


class PipelineSpec(_Strict):
    """One pipeline. Its output repo has the pipeline's name; ``fingerprint()`` is its version."""

    pipeline: PipelineMeta
    description: str = ""
    input: InputSpec
    transform: Transform
    parallelism_spec: ParallelismSpec = Field(default_factory=ParallelismSpec)
    datum_tries: int = Field(default=3, ge=1)
    datum_timeout: float | None = Field(default=None, gt=0)
    resource_requests: Resources | None = None
    resource_limits: Resources | None = None
    reprocess_spec: Literal["until_success", "every_job"] = "until_success"
    output_branch: str = "master"
    salt: str | None = None
    # Pachyderm 1.x's incremental mode: the one datum (a single pfs input, glob "/") sees its previous output and
    # only the input's changes since the last job, so a summary over a growing repo costs O(changes) per commit.
    incremental: bool = False
    # Where its datums run (overrides the workspace's `executor`). Not part of the version: the outputs are the
    # same bytes on every executor.
    executor: Placement | None = None

    _duration = field_validator("datum_timeout", mode="before")(parse_duration)

    @model_validator(mode="after")
    def _valid_tree(self) -> PipelineSpec:
        _check_tree(self.input, ("input",), None, {}, self.pipeline.name)
        if self.incremental:
            if self.input.pfs is None or self.input.pfs.glob != "/":
                raise TreeError(("incremental",), "incremental pipelines read one pfs input with glob '/' (one "
                                "datum over the whole repo, which then sees only what changed)")
            if self.transform.kind == "cmd":
                raise TreeError(("incremental",), "incremental is for stage and python transforms, not cmd")
        return self

    @property
    def name(self) -> str:
        return self.pipeline.name

    def input_repos(self) -> list[tuple[str, str, str]]:
        """(input name, repo, branch) of every pfs input, in the order written."""
        return [(p.name, p.repo, p.branch) for p in self.input.walk()]

    def canonical_json(self) -> str:
        """All fields with defaults filled in, keys sorted: equal for equivalent spellings of a spec (``executor``
        only when set, so specs stored before it existed read the same)."""
        data = self.model_dump(mode="json", exclude=None if self.executor else {"executor"})
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def fingerprint(self) -> str:
        """sha256 hex of :meth:`canonical_json` without ``executor``: the pipeline version recorded in provenance
        (where datums run does not change their outputs, so it is no new version)."""
        data = self.model_dump(mode="json", exclude={"executor"})
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_tree(
    node: InputSpec,
    path: tuple[str | int, ...],
    parent: str | None,
    seen: dict[str, tuple[str | int, ...]],
    pipeline: str,
) -> None:
    """Input names unique, no self-read, join/group children are pfs inputs with join_on/group_by."""
    if node.pfs is not None:
        pfs, here = node.pfs, (*path, "pfs")
        if pfs.name in seen:
            raise TreeError(
                here,
                f"duplicate input name '{pfs.name}' (first used at {{other}}); give each input a distinct "
                "'name', e.g. when the same repo is crossed with itself",
                seen[pfs.name],
            )
        seen[pfs.name] = here
        if pfs.repo == pipeline:
            raise TreeError(here, f"pipeline '{pipeline}' reads its own output repo '{pfs.repo}'")
        for key, owner in (("join_on", "join"), ("group_by", "group")):
            if getattr(pfs, key) is not None and parent != owner:
                raise TreeError(here, f"{key} is only meaningful on an input directly inside '{owner}'")
        return
    kind = node.kind
    for index, child in enumerate(node.children):
        where = (*path, kind, index)
        if kind in ("join", "group"):
            key = "join_on" if kind == "join" else "group_by"
            if child.pfs is None or getattr(child.pfs, key) is None:
                raise TreeError(where, f"each input inside '{kind}' must be a pfs input with '{key}'")
        _check_tree(child, where, kind, seen, pipeline)


# ---------------------------------------------------------------------------------------------------- loading

Path_ = tuple[str | int, ...]
_FREE_FORM = frozenset({"env", "params"})  # user maps: their keys are data, never renamed
StageParamModels = Mapping[str, type[BaseModel]]
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


class _Doc:
    """One spec document: its data with normalised keys, and how to point back into the file."""

    def __init__(self, raw: Any, source: str, index: int, line: int, text: str | None) -> None:
        self.source, self.index, self.line, self.text = source, index, line, text
        self.count = 1
        self.paths: dict[Path_, Path_] = {}  # normalised key path -> key path as written
        self.data = _normalise(raw, (), (), self.paths, self)

    def where(self, path: Path_ = ()) -> str:
        line = self._line_of(path)
        place = f"{self.source}:{line}" if line else self.source
        return f"{place} (spec {self.index + 1} of {self.count})" if self.count > 1 else place

    def _line_of(self, path: Path_) -> int | None:
        if self.text is None:
            return self.line or None
        lines = _yaml_lines(self.text)
        for end in range(len(path), -1, -1):
            if path[:end] in lines:
                return self.line + lines[path[:end]] - 1
        return self.line or None

    def error(self, path: Path_, message: str, hint: str | None = None) -> SpecError:
        dotted = ".".join(str(p) for p in path)
        return SpecError(f"{self.where(path)}: {dotted + ': ' if dotted else ''}{message}", hint)


def _normalise(value: Any, norm: Path_, orig: Path_, paths: dict[Path_, Path_], doc: _Doc) -> Any:
    if isinstance(value, list):
        out_list = []
        for i, item in enumerate(value):
            paths[(*norm, i)] = (*orig, i)
            out_list.append(_normalise(item, (*norm, i), (*orig, i), paths, doc))
        return out_list
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise doc.error(orig, f"key {key!r} is not a string")
        new = _CAMEL.sub("_", key).lower()
        new = "pfs" if new == "atom" else new
        if new in out:
            raise doc.error((*orig, key), f"key '{new}' is given twice (as camelCase/snake_case or atom/pfs)")
        paths[(*norm, new)] = (*orig, key)
        out[new] = item if new in _FREE_FORM else _normalise(item, (*norm, new), (*orig, key), paths, doc)
    return out


def _yaml_lines(text: str) -> dict[Path_, int]:
    """1-based line of every key/item of one YAML (or JSON) document; {} when it cannot be composed."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    lines: dict[Path_, int] = {}
    stack: list[tuple[Path_, yaml.Node | None]] = [((), root)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key_path = (*path, str(key_node.value))
                lines[key_path] = key_node.start_mark.line + 1
                stack.append((key_path, value_node))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*path, i)] = item.start_mark.line + 1
                stack.append(((*path, i), item))
    return lines


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key '{key}' appears twice in one object")
        out[key] = value
    return out


def _json_docs(text: str, source: str) -> Iterator[_Doc]:
    decoder = json.JSONDecoder(object_pairs_hook=_no_duplicate_keys)
    pos, index = 0, 0
    while True:
        while pos < len(text) and (text[pos].isspace() or text.startswith("---", pos)):
            pos += 3 if text.startswith("---", pos) else 1
        if pos >= len(text):
            return
        line = text.count("\n", 0, pos) + 1
        try:
            raw, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise SpecError(f"{source}:{exc.lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from exc
        except ValueError as exc:
            raise SpecError(f"{source}:{line}: invalid JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise SpecError(f"{source}:{line}: a spec must be a JSON object, got {type(raw).__name__}")
        yield _Doc(raw, source, index, line, text[pos:end])
        pos, index = end, index + 1


def _yaml_docs(text: str, source: str) -> Iterator[_Doc]:
    chunks = re.split(r"(?m)^---[ \t]*(?:#.*)?$", text)
    offset = 1
    index = 0
    for chunk in chunks:
        try:
            raw = yaml.safe_load(chunk)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = offset + mark.line if mark is not None else offset
            raise SpecError(f"{source}:{line}: invalid YAML: {exc}") from exc
        if raw is not None:
            if not isinstance(raw, dict):
                raise SpecError(f"{source}:{offset}: a spec must be a mapping, got {type(raw).__name__}")
            yield _Doc(raw, source, index, offset, chunk)
            index += 1
        offset += chunk.count("\n")


def _model_at(path: Path_) -> type[BaseModel] | None:
    """The model class that validates the mapping at a normalised key path (for listing allowed keys)."""
    model: type[BaseModel] = PipelineSpec
    for part in path:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        found = _find_model(field.annotation)
        if found is None:
            return None
        model = found
    return model


def _find_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _find_model(arg)
        if found is not None:
            return found
    return None


def _explain(doc: _Doc, err: Any) -> SpecError:
    """One pydantic error as a SpecError pointing at the key as written in the file."""
    norm: Path_ = ()
    orig: Path_ = ()
    loc = tuple(err["loc"])
    for i, part in enumerate(loc):
        if (*norm, part) in doc.paths:
            norm = (*norm, part)
            orig = doc.paths[norm]
        elif i == len(loc) - 1 and isinstance(part, str):
            norm, orig = (*norm, part), (*orig, part)  # a missing key: not in the file, name it as is
        # anything else is a pydantic union/validator tag, not a key: skip it
    kind, message = err["type"], str(err["msg"])
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, TreeError):
        other = ".".join(str(p) for p in doc.paths.get(cause.other, cause.other))
        message = cause.message.replace("{other}", other)
        return doc.error(
            doc.paths.get(cause.path, cause.path), message, "fix the input tree of this pipeline"
        )
    if kind == "missing":
        return doc.error(orig, "field required", f"add '{norm[-1]}'")
    if kind == "extra_forbidden":
        model = _model_at(norm[:-1])
        allowed = sorted(model.model_fields) if model is not None else []
        close = difflib.get_close_matches(str(norm[-1]), allowed, n=1)
        hint = f"did you mean '{close[0]}'?" if close else "remove it or fix its spelling"
        return doc.error(orig, f"unknown key; allowed keys: {', '.join(allowed)}", hint)
    message = message.removeprefix("Value error, ")
    return doc.error(orig, message[:1].lower() + message[1:])


def _validate(doc: _Doc, stage_params: StageParamModels | None = None) -> PipelineSpec:
    try:
        spec = PipelineSpec.model_validate(doc.data)
    except ValidationError as exc:
        raise _combined([_explain(doc, err) for err in exc.errors()]) from None
    if stage_params is not None:
        _check_stage(doc, spec.transform, stage_params)
    return spec


def _combined(errors: list[SpecError]) -> SpecError:
    if len(errors) == 1:
        return errors[0]
    lines = "; ".join(e.message for e in errors[:5])
    more = f"; and {len(errors) - 5} more" if len(errors) > 5 else ""
    return SpecError(f"{len(errors)} problems: {lines}{more}", errors[0].hint, [e.message for e in errors])


def _check_stage(doc: _Doc, transform: Transform, stage_params: StageParamModels) -> None:
    """A built-in stage must exist and its params must fit its params model; errors point at the key."""
    if transform.kind != "stage" or transform.stage is None:
        return
    if transform.stage not in stage_params:
        close = difflib.get_close_matches(transform.stage, list(stage_params), n=1)
        raise doc.error(doc.paths.get(("transform", "stage"), ("transform", "stage")),
                        f"unknown stage '{transform.stage}'; built-in stages: {', '.join(sorted(stage_params))}",
                        f"did you mean '{close[0]}'?" if close else "use a built-in stage, or `python:`/`cmd:`")
    model = stage_params[transform.stage]
    try:
        model.model_validate(transform.params)
    except ValidationError as exc:
        from vigil.pipeline.param_errors import param_error

        raise _combined([param_error(doc, transform.stage, model, transform.params, err)
                         for err in exc.errors()]) from None


def parse_specs(text: str, source: str = "<spec>", stage_params: StageParamModels | None = None
                ) -> list[PipelineSpec]:
    """Parse every pipeline spec in ``text`` (JSON or YAML, one or several). ``source`` names the file in
    error messages. ``stage_params`` (built-in stage name -> its params model): also check that a ``stage``
    exists and that its params fit. Raises SpecError; an input with no spec at all is an error too."""
    stripped = text.lstrip()
    docs: list[_Doc]
    if source.endswith(".json") or stripped.startswith("{"):
        try:
            docs = list(_json_docs(text, source))
        except SpecError:
            if source.endswith(".json"):
                raise
            docs = list(_yaml_docs(text, source))  # YAML flow style also starts with '{'
    else:
        docs = list(_yaml_docs(text, source))
    if not docs:
        hint = "a spec is a mapping with pipeline, input and transform"
        raise SpecError(f"{source}: no pipeline spec found", hint)
    for doc in docs:
        doc.count = len(docs)
    specs = [_validate(doc, stage_params) for doc in docs]
    seen: dict[str, int] = {}
    for doc, spec in zip(docs, specs, strict=True):
        if spec.name in seen:
            raise doc.error(("pipeline", "name"), f"pipeline '{spec.name}' is defined twice in this file")
        seen[spec.name] = doc.index
    return specs


def load_specs(path: Path, stage_params: StageParamModels | None = None) -> list[PipelineSpec]:
    """Read and parse a spec file (see :func:`parse_specs`); errors name ``path`` as given."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read the spec file: {exc}") from exc
    return parse_specs(text, str(path), stage_params)
