"""Units shared by the whole toolkit: 3D in millimetres, 2D in pixels; models that work in metres convert here."""

MM_PER_METRE = 1000.0
