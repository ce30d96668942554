"""Swagger UI's scripts and styles, served by the API itself so that /docs works offline.

flask-smorest's /docs page loads Swagger UI from a base URL, and a CDN is the usual one: a
browser on a network without the internet, or behind a Content-Security-Policy that allows
only the service's own origin, then shows a blank page. The files come from the swagger-ui-py
package, so a newer Swagger UI is a dependency upgrade, not a copy kept in this repository.
"""

from __future__ import annotations

from importlib.resources import files

from flask import Blueprint

__all__ = ["ASSETS_URL", "blp"]

#: Where the /docs page finds swagger-ui-bundle.js, swagger-ui.css and the rest.
ASSETS_URL = "/docs/assets/"

blp = Blueprint(
    "swagger-ui-assets",
    __name__,
    static_folder=str(files("swagger_ui") / "static"),
    static_url_path=ASSETS_URL.rstrip("/"),
)
