# The app: every module (workers are started by import path), its style sheets and icons,
# and the package metadata of the libraries that check versions at import.
from PyInstaller.utils.hooks import collect_data_files, collect_submodules, copy_metadata

hiddenimports = [m for m in collect_submodules("assistant") if ".tests" not in m]
datas = collect_data_files("assistant", includes=["**/*.qss", "**/icons/*", "py.typed"])
for name in ("torch", "transformers", "tokenizers", "safetensors", "huggingface_hub",
             "peft", "accelerate", "numpy", "tqdm", "regex", "requests", "packaging",
             "filelock", "pyyaml", "llama_cpp_python", "gguf", "pypdf", "sentence_transformers"):
    try:
        datas += copy_metadata(name)
    except Exception:
        pass
