"""The pages' own stylesheet and the vendored front-end libraries, served from ``/static``
on this origin (the Content-Security-Policy allows scripts and styles from 'self' only)."""

import os
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/static"
# An hour: a deploy's new stylesheet reaches everyone soon, and a revalidation after that
# is answered 304 from the ETag.
CACHE_CONTROL = "public, max-age=3600"


class StaticAssets(StaticFiles):
    def __init__(self) -> None:
        super().__init__(directory=STATIC_DIR)

    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = CACHE_CONTROL
        return response
