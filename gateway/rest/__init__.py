"""REST `/v1`: leads, content, one-click unsubscribe."""
