"""Insights derived from review text: a text-polarity model for Chinese review text (see sentiment.py)."""
