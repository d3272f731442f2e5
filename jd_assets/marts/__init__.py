"""The marts (schema ``marts``, group ``marts``): the product-review tables people query."""

from jd_assets.marts.assets import product_review_summary, product_reviews, review_daily
from jd_assets.marts.review_insights import review_alerts, sku_aspects

MART_ASSETS = [product_reviews, product_review_summary, review_daily, sku_aspects, review_alerts]
