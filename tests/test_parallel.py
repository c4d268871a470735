"""Parallel mode's cutting of one window's output into its contexts."""

from __future__ import annotations

from models.generation.parallel import split_contexts
from profiles import load_profile
from tokenization.events import ContextType
from tokenization.vocabulary import EOS_ID, build_vocabulary


def _vocab():
    profile = load_profile("tiny")
    return build_vocabulary(profile.tokenizer, [(list(t.inputs), list(t.outputs)) for t in profile.templates])


def test_each_context_is_cut_out_between_its_own_tokens():
    vocab = _vocab()
    sos, eos = vocab.context_sos, vocab.context_eos
    T, K, M = ContextType.TIMING, ContextType.KIAI, ContextType.MAP
    tokens = [100, 101, eos[T], sos[K], 200, eos[K], sos[M], 300, 301, 302, eos[M], EOS_ID, 400]
    assert split_contexts(tokens, T, vocab) == {T: [100, 101], K: [200], M: [300, 301, 302]}


def test_a_window_that_stops_early_or_wanders_outside_a_context():
    vocab = _vocab()
    sos, eos = vocab.context_sos, vocab.context_eos
    T, M = ContextType.TIMING, ContextType.MAP
    assert split_contexts([100, 101], T, vocab) == {T: [100, 101]}  # ran out of room inside timing
    # stray tokens between an end and the next start belong to no context and are dropped
    assert split_contexts([100, eos[T], 555, sos[M], 300, EOS_ID], T, vocab) == {T: [100], M: [300]}
