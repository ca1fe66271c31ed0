"""Learning: reading folders, training, the background learner, dynamic evaluation."""
