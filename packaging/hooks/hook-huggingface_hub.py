# huggingface_hub reads its model-card template when an adapter is saved (peft's
# save_pretrained writes a README beside the weights): ship its templates.
from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("huggingface_hub", includes=["templates/*"])
