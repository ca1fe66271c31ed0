"""charcomplete: a terminal autocomplete that learns how its user writes."""

__version__ = "0.1.0"
