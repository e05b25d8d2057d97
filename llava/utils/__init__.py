"""Small helpers shared by every layer: dtype names, causal-LM loading for generation."""
