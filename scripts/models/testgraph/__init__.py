"""Test graphs with the exact signatures, metadata and tokens files of sherpa-onnx's exports."""
