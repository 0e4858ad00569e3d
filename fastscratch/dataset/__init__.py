"""Datasets: ``fastscratch.dataset.mnist`` (the book's ``dataset.mnist``), bundled for offline use."""
