"""Vendor connectors: one package per vendor, plus the shared request plumbing."""
