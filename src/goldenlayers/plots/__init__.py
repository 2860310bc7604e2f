"""One module per figure. Each defines ``INPUTS`` (table names it reads from ``results/tables``), ``SCOPE``
(``model_editor``, ``model`` or ``editor``: what one output file covers), ``STEM`` (file-name prefix) and
``draw(tables, **scope) -> matplotlib Figure``. ``goldenlayers plot <module>`` saves it as PDF and PNG."""

FIGURES = ("fig1_golden", "fig2_deviation", "fig3_lga_cma", "fig4_runtime", "regret", "transfer", "proxy_size")
