"""``GET /``: a plain HTML page for trying the model in a browser (not part of the API schema)."""

from __future__ import annotations

import functools
import html
from importlib import resources
from string import Template

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from genrec.serving.state import ServiceState, State

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def page(state: State) -> HTMLResponse:
    return HTMLResponse(render_page(state))


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
