"""`peftbench tune`: an equal-budget hyper-parameter search per method on the validation split (Optuna),
the winners written as experiment folders and re-run on the test set with every seed.

- `space`: what a search may change (`search_space.json`, the learning rate by default);
- `study`: Optuna storage, locks and a sampler that makes a resumed search the same search;
- `trials`: a trial as an experiment folder, its outcome and validation score;
- `search`: the rounds that drive every study through the sweep executors;
- `winner`: the chosen configuration as `<method>/tuned-<name>/` with its provenance.
"""
