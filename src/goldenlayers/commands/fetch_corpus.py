"""fetch-corpus: the text corpus of the covariance statistics, a seeded sample written as JSON lines."""

NAME = "fetch-corpus"
HELP = "fetch the text corpus for the covariance statistics (gensim's Wikipedia sample or a Wikipedia snapshot)"


def add_arguments(parser):
    parser.add_argument("--corpus", required=True, choices=["gensim-enwiki-sample", "wikipedia"],
                        help="gensim's English Wikipedia sample (PyPI) or Wikipedia (Hugging Face datasets)")
    parser.add_argument("--n-samples", type=int, required=True, help="texts to keep (a seeded sample)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the text sample")
    parser.add_argument("--snapshot", default="20231101.en", help="wikipedia: pinned wikimedia/wikipedia config")
    parser.add_argument("--chunk-chars", type=int, default=1000,
                        help="gensim-enwiki-sample: paragraph-aligned chunks of at most this many characters")
    parser.add_argument("--wheel", default=None, help="gensim-enwiki-sample: use this gensim wheel instead of pip download")
    parser.add_argument("--out", required=True, help="resources/corpus/{corpus}.jsonl")


def run(args):
    import logging

    from ..stats.corpus import fetch_corpus

    record = fetch_corpus(args.corpus, args.out, args.n_samples, seed=args.seed, snapshot=args.snapshot,
                          chunk_chars=args.chunk_chars, wheel=args.wheel)
    logging.getLogger(__name__).info("corpus %s: %d texts, sha256 %s -> %s", args.corpus, record["n_texts"],
                                     record["sha256"], args.out)
