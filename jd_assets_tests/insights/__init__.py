"""Tests of jd_assets.insights (the review-polarity model)."""
