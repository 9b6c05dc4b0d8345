"""`mmnet bench`: the speed/quality map of every variant and peer on this machine, in one run.

variants.py (which models, their parameters, MACs and ONNX files), latency.py (medians per engine and
thread count), quality.py (the validation hold-out), peers.py (MediaPipe, RVM), floor.py (peak rate, the
physical limit, ONNX Runtime's operator profile), report.py (Markdown), figure.py (the PNG), run.py (all of
it, `run_bench`). Needs torch and matplotlib (`pip install mmnet[train]`); never imported by the runtime.
"""
