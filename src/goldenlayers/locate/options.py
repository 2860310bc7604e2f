"""The locators' option values, importable without torch: the CLI offers them as choices in its help."""

PARAM_MODES = ("rewritten_weight", "mlp")  # LGA's theta_L: the rewritten weight, or every parameter of the MLP
OLD_ANSWER_MODES = ("ground_truth_else_greedy", "greedy")  # LGA's old answer K_i (locate/old_answer.py)
RESTORE_KINDS = ("mlp", "hidden")  # CMA: restore the MLP output or the whole block output
RESTORE_TOKENS = ("last_subject", "all")  # CMA: restore at the last subject token or at every token
CASE_MODES = ("prediction", "known")  # CMA: trace every case's own prediction, or only cases the model knows
