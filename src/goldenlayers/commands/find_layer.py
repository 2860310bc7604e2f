"""find-layer: which layer to edit for my model and my facts (LGA, optionally CMA), as a table and an
EasyEdit-style hparams snippet."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from ._common import json_arg, set_threads

log = logging.getLogger(__name__)

NAME = "find-layer"
HELP = ("find the golden layer to edit for a model and a facts file: LGA's per-layer scores (and CMA's with "
        "--cma), printed as a table, and an EasyEdit-style hparams snippet with layers: [L]")


def add_arguments(parser):
    from ..data.loaders import FORMATS

    parser.add_argument("--facts", required=True,
                        help="the facts to edit: a JSON file in one of the dataset formats (config/README.md)")
    parser.add_argument("--format", choices=sorted(FORMATS), default=None,
                        help="format of the facts file (default: told from its first record)")
    parser.add_argument("--model", default=None,
                        help="a Hugging Face Hub id, a model folder (config.json + safetensors, or one prepared by "
                             "the workflow); default: the embedded SmolLM2-135M-Instruct")
    parser.add_argument("--revision", default=None, help="Hub revision (a commit hash pins it; default: main)")
    parser.add_argument("--layout", type=json_arg, default=None,
                        help='JSON {"blocks": ..., "proj": ..., "mlp": ..., "final_norm": ...} for a model whose '
                             "layers are not found from its module tree")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="run the model repository's own code (only for models that need it)")
    parser.add_argument("--limit", type=int, default=None, help="use the first N facts (default: all)")
    parser.add_argument("--skip-bad-records", action="store_true",
                        help="leave out invalid facts (listed in the log) instead of failing")
    parser.add_argument("--cma", action="store_true", help="also run CMA (ROME's causal tracing; slower)")
    parser.add_argument("--editor", choices=["rome", "r-rome", "memit", "emmet"], default="rome",
                        help="editor named in the hparams snippet (alg_name)")
    parser.add_argument("--params", choices=["rewritten_weight", "mlp"], default="rewritten_weight",
                        help="LGA's theta_L: the weight the editor rewrites, or the layer's whole MLP")
    parser.add_argument("--tukey-k", type=float, default=1.0, help="LGA's Tukey fence factor k")
    parser.add_argument("--cma-samples", type=int, default=10, help="CMA: corrupted copies per fact")
    parser.add_argument("--seed", type=int, default=0, help="CMA noise seed")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="auto: CUDA when present")
    parser.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"], default="auto",
                        help="auto: float32 on the CPU, bfloat16 on a GPU for models of 1B parameters or more")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--cache-dir", default="resources/models",
                        help="where the embedded model is prepared once (default: resources/models)")
    parser.add_argument("--out-hparams", default="golden_layer.hparams.yaml",
                        help="where the hparams snippet goes (default: golden_layer.hparams.yaml)")
    parser.add_argument("--out-table", default=None, help="also write the per-layer table as CSV here")


def run(args):
    from ..data.loaders import detect_format, load_cases
    from ..errors import InputError
    from ..io import write_text
    from ..locate.find_layer import find_layer, hparams_snippet
    from ..models.open import EMBEDDED_NAME, open_model

    set_threads(args.threads)
    begin = time.perf_counter()
    facts = Path(args.facts)
    fmt = args.format or detect_format(facts)
    cases = load_cases(facts, fmt, facts.stem, skip_bad_records=args.skip_bad_records).cases
    if args.limit is not None:
        if args.limit < 1:
            raise InputError("must be at least 1", field="--limit")
        cases = cases[:args.limit]
    model, tokenizer, layout, info = open_model(args.model, revision=args.revision, layout=args.layout,
                                                cache_dir=args.cache_dir, device=args.device, dtype=args.dtype,
                                                trust_remote_code=args.trust_remote_code)
    model_name = args.model or EMBEDDED_NAME
    found = find_layer(model, tokenizer, layout, cases, cma=args.cma, params=args.params, tukey_k=args.tukey_k,
                       cma_samples=args.cma_samples, seed=args.seed)
    write_text(args.out_hparams, hparams_snippet(found, layout, editor=args.editor, model_name=model_name,
                                                 facts=str(facts)))
    if args.out_table:
        write_text(args.out_table, found.table.to_csv(index=False))
    seconds = time.perf_counter() - begin
    print(f"{model_name} ({info.get('revision')}), {found.n_cases} facts from {facts} ({fmt}), "
          f"{found.n_skipped} skipped")
    print(found.table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"golden layer (LGA): {found.golden}" + (f"; CMA: {found.cma_golden}" if args.cma else ""))
    print(f"hparams snippet: {args.out_hparams} (layers: [{found.golden}]); {seconds:.1f} s in all "
          f"(LGA {found.lga_seconds:.1f} s" + (f", CMA {found.cma_seconds:.1f} s)" if args.cma else ")"))
    log.info("find-layer: %s", json.dumps({"golden": found.golden, "cma_golden": found.cma_golden,
                                           "seconds": round(seconds, 1)}))
