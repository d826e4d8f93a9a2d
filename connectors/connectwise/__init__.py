"""ConnectWise PSA (Manage) REST 3.0: connector, payload normalization and a wire-faithful sandbox."""
