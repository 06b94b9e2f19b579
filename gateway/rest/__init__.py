"""REST `/v1`: leads, content, campaigns, budget proposals, pending approvals, one-click unsubscribe."""
