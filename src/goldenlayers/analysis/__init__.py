"""The aggregate and analysis stage: per-case scores -> layer scores, golden layers, locators, claims."""

# How failed edits (status "failed") enter the means: left out, scored 0, or scored as the unedited model
# (analysis.failed; goldenlayers.analysis.scores.apply_failed). Here, so the CLI can offer them without pandas.
FAILED_MODES = ("drop", "zero", "unedited")
