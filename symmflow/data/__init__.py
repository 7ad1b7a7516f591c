"""Data: image reading (``images``), real segmentation datasets (``datasets``), procedurally
rendered faces (``procedural_faces``) and scikit-learn's handwritten digits (``digits``).

Import the module you need; nothing is imported eagerly (OpenCV, scikit-learn are only
needed by the modules that use them).
"""
