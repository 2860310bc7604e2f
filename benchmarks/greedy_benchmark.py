"""LGA's greedy old answer: key/value-cached decoding against a full forward of the growing text at every step.

Side by side in one process, alternately, one thread, on the real SmolLM2 and the shipped WikiBio records (long
passages, sentence-long answers: where the old answer is the model's own greedy text). Prints CPU seconds per
case for both and whether the texts agree. The full-recompute decoding is the test suite's independent reference
(``tests/test_lga.py::reference_greedy``).

    python benchmarks/greedy_benchmark.py --cases 3 --repeats 2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=str(REPO / "resources/models/smollm2-135m"))
    parser.add_argument("--records", default=str(REPO / "data/benchmarks/wikibio/knowedit_wikibio-test-all_sample.json"))
    parser.add_argument("--format", default="knowedit_wikibio")
    parser.add_argument("--cases", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO / "tests"))
    from test_lga import reference_greedy

    from goldenlayers.data.loaders import load_cases
    from goldenlayers.locate.old_answer import greedy_continuation
    from goldenlayers.models.load import load_model
    from goldenlayers.models.tokens import encode_qa

    torch.set_num_threads(1)
    model, tokenizer, _, _ = load_model(args.model_dir, device="cpu")
    cases = load_cases(args.records, args.format, "benchmark").cases[:args.cases]
    print("case  prompt_tokens  answer_budget  full_cpu_s  cached_cpu_s  ratio  same_text")
    for case in cases:
        budget = encode_qa(tokenizer, case.prompt, case.target_new).n_answer
        seconds = {"full": [], "cached": []}
        texts = {}
        for _ in range(args.repeats):
            for name, decode in (("full", reference_greedy), ("cached", greedy_continuation)):
                start = time.process_time()
                texts[name] = decode(model, tokenizer, case.prompt, budget)
                seconds[name].append(time.process_time() - start)
        full, cached = min(seconds["full"]), min(seconds["cached"])
        print(f"{case.case_id:>4}  {len(tokenizer(case.prompt).input_ids):>13}  {budget:>13}  {full:>10.2f}  "
              f"{cached:>12.2f}  {full / cached:>5.1f}  {texts['full'] == texts['cached']}")


if __name__ == "__main__":
    main()
