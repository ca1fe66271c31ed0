"""Below everything: errors, where things live, model shapes, the predictor contract."""
