"""Ground truth: exactly which records exist as of the simulated now, in the shape they are served.

Tests compare what a client landed against this to prove nothing was lost or doubled.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import TYPE_CHECKING, Any

from ._time import date_day, day_date, day_number, day_start, fmt

if TYPE_CHECKING:
    from .app import App


class UnknownRecordError(KeyError):
    """The id is not in the catalog (or does not exist yet at the simulated now)."""


class Truth:
    def __init__(self, app: App):
        self._app = app

    @property
    def _catalog(self):
        return self._app.catalog

    def _sku(self, sku_id: str) -> int:
        i = self._catalog.sku_index(str(sku_id))
        if i is None:
            raise UnknownRecordError(f"SKU {sku_id!r} is not in the catalog")
        return i

    def _ware(self, ware_id: str) -> int:
        w = self._catalog.ware_index(str(ware_id))
        if w is None:
            raise UnknownRecordError(f"ware {ware_id!r} is not in the catalog")
        return w

    # -- catalog
    def sku_ids(self) -> list[str]:
        return self._catalog.sku_ids()

    def ware_ids(self) -> list[str]:
        return self._catalog.ware_ids()

    def sku_to_ware(self) -> dict[str, str]:
        c = self._catalog
        return {c.sku_id(i): c.ware_id(c.ware_of(i)) for i in range(c.scale.n_skus)}

    def detail(self, sku_id: str) -> dict[str, Any]:
        return self._catalog.detail(self._sku(sku_id))

    def detail_supported(self, sku_id: str) -> bool:
        return self._catalog.is_detail_supported(self._sku(sku_id))

    def ware(self, ware_id: str) -> dict[str, Any]:
        return self._catalog.ware(self._ware(ware_id))

    # -- comments
    def comment_count(self, sku_id: str) -> int:
        return self._catalog.comment_count(self._sku(sku_id), self._app.clock.now())

    def comments(self, sku_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        """All comments existing now (even beyond page 100), newest first, exactly as served."""
        return self._catalog.comments_newest_first(self._sku(sku_id), self._app.clock.now(), 0, limit)

    def comment_texts(self, sku_id: str) -> dict[str, dict[str, Any]]:
        """What each existing comment's text says (hand-made labels), by commentId: aspects with their
        polarity, JD's tag lines, template and filler flags, and the star score."""
        c, now = self._catalog, self._app.clock.now()
        i = self._sku(sku_id)
        out = {}
        for k in range(c.comment_count(i, now)):
            served, truth = c.comment_with_truth(i, k)
            out[served["commentId"]] = {**truth.as_json(), "score": int(served["commentScore"])}
        return out

    def comment_ids(self, sku_id: str) -> list[str]:
        """Comment ids existing now, newest first (cheap: no texts are generated)."""
        c, i = self._catalog, self._sku(sku_id)
        n = c.comment_count(i, self._app.clock.now())
        return [c.comment_id(i, c.comment_time(i, k)) for k in range(n - 1, -1, -1)]

    def comment_counts_by_day(self, sku_id: str) -> dict[str, int]:
        """Comments existing now per Beijing day ``YYYY-MM-DD`` of their commentDate."""
        c, i = self._catalog, self._sku(sku_id)
        n = c.comment_count(i, self._app.clock.now())
        days = Counter(fmt(c.comment_time(i, k))[:10] for k in range(n))
        return dict(sorted(days.items()))

    def total_comments(self) -> int:
        c, now = self._catalog, self._app.clock.now()
        return sum(c.comment_count(i, now) for i in range(c.scale.n_skus))

    # -- orders
    def orders(self, day: date, dialect: str = "live") -> list[dict[str, Any]]:
        """Orders created that Beijing day and existing now, in their current state, as served."""
        book, now = self._app.orders, self._app.clock.now()
        dn = date_day(day)
        found = book.in_window(day_start(dn), day_start(dn + 1) - 1, now)
        if dialect == "live":
            return [book.live(o, now) for o in found]
        if dialect == "seed":  # as jingdong.pop.orders.get lists them (in the configured seed shape)
            return [book.seed_list(o, now) for o in found]
        raise ValueError("dialect must be 'live' or 'seed'")

    def order_ids(self, day: date) -> list[str]:
        book, now = self._app.orders, self._app.clock.now()
        dn = date_day(day)
        return [o.order_id for o in book.in_window(day_start(dn), day_start(dn + 1) - 1, now)]

    def order(self, order_id: str, dialect: str = "live") -> dict[str, Any]:
        book, now = self._app.orders, self._app.clock.now()
        order = book.existing(book.find(str(order_id)), now)
        if order is None:
            raise UnknownRecordError(f"order {order_id!r} does not exist at the simulated now")
        # as jingdong.pop.order.get answers it (the seed dialect in the configured seed shape)
        return book.live(order, now) if dialect == "live" else book.seed_get(order, now)

    def order_tracks(self, order_id: str) -> list[dict[str, str]]:
        book, now = self._app.orders, self._app.clock.now()
        order = book.existing(book.find(str(order_id)), now)
        if order is None:
            raise UnknownRecordError(f"order {order_id!r} does not exist at the simulated now")
        return book.tracks_at(order, now)

    def order_days(self) -> list[date]:
        """Every Beijing day from the first order day to today (simulated)."""
        book = self._app.orders
        return [day_date(d) for d in range(book.first_day, day_number(self._app.clock.now()) + 1)]
