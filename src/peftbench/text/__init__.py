"""What text tasks share, as `image/` holds what image tasks share: tokenised data and batches
(`data`), the causal-LM loss (`lm_loss`), greedy decoding (`greedy`), generation-based accuracy,
forgetting and drift (`evaluate`), final-answer extraction (`extract`), the base model and tokenizer
(`models`), the base model's cached cross-entropy (`baseline`) and a tiny stand-in Llama (`tiny`);
used by the run pipeline's text strategy (`pipeline/text.py`)."""
