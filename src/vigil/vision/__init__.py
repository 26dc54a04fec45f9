"""vigil.vision: image decode/encode, ONNX detectors, the model catalogue, drawing."""

from vigil.vision.catalog import CATALOG, pull
from vigil.vision.detector import Detector, DetectorConfig, load_detector
from vigil.vision.draw import annotate
from vigil.vision.image import decode_image, encode_jpeg

__all__ = [
    "CATALOG",
    "Detector",
    "DetectorConfig",
    "annotate",
    "decode_image",
    "encode_jpeg",
    "load_detector",
    "pull",
]
