"""Toggl Track (Reports API v3 + API v9): connector, normalization, webhooks and a wire-faithful sandbox."""
