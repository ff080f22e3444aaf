"""Each distillation loss hands each kind of output layer the gradient it expects.

Checked by finite differences of the loss through the layer itself: thinc's `Softmax`
(Ensemble, Reduce, CNN, ParametricAttention) and `softmax_activation` (BOW.v3).
"""
import numpy
import pytest
from thinc.api import Ops, Softmax, softmax_activation

from scripts.student.distillation import (
    GRAD_LOGITS, GRAD_PROBS, create_mse_logits, create_mse_probs, create_soft_cross_entropy,
    output_gradient_kind,
)

LOSSES = {
    "mse_probs": create_mse_probs(),
    "soft_cross_entropy_T1": create_soft_cross_entropy(temperature=1.0),
    "soft_cross_entropy_T3": create_soft_cross_entropy(temperature=3.0),
    "mse_logits": create_mse_logits(),
}
TARGETS = numpy.array([[0.83, 0.17], [0.1, 0.9], [1.0, 0.0], [0.5, 0.5]], dtype="f8")


def make_layer(kind):
    rng = numpy.random.default_rng(0)
    if kind == GRAD_LOGITS:
        layer = Softmax(nO=2, nI=3)
        layer.initialize()
        layer.set_param("W", rng.normal(size=(2, 3)))
        layer.set_param("b", rng.normal(size=(2,)))
        X = rng.normal(size=(4, 3))
    else:
        layer = softmax_activation()
        layer.initialize()
        X = rng.normal(size=(4, 2)) * 2
    for node in layer.walk():
        node.ops = Ops(numpy)  # plain numpy works in float64, so finite differences are exact
    return layer, X


@pytest.mark.parametrize("kind", [GRAD_LOGITS, GRAD_PROBS])
@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_gradient_matches_finite_differences(loss_name, kind):
    loss_fn = LOSSES[loss_name]
    layer, X = make_layer(kind)
    probs, backprop = layer(X, is_train=True)
    _, d_scores = loss_fn(probs, TARGETS, kind)
    d_X = backprop(d_scores)

    def loss_at(x):
        return loss_fn(layer.predict(x), TARGETS, kind)[0]

    eps = 1e-6
    numeric = numpy.zeros_like(X)
    for idx in numpy.ndindex(X.shape):
        up, down = X.copy(), X.copy()
        up[idx] += eps
        down[idx] -= eps
        numeric[idx] = (loss_at(up) - loss_at(down)) / (2 * eps)
    numpy.testing.assert_allclose(d_X, numeric, rtol=1e-4, atol=1e-6)


def test_soft_targets_equal_to_predictions_give_zero_gradient():
    probs = numpy.array([[0.7, 0.3], [0.2, 0.8]])
    for name, loss_fn in LOSSES.items():
        loss, grad = loss_fn(probs, probs.copy(), GRAD_LOGITS)
        assert loss == pytest.approx(0.0, abs=1e-9), name
        numpy.testing.assert_allclose(grad, 0.0, atol=1e-9)


def test_output_kind_is_read_from_the_architecture():
    from spacy.ml.models.textcat import (
        build_bow_text_classifier_v3, build_reduce_text_classifier, build_text_classifier_v2,
    )
    from spacy.ml.models.tok2vec import build_hash_embed_cnn_tok2vec

    bow = build_bow_text_classifier_v3(exclusive_classes=True, ngram_size=1, no_output_layer=False)
    tok2vec = build_hash_embed_cnn_tok2vec(width=8, depth=1, embed_size=100, window_size=1,
                                           maxout_pieces=2, subword_features=False,
                                           pretrained_vectors=None)
    reduce = build_reduce_text_classifier(tok2vec, exclusive_classes=True, use_reduce_first=False,
                                          use_reduce_last=False, use_reduce_max=False,
                                          use_reduce_mean=True)
    assert output_gradient_kind(bow) == GRAD_PROBS
    assert output_gradient_kind(reduce) == GRAD_LOGITS
    # the Ensemble holds a BOW (with its own softmax_activation) but ends in Softmax
    ensemble = build_text_classifier_v2(tok2vec, bow)
    assert output_gradient_kind(ensemble) == GRAD_LOGITS
    multilabel = build_bow_text_classifier_v3(exclusive_classes=False, ngram_size=1, no_output_layer=False)
    with pytest.raises(ValueError, match="exclusive_classes = true"):
        output_gradient_kind(multilabel)
