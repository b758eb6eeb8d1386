"""Serving registered models: ``mlnb serve`` (an ASGI app on uvicorn), the inference log,
hot swap, and live monitoring of what was served. The web stack is imported only by the
server itself (``mlnb.serving.app``), never by ``import mlnb``."""
