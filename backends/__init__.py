"""One module per backend; each is found by scanning this package (see core.backend for the contract)."""
