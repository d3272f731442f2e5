"""The synthetic catalog: wares grouping SKUs, product details, ware payloads, comments, buyers.

Everything is a pure function of (seed, index), generated on demand. Up front only compact per-SKU
numbers are kept (``array`` columns, ~40 bytes a SKU: 4 MB for 100k SKUs); a comment, a detail or a
ware payload is built when asked, so a 10M-comment catalog costs no more memory than a tiny one.

Comments of SKU ``i`` form an arrival schedule: comment ``k`` is posted at
``t_k = listing + floor(span * ((k + j_k) / n) ** p) + k`` seconds, with ``j_k`` in [0, 1) from the
hash, ``n`` the count at the initial now, ``p`` < 1 (activity grows over time). ``t_k`` is strictly
increasing in ``k``, so the comments existing at time T are the prefix ``k < count(T)``, found by a
binary search of ~20 hash evaluations; comments keep arriving after the initial now.

IDs are decimal strings produced by affine bijections (decodable without a lookup table):
SKU ``1000xxxxxxxx`` (12 digits), ware ``1000xxxxxxxxxx`` (14 digits) or, for every 8th ware
including the first, ``10022660xxxxxxxxx`` (17 digits, above 2^53), comment ids 18 digits that grow
with the comment's time.
"""

from __future__ import annotations

import bisect
import itertools
import math
from array import array
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist
from typing import Any

from . import texts
from ._hash import h64, hex_digest, rng, unit
from ._time import DAY, fmt, from_datetime
from .config import SandboxConfig

SKU_BASE, SKU_MOD = 100_000_000_000, 10**9
WARE_BASE, WARE_BIG_BASE, WARE_MOD = 10_000_000_000_000, 10_022_660_000_000_000, 10**10
COMMENT_BASE, COMMENT_EPOCH = 103_000_000_000_000_000, 946_656_000  # 2000-01-01 00:00 Beijing
CODE6_MOD = 10**6
LOGNORMAL_SIGMA = 2.0  # heavy tail: a few SKUs with thousands, many with a handful
_NORMAL = NormalDist()
PAGE_SIZE = 10
MAX_PAGES = 100
IMG_PREFIX = "https://img14.360buyimg.com/n1/"
SPECIAL_STATUSES = (2, 4, -1, 1, 513, 514, 516, 520, 1028)
SELLABLE_STATUSES = (8, 520)
_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_GUID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@dataclass(frozen=True)
class TextTruth:
    """What a generated review text says, as labelled by hand in ``texts``: the ground truth of signals.

    ``aspects``: (aspect, polarity) pairs, each once; ``tags``: JD's "tag:value" lines; ``template``: a
    text many users paste verbatim; ``filler``: JD's default text (the buyer wrote nothing).
    """

    aspects: texts.Truth = ()
    template: bool = False
    filler: bool = False
    tags: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, labels: dict[str, texts.Truth], parts, tags: tuple[tuple[str, str], ...] = ()) -> TextTruth:
        """The truth of a text joined from labelled fragments: their aspects, each pair once, sorted."""
        return cls(tuple(sorted({pair for part in parts for pair in labels[part]})), tags=tags)

    def as_json(self) -> dict[str, Any]:
        return {
            "aspects": [list(pair) for pair in sorted(set(self.aspects))],
            "template": self.template,
            "filler": self.filler,
            "tags": [list(pair) for pair in self.tags],
        }


def _tag_lines(text: str) -> tuple[tuple[str, str], ...]:
    """JD's structured lines of a generated text ("外观材质:质量非常好" → ("外观材质", "质量非常好"))."""
    return tuple(tuple(line.split(":", 1)) for line in text.split("\n") if ":" in line)


def _multiplier(seed: int, kind: str, mod: int) -> int:
    """An odd multiplier not divisible by 5: invertible modulo a power of ten."""
    a = (h64(seed, kind, "a") % mod) | 1
    if a % 5 == 0:
        a += 2
    return a


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


@dataclass(frozen=True, slots=True)
class WareInfo:
    index: int
    ware_id: str
    first_sku: int
    n_skus: int
    category: int
    brand: tuple[str, int]
    noun: str
    base_cents: int
    created: int
    status: int
    epoch_ms_form: bool


