"""Autotask PSA REST (ATServicesRest V1.0): connector, payload normalization and a wire-faithful sandbox."""
