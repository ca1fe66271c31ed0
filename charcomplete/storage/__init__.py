"""Files: the model store, model records, atomic writes, bounded JSON, the user's documents."""
