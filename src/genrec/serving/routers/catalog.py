"""``GET /v1/items``: search the catalog by title; ``GET /v1/items/{item_id}``: one item."""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query
from starlette.exceptions import HTTPException

from genrec.serving.schemas import CatalogItem, ItemSearchOut
from genrec.serving.state import State, ready_model

router = APIRouter(tags=["catalog"])


@router.get("/v1/items", response_model=ItemSearchOut)
def search_items(
    state: State,
    q: Annotated[str, Query(max_length=200, description="part of a title")] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ItemSearchOut:
    """Catalog items whose title contains ``q`` (titles starting with it first)."""
    loaded = ready_model(state)
    return ItemSearchOut(
        items=[
            CatalogItem(
                item_id=loaded.item_ids[i],
                title=loaded.titles[i],
                categories=list(loaded.categories[i]),
            )
            for i in loaded.search(q, limit)
        ]
    )


@router.get("/v1/items/{item_id}")
def get_item(item_id: str, state: State) -> dict[str, Any]:
    """One catalog item with all its columns."""
    loaded = ready_model(state)
    catalog = loaded.catalog
    if item_id not in catalog:
        raise HTTPException(404, f"item '{item_id}' is not in the catalog")
    idx = catalog.index_of(item_id)
    row = {str(k): json_safe(v) for k, v in catalog.items.iloc[idx].items()}
    row["interactions"] = int(loaded.popularity[idx])
    return row


def json_safe(value: Any) -> Any:
    """A catalog cell as JSON: arrays as lists, NaN and infinities as null, the rest as text."""
    if isinstance(value, tuple | list | np.ndarray):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
