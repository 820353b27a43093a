"""EmotionalDAN / DAN models, connection layers, baselines, losses and the model registry."""

from emotionaldan_ros.core.model.dan import DANFeatures, DANOutput, EmotionalDAN
from emotionaldan_ros.core.model.loss import interpupil_distance, joint_loss, nme
from emotionaldan_ros.core.model.registry import (
    create_model,
    list_models,
    model_config,
    register_model,
)

__all__ = [
    "DANFeatures",
    "DANOutput",
    "EmotionalDAN",
    "create_model",
    "interpupil_distance",
    "joint_loss",
    "list_models",
    "model_config",
    "nme",
    "register_model",
]
