"""One module per JD gateway: its auth or signing, its error codes, its paging."""
