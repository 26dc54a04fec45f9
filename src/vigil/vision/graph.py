"""Make a YOLOX ONNX graph accept any input height and width (``vigil model add`` does this once per model).

The exported YOLOX graphs declare a fixed ``1x3x416x416`` input, yet nothing inside them depends on it (the
Focus slices, the stride-2 convolutions, the 2x upsamples and the ``[1, 85, -1]`` reshapes all follow the
input), so naming the height and width dimensions symbolic lets one file run at 640x352 for a distant highway
camera and at 416x416 elsewhere. The stored per-tensor shapes (``value_info``) go too: they describe the 416
run only. The edit needs the ``onnx`` package (extra ``models``); :func:`onnx_missing` says when it is absent.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from vigil.errors import ModelError

log = logging.getLogger(__name__)

SOURCE_KEY = "vigil.source_sha256"  # metadata entry naming the graph this one was edited from


def onnx_missing() -> str | None:
    """None when the ``onnx`` package is importable, else a sentence saying what that costs and how to fix it."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        return ("the onnx package is not installed, so the model keeps its fixed input size and per-camera "
                "input_size settings other than it will fail; install it with `pip install 'vigil[models]'` "
                "and add the model again")
    return None


def symbolic_input_size(model: bytes, source_sha256: str) -> bytes | None:
    """``model`` (a YOLOX ONNX file's bytes) with its input height/width and output row count symbolic.

    Returns None when there is nothing to do: the input height and width are symbolic already, or the graph is
    not YOLOX-shaped (one NCHW input, one (1, N, 85) output), which is left exactly as it is. The edited graph
    records ``source_sha256`` (the original file's hash) in its metadata. Raises ``ModelError`` when the bytes
    are not an ONNX model; ``ImportError`` when ``onnx`` is absent (check :func:`onnx_missing` first).
    """
    import onnx

    try:
        proto = onnx.load_from_string(model)
    except Exception as exc:  # onnx raises protobuf's DecodeError and friends
        raise ModelError(f"not an ONNX model: {exc}", "give the .onnx file exported for onnxruntime") from exc
    graph = proto.graph
    inputs = [i for i in graph.input if i.name not in {t.name for t in graph.initializer}]
    if len(inputs) != 1 or len(graph.output) != 1:
        return None
    in_dims = inputs[0].type.tensor_type.shape.dim
    out_dims = graph.output[0].type.tensor_type.shape.dim
    if len(in_dims) != 4 or len(out_dims) != 3 or out_dims[2].dim_value != 85:
        return None
    if not (in_dims[2].HasField("dim_value") or in_dims[3].HasField("dim_value")):
        return None
    for dim, name in ((in_dims[2], "height"), (in_dims[3], "width"), (out_dims[1], "anchors")):
        dim.Clear()
        dim.dim_param = name
    del graph.value_info[:]
    meta = {p.key: p.value for p in proto.metadata_props}
    meta[SOURCE_KEY] = meta.get(SOURCE_KEY, source_sha256)
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, meta)
    onnx.checker.check_model(proto)
    return bytes(proto.SerializeToString())


def same_outputs(original: bytes, edited: bytes, size: tuple[int, int]) -> bool:
    """Whether both graphs give bit-identical outputs on one deterministic (width, height) input in onnxruntime.

    ``vigil model add`` keeps an edited graph only when this holds at the original input size: the edit must
    change what sizes the model accepts, never what it answers.
    """
    import onnxruntime as ort

    w, h = size
    blob = np.random.default_rng(416).integers(0, 256, (1, 3, h, w)).astype(np.float32)
    outs = []
    for data in (original, edited):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3
        session = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
        outs.append(session.run(None, {session.get_inputs()[0].name: blob})[0])
    return bool(outs[0].shape == outs[1].shape and np.array_equal(outs[0], outs[1]))


def any_input_size(model: Path, cache: Path) -> tuple[Path, str]:
    """(the file to commit, what was done) for a model that should accept any input size.

    The edited copy lives in ``cache/anysize/<sha256 of the original>/<same file name>``, made once (the edit
    loads onnx and two sessions: about a second) and re-used by later adds of the same model. The original is
    returned unchanged, with the reason, when the graph is not YOLOX-shaped, already takes any size, or the
    edited graph does not give bit-identical outputs at the original size. ``ModelError`` when ``onnx`` is
    missing (check :func:`onnx_missing` first) or the file is not ONNX.
    """
    data = Path(model).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    dest = Path(cache) / "anysize" / digest / Path(model).name
    done = f"input height and width made variable (edited from sha256 {digest[:12]})"
    if dest.is_file():
        return dest, done
    missing = onnx_missing()
    if missing:
        raise ModelError(f"cannot make {Path(model).name} accept any input size: {missing}")
    edited = symbolic_input_size(data, digest)
    if edited is None:
        return Path(model), "kept as is: its input size is variable already, or it is not a YOLOX graph"
    import onnx

    proto = onnx.load_from_string(data)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    native = (dims[3].dim_value or 416, dims[2].dim_value or 416)
    if not same_outputs(data, edited, native):
        return Path(model), "kept as is: with a variable input size its outputs were not bit-identical"
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".anysize-", dir=dest.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(edited)
    os.replace(tmp, dest)  # atomic: a concurrent add sees the whole file or none
    return dest, done


__all__ = ["SOURCE_KEY", "any_input_size", "onnx_missing", "same_outputs", "symbolic_input_size"]
