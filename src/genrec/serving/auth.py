"""API keys: ``Authorization: Bearer KEY`` checked against every configured key.

:func:`require_key` is a router dependency. The app factory adds it only to the routers that
need it (writes when keys are configured, reads too with ``require_key_for_reads``), and FastAPI
declares the bearer scheme on exactly those operations in the OpenAPI document.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from genrec.serving.schemas import ErrorOut
from genrec.serving.state import State

BEARER = HTTPBearer(auto_error=False, description="an API key from GENREC_API_KEYS")
# The answer an operation that checks a key may give, for the OpenAPI document.
KEY_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing or wrong API key"}
}


def key_matches(token: str, keys: list[str]) -> bool:
    """Whether ``token`` is one of ``keys``, in time that does not tell which key is close."""
    given = token.encode()
    # Compare against every key, always, rather than stopping at the first match.
    matches = [hmac.compare_digest(given, key.encode()) for key in keys]
    return bool(given) and any(matches)


async def require_key(
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> None:
    """Refuse the request with 401 unless it carries one of the configured API keys."""
    token = credentials.credentials if credentials is not None else ""
    if not key_matches(token, state.settings.api_keys):
        raise HTTPException(
            401,
            "missing or wrong API key: send 'Authorization: Bearer KEY'",
            headers={"WWW-Authenticate": "Bearer"},
        )
