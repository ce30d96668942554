"""The Blueprint every resource uses: flask-smorest's, with a JSON parser that never 500s,
error responses documented with the error schema, and ``@blp.idempotent`` for POSTs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NoReturn

import flask_smorest
import marshmallow as ma
from flask_smorest.error_handler import ErrorSchema
from webargs.core import missing
from webargs.flaskparser import FlaskParser, abort, is_json_request

from api import idempotency
from api.duplicate_keys import KeyGivenTwice, duplicate_errors, refuse_duplicates

__all__ = ["Blueprint"]


class JSONBodyParser(FlaskParser):
    """webargs' Flask parser, but every undecodable body is a 400 that says why, a key given
    twice in an object is a 422 naming it by its path, and each argument schema is built once
    rather than on every request.

    Python refuses integers of more than 4,300 digits with a plain ValueError, and JSON nested
    thousands deep with a RecursionError; webargs expects neither, and each would otherwise
    surface as a 500.

    The methods below override webargs 8.7's private hooks of the same names, and
    `_raw_load_json` starts as its own does (the JSON check, the decoding error's words).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._schemas: dict[type[ma.Schema], ma.Schema] = {}

    def _get_schema(self, argmap: Any, req: Any) -> ma.Schema:
        """webargs 8.7 instantiates a Schema class per request (deep-copying every field: about
        a tenth of a POST /add). Our schemas keep no state between loads, so one instance
        per class serves every request and thread."""
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            schema = self._schemas.get(argmap)
            if schema is None:
                schema = self._schemas[argmap] = argmap()
            return schema
        return super()._get_schema(argmap, req)

    def _raw_load_json(self, req: Any) -> Any:
        if not is_json_request(req):
            return missing
        try:
            text = req.get_data(cache=True).decode()
        except UnicodeDecodeError as exc:  # as webargs words it
            raise json.JSONDecodeError(
                f"Bytes decoding error : {exc.reason}", str(exc.object), exc.start
            ) from exc
        if text.startswith("\ufeff"):  # json.loads would say "decode using utf-8-sig"
            raise json.JSONDecodeError(
                "it starts with a byte order mark (U+FEFF); send the JSON without it", text, 0
            )
        try:
            try:
                return json.loads(text, object_pairs_hook=refuse_duplicates)
            except KeyGivenTwice:
                duplicates = duplicate_errors(text)  # parses again: its errors are mapped below
        except json.JSONDecodeError:
            raise
        except RecursionError as exc:
            # json.loads recurses once per nesting level: "[[[[..." a few thousand deep.
            raise json.JSONDecodeError("it is nested too deeply", "<body>", 0) from exc
        except ValueError as exc:
            # "Exceeds the limit (4300 digits) for integer string conversion; use ..."
            reason = str(exc).split(";")[0]
            raise json.JSONDecodeError(f"a number is too long: {reason}", "<body>", 0) from exc
        abort(422, messages={"json": duplicates})

    def _handle_invalid_json_error(
        self, error: Any, req: Any, *args: Any, **kwargs: Any
    ) -> NoReturn:
        reason = getattr(error, "msg", None) or "not valid JSON"
        abort(400, exc=error, messages={"json": [f"The body is not valid JSON: {reason}."]})


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = JSONBodyParser()

    def alt_response(self, status_code: Any, response: Any = None, **kwargs: Any) -> Any:
        """flask-smorest's, but an error documented without a body gets the error schema, so
        that clients and schema checkers know what every 4xx/5xx body looks like."""
        if response is None and kwargs.get("schema") is None and int(status_code) >= 400:
            kwargs["schema"] = ErrorSchema
        return super().alt_response(status_code, response, **kwargs)

    def idempotent(self, view: Callable[..., Any]) -> Callable[..., Any]:
        """Decorate a POST that submits work (outermost, above ``@blp.arguments``): the same
        ``Idempotency-Key`` header replays the first response instead of submitting twice."""
        return idempotency.idempotent(self, view)
