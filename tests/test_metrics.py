"""EasyEdit's teacher-forced metrics on hand-computed examples."""

from __future__ import annotations

import math

import torch

from goldenlayers.evaluate.metrics import mean_or_nan, predicted_tokens, token_accuracy, unchanged_fraction
from goldenlayers.models.tokens import QA, answer_positions, encode_qa
from goldenlayers.models.tiny import byte_tokenizer


def test_token_accuracy_counts_answer_tokens_only():
    qa = QA(ids=(5, 6, 7, 8, 9), n_answer=3)  # query 5 6, answer 7 8 9
    assert token_accuracy(torch.tensor([7, 8, 9]), qa) == 1.0
    assert abs(token_accuracy(torch.tensor([7, 0, 9]), qa) - 2 / 3) < 1e-6
    assert token_accuracy(torch.tensor([1, 2, 3]), qa) == 0.0


def test_locality_is_unchanged_not_correct():
    before = torch.tensor([3, 4, 5, 6])
    assert unchanged_fraction(before, torch.tensor([3, 4, 5, 6])) == 1.0
    assert unchanged_fraction(before, torch.tensor([3, 0, 5, 0])) == 0.5


def test_mean_or_nan():
    assert mean_or_nan([0.5, 1.0]) == 0.75
    assert math.isnan(mean_or_nan([]))


def test_logits_predicting_answer_tokens_are_the_positions_before_them():
    rows, positions, targets = answer_positions([QA((1, 2, 3, 4), 2), QA((9, 8), 1)])
    assert rows.tolist() == [0, 0, 1]
    assert positions.tolist() == [1, 2, 0]
    assert targets.tolist() == [3, 4, 8]


def test_encode_qa_answer_follows_query_after_a_space():
    tokenizer = byte_tokenizer()
    qa = encode_qa(tokenizer, "The mother tongue of Danielle Darrieux is", "English")
    assert tokenizer.decode(list(qa.ids[qa.n_query:])) == " English"
    assert tokenizer.decode(list(qa.ids[: qa.n_query])) == "The mother tongue of Danielle Darrieux is"


class _Scripted(torch.nn.Module):
    """A 'model' whose argmax at position p is a fixed token: checks the metric plumbing end to end."""

    def __init__(self, script: dict[int, int], vocab: int = 16):
        super().__init__()
        self.script, self.vocab = script, vocab
        self.weight = torch.nn.Parameter(torch.eye(vocab))
        self.config = type("C", (), {"final_logit_softcapping": None})()

    @property
    def base_model(self):
        outer = self

        class Base(torch.nn.Module):
            def forward(self, input_ids, attention_mask):
                hidden = torch.zeros(*input_ids.shape, outer.vocab)
                for position, token in outer.script.items():
                    hidden[:, position, token] = 1.0
                return type("O", (), {"last_hidden_state": hidden})()

        return Base()

    def get_output_embeddings(self):
        return lambda hidden: hidden @ self.weight

    def parameters(self, recurse=True):
        return iter([self.weight])


def test_predicted_tokens_with_a_scripted_model():
    # query (1, 2), answer (3, 4): predictions are read at positions 1 and 2
    model = _Scripted({1: 3, 2: 9})
    qa = QA((1, 2, 3, 4), 2)
    predicted = predicted_tokens(model, [qa], pad_id=0)[0]
    assert predicted.tolist() == [3, 9]
    assert token_accuracy(predicted, qa) == 0.5
