"""face-api.js nets (MIT) converted to PyTorch: landmarks, expressions, two face detectors.

`tfjs` reads the original weights, `convert` writes safetensors, `nets` holds the architectures,
`pretrained` loads the shipped weights, `image` and `detect` re-create the original pre- and
post-processing, and `recognizer.FaceApiRecognizer` is the "faceapi" recogniser backend.
"""
