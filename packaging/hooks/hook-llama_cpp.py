# llama_cpp loads lib/libllama.so and lib/libggml*.so through ctypes, which PyInstaller's
# analysis cannot see: collect them where the package looks for them (llama_cpp/lib).
from PyInstaller.utils.hooks import collect_dynamic_libs

binaries = collect_dynamic_libs("llama_cpp")
hiddenimports = ["diskcache", "jinja2"]
