"""The language model: model files, GGUF checks, the generator and its LoRA adapters."""

from assistant.llm.adapters import check_adapter_file
from assistant.llm.generator import ChatMessage, Generator
from assistant.llm.gguf_check import GGUFInfo, check_model_file, read_gguf_info
from assistant.llm.models import default_model_path, ensure_default_model, resolve_model

__all__ = [
    "ChatMessage",
    "GGUFInfo",
    "Generator",
    "check_adapter_file",
    "check_model_file",
    "default_model_path",
    "ensure_default_model",
    "read_gguf_info",
    "resolve_model",
]
