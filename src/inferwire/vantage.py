"""Kept for the documented import path ``inferwire.vantage.analyze_two`` (README): two vantage
points live in :mod:`inferwire.analysis.vantage`."""
from .analysis.vantage import (TWO_POINT_COLUMN_NAMES, TWO_POINT_COLUMNS,  # noqa: F401
                               OffsetEstimate, TwoPointAnalysis, analyze_two, estimate_offset,
                               join_two, match_segments)
