"""The paper's Figures 1-15 from the cells table: one small function per figure.

``registry.FIGURES`` maps ids (``fig01`` …) to stem, function, study, caption and the
cells each needs; ``style`` holds what all figures share (banners, notes, saving).
Each function returns a ``Rendered``: the matplotlib figure and the tidy rows it plotted.
"""
