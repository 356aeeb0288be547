"""``python -m sandbox``: run the sandbox EHR (default http://127.0.0.1:8001, in front of local HAPI).

Environment: ``SANDBOX_PORT`` (8001), ``SANDBOX_HOST`` (127.0.0.1), ``SANDBOX_FHIR_UPSTREAM``,
``SANDBOX_BASE_URL`` (default from host and port), ``SANDBOX_APP_URL`` (http://localhost:8000).
"""

from __future__ import annotations

import os

from werkzeug.serving import run_simple

from app.logs import configure as configure_logging
from sandbox import create_sandbox


def main() -> None:
    """Serve the sandbox until interrupted."""
    host = os.environ.get("SANDBOX_HOST", "127.0.0.1")
    port = int(os.environ.get("SANDBOX_PORT", "8001"))
    config = {}
    if "SANDBOX_BASE_URL" not in os.environ:
        config["BASE_URL"] = f"http://{host}:{port}"
    # carepath's redacting formatter: request lines carry state, codes and nonces, never logged in clear.
    configure_logging(os.environ.get("SANDBOX_LOG_LEVEL", "INFO"), "text")
    app = create_sandbox(config)
    sandbox = app.extensions["sandbox"]
    print(f"sandbox EHR on {sandbox.base_url}/  (FHIR {sandbox.fhir_base} -> {sandbox.upstream})", flush=True)
    run_simple(host, port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
