"""`mmnet serve`: a live camera page that mattes in the browser (onnxruntime-web), and an HTTP API.

Needs the `serve` extra: pip install 'mmnet[serve]' (Starlette, uvicorn, python-multipart, Pillow)."""
