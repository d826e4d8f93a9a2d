"""syncd: live retainer-balance pages for every client of an MSP."""

from __future__ import annotations

__version__ = "0.1.0"
