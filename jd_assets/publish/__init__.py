"""The published copy (group ``published``): clean and marts in a separate read-only file for analysts."""

from jd_assets.publish.assets import published_copy

PUBLISH_ASSETS = [published_copy]
