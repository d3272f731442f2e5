"""What review texts say: polarity (sentiment.py); aspects, complaints, templates and tags (aspects.py)."""
