"""The runtime world: ONNX Runtime + numpy + OpenCV, never torch. Start at `mmnet.runtime.model.load`."""
