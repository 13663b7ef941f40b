"""Model features per layer x time step on a stimulus set: extraction (``extract``, torch) and the files they are
kept in (``store``, torch-free, for the jobs that only read them)."""
