"""`assistant eval`: the product's own evaluation, QA (SQuAD format) and retrieval (BEIR format)."""
