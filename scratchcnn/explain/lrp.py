"""Layer-wise relevance propagation (Bach et al. 2015; Montavon et al. 2019, "Layer-Wise
Relevance Propagation: An Overview").

The target's score S_c is the relevance at the output. Each node hands the relevance
R_j of its outputs down to its inputs x_i, node by node from the top, so that (up to
what biases and the stabilizer keep) the total stays S_c:

* linear layers, z_j = sum_i x_i w_ij + b_j (Conv2D, Linear, AvgPool2D,
  GlobalAvgPool2D; a BatchNorm2D is folded into the Conv2D before it):

      LRP-epsilon:  R_i = x_i sum_j w_ij R_j / (z_j + eps sign(z_j))
      z+ rule:      R_i = x_i sum_j w+_ij R_j / (sum_i x_i w+_ij)      (w+ = max(w, 0),
                    no biases; Bach et al.'s alpha=1, beta=0; needs x >= 0)

  The sum over j of w_ij s_j is the layer's backward pass with dy = s (the transposed
  linear map), so each rule is four lines: forward z, divide, backward, times x.
* ReLU, LeakyReLU, Dropout (eval), Identity, Flatten: the relevance passes unchanged.
* MaxPool2D: all of a window's relevance goes to its maximum (its switch).
* Add, z = a + b: R_a = a R / (z + eps sign(z)), likewise R_b.

What a layer keeps: sum_i R_i = sum_j R_j (z_j - b_j) / (z_j + eps sign(z_j)), so the
biases and eps take sum_j R_j (b_j + eps sign(z_j)) / (z_j + eps sign(z_j)): without
biases, sum R = S_c. With eps -> 0 the epsilon rule gives exactly gradient x input on a
ReLU network (Ancona et al. 2018): at every node R = value x gradient, by induction.
"""
import numpy as np

from ..backend import array_module
from ..layers import (Add, AvgPool2D, BatchNorm2D, Conv2D, Dropout, Flatten,
                      GlobalAvgPool2D, Identity, LeakyReLU, Linear, MaxPool2D, ReLU)
from ..model import INPUT
from .base import eval_mode, forward_scores

RULES = ("epsilon", "zplus")
PASS_THROUGH = (ReLU, LeakyReLU, Dropout, Identity)


def stabilized(z, epsilon):
    """z + eps sign(z), with sign(0) = +1 so that nothing divides by 0."""
    xp = array_module(z)
    return z + epsilon * xp.where(z >= 0, 1, -1).astype(z.dtype)


def folded(conv, bn):
    """Conv2D followed by BatchNorm2D in eval mode, as one Conv2D's (W, b):
    a = gamma / sqrt(var + eps); W' = a W (per output channel); b' = a (b - mean) + beta."""
    scale = bn.params["gamma"] / (bn.buffers["running_var"] + bn.eps) ** 0.5
    weights = conv.params["W"] * scale[:, None, None, None]
    bias = scale * (conv.params["b"] - bn.buffers["running_mean"]) + bn.params["beta"]
    return weights, bias


def linear_rule(layer, weights, bias, x, relevance, rule, epsilon):
    """One Conv2D or Linear with the given (W, b): relevance (N, out...) -> (N, in...)."""
    xp = array_module(x)
    if rule == "zplus":
        if x.min() < 0:
            raise ValueError(f"lrp: the z+ rule needs inputs >= 0, but {layer.label} reads "
                             f"values down to {float(x.min()):.3g} (use rule='epsilon')")
        weights, bias = xp.maximum(weights, 0), xp.zeros_like(bias)
    twin = type(layer)(**layer.config())          # the same geometry with the rule's weights
    twin.params = {"W": weights, "b": bias}
    twin.training = False
    z = twin.forward(x)                                               # z_j
    share = relevance / stabilized(z, epsilon)                        # s_j = R_j / z_j
    return x * twin.backward(share, param_grads=False)                # x_i sum_j w_ij s_j


