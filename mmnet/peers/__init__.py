"""Other people's models, run next to ours in benchmarks only.

Nothing in the `mmnet` package imports this subpackage, and its runtimes (ai-edge-litert, …) are not
dependencies of `mmnet`: each peer imports its runtime lazily and says what to install when it is missing.
"""
