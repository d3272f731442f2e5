"""What review texts say: polarity, aspects, complaints, templates, tags."""
