# onnxruntime.transformers (imported by onnxruntime.quantization, which rebuilds a damaged
# embedder export) puts its own folder on sys.path and imports its siblings as top-level
# modules (`from fusion_utils import ...`): its modules must also exist as files.
module_collection_mode = "pyz+py"