def _foldable_conv(model, name):
    """The Conv2D node a BatchNorm2D node can be folded into, else a clear error."""
    source = model.inputs_of(name)[0]
    if source == INPUT or not isinstance(model[source], Conv2D) \
            or model.consumers_of(source) != [name]:
        raise ValueError(f"lrp: node {name!r} (BatchNorm2D) reads {source!r}, which is not a "
                         "Conv2D read by it alone; lrp folds every BatchNorm2D into the "
                         "Conv2D before it")
    return source


def node_relevance(model, name, relevance, rule, epsilon):
    """The relevance of node ``name``'s inputs: {input node name: (N, ...)}."""
    layer, sources = model[name], model.inputs_of(name)
    inputs = [model.input if source == INPUT else model.outputs[source] for source in sources]
    if isinstance(layer, BatchNorm2D):
        conv_name = _foldable_conv(model, name)
        conv = model[conv_name]
        conv_input = model.inputs_of(conv_name)[0]
        x = model.input if conv_input == INPUT else model.outputs[conv_input]
        weights, bias = folded(conv, layer)
        return {conv_input: linear_rule(conv, weights, bias, x, relevance, rule, epsilon)}
    if isinstance(layer, (AvgPool2D, GlobalAvgPool2D)) or \
            (isinstance(layer, (Conv2D, Linear)) and rule == "epsilon"):
        # z is the layer's own output in the forward pass: divide, backward, times x
        # (the pools: linear, positive weights, no bias, the same for both rules)
        share = relevance / stabilized(model.outputs[name], epsilon)
        return {sources[0]: inputs[0] * layer.backward(share, param_grads=False)}
    if isinstance(layer, (Conv2D, Linear)):
        return {sources[0]: linear_rule(layer, layer.params["W"], layer.params["b"], inputs[0],
                                        relevance, rule, epsilon)}
    if isinstance(layer, MaxPool2D):                         # to each window's winner
        return {sources[0]: layer.backward(relevance, param_grads=False)}
    if isinstance(layer, Add):
        share = relevance / stabilized(model.outputs[name], epsilon)
        return {source: x * share for source, x in zip(sources, inputs)}
    if isinstance(layer, Flatten):
        return {sources[0]: relevance.reshape(inputs[0].shape)}
    if isinstance(layer, PASS_THROUGH):
        return {sources[0]: relevance}
    raise ValueError(f"lrp has no rule for node {name!r} ({type(layer).__name__}); it handles "
                     "Conv2D, Linear, BatchNorm2D after a Conv2D, pools, Add, Flatten and "
                     "pointwise activations")


def lrp(model, x, target, rule="epsilon", epsilon=1e-9, return_totals=False):
    """Relevance of every input pixel for the target's score.

    x: (N, C, H, W); target: int or N ints; rule: "epsilon" or "zplus" (for every
    Conv2D / Linear; see the module docstring); epsilon > 0: the stabilizer.
    returns R (N, C, H, W); with return_totals=True also {node name or "input": (N,)},
    the total relevance at each node's output, to see where the score goes.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0 (it keeps z + eps sign(z) away from 0), "
                         f"got {epsilon!r}")
    with eval_mode(model):
        logits, _, seed = forward_scores(model, x, target)
        relevance = {model.names[-1]: seed * logits}                  # R = S_c at the target
        folded_convs = {_foldable_conv(model, node.name) for node in model.nodes
                        if isinstance(node.layer, BatchNorm2D)}
        totals = {}
        for node in reversed(model.nodes):
            if node.name in folded_convs or node.name not in relevance:
                continue          # folded into its BatchNorm2D, or no relevance reaches it
            incoming = relevance.pop(node.name)
            totals[node.name] = incoming.reshape(len(x), -1).sum(axis=1)
            for source, share in node_relevance(model, node.name, incoming, rule,
                                                epsilon).items():
                relevance[source] = share if source not in relevance else \
                    relevance[source] + share         # a node read by several: the sum
    result = relevance.get(INPUT, array_module(x).zeros_like(x))
    totals[INPUT] = result.reshape(len(x), -1).sum(axis=1)
    return (result, totals) if return_totals else result
