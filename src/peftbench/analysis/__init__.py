"""The reader half: pure data (result files in, tables out). Never imports torch or the runner."""
