"""Trained weights to runtime files (ONNX, TFLite; `formats` is the entry point), and the weights the package
ships (`ship`)."""

FORMATS = ("onnx", "tflite")  # what `mmnet export --format` writes; importing this module needs no torch
