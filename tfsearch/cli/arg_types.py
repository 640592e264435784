"""`argparse` value types shared by the `tfsearch` commands: each parses or raises a one-line error."""

import argparse
import math


def _checked(cast, accept, expected):
    """A type function: `cast(text)`, refused with "expected EXPECTED, got TEXT" unless `accept(value)`."""

    def parse(text):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


def _listed(item, expected, container=tuple):
    """A type function for comma-separated values, each parsed by `item`."""

    def parse(text):
        try:
            values = container(item(v) for v in text.split(",") if v.strip())
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not values:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return values

    return parse


positive_int = _checked(int, lambda v: v > 0, "a positive integer")
non_negative_int = _checked(int, lambda v: v >= 0, "an integer >= 0")
positive_float = _checked(float, lambda v: v > 0 and math.isfinite(v), "a positive number")
non_negative_float = _checked(float, lambda v: v >= 0 and math.isfinite(v), "a number >= 0")
fraction = _checked(float, lambda v: 0.0 < v <= 1.0, "a number in (0, 1]")
unit_interval = _checked(float, lambda v: 0.0 <= v <= 1.0, "a number in [0, 1]")
positive_int_list = _listed(positive_int, "comma-separated positive integers")
unit_interval_list = _listed(unit_interval, "comma-separated numbers in [0, 1]", container=list)


def partition(text):
    """`"I/N"` -> `(I, N)`: partition I of N, `N >= 1` and `0 <= I < N` (`tfsearch index build --partition`)."""
    index, slash, count = text.partition("/")
    try:
        index, count = int(index), int(count)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N (partition I of N, such as 0/4), got {text!r}") from None
    if not slash or count < 1 or not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"expected I/N with N >= 1 and 0 <= I < N (such as 0/4), got {text!r}")
    return index, count
