"""What fine-tuning costs afterwards, measured after a text run's test pass: what the model can still do
(retention: instruction following offline, any lm-evaluation-harness task with the Hub) and how much
slower it generates (inference overhead: the adapter unmerged and merged against the base model)."""
