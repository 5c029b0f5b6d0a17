"""Value semantics for small parameter objects (samplers, transforms)."""


class ParamsEquality:
    """``repr``, ``==`` and ``hash`` from the instance's attributes, so equal
    configurations compare equal (sklearn parameter checks, grid search,
    cache keys)."""

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"

    def __eq__(self, other):
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self):
        return hash((type(self).__name__, repr(self)))
