"""Network: a graph of named nodes, run forward (keeping every output) and backward
(seeded at any nodes, with any ReLU rule, down to any node). Sequential: a chain.

A node is a layer plus the names of the nodes it reads (by default the node before
it; the network's input is the node "input"):

    net = Network([("conv1", Conv2D(1, 8, 3, padding=1)), ("relu1", ReLU()),
                   ("conv2", Conv2D(8, 8, 3, padding=1)),
                   ("add", Add(), ["relu1", "conv2"]), ...])

Forward runs the nodes in list order. Backward runs them in reverse and *adds* the
gradients that arrive at a node read by several others (the multivariate chain rule:
d L / d a = sum over the consumers c of a of (d L / d c)(d c / d a); for a residual
block y = F(x) + x it gives dL/dx = dF^T dL/dy + dL/dy).
"""
import collections
import contextlib

import numpy as np

from .backend import array_module
from .layers import Layer
from .layers.activation import check_rule
from .layers.base import check_finite, input_checked_for_nan

INPUT = "input"                   # the name of the network's input

Node = collections.namedtuple("Node", "name layer inputs")
LoadResult = collections.namedtuple("LoadResult", "missing unexpected")


@contextlib.contextmanager
def eval_mode(model):
    """Run ``model`` as the trained function inside the block (dropout off, batch norm
    on its running statistics), then give every layer back its own previous mode."""
    was_training = [layer.training for layer in model.layers]
    model.eval()
    try:
        yield model
    finally:
        for layer, mode in zip(model.layers, was_training):
            layer.training = mode


def _find_cycle(inputs_of):
    """A list of names [a, b, ..., a] forming a cycle in the graph {name: input names},
    or None. Depth-first search; 'on_path' marks the nodes of the current path."""
    done, on_path = set(), []

    def visit(name):
        if name in on_path:
            return on_path[on_path.index(name):] + [name]
        if name in done or name not in inputs_of:
            return None
        on_path.append(name)
        for source in inputs_of[name]:
            cycle = visit(source)
            if cycle:
                return cycle
        on_path.pop()
        done.add(name)
        return None

    for name in inputs_of:
        cycle = visit(name)
        if cycle:
            return cycle
    return None


def _check_input_count(name, layer, inputs):
    """Node ``name`` reads ``inputs``: as many as its layer's forward takes."""
    expected = layer.num_inputs
    if (expected is None and len(inputs) < 2) or (expected is not None and len(inputs) != expected):
        wanted = "two or more inputs" if expected is None else f"{expected} input(s)"
        raise ValueError(f"node {name!r} ({type(layer).__name__}) takes {wanted}, "
                         f"got {list(inputs)}")


