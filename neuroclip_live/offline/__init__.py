"""Work on labelled data sets: reading them, augmenting, adapter training, evaluation."""
