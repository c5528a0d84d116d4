"""Localisation scores on attention maps: pointing game, affinity mass, query independence.

The functions live in models.localisation because the training command (models/,
which may import only models/) writes them into the model cards; analysis code and
pages import them from here, so there is one definition.
"""

from models.localisation import (affinity_mass, peak_cells, pointing_game, pointing_hits,  # noqa: F401
                                 query_independence)