class Network:
    """A directed acyclic graph of named layers.

    nodes: a list of ``(name, layer)`` or ``(name, layer, inputs)``; ``inputs`` is a
        node name or a list of them ("input" is the network's input; default: the
        previous node). The last node's output is the network's output.
    seed: None keeps every layer's parameters as they are (set or loaded weights stay);
        an int draws every layer's parameters afresh from one seeded stream
        (``reset_parameters``), as the zoo's builders do.

    ``forward(x)`` keeps each node's output in ``outputs[name]``;
    ``backward(dy)`` or ``backward(seeds={name: gradient})`` returns the gradient at
    ``stop`` (default: the input).
    """

    def __init__(self, nodes, seed=None):
        nodes = list(nodes)
        if not nodes:
            raise ValueError("nodes must be a non-empty list of (name, layer) or "
                             "(name, layer, inputs) tuples")
        self.nodes = []
        seen_layers = {}
        for position, entry in enumerate(nodes):
            name, layer, inputs = self._parse(position, entry)
            if name == INPUT:
                raise ValueError(f"nodes[{position}]: the name {INPUT!r} is reserved for the "
                                 "network's input")
            if any(node.name == name for node in self.nodes):
                raise ValueError(f"node names must be unique, got {name!r} twice")
            if id(layer) in seen_layers:
                raise ValueError(f"nodes {seen_layers[id(layer)]!r} and {name!r} hold the same "
                                 "layer object; a layer keeps what its backward needs from one "
                                 "forward, so each node needs its own layer")
            if layer.name is not None and layer.name != name:
                raise ValueError(f"nodes[{position}]: the layer is already named "
                                 f"{layer.name!r}; it cannot also be node {name!r}")
            if inputs is None:
                inputs = (self.nodes[-1].name if self.nodes else INPUT,)
            _check_input_count(name, layer, inputs)
            seen_layers[id(layer)] = name
            self.nodes.append(Node(name, layer, inputs))
        self._check_inputs()
        for node in self.nodes:
            node.layer.name = node.name
        self.outputs = {}
        self.input = None
        if seed is not None:
            self.reset_parameters(seed)

    @staticmethod
    def _parse(position, entry):
        if not isinstance(entry, (tuple, list)) or len(entry) not in (2, 3):
            raise TypeError(f"nodes[{position}] must be (name, layer) or (name, layer, inputs), "
                            f"got {entry!r}")
        name, layer = entry[0], entry[1]
        if not isinstance(name, str) or not name:
            raise TypeError(f"nodes[{position}]: the name must be a non-empty str, got {name!r}")
        if not isinstance(layer, Layer):
            raise TypeError(f"node {name!r}: expected a Layer, got {type(layer).__name__}")
        if len(entry) == 2:
            return name, layer, None
        inputs = (entry[2],) if isinstance(entry[2], str) else tuple(entry[2])
        if not inputs or not all(isinstance(i, str) for i in inputs):
            raise TypeError(f"node {name!r}: inputs must be a node name or a list of names, "
                            f"got {entry[2]!r}")
        return name, layer, inputs

    def _check_inputs(self):
        """Every input names a node (or "input"), the graph has no cycle, and each node
        comes after the nodes it reads (nodes run in list order)."""
        names = [node.name for node in self.nodes]
        for node in self.nodes:
            for source in node.inputs:
                if source != INPUT and source not in names:
                    raise ValueError(f"node {node.name!r} reads {source!r}, which is not a node; "
                                     f"valid names: {[INPUT] + names}")
        cycle = _find_cycle({node.name: node.inputs for node in self.nodes})
        if cycle:
            raise ValueError(f"the nodes form a cycle: {' -> '.join(cycle)} (each reads the "
                             "next); a network must be acyclic")
        for position, node in enumerate(self.nodes):
            later = [s for s in node.inputs if s != INPUT and names.index(s) >= position]
            if later:
                raise ValueError(f"node {node.name!r} reads {later}, which come after it in the "
                                 "list; nodes run in list order, so list them first")

    # ----- access -----------------------------------------------------------------------
    @property
    def names(self):
        return [node.name for node in self.nodes]

    @property
    def layers(self):
        return [node.layer for node in self.nodes]

    def index(self, name):
        """Position of the node called ``name``; a clear error lists the valid names."""
        for i, node in enumerate(self.nodes):
            if node.name == name:
                return i
        raise KeyError(f"no layer named {name!r}; valid names: {self.names}")

    def inputs_of(self, name):
        """The names of the nodes that node ``name`` reads (in order)."""
        return self.nodes[self.index(name)].inputs

    def consumers_of(self, name):
        """The names of the nodes that read node ``name`` (or "input")."""
        return [node.name for node in self.nodes if name in node.inputs]

    def is_chain(self):
        """True when every node reads exactly the node before it (the first: the input)."""
        previous = [INPUT] + self.names[:-1]
        return all(node.inputs == (before,) for node, before in zip(self.nodes, previous))

    def __getitem__(self, name):
        return self.nodes[self.index(name)].layer

    def __iter__(self):
        return iter(self.layers)

    def __len__(self):
        return len(self.nodes)

    def __repr__(self):
        rows = []
        for i, node in enumerate(self.nodes):
            config = ", ".join(f"{k}={v}" for k, v in node.layer.config().items())
            previous = self.nodes[i - 1].name if i else INPUT
            reads = "" if node.inputs == (previous,) else f"  <- {', '.join(node.inputs)}"
            rows.append(f"  {node.name:>14}: {type(node.layer).__name__}({config}){reads}")
        return f"{type(self).__name__}(\n" + "\n".join(rows) + "\n)"

    def replace(self, name, layer):
        """Put ``layer`` in node ``name`` (same inputs), e.g. a new head for transfer:
        ``net.replace("fc", Linear(64, 10))``. Returns the layer that was there."""
        if not isinstance(layer, Layer):
            raise TypeError(f"layer must be a Layer, got {type(layer).__name__}")
        position = self.index(name)
        old = self.nodes[position]
        if any(node.layer is layer for node in self.nodes if node.name != name):
            raise ValueError("the new layer is already a node of this network")
        if layer.name is not None and layer.name != name:
            raise ValueError(f"the new layer is named {layer.name!r}; it cannot be node {name!r}")
        _check_input_count(name, layer, old.inputs)
        layer.name = name
        self.nodes[position] = Node(name, layer, old.inputs)
        self.outputs.pop(name, None)
        return old.layer

    # ----- the two passes ---------------------------------------------------------------
    def forward(self, x, start=None, stop=None):
        """x: the network's input, e.g. (N, C, H, W) -> the last node's output.

        Runs the nodes in order and stores each output in ``self.outputs[name]``.
        ``start``: x is the output of that node, and only the nodes after it run (to
        perturb an activation and see the effect); other nodes they read keep their
        outputs from the last full forward pass. ``stop``: run up to and including it.
        """
        first = 0 if start is None else self.index(start) + 1
        last = len(self.nodes) - 1 if stop is None else self.index(stop)
        if last < first - 1:
            raise ValueError(f"stop={stop!r} comes before start={start!r}")
        if first <= last:
            check_finite(x, f"{self.nodes[first].layer.label}: x")
        if start is None:
            self.input, values = x, {INPUT: x}
        else:
            values = {INPUT: self.input, **{n.name: self.outputs[n.name]
                                            for n in self.nodes[:first] if n.name in self.outputs}}
            values[start] = x
        with input_checked_for_nan():         # checked once above, not by every layer
            for node in self.nodes[first:last + 1]:
                missing = [s for s in node.inputs if values.get(s) is None]
                if missing:
                    raise RuntimeError(f"node {node.name!r} reads {missing}, which have no output "
                                       f"yet: run a full forward pass before forward(start=...)")
                values[node.name] = node.layer.forward(*(values[s] for s in node.inputs))
        self.outputs = {n.name: values[n.name] for n in self.nodes[:last + 1] if n.name in values}
        return values[self.nodes[last].name]

    __call__ = forward

    def backward(self, dy=None, *, seeds=None, relu_rule="gradient", start=None, stop=None,
                 param_grads=True, input_grad=True):
        """Run the graph backwards and return the gradient at ``stop``.

        dy: the seed at node ``start`` (default: the last node), shaped like its output,
            e.g. dL/dlogits (N, K) or a one-hot at one feature map.
        seeds: {node name: gradient at its output}, instead of (or besides) dy: seed any
            nodes at once; the gradients of the nodes above them are taken as zero.
        relu_rule: "gradient", "deconvnet" or "guided", used by every ReLU.
        stop: a node name: return the gradient w.r.t. that node's *output* (the other
            nodes' outputs held fixed); None: w.r.t. the network's input.
        param_grads: also accumulate parameter gradients (False: input gradients only,
            for explanation methods, which skips the weight-gradient products).
        input_grad: False skips the gradient w.r.t. the network's input (training needs
            only parameter gradients) and returns None; needs stop=None.
        A node that no gradient reaches gives zeros of its output's shape.
        """
        check_rule(relu_rule)
        grads = {}
        for name, seed in (seeds or {}).items():
            self.index(name)                  # KeyError listing the valid names
            grads[name] = seed
        if dy is not None:
            where = start or self.nodes[-1].name
            self.index(where)
            if where in grads:
                raise ValueError(f"node {where!r} is seeded twice (dy and seeds); give it once")
            grads[where] = dy
        elif start is not None:
            raise ValueError("start= names the node where dy enters; pass dy too")
        if not grads:
            raise ValueError("backward needs a seed: dy (at the last node, or at start=) or "
                             "seeds={node name: gradient}")
        first = max(self.index(name) for name in grads)
        last = -1 if stop is None else self.index(stop)
        lowest = min(grads, key=self.index)
        if self.index(lowest) < last:
            raise ValueError(f"stop={stop!r} comes after start={lowest!r}: backward runs from "
                             "the seeds down to stop")
        if not input_grad and stop is not None:
            raise ValueError("input_grad=False only applies when backward runs to the input "
                             "(stop=None)")
        for node in reversed(self.nodes[last + 1:first + 1]):
            grad = grads.pop(node.name, None)
            if grad is None:                  # no gradient flows back through this node
                continue
            wanted = input_grad or any(source != INPUT for source in node.inputs)
            input_grads = node.layer.backward(grad, relu_rule=relu_rule, param_grads=param_grads,
                                              input_grad=wanted)
            if input_grads is None:           # the first layer skipped its input gradient
                continue
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            for source, grad_in in zip(node.inputs, input_grads):
                # the residual rule: a node read by several others gets the sum of their gradients
                grads[source] = grad_in if source not in grads else grads[source] + grad_in
        if not input_grad:
            return None
        target = INPUT if stop is None else stop
        if target in grads:
            return grads[target]
        value = self.input if stop is None else self.outputs[stop]
        return array_module(value).zeros_like(value)

    # ----- parameters and modes ---------------------------------------------------------------
    def named_parameters(self):
        """Yield ("<node>.<param>", layer, key) for every trainable parameter."""
        for node in self.nodes:
            for key in node.layer.params:
                yield f"{node.name}.{key}", node.layer, key

    def reset_parameters(self, seed=0):
        """Draw every layer's parameters afresh, in node order, from one Generator seeded
        with ``seed`` (layers/base.py: PyTorch's default initialization). Returns self."""
        rng = np.random.default_rng(seed)
        for layer in self.layers:
            layer.reset_parameters(rng)
        return self

    def zero_grad(self):
        for layer in self.layers:
            layer.zero_grad()

    def train(self):
        for layer in self.layers:
            layer.training = True
        return self

    def eval(self):
        for layer in self.layers:
            layer.training = False
        return self

    @property
    def training(self):
        return any(layer.training for layer in self.layers)

    def astype(self, dtype):
        """Convert every parameter, gradient and buffer (float32 <-> float64)."""
        for layer in self.layers:
            layer.astype(dtype)
        return self

    def to(self, device):
        """Move every parameter, gradient and buffer to "cpu" or "gpu"."""
        for layer in self.layers:
            layer.to(device)
        return self

    @property
    def dtype(self):
        return next((layer.dtype for layer in self.layers if layer.dtype is not None), None)

    def state_dict(self):
        """{"<node>.<param or buffer>": array} for every parameter and buffer."""
        return {f"{node.name}.{key}": value for node in self.nodes
                for store in (node.layer.params, node.layer.buffers)
                for key, value in store.items()}

    def load_state_dict(self, state, strict=True):
        """Copy arrays into the network's parameters and buffers (shapes must match).

        strict=True: the keys must match exactly (KeyError naming the differences).
        strict=False: load the keys the network has and skip the rest, e.g. a trained
        backbone under a new head. Returns LoadResult(missing, unexpected): the
        network's keys absent from ``state``, and the keys of ``state`` it lacks.
        """
        own = self.state_dict()
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if strict and (missing or unexpected):
            raise KeyError(f"state_dict keys do not match the model: missing {missing}, "
                           f"unexpected {unexpected}")
        shared = [key for key in own if key in state]
        for key in shared:                    # check every shape before copying anything
            if tuple(state[key].shape) != tuple(own[key].shape):
                raise ValueError(f"state_dict[{key!r}] has shape {tuple(state[key].shape)}, "
                                 f"the model expects {tuple(own[key].shape)}")
        for key in shared:
            own[key][...] = array_module(own[key]).asarray(state[key], dtype=own[key].dtype)
        return LoadResult(missing, unexpected)

    def num_parameters(self):
        return sum(int(layer.params[key].size) for _, layer, key in self.named_parameters())


class Sequential(Network):
    """A chain: each layer reads the one before it. Layers without a name get one from
    their type, numbered per type: conv1, relu1, conv2, relu2, pool1, fc1, ...

    layers: a list of Layer objects; seed: as for Network (None keeps the weights).
    """

    def __init__(self, layers, seed=None):
        layers = list(layers)
        if not layers:
            raise ValueError("layers must be a non-empty list of Layer objects")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}] must be a Layer, got {type(layer).__name__}")
        given = {layer.name for layer in layers if layer.name is not None}
        counts, nodes = {}, []
        for layer in layers:
            name = layer.name
            prefix = layer.name_prefix or type(layer).__name__.lower()
            while name is None or (layer.name is None and name in given):
                counts[prefix] = counts.get(prefix, 0) + 1     # skip numbers the user took
                name = f"{prefix}{counts[prefix]}"
            nodes.append((name, layer))
        super().__init__(nodes, seed=seed)
