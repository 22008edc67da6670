"""Body models (SMPL, and the embedded default) behind one forward interface."""
