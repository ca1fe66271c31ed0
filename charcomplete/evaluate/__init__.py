"""How good a model is: evaluation, the cell comparison, plots."""
