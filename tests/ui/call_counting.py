"""A helper for UI tests that check which redraws a change causes."""


def count_calls(obj, name: str) -> list:
    """Replace ``obj.name`` with a wrapper that records each call; returns the record."""
    calls = []
    real = getattr(obj, name)

    def wrapper(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    setattr(obj, name, wrapper)
    return calls
