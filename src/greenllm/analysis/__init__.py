"""From cell summaries to tables, normalised metrics and the paper-claims check.

Files only: nothing here talks to a GPU or an engine. ``aggregate`` builds the tidy table
(one row per instance, clock, workload and load point), ``studies``/``select`` pick the
rows a figure or claim needs, ``normalize`` defines the paper's "normalized" quantities,
``claims`` compares the paper's numbers with the table.
"""
