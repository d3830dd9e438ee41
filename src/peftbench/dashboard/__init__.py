"""The web dashboard. `view` (the runs table), `figure` (the Pareto plot) and `items` (per-item
predictions) are plain pandas/plotly; `app` is the Gradio page and imports gradio: import it only to
serve. Reader side: never imports torch or the runner.
"""
