"""Model files: finding the one to use (and, later, the catalog, downloads and imports)."""
