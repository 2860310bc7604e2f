"""One module per CLI subcommand (and so per Snakemake rule); see :mod:`goldenlayers.cli`."""
