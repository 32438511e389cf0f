"""Save a network (its graph and every array) to one .npz, and load it back.

Format 2 ("scratchcnn-network-v2") records every node: name, layer type, the layer's
constructor arguments and the names of the nodes it reads, plus whether the model
was a Sequential. Format 1 files ("scratchcnn-sequential-v1", a list of layers) still
load, as a Sequential.
"""
import json
import os
import zipfile

import numpy as np

from .backend import to_numpy
from .layers import LAYER_TYPES, MaxUnpool2D
from .model import Network, Sequential

FORMAT = "scratchcnn-network-v2"
FORMAT_1 = "scratchcnn-sequential-v1"


def save(model, path):
    """Write ``model`` (a Network or Sequential) to ``path`` (.npz): the graph and every array."""
    graph = [{"type": type(node.layer).__name__, "name": node.name,
              "config": node.layer.config(), "inputs": list(node.inputs)}
             for node in model.nodes]
    header = {"format": FORMAT, "dtype": str(np.dtype(model.dtype or np.float32)),
              "sequential": isinstance(model, Sequential), "nodes": graph}
    arrays = {f"state/{k}": to_numpy(v) for k, v in model.state_dict().items()}
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".partial.npz"
    np.savez(tmp, __scratchcnn__=np.array(json.dumps(header)), **arrays)
    os.replace(tmp, path)          # never leave a half-written model under the real name


def load(path):
    """Rebuild the model saved at ``path``. Raises FileNotFoundError or ValueError
    with the path and the reason for a missing, truncated or foreign file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no saved model at {path!r}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            files = archive.files
            header = str(archive["__scratchcnn__"]) if "__scratchcnn__" in files else None
            state = {k[len("state/"):]: archive[k] for k in files if k.startswith("state/")}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
        raise ValueError(f"{path!r} is not a readable scratchcnn model file "
                         f"(truncated or not a .npz): {err}") from err
    if header is None:
        raise ValueError(f"{path!r} is a .npz file but not a scratchcnn model "
                         "(no '__scratchcnn__' header)")
    try:
        header = json.loads(header)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path!r} has a corrupt scratchcnn header: {err}") from err
    if header.get("format") == FORMAT_1:            # a list of layers: a chain
        records, sequential = header["architecture"], True
    elif header.get("format") == FORMAT:
        records, sequential = header["nodes"], header["sequential"]
    else:
        raise ValueError(f"{path!r} has format {header.get('format')!r}, expected {FORMAT!r} "
                         f"(or the older {FORMAT_1!r})")
    nodes, by_name = [], {}
    for record in records:
        cls = LAYER_TYPES.get(record["type"])
        if cls is None:
            raise ValueError(f"{path!r} names an unknown layer type {record['type']!r}")
        config = dict(record["config"])
        if cls is MaxUnpool2D:                          # it holds its pool layer itself
            config["pool"] = by_name[config["pool"]]
        layer = by_name[record["name"]] = cls(**config, name=record["name"])
        nodes.append((record["name"], layer, record.get("inputs")))
    model = Sequential([layer for _, layer, _ in nodes]) if sequential else Network(nodes)
    model.astype(header["dtype"])
    model.load_state_dict(state)
    return model
