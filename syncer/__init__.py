"""syncer: mirror 9Pic event photo originals onto your own storage."""

__version__ = "0.1.0"
