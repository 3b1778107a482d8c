"""``experiments.markdown``: tables and number formats, against hand-written Markdown."""

import pytest

from experiments.markdown import image, percent, table


def test_table_is_header_separator_and_rows():
    got = table(["a", "b"], [(1, "x"), (2.5, None)])
    assert got == "| a | b |\n|---|---|\n| 1 | x |\n| 2.5 | None |\n"


def test_table_without_rows_keeps_header():
    assert table(["only"], []) == "| only |\n|---|\n"


def test_table_refuses_a_row_of_the_wrong_width():
    with pytest.raises(ValueError, match=r"row 1 has 1 cells, expected 2"):
        table(["a", "b"], [(1, 2), (3,)])


def test_percent_and_image():
    assert percent(0.41634) == "41.6"
    assert percent(1) == "100.0"
    assert percent(None) == "n/a"
    assert image("figs/x.png", "alt text") == "![alt text](figs/x.png)\n"
