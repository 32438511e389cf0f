"""Explanation methods: each a short function ``method(model, x, target, ...)`` on a
batch x (N, C, H, W), returning raw (signed) arrays with the batch axis kept.
Drawing them is plot.py's job."""
from . import metrics
from ..resize import bilinear_matrix, upsample
from .cam import cam, cam_layers, grad_cam, grad_cam_weights, guided_grad_cam
from .deconvnet import DeconvNet, top_activation_seed
from .gradients import (backprop_to_input, deconvnet, guided_backprop, integrated_gradients,
                        saliency, smoothgrad)

__all__ = ["DeconvNet", "backprop_to_input", "bilinear_matrix", "cam", "cam_layers", "deconvnet",
           "grad_cam", "grad_cam_weights", "guided_backprop", "guided_grad_cam",
           "integrated_gradients", "metrics", "saliency", "smoothgrad", "top_activation_seed",
           "upsample"]
