"""Training adapters of the student families (torch): one file per family, named by the family's runtime."""
