# sentence-transformers builds its modules from the model's modules.json by import path
# (sentence_transformers.models.Transformer, ...Pooling, ...Normalize; `models` is an alias
# resolved by its own import hook): declare all of its (pure-Python) submodules.
from PyInstaller.utils.hooks import collect_submodules, copy_metadata

hiddenimports = collect_submodules("sentence_transformers", on_error="ignore")
datas = copy_metadata("sentence_transformers")
