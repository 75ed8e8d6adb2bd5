"""``GET /``: a plain HTML page for trying the model in a browser and watching the online metrics
(not part of the API schema); ``GET /static/NAME``: the files it loads, vendored in the package
(``static/README.md`` says from where)."""

from __future__ import annotations

import functools
import html
from importlib import resources
from string import Template

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException

from genrec.serving.state import ServiceState, State

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def page(state: State) -> HTMLResponse:
    return HTMLResponse(render_page(state))


STATIC = {"uPlot.iife.min.js": "text/javascript", "uPlot.min.css": "text/css"}


@router.get("/static/{name}")
def static(name: str) -> Response:
    """A vendored file of the page (the only files served from the package)."""
    if name not in STATIC:
        raise HTTPException(404, f"no static file {name!r}")
    return Response(static_bytes(name), media_type=STATIC[name],
                    headers={"Cache-Control": "public, max-age=86400"})  # fmt: skip


@functools.cache
def static_bytes(name: str) -> bytes:
    return resources.files("genrec.serving").joinpath("static", name).read_bytes()


@functools.cache
def page_template() -> Template:
    return Template(resources.files("genrec.serving").joinpath("page.html").read_text())


def render_page(state: ServiceState) -> str:
    """The page with the model version and the first ``page_users`` users filled in."""
    users: list[str] = []
    version = "loading"
    if state.holder.ready:
        loaded = state.holder.current
        users = list(loaded.model.histories)[: state.settings.page_users]
        version = loaded.version
    options = "".join(f'<option value="{html.escape(u)}"></option>' for u in users)
    return page_template().substitute(
        version=html.escape(version),
        user_options=options,
        key_required="true" if state.settings.api_keys else "false",
    )
