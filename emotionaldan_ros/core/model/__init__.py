"""EmotionalDAN / DAN models, connection layers, baselines, losses and the model registry."""
