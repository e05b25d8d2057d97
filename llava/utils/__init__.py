"""Small helpers shared by evaluation and data generation."""
