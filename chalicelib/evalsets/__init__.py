"""Eval sets: the criteria, the human ratings (feedback with history) and the review queue."""
