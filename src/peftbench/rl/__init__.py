"""Reinforcement learning as a way to train a text task (`"trainer": "grpo"` in training_params.json)."""
