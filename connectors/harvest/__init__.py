"""Harvest API v2: connector, payload normalization and a wire-faithful sandbox."""
