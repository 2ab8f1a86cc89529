"""Reading datasets (CSV/TSV/JSONL/Parquet/text), label maps, and data augmentation."""

from .readers import LabelMap, TextDataset, read_dataset, read_texts

__all__ = ["LabelMap", "TextDataset", "read_dataset", "read_texts"]
