"""The two ways to train: the supervised training loop (`sft`, every method and task) and
reinforcement learning with TRL's GRPOTrainer (`grpo`, `"trainer": "grpo"` in training_params.json)."""
