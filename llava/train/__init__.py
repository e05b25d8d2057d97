"""Training of the perception model: `llava-train` (train.py), the Trainer with per-part learning
rates and ZeRO-3-safe saving (trainer.py), arguments, and the tiny default assets of the scripts."""
