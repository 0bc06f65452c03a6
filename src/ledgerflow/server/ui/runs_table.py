"""The runs table's state, all of it in the query string so a view can be bookmarked and shared:
filter, sort, page (with the tokens of earlier pages for "previous"), page size, lifecycle
view and the chosen param/metric columns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 200
DEFAULT_ORDER = "attributes.start_time DESC"
# With no explicit choice, show this many of each kind of key so wide experiments stay readable.
DEFAULT_VISIBLE_KEYS = 8
VIEWS = {"active": "ACTIVE_ONLY", "deleted": "DELETED_ONLY", "all": "ALL"}


def quote_key(key: str) -> str:
    return f"`{key}`"


@dataclass(frozen=True)
class Column:
    label: str
    sort_key: str | None  # an order_by identifier, or None for unsortable columns
    kind: str  # "attr", "param" or "metric"
    key: str


ATTRIBUTE_COLUMNS = (
    Column("Run name", "attributes.run_name", "attr", "run_name"),
    Column("Created", "attributes.start_time", "attr", "start_time"),
    Column("Duration", None, "attr", "duration"),
    Column("User", "attributes.user_id", "attr", "user_id"),
    Column("Status", "attributes.status", "attr", "status"),
)


@dataclass(frozen=True)
class TableState:
    filter: str = ""
    order_by: str = ""
    page_token: str = ""
    back: tuple[str, ...] = ()
    page_size: int = DEFAULT_PAGE_SIZE
    view: str = "active"
    explicit_columns: bool = False
    params: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_query(cls, query: QueryParams) -> TableState:
        try:
            size = int(query.get("per_page", DEFAULT_PAGE_SIZE))
        except ValueError:
            size = DEFAULT_PAGE_SIZE
        view = query.get("view", "active")
        return cls(
            filter=query.get("filter", "").strip(),
            order_by=query.get("order_by", "").strip(),
            page_token=query.get("page_token", ""),
            back=tuple(query.getlist("back")),
            page_size=min(MAX_PAGE_SIZE, max(1, size)),
            view=view if view in VIEWS else "active",
            explicit_columns=query.get("cols") == "1",
            params=tuple(query.getlist("p")),
            metrics=tuple(query.getlist("m")),
        )

    @property
    def effective_order(self) -> str:
        return self.order_by or DEFAULT_ORDER

    @property
    def page_number(self) -> int:
        return len(self.back) + 1

    def visible(self, param_keys: list[str], metric_keys: list[str]) -> tuple[list[str], list[str]]:
        """The param and metric columns to show, in the experiment's key order."""
        if self.explicit_columns:
            chosen_p, chosen_m = set(self.params), set(self.metrics)
            return [k for k in param_keys if k in chosen_p], [k for k in metric_keys if k in chosen_m]
        return param_keys[:DEFAULT_VISIBLE_KEYS], metric_keys[:DEFAULT_VISIBLE_KEYS]

    def pairs(self, *, with_page: bool = True) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.filter:
            out.append(("filter", self.filter))
        if self.order_by:
            out.append(("order_by", self.order_by))
        if self.view != "active":
            out.append(("view", self.view))
        if self.page_size != DEFAULT_PAGE_SIZE:
            out.append(("per_page", str(self.page_size)))
        if self.explicit_columns:
            out.append(("cols", "1"))
            out.extend(("p", key) for key in self.params)
            out.extend(("m", key) for key in self.metrics)
        if with_page and self.page_token:
            out.extend(("back", token) for token in self.back)
            out.append(("page_token", self.page_token))
        return out

    def url(self, base: str) -> str:
        pairs = self.pairs()
        return base + ("?" + urlencode(pairs) if pairs else "")

    def first_page(self) -> TableState:
        return replace(self, page_token="", back=())

    def next_page(self, token: str) -> TableState:
        return replace(self, page_token=token, back=(*self.back, self.page_token))

    def previous_page(self) -> TableState | None:
        if not self.back:
            return None
        return replace(self, page_token=self.back[-1], back=self.back[:-1])

    def sorted_by(self, sort_key: str) -> TableState:
        """Clicking a header sorts descending first (best metric on top), then flips."""
        current = self.effective_order
        direction = "ASC" if current == f"{sort_key} DESC" else "DESC"
        return replace(self.first_page(), order_by=f"{sort_key} {direction}")

    def sort_direction(self, sort_key: str) -> str | None:
        current = self.effective_order
        for direction in ("ASC", "DESC"):
            if current == f"{sort_key} {direction}":
                return direction
        if current == sort_key:
            return "ASC"
        return None


def param_column(key: str) -> Column:
    return Column(key, f"params.{quote_key(key)}", "param", key)


def metric_column(key: str) -> Column:
    return Column(key, f"metrics.{quote_key(key)}", "metric", key)


def by_key(items: Iterable[dict[str, Any]] | None) -> dict[str, Any]:
    return {item["key"]: item for item in items or ()}


@dataclass(frozen=True)
class Row:
    run_id: str
    name: str
    info: dict[str, Any]
    params: dict[str, str]
    metrics: dict[str, Any]


def to_row(run: dict[str, Any]) -> Row:
    info = run.get("info", {})
    data = run.get("data", {})
    return Row(
        run_id=str(info.get("run_id") or info.get("run_uuid")),
        name=str(info.get("run_name") or ""),
        info=info,
        params={k: v.get("value", "") for k, v in by_key(data.get("params")).items()},
        metrics={k: v.get("value") for k, v in by_key(data.get("metrics")).items()},
    )
