import argparse

import pytest

from tfsearch.cli.arg_types import (
    fraction,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    positive_int_list,
    unit_interval,
    unit_interval_list,
)


@pytest.mark.parametrize("parse, text, expected", [
    (positive_int, "3", 3), (non_negative_int, "0", 0), (positive_float, "0.05", 0.05),
    (non_negative_float, "0", 0.0), (fraction, "1", 1.0), (unit_interval, "0", 0.0), (unit_interval, "1", 1.0),
    (positive_int_list, "10,20, 40", (10, 20, 40)), (unit_interval_list, "0,0.5,1", [0.0, 0.5, 1.0]),
])
def test_accepted(parse, text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("parse, text, message", [
    (positive_int, "0", "a positive integer"), (positive_int, "1.5", "a positive integer"),
    (non_negative_int, "-1", "an integer >= 0"), (positive_float, "inf", "a positive number"),
    (non_negative_float, "nan", "a number >= 0"), (fraction, "0", r"\(0, 1\]"), (unit_interval, "1.01", r"\[0, 1\]"),
    (positive_int_list, "10,x", "comma-separated positive integers"), (positive_int_list, ",", "comma-separated"),
    (unit_interval_list, "0,2", r"numbers in \[0, 1\]"),
])
def test_refused_with_a_message(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse(text)
