import csv
import io
from decimal import Decimal

import pytest

from incident_cmd.csv_export import SafeWriter, safe_cell


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("-5", "'-5"),  # text that looks like a number is still text someone typed
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("PX-200", "PX-200"),
        ("", ""),
    ],
)
def test_text_that_would_start_a_formula_is_neutralised(value, written):
    assert safe_cell(value) == written


@pytest.mark.parametrize("number", [-12.5, -3, Decimal("-0.01"), 12000.0])
def test_real_numbers_stay_numbers_even_when_negative(number):
    out = io.StringIO()
    SafeWriter(out).writerow(["nps", "score", number])
    assert next(csv.reader(io.StringIO(out.getvalue()))) == ["nps", "score", str(number)]
