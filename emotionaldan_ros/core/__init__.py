"""ROS-free core: model, preprocessing, detectors, labels, metrics, data, training."""
