"""Teachers: Hugging Face classifiers (and saved students) that label texts, the output cache, fine-tuning."""
