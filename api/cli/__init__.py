"""The `sumflow` command line: the API's client side, speaking HTTP only.

Nothing in this package imports Flask or the server's modules; it works against any sumflow
deployment it can reach (``--url`` / SUMFLOW_URL). Entry point: `api.cli.main.main`.
"""
