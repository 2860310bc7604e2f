# Helper functions and constants of the figures stage (rules in ../figures.smk).

from importlib.util import find_spec

FIGURES = "results/figures"
PLOTS_DIR = Path(find_spec("goldenlayers.plots").origin).parent  # the code that actually draws (editable or installed)


def plot_code(name):
    return [str(PLOTS_DIR / f"{name}.py"), str(PLOTS_DIR / "_style.py")]


def _figure_report(path, caption, figure, **labels):
    return report(path, caption=f"../report/{caption}.rst", category="Figures", subcategory=figure,
                  labels={"figure": figure, **labels})


def figure_targets(formats=("pdf", "png")):
    """Every figure for every model / editor of the config. Fig. 3 needs LGA or CMA; transfer needs two
    datasets."""
    stems = []
    for model in MODELS:
        stems.append(f"fig4_runtime_{model}")
        for editor in EDITORS:
            stems += [f"fig1_golden_{model}_{editor}", f"fig2_deviation_{model}_{editor}",
                      f"regret_{model}_{editor}", f"proxy_size_{model}_{editor}"]
            if len(editor_datasets(config, editor)) > 1:
                stems.append(f"transfer_{model}_{editor}")
    if config["lga"]["enabled"] or config["cma"]["enabled"]:
        stems += [f"fig3_lga_cma_{editor}" for editor in EDITORS]
    return [f"{FIGURES}/{stem}.{ext}" for stem in stems for ext in formats]
