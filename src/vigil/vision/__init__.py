"""vigil.vision: image decode/encode, ONNX detectors, the model catalogue, quality checks, drawing.

Import the submodules you need (``vigil.vision.detector``, ``vigil.vision.catalog``, ...): this package
re-exports nothing, so that commands which do not touch images never load OpenCV or onnxruntime.
"""
