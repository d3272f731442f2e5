"""The one HTTP layer every gateway client stands on: retries, rate limit, timeouts, redaction."""
