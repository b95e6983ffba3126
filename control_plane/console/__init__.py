"""The web console: a single-page app (plain ES modules, CSS and SVG, no build step) served by the API.

:func:`mount_console` adds three things to an application:

- ``GET /``: the console's ``index.html`` (hash routing: ``#/data``, ``#/graph``, ``#/query``, ``#/jobs/...``);
- ``GET /console/config.json``: what the page needs to know about the deployment (the Temporal UI address
  and namespace for links to workflows, the API version), no API key needed;
- ``/console/...``: the static assets (``console.css``, ``js/*.js``).

Every asset ships in this package (no CDN), and the index answers with a Content-Security-Policy that only
allows the page's own origin, so the console works offline and cannot load anything from elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from control_plane.version import package_version

STATIC_DIR = Path(__file__).resolve().parent / "static"
ASSETS_PREFIX = "/console"

#: Only the page's own origin: scripts, styles, fetches. Blob URLs serve prediction downloads.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                           "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
                           "form-action 'self'")


#: Content types by suffix, whatever the host's MIME table says (module scripts need a JavaScript type).
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
                 ".js": "text/javascript; charset=utf-8", ".json": "application/json", ".svg": "image/svg+xml"}


class _ConsoleFiles(StaticFiles):
    """Static files that a browser revalidates on each load (an upgraded API serves new assets at once)."""

    def file_response(self, full_path, *args, **kwargs):  # type: ignore[override]
        response = super().file_response(full_path, *args, **kwargs)
        content_type = CONTENT_TYPES.get(Path(full_path).suffix)
        if content_type is not None:
            response.headers["Content-Type"] = content_type
        response.headers.setdefault("Cache-Control", "no-cache")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response


def _index(_: Request) -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers={
        "Cache-Control": "no-cache", "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})


def _config(request: Request) -> JSONResponse:
    settings = request.app.state.settings
    return JSONResponse({"temporal_ui_url": settings.temporal_ui_url,
                         "temporal_namespace": settings.temporal_namespace,
                         "version": package_version()}, headers={"Cache-Control": "no-cache"})


def mount_console(app: FastAPI) -> None:
    """Serve the console from ``app``: the index at ``/``, its assets under ``/console``.

    Args:
        app: the control plane's application; ``app.state.settings`` must hold its settings.

    Raises:
        RuntimeError: the console's files are missing from the installation.
    """
    if not (STATIC_DIR / "index.html").is_file():
        raise RuntimeError(f"the web console's files are missing from {STATIC_DIR}")
    app.add_api_route("/", _index, methods=["GET"], include_in_schema=False)
    # Before the mount: a mount matches every path under its prefix.
    app.add_api_route(f"{ASSETS_PREFIX}/config.json", _config, methods=["GET"], include_in_schema=False)
    app.mount(ASSETS_PREFIX, _ConsoleFiles(directory=STATIC_DIR), name="console")
