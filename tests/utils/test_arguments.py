import pytest

from tfsearch.utils.arguments import check_integer


def test_integers_at_or_above_the_least_pass_through():
    assert check_integer(1, "n") == 1 and check_integer(0, "n", least=0) == 0


@pytest.mark.parametrize("value, least, message", [
    (0, 1, "`n` must be a positive integer, got 0."),
    (True, 1, "`n` must be a positive integer, got True."),  # a bool is not a count
    (1.0, 1, "`n` must be a positive integer, got 1.0."),
    (-1, 0, "`n` must be an integer >= 0, got -1."),
])
def test_anything_else_is_a_value_error_naming_the_argument(value, least, message):
    with pytest.raises(ValueError) as error:
        check_integer(value, "n", least=least)
    assert str(error.value) == message
