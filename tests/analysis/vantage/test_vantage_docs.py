"""The two-point table's columns are documented exactly as the code defines them."""
from pathlib import Path

from inferwire.columns import markdown_table
from inferwire.analysis.vantage import TWO_POINT_COLUMNS

DOC = Path(__file__).resolve().parents[3] / "docs" / "multi-vantage.md"


def test_the_docs_hold_the_column_table():
    assert markdown_table(TWO_POINT_COLUMNS) in DOC.read_text()
