"""Small helpers every layer may use: dtype names, folder locks, safe unpickling, secret masking."""