class Catalog:
    """Read-only, thread-safe view of the generated catalog (caches are bounded LRUs)."""

    def __init__(self, cfg: SandboxConfig):
        self.seed = cfg.seed
        self.scale = cfg.resolved_scale()
        self.anchor = from_datetime(cfg.start_now())
        seed = self.seed
        self._sku_a = _multiplier(seed, "sku", SKU_MOD)
        self._sku_a_inv = pow(self._sku_a, -1, SKU_MOD)
        self._sku_b = h64(seed, "sku", "b") % SKU_MOD
        self._ware_a = _multiplier(seed, "ware", WARE_MOD)
        self._ware_a_inv = pow(self._ware_a, -1, WARE_MOD)
        self._ware_b = h64(seed, "ware", "b") % WARE_MOD
        self._code6_a = _multiplier(seed, "code6", CODE6_MOD)
        self._code6_b = h64(seed, "code6", "b") % CODE6_MOD
        self.vender_id = str(10_000_000 + h64(seed, "vender") % 9_000_000)
        self.shop_id = str(10_000_000 + h64(seed, "shop") % 9_000_000)
        self.shop_name = texts.SHOP_NAMES[h64(seed, "shopname") % len(texts.SHOP_NAMES)]
        self.n_users = min(2_000_000, max(300, self.scale.n_skus * 20))
        self._build()
        self.ware_info = lru_cache(maxsize=4096)(self._ware_info)

    # ------------------------------------------------------------------ build (compact columns)
    def _build(self) -> None:
        seed, sc = self.seed, self.scale
        n = sc.n_skus
        starts = array("q")
        listing, span, expo, weight = array("q"), array("q"), array("d"), array("d")
        sellable = array("b")
        i = w = 0
        while i < n:
            starts.append(i)
            size = self._ware_size(w)
            size = min(size, n - i)
            age_days = 60 + unit(seed, "wage", w) * 480
            created = self.anchor - int(age_days * DAY)
            can_sell = self._ware_status(w) in SELLABLE_STATUSES
            for j in range(i, i + size):
                bits = h64(seed, "sku", j)
                u_zero = (bits & 0xFFFF) / 65536.0
                u_w = (((bits >> 16) & 0xFFFF) + 0.5) / 65536.0
                u_span = ((bits >> 32) & 0xFFFF) / 65536.0
                u_p = ((bits >> 48) & 0xFFFF) / 65536.0
                sku_span = int((age_days * (0.4 + 0.6 * u_span)) * DAY)
                listing.append(max(created, self.anchor - sku_span))
                span.append(sku_span)
                expo.append(0.35 + 0.4 * u_p)
                z = _NORMAL.inv_cdf(min(max(u_w, 1e-6), 1 - 1e-6))
                weight.append(0.0 if u_zero < sc.zero_comment_ratio else math.exp(LOGNORMAL_SIGMA * z))
                sellable.append(1 if can_sell else 0)
            i += size
            w += 1
        self._ware_starts = starts
        self.n_wares = len(starts)
        self._listing, self._span, self._expo, self._sellable = listing, span, expo, sellable
        total_w = math.fsum(weight) or 1.0
        counts = array("q")
        for j, wj in enumerate(weight):
            exact = sc.n_comments * wj / total_w
            counts.append(int(exact + unit(seed, "round", j)) if wj else 0)
        top = max(range(n), key=counts.__getitem__)
        if counts[top] < sc.top_sku_min_comments:
            counts[top] = sc.top_sku_min_comments
        self._count0 = counts
        self.top_sku_index = top
        # popularity for order items: comments + 1 on sellable wares (cumulative, for bisect)
        cum, acc = array("d"), 0.0
        for j in range(n):
            acc += (counts[j] + 1.0) * sellable[j]
            cum.append(acc)
        if acc == 0.0:  # nothing sellable: sell everything
            cum = array("d", itertools.accumulate(float(c + 1) for c in counts))
        self._pop_cum = cum

    def _ware_size(self, w: int) -> int:
        u = unit(self.seed, "wsize", w)
        for size, edge in ((1, 0.2), (2, 0.45), (3, 0.7), (4, 0.85), (5, 0.95)):
            if u < edge:
                return size
        return 6 + int((u - 0.95) * 60)

    def _ware_status(self, w: int) -> int:
        if w == 0 or w % 3:
            return 8
        return SPECIAL_STATUSES[(w // 3 - 1) % len(SPECIAL_STATUSES)]

    # ------------------------------------------------------------------ ids
    def sku_id(self, i: int) -> str:
        return str(SKU_BASE + (self._sku_a * i + self._sku_b) % SKU_MOD)

    def sku_index(self, sku_id: str) -> int | None:
        """The index of a catalog SKU id, or None when the id is not in the catalog."""
        if not sku_id.isdigit() or len(sku_id) != 12:
            return None
        r = int(sku_id) - SKU_BASE
        if not 0 <= r < SKU_MOD:
            return None
        i = (self._sku_a_inv * (r - self._sku_b)) % SKU_MOD
        return i if i < self.scale.n_skus else None

    def ware_id(self, w: int) -> str:
        base = WARE_BIG_BASE if w % 8 == 0 else WARE_BASE
        return str(base + (self._ware_a * w + self._ware_b) % WARE_MOD)

    def ware_index(self, ware_id: str) -> int | None:
        if not ware_id.isdigit() or len(ware_id) not in (14, 17):
            return None
        big = len(ware_id) == 17
        r = int(ware_id) - (WARE_BIG_BASE if big else WARE_BASE)
        if not 0 <= r < WARE_MOD:
            return None
        w = (self._ware_a_inv * (r - self._ware_b)) % WARE_MOD
        if w >= self.n_wares or (w % 8 == 0) != big:
            return None
        return w

    def ware_of(self, i: int) -> int:
        return bisect.bisect_right(self._ware_starts, i) - 1

    def sku_ids(self) -> list[str]:
        return [self.sku_id(i) for i in range(self.scale.n_skus)]

    def ware_ids(self) -> list[str]:
        return [self.ware_id(w) for w in range(self.n_wares)]

    def _code6(self, i: int) -> int:
        return (self._code6_a * i + self._code6_b) % CODE6_MOD

    # ------------------------------------------------------------------ wares and details
    def _ware_info(self, w: int) -> WareInfo:
        seed = self.seed
        first = self._ware_starts[w]
        end = self._ware_starts[w + 1] if w + 1 < self.n_wares else self.scale.n_skus
        r = rng(seed, "ware", w)
        cat = r.randrange(len(texts.CATEGORIES))
        category = texts.CATEGORIES[cat]
        lo, hi = category[6]
        base_cents = r.randint(lo, hi) * 100 + r.choice((0, 0, 0, 90, 50))
        age_days = 60 + unit(seed, "wage", w) * 480
        return WareInfo(
            index=w,
            ware_id=self.ware_id(w),
            first_sku=first,
            n_skus=end - first,
            category=cat,
            brand=r.choice(category[3]),
            noun=r.choice(category[4]),
            base_cents=base_cents,
            created=self.anchor - int(age_days * DAY),
            status=self._ware_status(w),
            epoch_ms_form=(w == 0) or (w != 1 and unit(seed, "wform", w) < 0.5),
        )

    def variant(self, i: int) -> str:
        info = self.ware_info(self.ware_of(i))
        labels = texts.CATEGORIES[info.category][5]
        pos = i - info.first_sku
        label = labels[pos % len(labels)]
        return label if pos < len(labels) else f"{label} 款{pos // len(labels) + 1}"

    def price_cents(self, i: int) -> int:
        info = self.ware_info(self.ware_of(i))
        pos = i - info.first_sku
        step = max(100, (info.base_cents // 1000) * 100)
        return info.base_cents + pos * step

    def sku_title(self, i: int) -> str:
        info = self.ware_info(self.ware_of(i))
        return f"{info.brand[0]} {info.noun} {self.variant(i)}"

    def is_detail_supported(self, i: int) -> bool:
        if i == self.top_sku_index:
            return True
        return unit(self.seed, "unsupported", i) >= self.scale.unsupported_ratio

    def detail(self, i: int) -> dict[str, Any]:
        """The ready details-v2 product payload of SKU ``i``."""
        w = self.ware_of(i)
        info = self.ware_info(w)
        path, cat3, _cat2 = texts.CATEGORIES[info.category][:3]
        price = self.price_cents(i)
        original = (price * (110 + h64(self.seed, "orig", i) % 30) // 100) // 100 * 100 + 900
        payload: dict[str, Any] = {
            "itemId": self.sku_id(i),
            "wareId": info.ware_id,
            "title": self.sku_title(i),
            "brandName": info.brand[0],
            "brandId": str(info.brand[1]),
            "shopId": self.shop_id,
            "shopName": self.shop_name,
            "categoryPath": list(path),
            "categoryId": str(cat3),
            "price": _money(price),
            "originalPrice": _money(max(original, price)),
            "mainImageUrl": IMG_PREFIX + self._jfs_path("main", i),
        }
        if info.n_skus > 1:
            payload["colorSize"] = [
                {"skuId": self.sku_id(j), "spec": self.variant(j)}
                for j in range(info.first_sku, info.first_sku + info.n_skus)
            ]
        payload["updateTime"] = fmt(self.anchor - int(unit(self.seed, "upd", i) * 30 * DAY))
        return payload

    def _jfs_path(self, kind: str, *key: object) -> str:
        r = rng(self.seed, "jfs", kind, *key)
        return (
            f"jfs/t1/{r.randint(20000, 405000)}/{r.randint(1, 40)}/{r.randint(1000, 22000)}/"
            f"{r.randint(10000, 400000)}/{r.getrandbits(32):08x}E{r.getrandbits(32):08x}/"
            f"{r.getrandbits(64):016x}.jpg"
        )

    def ware(self, w: int) -> dict[str, Any]:
        """The full findWareById payload of ware ``w`` (all fields, keys sorted like seed 004)."""
        info = self.ware_info(w)
        r = rng(self.seed, "warepay", w)
        path, cat3, cat2 = texts.CATEGORIES[info.category][:3]
        online = info.created + r.randint(600, 5 * DAY)
        modified = min(self.anchor - r.randint(3600, 20 * DAY), self.anchor)
        modified = max(modified, online)
        stamp = (lambda t: t * 1000) if info.epoch_ms_form else fmt
        first = info.first_sku
        payload: dict[str, Any] = {
            "afterSales": "支持7天无理由退货",
            "barCode": str(6_900_000_000_000 + h64(self.seed, "bar", w) % 99_999_999_999),
            "brandId": info.brand[1],
            "brandName": info.brand[0],
            "categoryId": cat3,
            "categorySecId": cat2,
            "colType": 0,
            "costPrice": round(self.price_cents(first) * 0.6) / 100,
            "created": stamp(info.created),
            "delivery": r.choice(("北京", "上海", "广州", "杭州", "成都")),
            "height": r.randint(5, 40),
            "images": [
                {
                    "colorId": "0000000000" if k == 0 else f"{1000 + k:010d}",
                    "imgId": 900_000_000 + h64(self.seed, "img", w, k) % 99_999_999,
                    "imgIndex": k + 1,
                    "imgUrl": self._jfs_path("ware", w, k),
                    "imgZoneId": hex_digest(16, self.seed, "zone", w, k).upper(),
                }
                for k in range(1 + r.randrange(5))
            ],
            "itemNum": "".join(r.choice(_ALNUM + "ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(8)),
            "jdPrice": self.price_cents(first) / 100,
            "length": r.randint(5, 60),
            "logo": self._jfs_path("logo", w),
            "marketPrice": (self.price_cents(first) * 13 // 10) // 100 * 1.0,
            "modified": stamp(modified),
            "multiCategoryId": cat3,
            "onlineTime": stamp(online),
            "outerId": f"OUT-{w:06d}",
            "packListing": f"{info.noun} x1",
            "promiseId": 2_000_000 + w % 1000,
            "sellPoint": f"{info.brand[0]}官方正品 {path[2]}",
            "shopId": int(self.shop_id),
            "stockNum": 0 if info.status != 8 else r.randint(0, 5000),
            "templateId": 1_000_000_000 + h64(self.seed, "tpl", w) % 99_999_999,
            "title": f"{info.brand[0]} {info.noun}",
            "transportId": 10000 + w % 5000,
            "wareId": int(info.ware_id),
            "wareLocation": 1,
            "wareStatus": info.status,
            "weight": round(0.1 + r.random() * 5, 2),
            "width": r.randint(5, 40),
            "wrap": "纸箱",
        }
        if info.status not in (8, 520):
            payload["offlineTime"] = stamp(max(modified - r.randint(60, 3 * DAY), online))
            payload = dict(sorted(payload.items()))
        return payload

    # ------------------------------------------------------------------ comment schedule
    def comment_time(self, i: int, k: int) -> int:
        """Epoch seconds of comment ``k`` of SKU ``i`` (strictly increasing in ``k``)."""
        n = self._count0[i]
        x = (k + unit(self.seed, "cj", i, k)) / n
        return self._listing[i] + int(self._span[i] * x ** self._expo[i]) + k

    def comment_count(self, i: int, at: int) -> int:
        """How many comments SKU ``i`` has at epoch ``at`` (an O(log n) search)."""
        n = self._count0[i]
        if n == 0 or at < self._listing[i]:
            return 0
        frac = (at - self._listing[i]) / self._span[i]
        hi = int(n * frac ** (1.0 / self._expo[i])) + 2
        while self.comment_time(i, hi) <= at:
            hi *= 2
        lo = 0
        while lo < hi:
            mid = (lo + hi) // 2
            if self.comment_time(i, mid) <= at:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def initial_comment_total(self) -> int:
        return sum(self._count0)

    def comment_id(self, i: int, t: int) -> str:
        return str(COMMENT_BASE + (t - COMMENT_EPOCH) * CODE6_MOD + self._code6(i))

    # ------------------------------------------------------------------ users (comment authors, buyers)
    def user_pin(self, u: int) -> str:
        r = rng(self.seed, "pin", u)
        return "jd_" + "".join(r.choice(_ALNUM) for _ in range(10))

    def pool_user(self, r: Any) -> int:
        """A buyer from the shared pool, skewed so that some buy (and comment) again and again."""
        return int(self.n_users * r.random() ** 2)

    def user_nick(self, u: int) -> str:
        pin = self.user_pin(u)
        form = h64(self.seed, "nickform", u) % 10
        if form < 6:
            return f"{pin[3]}***{pin[-1]}"
        r = rng(self.seed, "nick", u)
        if form < 8:
            return r.choice(texts.NICK_WORDS) + ("" if r.random() < 0.5 else str(r.randint(1, 999)))
        return "".join(r.choice(_ALNUM) for _ in range(14))

    def _oneoff_nick(self, r: Any) -> str:
        form = r.randrange(5)
        if form == 0:
            chars = _ALNUM + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
            return "jd_" + "".join(r.choice(chars) for _ in range(r.randint(9, 14)))
        if form == 1:
            return "".join(r.choice(_ALNUM) for _ in range(14))
        if form == 2:
            return r.choice(texts.NICK_WORDS)
        if form == 3:
            return f"{r.choice(_ALNUM)}***{r.choice(_ALNUM)}"
        return f"{r.choice(texts.NICK_MASK_HEADS)}***{r.choice(texts.NICK_MASK_TAILS)}"

    # ------------------------------------------------------------------ comments
    def comment(self, i: int, k: int) -> dict[str, Any]:
        """Comment ``k`` (0 = oldest) of SKU ``i``, exactly as served on a page (seed 000 shape)."""
        return self.comment_with_truth(i, k)[0]

    def comment_with_truth(self, i: int, k: int) -> tuple[dict[str, Any], TextTruth]:
        """Comment ``k`` of SKU ``i`` and what its text says (the hand-made labels of ``texts``)."""
        t = self.comment_time(i, k)
        r = rng(self.seed, "c", i, k)
        if r.random() < 0.4:
            u = self.pool_user(r)
            nick = self.user_nick(u)
            buy_count = r.choice((1, 2, 2, 3, 3, 4, 5, 6, 8, 10, 30))
        else:
            nick = self._oneoff_nick(r)
            buy_count = 1 if r.random() < 0.85 else r.randint(2, 3)
        score, text, truth = self._comment_text(r)
        pictures: list[dict[str, str]] = []
        if text and text not in texts.DEFAULT_TEXTS and r.random() < (0.4 if score <= 2 else 0.3):
            pictures = [self._picture(r, m) for m in range(r.randint(1, 3 if score <= 2 else 5))]
        img_digits = str(986_100_000_000_000_000 + r.getrandbits(48))
        if r.random() < 0.8:
            img = "default.image/" + ("jd_def_img_" + img_digits).encode().hex()
        else:
            img = "i.imageUpload/" + (str(r.getrandbits(40)) + "_p" + str(r.getrandbits(36))).encode().hex()
        guid = "T6Na" + "".join(r.choice(_GUID_CHARS) for _ in range(20))
        served = {
            "userNickName": nick,
            "userImgURL": f"https://storage.360buyimg.com/{img}_sma.jpg",
            "commentId": self.comment_id(i, t),
            "productId": self.sku_id(i),
            "buyCount": buy_count,
            "commentDate": fmt(t),
            "commentData": text,
            "pictureInfoList": pictures,
            "commentScore": str(score),
            "guid": guid,
        }
        return served, truth

    def _comment_text(self, r: Any) -> tuple[int, str, TextTruth]:
        u = r.random()
        if u < 0.03:
            return 5, "", TextTruth(filler=True)  # nothing written: like the filler, says nothing
        if u < 0.10:
            return 5, r.choice(texts.DEFAULT_TEXTS), TextTruth(filler=True)
        if u < 0.18:
            text = r.choice(list(texts.TEMPLATE_TEXTS))
            return r.choice((5, 5, 5, 4)), text, TextTruth(texts.TEMPLATE_TEXTS[text], template=True)
        score = r.choices((5, 4, 3, 2, 1), weights=(84, 7, 3, 2, 4))[0]
        if score <= 2:
            text = r.choice(list(texts.NEGATIVE_TEXTS))
            truth = TextTruth(texts.NEGATIVE_TEXTS[text])
            if r.random() < 0.3:
                text += r.choice(texts.ANGRY_EMOJI)
            return score, text, truth
        if score == 3:
            parts = r.sample(list(texts.NEUTRAL_FRAGMENTS), r.randint(1, 2))
            return 3, ",".join(parts), TextTruth.of(texts.NEUTRAL_FRAGMENTS, parts)
        v = r.random()
        if v < 0.2:
            text, truth = r.choice(texts.SHORT_TEXTS), TextTruth()
        elif v < 0.32:
            a, b, c = r.sample(list(texts.POSITIVE_FRAGMENTS), 3)
            layout = r.choice(texts.MULTILINE_TEMPLATES)
            text = layout.format(a=a, b=b, c=c)
            truth = TextTruth.of(texts.POSITIVE_FRAGMENTS, (a, b, c), tags=_tag_lines(text))
        elif v >= 0.9:
            text = r.choice(list(texts.MIXED_TEXTS))
            truth = TextTruth(texts.MIXED_TEXTS[text])
        else:
            parts = r.sample(list(texts.POSITIVE_FRAGMENTS), r.randint(1, 5))
            text = ",".join(parts)
            truth = TextTruth.of(texts.POSITIVE_FRAGMENTS, parts)
            if r.random() < 0.5:
                text += r.choice(("!", "~", "。", ""))
        if r.random() < 0.25:
            text += "".join(r.choice(texts.EMOJI) for _ in range(r.randint(1, 3)))
        return score, text, truth

    def _picture(self, r: Any, m: int) -> dict[str, str]:
        path = (
            f"jfs/t1/{r.randint(390000, 405000)}/{r.randint(1, 40)}/{r.randint(1000, 22000)}/"
            f"{r.randint(10000, 4000000)}/69a{r.getrandbits(20):05x}F{r.getrandbits(36):09x}/"
            f"00a9{r.getrandbits(48):012x}.jpg.dpg"
        )
        pic = {
            "picURL": f"https://img30.360buyimg.com/shaidan/s300x300_{path}",
            "largePicURL": f"https://img30.360buyimg.com/shaidan/s1080x1080_{path}",
            "mediaType": "2" if m == 0 and r.random() < 0.08 else "1",
            "liveShooting": "1" if r.random() < 0.1 else "0",
        }
        if r.random() < 0.6:
            pic["showOrderMediaId"] = str(r.randint(10_000_000, 2_200_000_000))
        return pic

    def comments_newest_first(self, i: int, at: int, start: int = 0, stop: int | None = None) -> list[dict]:
        """Comments existing at ``at``, newest first, positions ``start:stop`` of that order."""
        count = self.comment_count(i, at)
        stop = count if stop is None else min(stop, count)
        return [self.comment(i, count - 1 - pos) for pos in range(start, stop)]

    def comment_page(self, i: int, at: int, page: int) -> tuple[list[dict], int]:
        """One page (10 comments, newest first) and the item's maxPage (at most 100 pages)."""
        count = self.comment_count(i, at)
        max_page = min(-(-count // PAGE_SIZE), MAX_PAGES)
        if page > max_page:
            return [], max_page
        start = (page - 1) * PAGE_SIZE
        stop = min(start + PAGE_SIZE, count)
        return [self.comment(i, count - 1 - pos) for pos in range(start, stop)], max_page

    # ------------------------------------------------------------------ order item picking
    def popular_sku(self, r: Any) -> int:
        """A sellable SKU, weighted by popularity (comments + 1)."""
        x = r.random() * self._pop_cum[-1]
        return min(bisect.bisect_right(self._pop_cum, x), self.scale.n_skus - 1)
