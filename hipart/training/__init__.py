"""Training loops for the three stages, and what they share (hipart.training.engine)."""
