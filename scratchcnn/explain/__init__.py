"""Explanation methods: each a short function ``method(model, x, target, ...)`` on a
batch x (N, C, H, W), returning raw (signed) arrays with the batch axis kept.
Drawing them is plot.py's job."""
from . import metrics
from ..resize import bilinear_matrix, upsample
from .cam import cam, cam_layers, grad_cam, grad_cam_weights, guided_grad_cam
from .cam_variants import grad_cam_plus_plus, layer_cam, score_cam
from .deconvnet import DeconvNet, top_activation_seed
from .features import feature_maps, receptive_field, top_activations
from .gradients import (backprop_to_input, deconvnet, guided_backprop, integrated_gradients,
                        saliency, smoothgrad)
from .lrp import lrp
from .maximize import channel_objective, class_model, class_objective, maximize_activation
from .occlusion import occluded_logits, occlusion, occlusion_attribution
from .sanity import deletion_insertion, randomization_check, randomized_cascade

__all__ = ["backprop_to_input", "bilinear_matrix", "cam", "cam_layers", "channel_objective",
           "class_model", "class_objective", "DeconvNet", "deconvnet", "deletion_insertion",
           "feature_maps", "grad_cam", "grad_cam_plus_plus", "grad_cam_weights", "guided_backprop",
           "guided_grad_cam", "integrated_gradients", "layer_cam", "lrp", "maximize_activation",
           "metrics", "occluded_logits", "occlusion", "occlusion_attribution",
           "randomization_check", "randomized_cascade", "receptive_field", "saliency",
           "score_cam", "smoothgrad", "top_activation_seed", "top_activations", "upsample"]
