"""What predicts the next byte: the torch network, the numpy engine, n-grams, the typing cache, the memory."""
