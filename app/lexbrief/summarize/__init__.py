"""The summarizer's core: documents, chunking, templates, citations and the pipeline. No Qt here."""
