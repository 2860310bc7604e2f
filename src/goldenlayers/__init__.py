"""goldenlayers: find the layer to edit for locate-then-edit knowledge editors.

Reproduces "Golden Layers and Where to Find Them" (arXiv 2602.20207) as a Snakemake workflow.
"""

__version__ = "0.1.0"
