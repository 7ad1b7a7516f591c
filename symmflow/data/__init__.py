"""Data sets: procedural CelebAMask-HQ-style faces."""

from symmflow.data.procedural_faces import (
    FRINGES,
    HAIR_STYLES,
    MAX_SIZE,
    MIN_SIZE,
    P_EARRINGS,
    P_GLASSES,
    P_HAT,
    P_NECKLACE,
    FaceParams,
    ProceduralFaces,
    generate_face,
    generate_faces,
    render_image,
    render_mask,
    sample_face_params,
)

__all__ = [
    "FRINGES",
    "HAIR_STYLES",
    "MAX_SIZE",
    "MIN_SIZE",
    "P_EARRINGS",
    "P_GLASSES",
    "P_HAT",
    "P_NECKLACE",
    "FaceParams",
    "ProceduralFaces",
    "generate_face",
    "generate_faces",
    "render_image",
    "render_mask",
    "sample_face_params",
]
