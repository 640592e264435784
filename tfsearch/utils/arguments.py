"""Argument checks shared by constructors: one wording for "must be an integer"."""


def check_integer(value, name, least=1):
    """`value` if it is an int (not a bool) of at least `least`; otherwise a `ValueError` naming `name`.

    Args:
        value: what was given.
        name: str, the argument's name, shown in backticks.
        least: int, the smallest value allowed (1: "a positive integer").

    Returns:
        int: `value`.

    Example:
    ```python
    check_integer(16, "max_batch_size")         # 16
    check_integer(-1, "cache_size", least=0)    # ValueError: `cache_size` must be an integer >= 0, got -1.
    ```
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        wanted = "a positive integer" if least == 1 else f"an integer >= {least}"
        raise ValueError(f"`{name}` must be {wanted}, got {value!r}.")
    return value
