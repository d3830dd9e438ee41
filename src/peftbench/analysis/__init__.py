"""The reader half: pure data (result files in, tables out). Never imports torch or the runner.

load (files -> runs / curves / predictions tables), stats (CIs over seeds, paired bootstrap),
pareto (fronts, budgets), report_data -> report_figures / report_html / report (the report),
importer (reference-schema files into a results store), table (terminal table of one run).
"""
