"""The clean layer (schema ``clean``, group ``clean``): typed, deduplicated, decoded tables built from raw."""

from jd_assets.clean.catalog import clean_products, clean_sku_ware_links, clean_wares
from jd_assets.clean.comments import clean_comments
from jd_assets.clean.orders import clean_order_items, clean_order_tracks, clean_orders
from jd_assets.clean.review_signals import clean_review_signals

CLEAN_ASSETS = [
    clean_comments,
    clean_products,
    clean_wares,
    clean_sku_ware_links,
    clean_order_tracks,
    clean_orders,
    clean_order_items,
    clean_review_signals,
]
