"""The worked example of lesson 04 (Springenberg et al. 2015, Fig. 1, in the notation of
Gao & Mosalam's eq. 3): sc.ReLU's forward on F, then its backward on G by each rule."""
import numpy as np
import pytest

import scratchcnn as sc

F = np.array([[1, -1, 5], [2, -5, -7], [-3, 2, 4]], dtype=np.float64)
G = np.array([[-2, 3, -1], [6, -3, 1], [2, -1, 3]], dtype=np.float64)
EXPECTED = {
    "gradient": [[-2, 0, -1], [6, 0, 0], [0, -1, 3]],     # R = 1(F > 0) G
    "deconvnet": [[0, 3, 0], [6, 0, 1], [2, 0, 3]],       # R = 1(G > 0) G
    "guided": [[0, 0, 0], [6, 0, 0], [0, 0, 3]],          # R = 1(F > 0) 1(G > 0) G
}


def restored(rule):
    relu = sc.ReLU()
    relu.forward(F[None])
    return relu.backward(G[None], relu_rule=rule)[0]


@pytest.mark.parametrize("rule", sc.RELU_RULES)
def test_each_rule_gives_the_papers_numbers(rule):
    np.testing.assert_array_equal(restored(rule), EXPECTED[rule])


def test_the_rules_are_told_apart():
    """Break check: a wrong rule (any other rule) does not pass another rule's assertion."""
    results = {rule: restored(rule) for rule in sc.RELU_RULES}
    for rule, result in results.items():
        for other in sc.RELU_RULES:
            if other != rule:
                assert not np.array_equal(result, EXPECTED[other]), (rule, other)
    with pytest.raises(AssertionError):
        np.testing.assert_array_equal(results["deconvnet"], EXPECTED["gradient"])


def test_guided_is_both_masks():
    np.testing.assert_array_equal(restored("guided"),
                                  (F > 0) * (G > 0) * G)
    np.testing.assert_array_equal(restored("guided"),
                                  np.minimum(restored("gradient") != 0, restored("deconvnet") != 0)
                                  * G)
