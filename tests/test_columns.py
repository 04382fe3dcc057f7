"""docs/columns.md documents every public column with its unit, exactly as inferwire.columns defines it."""
from pathlib import Path

from inferwire.columns import CONNECTION_COLUMNS, REQUEST_COLUMNS, markdown_table

COLUMNS_PAGE = (Path(__file__).resolve().parents[1] / "docs" / "columns.md").read_text()


def test_columns_page_has_the_request_table():
    assert markdown_table(REQUEST_COLUMNS) in COLUMNS_PAGE


def test_columns_page_has_the_connection_table():
    assert markdown_table(CONNECTION_COLUMNS) in COLUMNS_PAGE


def test_column_names_are_unique():
    for cols in (REQUEST_COLUMNS, CONNECTION_COLUMNS):
        names = [c.name for c in cols]
        assert len(names) == len(set(names))


def test_columns_page_has_the_joined_table():
    from inferwire.columns import JOINED_COLUMNS
    assert markdown_table(JOINED_COLUMNS) in COLUMNS_PAGE


def test_columns_page_has_the_triton_table():
    from inferwire.columns import TRITON_COLUMNS
    assert markdown_table(TRITON_COLUMNS) in COLUMNS_PAGE


def test_columns_page_has_the_messages_table():
    from inferwire.columns import MESSAGE_COLUMNS
    assert markdown_table(MESSAGE_COLUMNS) in COLUMNS_PAGE
