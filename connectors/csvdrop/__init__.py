"""CSV drop folder: exports from PSAs and time trackers, dropped into an inbox folder."""
