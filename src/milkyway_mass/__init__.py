"""Milkyway Mass"""

__version__ = "0.1"
