"""CSV for spreadsheets, safe from formula injection (OWASP "CSV Injection"): a text cell
that a spreadsheet would read as a formula is prefixed with a single quote.

Numbers (int, float, Decimal) are written as they are: a negative amount such as -12.5 is a
number to a spreadsheet, not a formula, and quoting it would turn it into text. Text that
merely looks like a number ("-5" typed into a product field) is still neutralised."""

import csv
from collections.abc import Iterable
from decimal import Decimal
from typing import IO, Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    if isinstance(value, int | float | Decimal) or value is None:
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class SafeWriter:
    """``csv.writer`` whose every cell goes through ``safe_cell``."""

    def __init__(self, out: IO[str]) -> None:
        self._writer = csv.writer(out)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([safe_cell(value) for value in row])
